// The clusters whose endpoints are host names (Envoy's STRICT_DNS and LOGICAL_DNS): what their
// config compiles to, and the main-thread discovery that resolves the names and publishes the
// hosts to every worker (the cluster types' worker sides, extensions/clusters/*-dns, apply them).
//
// Design note
// - Resolution runs on the main thread, one DnsDiscovery per cluster config (Envoy resolves on its
//   main dispatcher too). Each endpoint is a resolve target, re-resolved every dns_refresh_rate
//   (5 s), or the answer's TTL with respect_dns_ttl, or on failure after
//   dns_failure_refresh_rate's jittered backoff (else dns_refresh_rate again).
// - STRICT_DNS: every address of every name is a host (with its endpoint's weight, priority and
//   locality); a failed resolution keeps the target's last hosts (Envoy: SERVFAIL, a timeout, no
//   such name, and no address all fail). LOGICAL_DNS: one host, the first address; an answer with
//   another first address moves it (new connections go there; open ones stay).
// - What a discovery publishes ({ hosts }: HostSnap[], stat slots resolved here) goes to every
//   worker as a 'shared' value under the cluster's discovery key, which names the cluster and a
//   hash of its config: a changed cluster gets a new key, so a worker never mixes the hosts of an
//   old config into a new one. A worker applies them between two events of its loop: a request
//   never waits for DNS.
// - Warming: a new config reaches the workers once every target of its new DNS clusters has been
//   resolved once (success or failure), unless wait_for_warm_on_init is false. Envoy waits for
//   the first target only; a cluster of several names is complete here from its first request.
//   With wait_for_warm_on_init false the cluster is initialized at once, with no host, so its
//   health check does not wait either (upstream/health-check.ts).
import type {
  ClusterServiceConfig, CompileContext, CompiledExtension, MainService, MainServiceContext,
} from '../extensions/types.ts';
import { ExtensionCategory } from '../extensions/types.ts';
import type { HostSnap } from '../config/snapshot.ts';
import { durationMs } from '../config/duration.ts';
import { xxHash64 } from '../common/xxhash64.ts';
import { FixedBackOff, JitteredExponentialBackOff, type BackOffStrategy } from '../common/backoff.ts';
import { edsHealthFlags, recordMembership } from './host.ts';
import { hostStats, type ClusterStats } from './stats.ts';
import { ENDPOINT_FIELDS, checkPriorities, healthCheckConfigOf } from './endpoints.ts';
import type { DnsLookupFamily, DnsResolver, DnsResult } from './dns.ts';

type Obj = Record<string, any>;

/** Cluster fields that only DNS clusters act on: another cluster type refuses them by name. */
export const DNS_CLUSTER_FIELDS = [
  'dns_refresh_rate', 'dns_failure_refresh_rate', 'respect_dns_ttl', 'dns_lookup_family', 'dns_resolvers',
  'typed_dns_resolver_config', 'wait_for_warm_on_init',
] as const;

/** What the DNS cluster types list as supported fields. */
export const DNS_FIELDS = {
  'envoy.config.cluster.v3.Cluster': [...DNS_CLUSTER_FIELDS, 'load_assignment'],
  'envoy.config.cluster.v3.Cluster.RefreshRate': ['base_interval', 'max_interval'],
  'envoy.config.core.v3.TypedExtensionConfig': ['name', 'typed_config'],
  ...ENDPOINT_FIELDS,
} as const;

const DEFAULT_REFRESH_MS = 5_000;
const CARES = 'envoy.network.dns_resolver.cares';
const CARES_TYPE = 'type.googleapis.com/envoy.extensions.network.dns_resolver.cares.v3.CaresDnsResolverConfig';

/** One endpoint to resolve: a host's facts without its address (the answer's) and stats. */
export type DnsTargetSnap = Omit<HostSnap, 'address' | 'stats' | 'hostname'> & { name: string };

