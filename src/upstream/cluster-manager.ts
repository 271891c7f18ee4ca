// Per-worker cluster manager (Envoy's ThreadLocalClusterManager): the clusters of the current
// snapshot by name, each a ThreadLocalCluster with its ClusterInfo, PrioritySet, load balancer and
// connection pools, created on first use per host and protocol. Cluster types and load-balancing
// policies are extensions (extensions/clusters/*, extensions/load-balancers/*) in the one list;
// the registry finds them by Cluster.type and lb_policy.
import type { ClusterSnap, CompiledExtension } from '../config/snapshot.ts';
import type { UpstreamTransportSocketFactory } from '../network/transport-socket.ts';
import type { StatSink } from '../common/stat-sink.ts';
import { ClusterInfo } from './cluster-info.ts';
import { ACTIVE_HC_FLAGS, HealthFlag, PrioritySet, type CallbackHandle, type Host } from './host.ts';
import type { PublishedEjections } from './outlier.ts';
import type { SabRing } from '../common/sab-ring.ts';
import { HC_UNCHECKED, type PublishedHealth } from './health-check.ts';
import type { LoadBalancer, LoadBalancerFactory } from './load-balancer.ts';
import { LegateError } from '../common/errors.ts';
import { Protocol, type HttpConnPool } from './conn-pool.ts';
import { Http1ConnPool } from './conn-pool-http1.ts';
import { TcpConnPool } from './tcp-conn-pool.ts';
import { NULL_LOADER } from '../runtime/snapshot.ts';
import type { Loader } from '../runtime/types.ts';

export type { ClusterInfo } from './cluster-info.ts';

/** What fills a worker's PrioritySet from the snapshot (a cluster-type extension, selected by
 *  Cluster.type) and keeps it up to date. */
export interface ClusterTypeFactory {
  /** The Cluster.type enum value that selects it (e.g. `STATIC`). */
  readonly clusterType: string;
  /** Fill the set; a type whose hosts change at run time watches them through `env` and returns
   *  the watch (removed when the cluster is replaced). */
  initialize(snap: ClusterSnap, prioritySet: PrioritySet, env: ClusterEnv): CallbackHandle | null;
}

/** What a cluster type's worker side can watch: the values main-thread services publish (a DNS
 *  cluster's hosts). */
export interface ClusterEnv {
  /** `cb` gets the value published under `key` now (if there is one) and each later one. */
  watch(key: string, cb: (value: unknown) => void): CallbackHandle;
  /** The process's circuit-breaker counts (ClusterSnap.resourceOffset indexes them); null: each
   *  cluster counts on its own. */
  readonly resources: Int32Array | null;
  /** This worker's event ring for main (outlier outcomes, immediate health check failures; null:
   *  neither runs here). */
  readonly outlierRing: SabRing | null;
  /** The worker's runtime (load balancers read theirs from it). */
  readonly runtime: Loader;
}

/** No service publishes anything, no shared counts, an empty runtime (tests that build clusters
 *  by hand). */
export const NO_CLUSTER_ENV: ClusterEnv = {
  watch: () => ({ remove(): void {} }),
  resources: null,
  outlierRing: null,
  runtime: NULL_LOADER,
};

/** Where the cluster manager finds cluster types and load balancers: the extension registry
 *  (given by the worker; nothing here imports extensions). */
export interface UpstreamFactories {
  clusterType(type: string): ClusterTypeFactory | undefined;
  loadBalancer(lbPolicy: string): LoadBalancerFactory | undefined;
  /** A cluster's transport socket (its `transport_socket`), built for this worker. */
  transportSocket(compiled: CompiledExtension, stats: StatSink, workerId: number): UpstreamTransportSocketFactory;
}

function need<T>(m: T | undefined, what: string, key: string, cluster: string): T {
  if (m === undefined) {
    // The config loader refuses what Legate lacks; reaching here means the tables disagree.
    throw new LegateError('LEGATE_ERR_EXTENSION', `cluster '${cluster}': ${what} ${key} is not registered`);
  }
  return m;
}

