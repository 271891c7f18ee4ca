// The control plane: load and validate config once, resolve stats, bind every listening socket,
// start and supervise the workers, hand them sockets, serve admin, drain on SIGTERM/SIGINT.
import { explain } from './explain.ts';
import net, { type Server } from 'node:net';
import os from 'node:os';
import fs from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { ConfigError, loadBootstrapFile, loadBootstrapText } from '../config/load.ts';
import { MainServices } from './services.ts';
import { ConfigTracker } from './config-tracker.ts';
import { buildSnapshot, chainsOf, type Snapshot, type ListenerSnap } from '../config/snapshot.ts';
import { StatsLayout } from '../stats/layout.ts';
import { StatsStore } from '../stats/store.ts';
import { ServerStats } from '../stats/server.ts';
import { startAdmin } from '../admin/index.ts';
import type { AdminServer, CertificateStatus, ClusterStatus, ReloadResult, ServerInfo } from '../admin/types.ts';
import { daysUntilFirstCertExpiring } from '../admin/certs.ts';
import { transportSocketCertificates } from '../extensions/registry.ts';
import { LegateError } from '../common/errors.ts';
import { ACTIVE_HC_FLAGS, HealthFlag, healthFlagNames, recordMembership } from '../upstream/host.ts';
import { SabRing } from '../common/sab-ring.ts';
import { HC_UNCHECKED } from '../upstream/health-check.ts';
import { ResourceSlots } from '../upstream/resource-slots.ts';
import {
  RESOURCE_CONNECTIONS, RESOURCE_PENDING_REQUESTS, RESOURCE_REQUESTS, RESOURCE_RETRIES, retryBudgetMax,
} from '../upstream/resource-manager.ts';
import { localityWeightOf, localityWeightsOf } from '../upstream/locality.ts';
import type { FromWorker, ToWorker, WorkerInit } from './messages.ts';
import { compileRuntime } from '../runtime/config.ts';
import { RuntimeLoader } from '../runtime/loader.ts';
import { ServerState } from '../common/server-state.ts';

export const VERSION = '0.1.0';

const kEarly = Symbol('legate.earlyConnections');

/** exact_balance, or enable_reuse_port: false (one socket cannot be bound once per worker):
 *  main accepts and hands each connection to the least-loaded worker. */
function acceptsInMain(l: ListenerSnap): boolean {
  return l.exactBalance || !l.reusePort;
}
function onEarlyConnection(this: Server, sock: net.Socket): void {
  ((this as any)[kEarly] as net.Socket[]).push(sock);
}

export interface ServeOptions {
  configPath: string | null;
  configYaml: string | null;
  concurrency: number;
  bufferSize: number;
  adminAddress: string | null;
  adminAddressPath: string | null;
  drainTimeS: number;
  allowUnsupportedFields: boolean;
  logger: Logger;
  commandLine: string[];
}

interface WorkerSlot {
  id: number;
  worker: Worker | null;
  ready: boolean;
  /** The config version the worker was started on or last confirmed. */
  version: number;
  restarts: number;
  startedAt: number;
  backoffMs: number;
}

interface BoundListener {
  snap: ListenerSnap;
  /** reuse-port mode: one server per worker slot; exact_balance: one accepting server. */
  servers: (Server | null)[];
  port: number;
  /** Workers know this listener (false while a reload that adds it waits for them). */
  live: boolean;
  /** exact_balance: connections accepted before the listener was live, handed over then. */
  held: net.Socket[];
}

export function loadConfig(opts: Pick<ServeOptions, 'configPath' | 'configYaml' | 'allowUnsupportedFields'>) {
  const lo = { allowUnsupportedFields: opts.allowUnsupportedFields };
  if (opts.configPath !== null) return loadBootstrapFile(opts.configPath, lo);
  if (opts.configYaml !== null) return loadBootstrapText(opts.configYaml, 'yaml', lo);
  throw new LegateError('LEGATE_ERR_CONFIG', 'no configuration: pass -c <path> or --config-yaml <yaml>');
}

/** Where relative paths in the config resolve (the config file's directory; the current one for
 *  --config-yaml). */
function configDirOf(opts: Pick<ServeOptions, 'configPath'>): string {
  return opts.configPath === null ? process.cwd() : path.dirname(path.resolve(opts.configPath));
}