export interface DnsClusterSnap {
  /** Where the discovery publishes and workers watch: the cluster's name and a hash of the rest. */
  key: string;
  logical: boolean;
  refreshMs: number;
  respectTtl: boolean;
  /** dns_failure_refresh_rate; null: failures wait refreshMs too. */
  failureRefresh: { baseMs: number; maxMs: number } | null;
  family: DnsLookupFamily;
  resolver: CompiledExtension;
  waitForWarm: boolean;
  targets: DnsTargetSnap[];
  /** Envoy's config update stats of the cluster (main counts them). */
  stats: { update_attempt: number; update_success: number; update_failure: number; update_no_rebuild: number };
}

/** What a discovery publishes (ClusterSnap.discovery.key). */
export interface DiscoveredHosts {
  hosts: HostSnap[];
}

/** Compile a STRICT_DNS (or, `logical`, LOGICAL_DNS) cluster's DNS part; ctx.path is the
 *  cluster's. */
export function compileDnsCluster(c: Obj, ctx: CompileContext, logical: boolean): DnsClusterSnap {
  const path = ctx.path;
  const type = logical ? 'LOGICAL_DNS' : 'STRICT_DNS';
  const locs = (c.load_assignment?.endpoints ?? []) as Obj[];
  if (logical && (locs.length !== 1 || (locs[0].lb_endpoints ?? []).length !== 1)) {
    ctx.fail(`${path}.load_assignment`, c.load_assignment === undefined
      ? 'LOGICAL_DNS clusters must have a single host'
      : 'LOGICAL_DNS clusters must have a single locality_lb_endpoint and a single lb_endpoint');
  }
  if (!logical) checkPriorities(c, ctx);
  const targets: DnsTargetSnap[] = [];
  locs.forEach((le, i) => {
    const loc = le.locality ?? {};
    ((le.lb_endpoints ?? []) as Obj[]).forEach((lb, j) => {
      const sa = lb.endpoint?.address?.socket_address ?? {};
      const name = String(sa.address ?? '');
      if (name === '') {
        ctx.fail(`${path}.load_assignment.endpoints[${i}].lb_endpoints[${j}].endpoint.address.socket_address.address`,
          `${type} clusters need a host name or address`);
      }
      targets.push({
        name, port: sa.port_value ?? 0,
        weight: lb.load_balancing_weight ?? 1,
        // (LOGICAL_DNS: Envoy rewrites its one endpoint's priority to 0.)
        priority: logical ? 0 : le.priority ?? 0,
        region: loc.region ?? '', zone: loc.zone ?? '', subZone: loc.sub_zone ?? '',
        healthFlags: edsHealthFlags(lb.health_status),
        ...healthCheckConfigOf(lb.endpoint?.health_check_config,
          `${path}.load_assignment.endpoints[${i}].lb_endpoints[${j}].endpoint.health_check_config`, ctx),
      });
    });
  });
  let failureRefresh: DnsClusterSnap['failureRefresh'] = null;
  if (c.dns_failure_refresh_rate !== undefined) {
    const baseMs = durationMs(c.dns_failure_refresh_rate.base_interval, DEFAULT_REFRESH_MS);
    const maxMs = durationMs(c.dns_failure_refresh_rate.max_interval, baseMs * 10);
    if (maxMs < baseMs) {
      ctx.fail(`${path}.dns_failure_refresh_rate.max_interval`,
        'dns_failure_refresh_rate must have max_interval greater than or equal to the base_interval');
    }
    failureRefresh = { baseMs, maxMs };
  }
  let resolver: CompiledExtension;
  if (c.typed_dns_resolver_config !== undefined) {
    resolver = ctx.compileNested(ExtensionCategory.DnsResolver, c.typed_dns_resolver_config,
      `${path}.typed_dns_resolver_config`);
  } else {
    // The deprecated dns_resolvers are c-ares' resolvers (Envoy turns them into that config).
    resolver = ctx.compileNested(ExtensionCategory.DnsResolver,
      { name: CARES, typed_config: { '@type': CARES_TYPE, resolvers: c.dns_resolvers ?? [] } },
      c.dns_resolvers === undefined ? path : `${path}.dns_resolvers`);
  }
  const prefix = `cluster.${c.name}.`;
  const l = ctx.layout;
  const rest = {
    logical,
    refreshMs: durationMs(c.dns_refresh_rate, DEFAULT_REFRESH_MS),
    respectTtl: c.respect_dns_ttl === true,
    failureRefresh,
    family: (c.dns_lookup_family ?? 'AUTO') as DnsLookupFamily,
    resolver,
    waitForWarm: c.wait_for_warm_on_init ?? true,
    targets,
    stats: {
      update_attempt: l.counter(`${prefix}update_attempt`),
      update_success: l.counter(`${prefix}update_success`),
      update_failure: l.counter(`${prefix}update_failure`),
      update_no_rebuild: l.counter(`${prefix}update_no_rebuild`),
    },
  };
  return { key: `cluster:${c.name}:${xxHash64(JSON.stringify(rest)).toString(16)}`, ...rest };
}