export class ThreadLocalCluster {
  readonly info: ClusterInfo;
  readonly prioritySet: PrioritySet;
  readonly loadBalancer: LoadBalancer;
  /** Every pool created so far (drain walks them). */
  readonly #httpPools: Http1ConnPool[];
  readonly #tcpPools: Map<Host, TcpConnPool>;
  #draining: boolean;
  /** The cluster type's watch of its hosts (null: they never change). */
  readonly #watch: CallbackHandle | null;
  /** The health checker's last verdicts by host stat slot (null: no health check), the outlier
   *  detector's ejected hosts (null: none), and the watches of them. */
  #health: Map<number, number> | null;
  #ejected: Set<number> | null;
  readonly #watches: CallbackHandle[];

  constructor(snap: ClusterSnap, stats: StatSink, workerId: number, factories: UpstreamFactories, env: ClusterEnv) {
    const shared = env.resources !== null && snap.resourceOffset >= 0;
    this.info = new ClusterInfo(snap, stats, snap.transportSocket === null ? null
      : factories.transportSocket(snap.transportSocket, stats, workerId),
    shared ? env.resources! : undefined, shared ? snap.resourceOffset : undefined);
    this.prioritySet = new PrioritySet();
    this.#httpPools = [];
    this.#tcpPools = new Map();
    this.#draining = false;
    // Pools of hosts that left the set finish what they serve and close (Envoy drains them).
    this.prioritySet.addMemberUpdateCb((_added, removed) => {
      for (const h of removed) this.#drainHost(h);
    });
    this.#watch = need(factories.clusterType(snap.type), 'cluster type', snap.type, snap.name)
      .initialize(snap, this.prioritySet, env);
    this.#health = null;
    this.#ejected = null;
    this.#watches = [];
    const hc = snap.healthCheck;
    const od = snap.outlier;
    if (hc !== null || od !== null) {
      // Verdicts from the main thread: active health checking (upstream/health-check.ts: a host is
      // unhealthy until the checker has concluded on it) and outlier detection
      // (upstream/outlier.ts: ejected hosts); hosts a discovery adds later get them too.
      if (hc !== null) this.#health = new Map();
      this.#applyVerdicts();
      this.prioritySet.addMemberUpdateCb((added) => { if (added.length > 0) this.#applyVerdicts(); });
      if (hc !== null) {
        this.info.hcEvents = env.outlierRing;
        this.#watches.push(env.watch(hc.key, (v) => {
          this.#health = new Map((v as PublishedHealth).flags);
          this.#applyVerdicts();
        }));
      }
      if (od !== null) {
        this.info.outlier = env.outlierRing;
        this.#watches.push(env.watch(od.key, (v) => {
          this.#ejected = new Set((v as PublishedEjections).ejected);
          this.#applyVerdicts();
        }));
      }
    }
    this.loadBalancer = need(factories.loadBalancer(snap.lbPolicy), 'lb_policy', snap.lbPolicy, snap.name)
      .create(this.prioritySet, this.info, workerId, env.runtime);
  }

  get name(): string {
    return this.info.name;
  }

  /** Put the checker's flags (unchecked where it has none yet) and the outlier detector's on every
   *  host; a priority whose hosts changed is updated (its healthy lists recomputed). */
  #applyVerdicts(): void {
    const ps = this.prioritySet;
    const known = this.#health;
    const ejected = this.#ejected;
    for (const set of ps.hostSetsPerPriority) {
      let changed = false;
      for (const h of set.hosts) {
        const key = h.hs.rq_total;
        let next = h.healthFlags & ~HealthFlag.FAILED_OUTLIER_CHECK;
        if (known !== null) next = (next & ~ACTIVE_HC_FLAGS) | (known.get(key) ?? HC_UNCHECKED);
        if (ejected !== null && ejected.has(key)) next |= HealthFlag.FAILED_OUTLIER_CHECK;
        if (next !== h.healthFlags) {
          h.healthFlags = next;
          changed = true;
        }
      }
      if (changed) ps.updateHosts(set.priority, set.hosts);
    }
  }

  /** The host's pool for `protocol` (created on first use), or null when Legate has no pool for
   *  that protocol (HTTP/1.1 only today). */
  httpConnPool(host: Host, protocol: Protocol): HttpConnPool | null {
    const p = host.httpPools[protocol];
    if (p !== null) return p;
    if (protocol !== Protocol.Http11) return null;
    const pool = new Http1ConnPool(this.info, host);
    if (this.#draining) pool.draining = true;
    host.httpPools[protocol] = pool;
    this.#httpPools.push(pool);
    return pool;
  }

  /** The host's TCP connection pool (created on first use). */
  tcpConnPool(host: Host): TcpConnPool {
    let p = this.#tcpPools.get(host);
    if (p === undefined) {
      p = new TcpConnPool(this.info, host);
      this.#tcpPools.set(host, p);
    }
    return p;
  }

  #drainHost(h: Host): void {
    const pools = h.httpPools;
    for (let i = 0; i < pools.length; i++) {
      const p = pools[i];
      if (p === null) continue;
      p.drainConnections();
      // Should the host come back, it gets fresh pools; these finish what they serve.
      pools[i] = null;
    }
    const tcp = this.#tcpPools.get(h);
    if (tcp !== undefined) {
      tcp.drainConnections();
      this.#tcpPools.delete(h);
    }
  }

  /** Close idle connections (busy ones keep serving). */
  closeIdle(): void {
    for (const p of this.#httpPools) p.closeIdle();
  }

  /** Worker drain: idle connections close now, busy ones when their stream ends. */
  startDrain(): void {
    this.#draining = true;
    this.#watch?.remove();
    for (const w of this.#watches) w.remove();
    for (const p of this.#httpPools) p.drainConnections();
    for (const p of this.#tcpPools.values()) p.drainConnections();
  }
}

export class ClusterManager {
  readonly #clusters: Map<string, ThreadLocalCluster>;
  /** What each cluster was built from, to tell whether an update changes it. */
  readonly #keys: Map<string, string>;
  readonly #stats: StatSink;
  readonly #workerId: number;
  readonly #factories: UpstreamFactories;
  readonly #env: ClusterEnv;

  constructor(snaps: readonly ClusterSnap[], stats: StatSink, workerId: number, factories: UpstreamFactories,
    env: ClusterEnv = NO_CLUSTER_ENV) {
    this.#clusters = new Map();
    this.#keys = new Map();
    this.#stats = stats;
    this.#workerId = workerId;
    this.#factories = factories;
    this.#env = env;
    for (const c of snaps) {
      this.#clusters.set(c.name, new ThreadLocalCluster(c, stats, workerId, factories, env));
      this.#keys.set(c.name, JSON.stringify(c));
    }
  }

  /** A config update: a new or changed cluster gets a new ThreadLocalCluster (requests routed from
   *  now on use it); a changed or removed one's connections finish what they serve and close. An
   *  unchanged one is kept, pools and all. */
  update(snaps: readonly ClusterSnap[]): void {
    const seen = new Set<string>();
    for (const c of snaps) {
      seen.add(c.name);
      const key = JSON.stringify(c);
      if (this.#keys.get(c.name) === key) continue;
      this.#clusters.get(c.name)?.startDrain();
      this.#clusters.set(c.name, new ThreadLocalCluster(c, this.#stats, this.#workerId, this.#factories, this.#env));
      this.#keys.set(c.name, key);
    }
    for (const [name, c] of this.#clusters) {
      if (seen.has(name)) continue;
      c.startDrain();
      this.#clusters.delete(name);
      this.#keys.delete(name);
    }
  }

  /** The cluster of that name on this worker, or undefined (Envoy: no_cluster / NC). */
  getThreadLocalCluster(name: string): ThreadLocalCluster | undefined {
    return this.#clusters.get(name);
  }

  clusters(): IterableIterator<ThreadLocalCluster> {
    return this.#clusters.values();
  }

  /** Close idle upstream connections (tests' cleanup). */
  drain(): void {
    for (const c of this.#clusters.values()) c.closeIdle();
  }
  /** Worker drain: close idle upstream connections now and each busy one when it goes idle. */
  startDrain(): void {
    for (const c of this.#clusters.values()) c.startDrain();
  }
}