function listen(server: Server, host: string, port: number, reusePort: boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once('error', onError);
    server.listen({ host, port, reusePort, backlog: 1024 }, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

export class MainServer {
  readonly opts: ServeOptions;
  readonly log: Logger;
  readonly layout: StatsLayout;
  /** Every cluster's circuit-breaker counts, shared with the workers. */
  readonly resources: ResourceSlots;
  /** The running config (replaced by reload()). */
  snapshot: Snapshot;
  readonly store: StatsStore;
  bootstrap: Record<string, any>;
  readonly workers: WorkerSlot[];
  readonly listeners: BoundListener[];
  readonly loadSab: SharedArrayBuffer;
  readonly load: Int32Array;
  admin: AdminServer | null;
  /** Extensions' main-thread services (client_ssl_auth's fetcher). */
  readonly services: MainServices;
  /** What /config_dump shows of the running config. */
  readonly configTracker: ConfigTracker;
  /** The runtime's layers (layered_runtime); every worker gets its values. */
  readonly runtime: RuntimeLoader;
  state: 'INITIALIZING' | 'LIVE' | 'DRAINING';
  /** Flags every worker reads (admin /healthcheck/fail sets one). */
  readonly serverState: ServerState;
  startedAt: number;
  #stopping: Promise<void> | null;
  #drainedWaiters: Map<number, () => void>;
  /** Workers' acknowledgements of a config version: worker id -> resolve. */
  #updatedWaiters: Map<number, (version: number) => void>;
  /** Reloads run one at a time. */
  #reloading: Promise<unknown>;

  readonly #onStopped: () => void;

  constructor(opts: ServeOptions, bootstrap: Record<string, any>, onStopped: () => void = () => {}) {
    this.opts = opts;
    this.#onStopped = onStopped;
    this.log = opts.logger;
    this.bootstrap = bootstrap;
    this.layout = new StatsLayout();
    this.resources = new ResourceSlots();
    this.snapshot = buildSnapshot(bootstrap, this.layout,
      { bufferLimit: opts.bufferSize, version: 1, resources: this.resources, configDir: configDirOf(opts) });
    this.store = new StatsStore(this.layout, opts.concurrency);
    this.runtime = new RuntimeLoader(compileRuntime(bootstrap), {
      stats: this.store.main,
      layout: this.layout,
      publish: (values) => {
        for (const slot of this.workers) slot.worker?.postMessage({ type: 'runtime', values } satisfies ToWorker);
      },
      warn: (message, detail) => this.log.warn(detail, message),
    });
    this.workers = [];
    this.listeners = [];
    this.loadSab = new SharedArrayBuffer(4 * opts.concurrency);
    this.load = new Int32Array(this.loadSab);
    this.admin = null;
    this.configTracker = new ConfigTracker();
    this.configTracker.update(bootstrap);
    this.services = new MainServices({
      stats: this.store.main,
      layout: this.layout,
      statValue: (slot) => this.store.value(slot),
      outlierEvents: (h) => {
        this.#outlierHandlers.add(h);
        return () => { this.#outlierHandlers.delete(h); };
      },
      broadcast: (key, value) => {
        for (const slot of this.workers) slot.worker?.postMessage({ type: 'shared', key, value } satisfies ToWorker);
      },
      warn: (message, detail) => this.log.warn(detail, message),
    });
    this.state = 'INITIALIZING';
    this.serverState = new ServerState();
    this.startedAt = Date.now();
    this.#stopping = null;
    this.#drainedWaiters = new Map();
    this.#updatedWaiters = new Map();
    this.#reloading = Promise.resolve();
  }

  async start(): Promise<void> {
    const n = this.opts.concurrency;
    this.#initServerStats();
    // DNS clusters resolve and health checks conclude before the workers start (warming). Their
    // timers do not hold the process up, so this does while they work.
    this.runtime.start();
    const hold = setInterval(() => {}, 60_000);
    try {
      await this.services.sync(this.snapshot);
    } finally {
      clearInterval(hold);
    }
    // Bind everything before starting workers: a bind error fails fast, naming the listener.
    for (const l of this.snapshot.listeners) {
      try {
        this.listeners.push(await this.#bind(l));
      } catch (err) {
        for (const bl of this.listeners) for (const s of bl.servers) s?.close();
        throw err;
      }
    }
    await Promise.all(Array.from({ length: n }, (_, i) => this.#startWorker(i)));
    const adminAddr = this.#adminAddress();
    this.admin = await startAdmin({
      host: adminAddr.host,
      port: adminAddr.port,
      stats: this.store,
      serverInfo: () => this.#serverInfo(),
      clusters: () => this.#clusterStatus(),
      listeners: () => this.listeners.map((b) => ({
        name: b.snap.name, address: b.snap.host, port: b.port,
        filterChains: b.snap.filterChains.map((fc) => ({ name: fc.name, filterChainMatch: fc.matchJson })),
        defaultFilterChain: b.snap.defaultFilterChain === null ? null
          : { name: b.snap.defaultFilterChain.name, filterChainMatch: b.snap.defaultFilterChain.matchJson },
      })),
      configDump: (nameMatch) => this.configTracker.entries(nameMatch),
      certs: () => this.#certs(),
      onQuit: () => { void this.stop(); },
      onReload: () => this.reload(),
      isReady: () => this.state === 'LIVE' && !this.serverState.healthCheckFailed(),
      onHealthCheck: (fail) => this.#failHealthCheck(fail),
      runtimeLayers: () => this.runtime.layers(),
      explain: (req) => explain(this.snapshot, req, this.runtime,
        (l) => this.listeners.find((b) => b.snap.name === l.name)?.port ?? l.port),
      onRuntimeModify: (values) => {
        try {
          this.runtime.mergeValues(values);
          return null;
        } catch (err) {
          if (!(err instanceof LegateError)) throw err;
          this.log.error({ err: err.message }, 'runtime_modify refused');
          return err.message;
        }
      },
      onHandlerError: (err, target) => {
        // A bug in an admin handler: answered 500, logged, counted as Envoy counts ENVOY_BUGs.
        this.log.error({ err, target }, 'admin handler failed');
        this.#serverStats?.envoyBug();
      },
    }).catch((err: Error) => {
      throw new LegateError('LEGATE_ERR_BIND', `admin: cannot bind ${adminAddr.host}:${adminAddr.port}: ${err.message}`);
    });
    this.state = 'LIVE';
    this.#serverStats!.setState(this.serverState.healthCheckFailed() ? 'DRAINING' : 'LIVE');
    if (this.opts.adminAddressPath !== null) {
      fs.writeFileSync(this.opts.adminAddressPath, `${this.admin.address.address}:${this.admin.address.port}`);
    }
    this.log.info({
      admin: `${this.admin.address.address}:${this.admin.address.port}`,
      listeners: this.listeners.map((b) => ({ name: b.snap.name, address: `${b.snap.host}:${b.port}` })),
      concurrency: n,
    }, 'legate ready');
  }

  #serverStats: ServerStats | null = null;

  #initServerStats(): void {
    const srv = new ServerStats(this.store, { startTime: this.startedAt, concurrency: this.opts.concurrency });
    srv.setState('INITIALIZING');
    this.#serverStats = srv;
    this.#onSnapshot(this.snapshot, null);
    this.store.addFlushHook(() => srv.refresh({ daysUntilFirstCertExpiring: daysUntilFirstCertExpiring(this.#certs()) }));
    this.store.addReadHook(() => this.#breakerGauges(this.snapshot));
    this.store.startFlushTimer();
  }

  /** Bind a listener: one accepting socket in main (exact_balance), or one reuse-port socket per
   *  worker slot, handed to the workers by #handListeners. Closes what it bound if it fails. */
  async #bind(l: ListenerSnap): Promise<BoundListener> {
    const b: BoundListener = { snap: l, servers: [], port: l.port, live: true, held: [] };
    try {
      if (acceptsInMain(l)) {
        const s = net.createServer({ pauseOnConnect: true });
        await listen(s, l.host, l.port, false);
        b.port = (s.address() as net.AddressInfo).port;
        s.on('connection', (sock) => this.#balance(b, sock));
        b.servers.push(s);
      } else {
        for (let i = 0; i < this.opts.concurrency; i++) b.servers.push(await this.#bindReusePort(b));
      }
    } catch (err) {
      for (const s of b.servers) s?.close();
      throw new LegateError('LEGATE_ERR_BIND',
        `listener "${l.name}": cannot bind ${l.host}:${l.port}: ${(err as Error).message}`);
    }
    return b;
  }

  /** Main's share of a new snapshot's stats: cluster membership (main is its one writer) and
   *  the listeners' connection gauges behind server.total_connections. */
  #onSnapshot(snap: Snapshot, previous: Snapshot | null): void {
    const v = this.store.main.v;
    if (previous !== null) {
      const names = new Set(snap.clusters.map((c) => c.name));
      for (const c of previous.clusters) {
        if (names.has(c.name)) continue;
        recordMembership(v, c.stats, [], false);
      }
      this.#breakerGauges({ ...previous, clusters: previous.clusters.filter((c) => !names.has(c.name)) }, true);
    }
    const was = new Map((previous?.clusters ?? []).map((c) => [c.name, JSON.stringify(c.hosts)]));
    // membership_change: the cluster's first host set, or a changed one. (A cluster that finds its
    // hosts at run time has its discovery write them.)
    for (const c of snap.clusters) {
      if (c.dynamic) continue;
      const before = was.get(c.name);
      recordMembership(v, c.stats, c.hosts, before === undefined ? c.hosts.length > 0 : before !== JSON.stringify(c.hosts));
    }
    // Slots of removed listeners stay tracked: their connections drain after the reload.
    for (const l of snap.listeners) this.#connectionSlots.add(l.stats.downstream_cx_active);
    this.#serverStats!.trackConnections([...this.#connectionSlots]);
  }

  readonly #connectionSlots = new Set<number>();

  /** Each worker slot's event ring: outlier outcomes and immediate health check failures (kept
   *  across restarts of the slot's worker). */
  readonly #outlierRings: SabRing[] = [];
  readonly #outlierHandlers = new Set<(slot: number, code: number) => void>();
  #outlierTimer: NodeJS.Timeout | null = null;

  /** Drain every worker's ring into the outlier detectors and health checkers (every 100 ms while
   *  any listens). */
  #drainOutlier(): void {
    if (this.#outlierHandlers.size === 0) return;
    const hs = [...this.#outlierHandlers];
    for (const r of this.#outlierRings) {
      r.drain((slot, code) => { for (const h of hs) h(slot, code); });
    }
  }

  /** The circuit breakers' gauges, process-wide, from the shared counts (`zero`: a removed
   *  cluster's, set to 0). */
  #breakerGauges(snap: Snapshot, zero = false): void {
    const v = this.store.main.v;
    const counts = this.resources.counts;
    for (const c of snap.clusters) {
      const b = c.breakerStats;
      const at = (i: number): number => (zero || c.resourceOffset < 0 ? 0 : Atomics.load(counts, c.resourceOffset + i));
      const cx = at(RESOURCE_CONNECTIONS);
      const pending = at(RESOURCE_PENDING_REQUESTS);
      const rq = at(RESOURCE_REQUESTS);
      const retries = at(RESOURCE_RETRIES);
      v[b.cx_open] = !zero && cx >= c.maxConnections ? 1 : 0;
      v[b.rq_pending_open] = !zero && pending >= c.maxPendingRequests ? 1 : 0;
      v[b.rq_open] = !zero && rq >= c.maxRequests ? 1 : 0;
      // (Under a retry budget too: Envoy's RetryBudgetImpl keeps the max_retries breaker nested and
      // its gauge follows that breaker, not the budget.)
      v[b.rq_retry_open] = !zero && retries >= c.maxRetries ? 1 : 0;
      if (b.remaining_cx >= 0) v[b.remaining_cx] = zero ? 0 : Math.max(0, c.maxConnections - cx);
      if (b.remaining_pending >= 0) v[b.remaining_pending] = zero ? 0 : Math.max(0, c.maxPendingRequests - pending);
      if (b.remaining_rq >= 0) v[b.remaining_rq] = zero ? 0 : Math.max(0, c.maxRequests - rq);
      if (b.remaining_retries >= 0) v[b.remaining_retries] = zero ? 0 : Math.max(0, c.maxRetries - retries);
    }
  }

  /** The retries' limit as Envoy's /clusters prints it (retries().max()): a retry budget's is
   *  its share of the cluster's requests and pending requests now. */
  #maxRetriesNow(c: Snapshot['clusters'][number]): number {
    if (c.retryBudget === null) return c.maxRetries;
    const counts = this.resources.counts;
    const at = (i: number): number => (c.resourceOffset < 0 ? 0 : Atomics.load(counts, c.resourceOffset + i));
    return retryBudgetMax(c.retryBudget, at(RESOURCE_REQUESTS) + at(RESOURCE_PENDING_REQUESTS));
  }

  async #bindReusePort(b: BoundListener): Promise<Server> {
    // The kernel starts queueing connections on this socket as soon as it listens, while the
    // worker that will own it may still be starting: main accepts those (paused, never read)
    // and passes them on with the server. Workers resume every socket they are given.
    const s = net.createServer({ pauseOnConnect: true });
    const early: net.Socket[] = [];
    (s as any)[kEarly] = early;
    s.on('connection', onEarlyConnection);
    await listen(s, b.snap.host, b.port, b.snap.reusePort);
    if (b.port === 0) b.port = (s.address() as net.AddressInfo).port;
    return s;
  }

  #adminAddress(): { host: string; port: number } {
    if (this.opts.adminAddress !== null) {
      const i = this.opts.adminAddress.lastIndexOf(':');
      return { host: this.opts.adminAddress.slice(0, i), port: Number(this.opts.adminAddress.slice(i + 1)) };
    }
    const sa = this.bootstrap.admin?.address?.socket_address;
    return { host: sa?.address ?? '127.0.0.1', port: sa?.port_value ?? 9901 };
  }

  #startWorker(id: number): Promise<void> {
    const slot: WorkerSlot = this.workers[id]
      ?? { id, worker: null, ready: false, version: 0, restarts: 0, startedAt: 0, backoffMs: 0 };
    this.workers[id] = slot;
    slot.startedAt = Date.now();
    slot.version = this.snapshot.version;
    const ring = this.#outlierRings[id] ??= new SabRing(16384);
    if (this.#outlierTimer === null) {
      this.#outlierTimer = setInterval(() => this.#drainOutlier(), 100);
      this.#outlierTimer.unref();
    }
    const init: WorkerInit = {
      workerId: id,
      snapshot: this.snapshot,
      stats: this.store.attachWorker(id),
      loadSab: this.loadSab,
      shared: this.services.latest(),
      resources: this.resources.sab,
      outlierRing: ring.sab,
      runtime: this.runtime.values(),
      serverState: this.serverState.sab,
    };
    const w = new Worker(new URL('../worker/index.ts', import.meta.url), { workerData: init });
    slot.worker = w;
    slot.ready = false;
    return new Promise((resolve, reject) => {
      w.on('message', (m: FromWorker) => {
        if (m.type === 'ready') {
          slot.ready = true;
          // A reload while it started: it runs an older config. It gets the new one before any
          // socket of a listener only the new one has (messages are handled in order).
          if (slot.version !== this.snapshot.version) this.#postUpdate(slot, this.snapshot);
          this.#handListeners(id, w);
          resolve();
        } else if (m.type === 'drained') {
          this.#drainedWaiters.get(id)?.();
        } else if (m.type === 'updated') {
          slot.version = m.version;
          this.#updatedWaiters.get(id)?.(m.version);
        }
      });
      w.on('error', (err) => {
        this.log.error({ worker: id, err }, 'worker crashed');
        if (!slot.ready) reject(err);
      });
      w.on('exit', (code) => {
        if (slot.worker !== w) return;
        slot.worker = null;
        this.#drainedWaiters.get(id)?.();
        this.#updatedWaiters.get(id)?.(-1);
        if (this.state === 'DRAINING') return;
        this.log.warn({ worker: id, code }, 'worker exited; starting a replacement');
        void this.#replaceWorker(id);
      });
    });
  }

  /** Hand worker `id` its reuse-port sockets (fresh ones for a replacement worker). */
  #handListeners(id: number, w: Worker): void {
    this.listeners.forEach((b) => {
      if (acceptsInMain(b.snap)) return;
      const s = b.servers[id];
      if (s === null || s === undefined) return;
      b.servers[id] = null; // it belongs to the worker now
      s.off('connection', onEarlyConnection);
      const early = (s as any)[kEarly] as net.Socket[];
      const msg: ToWorker = { type: 'listen', listener: b.snap.name, server: s };
      w.postMessage(msg, [s as any]);
      for (const sock of early.splice(0)) {
        if (sock.destroyed) continue;
        w.postMessage({ type: 'socket', listener: b.snap.name, socket: sock } satisfies ToWorker, [sock as any]);
      }
    });
  }

  async #replaceWorker(id: number): Promise<void> {
    const slot = this.workers[id];
    slot.restarts++;
    this.store.retireWorker(id);
    // A worker that keeps dying right after start must not spin the CPU: back off (up to 5 s).
    const now = Date.now();
    slot.backoffMs = now - slot.startedAt < 5_000 ? Math.min(Math.max(slot.backoffMs * 2, 100), 5_000) : 0;
    if (slot.backoffMs > 0) await new Promise((r) => setTimeout(r, slot.backoffMs));
    if (this.state === 'DRAINING') return;
    this.#serverStats!.workerRestarted();
    Atomics.store(this.load, id, 0);
    try {
      // (A copy: a reload may add or remove listeners while this awaits. A listener a reload
      // added has its sockets for every slot already.)
      for (const b of [...this.listeners]) {
        if (acceptsInMain(b.snap) || b.servers[id] != null) continue;
        const s = await this.#bindReusePort(b);
        if (this.listeners.includes(b) && b.servers[id] == null) b.servers[id] = s;
        else s.close();
      }
      await this.#startWorker(id);
    } catch (err) {
      this.log.error({ worker: id, err }, 'cannot replace worker');
    }
  }

  /** exact_balance: give the accepted socket to the worker with the fewest connections. */
  #balance(b: BoundListener, sock: net.Socket): void {
    if (!b.live) {
      b.held.push(sock);
      return;
    }
    let best = -1;
    let bestLoad = Infinity;
    for (const w of this.workers) {
      if (w.worker === null || !w.ready) continue;
      const l = Atomics.load(this.load, w.id);
      if (l < bestLoad) {
        best = w.id;
        bestLoad = l;
      }
    }
    if (best === -1 || this.state === 'DRAINING') {
      sock.destroy();
      return;
    }
    // Count it now so back-to-back accepts spread before the worker reports back.
    Atomics.add(this.load, best, 1);
    const msg: ToWorker = { type: 'socket', listener: b.snap.name, socket: sock };
    this.workers[best].worker!.postMessage(msg, [sock as any]);
  }

  /** Test hook: crash worker `id` (LEGATE_TEST_HOOKS=1 and SIGUSR2). */
  crashWorker(id: number): void {
    const w = this.workers[id]?.worker;
    if (w) w.postMessage({ type: 'crash' } satisfies ToWorker);
  }

  /** POST /healthcheck/fail and /healthcheck/ok (Envoy's failHealthcheck): every worker sees it
   *  at once; a LIVE server reports DRAINING meanwhile (server.state, server.live, /ready,
   *  /server_info), as Envoy's serverState() does. */
  #failHealthCheck(fail: boolean): void {
    this.serverState.setHealthCheckFailed(fail);
    if (this.state === 'LIVE') this.#serverStats?.setState(fail ? 'DRAINING' : 'LIVE');
  }

  #serverInfo(): ServerInfo {
    const up = Math.floor((Date.now() - this.startedAt) / 1000);
    return {
      version: `legate/${VERSION}/Clean/RELEASE/node-${process.versions.node}`,
      state: this.state === 'LIVE' && this.serverState.healthCheckFailed() ? 'DRAINING' : this.state,
      hot_restart_version: 'disabled',
      uptime_current_epoch: up,
      uptime_all_epochs: up,
      command_line_options: {
        concurrency: this.opts.concurrency,
        config_path: this.opts.configPath ?? '',
        config_yaml: this.opts.configYaml ?? '',
        admin_address_path: this.opts.adminAddressPath ?? '',
        mode: 'Serve',
        drain_time: this.opts.drainTimeS,
        log_level: this.log.level,
        restart_epoch: 0,
        disable_hot_restart: true,
      },
      node: this.bootstrap.node ?? {},
    };
  }

  #clusterStatus(): ClusterStatus[] {
    return this.snapshot.clusters.map((c) => this.#oneClusterStatus(c, this.services.healthFlags(c)));
  }

  #oneClusterStatus(c: Snapshot['clusters'][number], hc: Map<number, number> | null): ClusterStatus {
    // (With a health check: the checker's verdict, unchecked while it has none.)
    const ejected = this.services.ejected(c);
    const lw = c.localityWeights === null ? null : localityWeightsOf(c.localityWeights);
    const flags = (h: { healthFlags: number; stats: { rq_total: number } }): number => {
      const key = h.stats.rq_total;
      let f = hc === null ? h.healthFlags : (h.healthFlags & ~ACTIVE_HC_FLAGS) | (hc.get(key) ?? HC_UNCHECKED);
      if (ejected?.has(key) === true) f |= HealthFlag.FAILED_OUTLIER_CHECK;
      return f;
    };
    return {
      name: c.name,
      circuit_breakers: {
        default: {
          max_connections: c.maxConnections,
          max_pending_requests: c.maxPendingRequests,
          max_requests: c.maxRequests,
          max_retries: this.#maxRetriesNow(c),
        },
      },
      hosts: this.services.clusterHosts(c).map((h) => ({
        address: h.address,
        port: h.port,
        health_flags: healthFlagNames(flags(h)),
        weight: h.weight,
        priority: h.priority,
        hostname: h.hostname,
        health_check_port: h.hcPort === 0 ? undefined : h.hcPort,
        health_check_address: h.hcAddress === '' ? undefined : h.hcAddress,
        health_check_hostname: h.hcHostname === '' ? undefined : h.hcHostname,
        region: h.region,
        zone: h.zone,
        sub_zone: h.subZone,
        locality_weight: lw === null ? undefined
          : localityWeightOf(lw, h.priority, { region: h.region, zone: h.zone, subZone: h.subZone }),
        stats: h.stats,
      })),
    };
  }

  /** Every TLS context's certificates in the running config: listeners' chains, then clusters. */
  #certs(): CertificateStatus[] {
    const out: CertificateStatus[] = [];
    const add = (ts: Snapshot['clusters'][number]['transportSocket']): void => {
      if (ts === null) return;
      const c = transportSocketCertificates(ts);
      if (c !== null) out.push(c);
    };
    for (const l of this.snapshot.listeners) for (const fc of chainsOf(l)) add(fc.transportSocket);
    for (const c of this.snapshot.clusters) add(c.transportSocket);
    return out;
  }

  /**
   * Re-read the config (the -c file, or --config-yaml) and apply it. Everything is checked before
   * anything changes: a config that does not validate, or that changes what cannot change while
   * running (a listener's address or how it is bound, the admin address), is refused whole and the
   * running one kept. Then new listeners are bound, every worker swaps in the new snapshot
   * (worker/runtime.ts: what changed is rebuilt, what was removed drains) and the new listeners'
   * sockets are handed over. Resolves once every worker runs the new version.
   */
  reload(): Promise<ReloadResult> {
    const r = this.#reloading.then(() => this.#reload());
    this.#reloading = r.catch(() => {});
    return r;
  }

  async #reload(): Promise<ReloadResult> {
    const srv = this.#serverStats!;
    const refuse = (errors: string[]): ReloadResult => {
      srv.count('server.legate.reload_rejected');
      this.log.error({ errors }, 'config reload refused; the running config is kept');
      return { ok: false, errors };
    };
    if (this.state !== 'LIVE') return refuse([`the server is ${this.state}`]);
    let bootstrap: Record<string, any>;
    let snap: Snapshot;
    let runtimeKey: string;
    try {
      bootstrap = loadConfig(this.opts).bootstrap as Record<string, any>;
      snap = buildSnapshot(bootstrap, this.layout, {
        bufferLimit: this.opts.bufferSize, version: this.snapshot.version + 1, resources: this.resources,
        configDir: configDirOf(this.opts),
      });
      runtimeKey = compileRuntime(bootstrap).key;
    } catch (err) {
      return refuse(err instanceof ConfigError ? err.errors : [(err as Error).message]);
    }
    const errors: string[] = [];
    // (Envoy's runtime layers are bootstrap-only too; their values change through the admin and
    // disk layers.)
    if (runtimeKey !== this.runtime.config.key) errors.push('layered_runtime: the runtime layers cannot change while running');
    const old = new Map(this.snapshot.listeners.map((l) => [l.name, l]));
    snap.listeners.forEach((l, i) => {
      const o = old.get(l.name);
      if (o === undefined) return;
      if (o.host !== l.host || o.port !== l.port || acceptsInMain(o) !== acceptsInMain(l) || o.reusePort !== l.reusePort) {
        errors.push(`static_resources.listeners[${i}]: listener '${l.name}': its address and how it is bound `
          + 'cannot change while running (give it another name to replace it)');
      }
    });
    if (JSON.stringify(bootstrap.admin ?? null) !== JSON.stringify(this.bootstrap.admin ?? null)) {
      errors.push('admin: the admin address cannot change while running');
    }
    if (errors.length > 0) return refuse(errors);

    // Bind the new listeners first: a bind error refuses the reload with nothing changed.
    const added: BoundListener[] = [];
    try {
      for (const l of snap.listeners) {
        if (old.has(l.name)) continue;
        const b = await this.#bind(l);
        b.live = false;
        added.push(b);
      }
    } catch (err) {
      for (const b of added) for (const s of b.servers) s?.close();
      return refuse([(err as Error).message]);
    }
    const names = new Set(snap.listeners.map((l) => l.name));
    const removed = this.listeners.filter((b) => !names.has(b.snap.name));
    const prevClusters = new Map(this.snapshot.clusters.map((c) => [c.name, JSON.stringify(c)]));
    let modified = 0;
    for (const b of this.listeners) {
      const l = snap.listeners.find((x) => x.name === b.snap.name);
      if (l === undefined) continue;
      if (JSON.stringify(l) !== JSON.stringify(b.snap)) modified++;
      b.snap = l;
    }
    // Main-side servers of removed listeners (exact_balance, and reuse-port sockets not handed to
    // a worker yet, with what they accepted early) close now; workers close theirs.
    for (const b of removed) {
      for (const s of b.servers) {
        if (s === null) continue;
        s.close();
        for (const sock of ((s as any)[kEarly] as net.Socket[] | undefined) ?? []) sock.destroy();
      }
      for (const sock of b.held) sock.destroy();
    }
    this.listeners.splice(0, this.listeners.length, ...this.listeners.filter((b) => names.has(b.snap.name)), ...added);
    const previous = this.snapshot;
    this.snapshot = snap;
    this.bootstrap = bootstrap;
    this.configTracker.update(bootstrap);
    this.#onSnapshot(snap, previous);
    // New DNS clusters resolve before the workers get the config (warming).
    await this.services.sync(snap);

    // Every live worker swaps in the new snapshot; new listeners' sockets follow.
    const acks = await Promise.all(this.workers.map((slot) => this.#update(slot, snap)));
    for (const slot of this.workers) if (slot.worker !== null && slot.ready) this.#handListeners(slot.id, slot.worker);
    for (const b of added) {
      b.live = true;
      for (const sock of b.held.splice(0)) this.#balance(b, sock);
    }
    const late = acks.flatMap((ok, id) => (ok ? [] : [id]));

    srv.count('server.legate.reload_success');
    srv.count('listener_manager.listener_added', added.length);
    srv.count('listener_manager.listener_removed', removed.length);
    srv.count('listener_manager.listener_modified', modified);
    let cAdded = 0;
    let cModified = 0;
    for (const c of snap.clusters) {
      const was = prevClusters.get(c.name);
      if (was === undefined) cAdded++;
      else if (was !== JSON.stringify(c)) cModified++;
      prevClusters.delete(c.name);
    }
    srv.count('cluster_manager.cluster_added', cAdded);
    srv.count('cluster_manager.cluster_modified', cModified);
    srv.count('cluster_manager.cluster_removed', prevClusters.size);
    if (late.length > 0) {
      // Applied in main (and by the workers that answered): not refused, but not confirmed either.
      const errors = late.map((id) => `worker ${id} did not confirm config version ${snap.version} within 10 s`);
      this.log.error({ errors }, 'config reload not confirmed');
      return { ok: false, errors, applied: true };
    }
    this.log.info({ version: snap.version }, 'config reloaded');
    return { ok: true, version: snap.version };
  }

  /** Send worker `slot` the new snapshot and wait (bounded) for it to say it runs it. False when
   *  it did not answer in time. (A worker that is starting gets it when it is ready; one that dies
   *  meanwhile is replaced on the new snapshot.) */
  #update(slot: WorkerSlot, snap: Snapshot): Promise<boolean> {
    if (slot.worker === null || !slot.ready) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const t = setTimeout(done, 10_000, false);
      const waiters = this.#updatedWaiters;
      function done(ok: boolean): void {
        clearTimeout(t);
        waiters.delete(slot.id);
        resolve(ok);
      }
      waiters.set(slot.id, (v) => { if (v >= snap.version || v === -1) done(true); });
      this.#postUpdate(slot, snap);
    });
  }

  #postUpdate(slot: WorkerSlot, snap: Snapshot): void {
    slot.worker!.postMessage({ type: 'update', snapshot: snap, drainMs: this.opts.drainTimeS * 1000 } satisfies ToWorker);
  }

  /** Drain and exit: stop accepting, let in-flight requests finish up to --drain-time-s. */
  stop(): Promise<void> {
    if (this.#stopping !== null) return this.#stopping;
    this.#stopping = (async () => {
      this.state = 'DRAINING';
      this.#serverStats!.setState('DRAINING');
      this.log.info('draining');
      this.services.stopAll();
      this.runtime.stop();
      if (this.#outlierTimer !== null) clearInterval(this.#outlierTimer);
      for (const b of this.listeners) for (const s of b.servers) s?.close();
      const timeoutMs = this.opts.drainTimeS * 1000;
      const waits = this.workers.map((slot) => new Promise<void>((resolve) => {
        if (slot.worker === null) return resolve();
        this.#drainedWaiters.set(slot.id, resolve);
        slot.worker.postMessage({ type: 'drain', timeoutMs } satisfies ToWorker);
      }));
      const hard = new Promise<void>((r) => setTimeout(r, timeoutMs + 1000).unref());
      await Promise.race([Promise.all(waits), hard]);
      await Promise.all(this.workers.map((s) => s.worker?.terminate()));
      this.store.stopFlushTimer();
      await this.admin?.close();
      this.log.info('stopped');
      this.#onStopped();
    })();
    return this.#stopping;
  }
}

export function defaultConcurrency(): number {
  return os.availableParallelism();
}