interface Target {
  snap: DnsTargetSnap;
  /** Its current hosts by "address:port" (STRICT_DNS), in answer order. */
  hosts: Map<string, HostSnap>;
  backoff: BackOffStrategy;
  timer: NodeJS.Timeout | null;
  resolved: boolean;
}

/** The main-thread service of one DNS cluster config (see the design note). */
export class DnsDiscovery implements MainService {
  readonly ready: Promise<void>;
  readonly #cluster: string;
  readonly #snap: DnsClusterSnap;
  readonly #clusterStats: Pick<ClusterStats, MembershipStat>;
  readonly #ctx: MainServiceContext;
  readonly #resolver: DnsResolver;
  readonly #targets: Target[];
  #stopped: boolean;
  #unresolved: number;
  #markReady: () => void;
  /** LOGICAL_DNS: its one host once an answer came. */
  #logical: HostSnap | null;
  #published: boolean;

  constructor(cluster: string, clusterStats: Record<string, number>, snap: DnsClusterSnap, ctx: MainServiceContext) {
    this.#cluster = cluster;
    this.#snap = snap;
    this.#clusterStats = clusterStats as Pick<ClusterStats, MembershipStat>;
    this.#ctx = ctx;
    this.#resolver = ctx.dnsResolver(snap.resolver);
    this.#stopped = false;
    this.#logical = null;
    this.#published = false;
    this.#markReady = () => {};
    const ready = new Promise<void>((r) => { this.#markReady = r; });
    this.ready = snap.waitForWarm ? ready : Promise.resolve();
    this.#targets = snap.targets.map((t) => ({
      snap: t, hosts: new Map(), timer: null, resolved: false,
      backoff: snap.failureRefresh === null ? new FixedBackOff(snap.refreshMs)
        : new JitteredExponentialBackOff(snap.failureRefresh.baseMs, snap.failureRefresh.maxMs),
    }));
    this.#unresolved = this.#targets.length;
    // No endpoint: initialized at once, with no hosts.
    if (this.#unresolved === 0) {
      this.#publish(true);
      this.#markReady();
    }
    for (const t of this.#targets) this.#resolve(t);
  }

  stop(): void {
    this.#stopped = true;
    for (const t of this.#targets) if (t.timer !== null) clearTimeout(t.timer);
    this.#resolver.stop();
    this.#markReady();
  }

  #resolve(t: Target): void {
    t.timer = null;
    if (this.#stopped) return;
    this.#ctx.stats.v[this.#snap.stats.update_attempt]++;
    this.#resolver.resolve(t.snap.name, this.#snap.family).then(
      (r) => this.#onResult(t, r),
      (err: unknown) => this.#onResult(t, { ok: false, reason: String(err) }),
    );
  }

  #onResult(t: Target, r: DnsResult): void {
    if (this.#stopped) return;
    const v = this.#ctx.stats.v;
    const st = this.#snap.stats;
    let next: number;
    if (r.ok) {
      v[st.update_success]++;
      t.backoff.reset();
      const changed = this.#snap.logical ? this.#applyLogical(t, r.addresses[0].address) : this.#applyStrict(t, r);
      if (changed) this.#publish(true);
      else v[st.update_no_rebuild]++;
      next = this.#snap.refreshMs;
      if (this.#snap.respectTtl) {
        // LOGICAL_DNS follows its address's TTL; STRICT_DNS the smallest of the answer's.
        let ttl = this.#snap.logical ? r.addresses[0].ttlS : Infinity;
        if (!this.#snap.logical) for (const a of r.addresses) ttl = Math.min(ttl, a.ttlS);
        if (ttl > 0 && ttl !== Infinity) next = ttl * 1000;
      }
    } else {
      v[st.update_failure]++;
      this.#ctx.warn('DNS resolution failed', { cluster: this.#cluster, name: t.snap.name, reason: r.reason });
      next = t.backoff.nextBackOffMs();
    }
    if (!t.resolved) {
      t.resolved = true;
      if (--this.#unresolved === 0) {
        // The cluster is initialized (even with no host): workers get its (maybe empty) set.
        if (!this.#published) this.#publish(false);
        this.#markReady();
      }
    }
    t.timer = setTimeout(() => this.#resolve(t), next);
    t.timer.unref();
  }

  /** STRICT_DNS: the target's hosts become the answer's addresses; true when they changed. */
  #applyStrict(t: Target, r: DnsResult & { ok: true }): boolean {
    const s = t.snap;
    const next = new Map<string, HostSnap>();
    for (const a of r.addresses) {
      const k = hostKey(a.address, s.port);
      if (next.has(k)) continue;
      next.set(k, t.hosts.get(k) ?? this.#hostSnap(a.address, a.address, s));
    }
    const same = next.size === t.hosts.size && [...next.keys()].every((k) => t.hosts.has(k));
    t.hosts = next;
    return !same;
  }

  /** LOGICAL_DNS: the one host is at `address` now; true when it moved (or is new). */
  #applyLogical(t: Target, address: string): boolean {
    const h = this.#logical;
    if (h !== null && h.address === address) return false;
    // (Its stats are named after the name it resolves: they stay when it moves.)
    this.#logical = h === null ? this.#hostSnap(t.snap.name, address, t.snap) : { ...h, address };
    return true;
  }

  #hostSnap(statName: string, address: string, s: DnsTargetSnap): HostSnap {
    return {
      address, port: s.port,
      stats: hostStats(this.#ctx.layout, this.#cluster, statName, s.port),
      weight: s.weight, priority: s.priority, region: s.region, zone: s.zone, subZone: s.subZone,
      healthFlags: s.healthFlags, hcAddress: s.hcAddress, hcPort: s.hcPort, hcHostname: s.hcHostname,
      // (Envoy: the endpoint's hostname, or else the name it resolves.)
      hostname: s.name,
    };
  }

  #publish(changed: boolean): void {
    const hosts: HostSnap[] = [];
    if (this.#snap.logical) {
      if (this.#logical !== null) hosts.push(this.#logical);
    } else {
      for (const t of this.#targets) for (const h of t.hosts.values()) hosts.push(h);
    }
    recordMembership(this.#ctx.stats.v, this.#clusterStats, hosts, changed && (hosts.length > 0 || this.#published));
    this.#published = true;
    this.#ctx.publish({ hosts } satisfies DiscoveredHosts);
  }
}

type MembershipStat = 'membership_total' | 'membership_healthy' | 'membership_degraded' | 'max_host_weight'
  | 'membership_change';

function hostKey(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/** What the STRICT_DNS and LOGICAL_DNS cluster modules share (their worker sides differ): the
 *  fields, the compile and the main-thread discovery. */
export function dnsClusterModuleParts(type: 'STRICT_DNS' | 'LOGICAL_DNS') {
  const logical = type === 'LOGICAL_DNS';
  return {
    category: ExtensionCategory.Cluster,
    types: [] as string[],
    fields: {
      ...DNS_FIELDS,
      'envoy.config.cluster.v3.Cluster': [['type', { enumValues: [type] }] as const, ...DNS_FIELDS['envoy.config.cluster.v3.Cluster']],
    },
    protos: [] as string[],
    compile: (cluster: Obj, ctx: CompileContext): DnsClusterSnap => compileDnsCluster(cluster, ctx, logical),
    clusterType: type,
    mainService: {
      key: (c: ClusterServiceConfig<DnsClusterSnap>): string => c.discovery.key,
      start: (c: ClusterServiceConfig<DnsClusterSnap>, ctx: MainServiceContext): MainService =>
        new DnsDiscovery(c.cluster, c.clusterStats, c.discovery, ctx),
    },
  } as const;
}
