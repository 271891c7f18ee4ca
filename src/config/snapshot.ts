// Builds the immutable snapshot workers run on, from a validated bootstrap (see load.ts).
// Runs once per config in the main thread: defaults are filled in, stat names are resolved to
// slots, and everything a request needs is flattened into plain, structured-cloneable data.
// Workers only compile it further (regexes) and never look a stat up by name. Each extension's
// typed_config is compiled by its own module (src/extensions, `compile`), through compileNested.
import process from 'node:process';
import { durationMs } from './duration.ts';
import { ConfigError } from './load.ts';
import { typeNameOfUrl } from './extensions.ts';
import {
  CLUSTER_COUNTERS, CLUSTER_GAUGES, CLUSTER_HISTOGRAMS, hostStats, type ClusterStats, type HostStats,
} from '../upstream/stats.ts';
import { edsHealthFlags } from '../upstream/host.ts';
import {
  LISTENER_COUNTERS, LISTENER_GAUGES, LISTENER_HISTOGRAMS, type ListenerOptionalStats, type ListenerStats,
} from '../listener/stats.ts';
import { chainMatchOf, isEmptyMatch, type ChainMatchSnap } from '../listener/filter-chain-match.ts';
import type { StatsLayout } from '../stats/layout.ts';
import { slots } from '../stats/slots.ts';
import {
  clusterTypeModule, extensionModule, extensionModuleByType, perRouteModuleByType, healthCheckerModule, loadBalancerModule, loadBalancerModules,
} from '../extensions/registry.ts';
import { compileHealthCheck, type HealthCheckSnap } from '../upstream/health-check.ts';
import { compileOutlier, type OutlierSnap } from '../upstream/outlier.ts';
import { compileConnectionOptions, type ConnectionOptionsSnap } from '../upstream/connection-options.ts';
import { DEFAULT_PANIC_THRESHOLD } from '../upstream/load-balancer.ts';
import { compileLocalityWeights, healthCheckConfigOf } from '../upstream/endpoints.ts';
import type { LocalityWeightSnap } from '../upstream/locality.ts';
import type { ResourceSlots } from '../upstream/resource-slots.ts';
import type { RetryBudgetLimits } from '../upstream/resource-manager.ts';
import {
  ExtensionCategory, type CompileContext, type CompiledExtension,
} from '../extensions/types.ts';
import type { HcmSnap } from '../extensions/filters/network/http-connection-manager/index.ts';

export type { HcmSnap, CompiledExtension };
export type { HeaderMatchSnap, RouteConfigSnap, RouteSnap, VirtualHostSnap } from '../router/config.ts';
export type { AccessLogSnap } from '../http/access-log.ts';

// Envoy's defaults.
const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
const DEFAULT_MAX_CONNECTIONS = 1024;
const DEFAULT_MAX_PENDING = 1024;
const DEFAULT_MAX_REQUESTS = 1024;
const DEFAULT_MAX_RETRIES = 3;
const DEFAULT_BUDGET_PERCENT = 20;
const DEFAULT_MIN_RETRY_CONCURRENCY = 3;
const DEFAULT_LISTENER_FILTERS_TIMEOUT_MS = 15_000;

/** A filter chain: its network filters compiled by their modules, in order, and its transport
 *  socket (null: raw_buffer). */
export interface FilterChainSnap {
  /** FilterChain.name ('' when unnamed). */
  name: string;
  match: ChainMatchSnap;
  /** filter_chain_match as configured (normalized JSON), for /listeners; null when absent. */
  matchJson: Record<string, unknown> | null;
  filters: CompiledExtension[];
  transportSocket: CompiledExtension | null;
}

export interface ListenerSnap {
  name: string;
  host: string;
  port: number;
  /** `listener.<this>.` in stat names: Envoy's address rendering, ':' replaced by '_'. */
  statName: string;
  exactBalance: boolean;
  reusePort: boolean;
  bufferLimit: number;
  filterChains: FilterChainSnap[];
  /** Listener.default_filter_chain. */
  defaultFilterChain: FilterChainSnap | null;
  /** False when every connection takes filterChains[0] (one chain without filter_chain_match). */
  matchChains: boolean;
  listenerFilters: CompiledExtension[];
  listenerFiltersTimeoutMs: number;
  continueOnListenerFiltersTimeout: boolean;
  stats: ListenerStats;
  optStats: ListenerOptionalStats;
}
/** Every filter chain of a listener: its filter_chains, then its default_filter_chain. */
export function chainsOf(l: ListenerSnap): FilterChainSnap[] {
  return l.defaultFilterChain === null ? l.filterChains : [...l.filterChains, l.defaultFilterChain];
}

export interface HostSnap {
  address: string;
  port: number;
  stats: HostStats;
  /** load_balancing_weight (1 when unset). */
  weight: number;
  /** Its LocalityLbEndpoints' priority (0 when unset). */
  priority: number;
  region: string;
  zone: string;
  subZone: string;
  /** upstream/host.ts HealthFlag bits (health_status UNHEALTHY, DEGRADED, DRAINING). */
  healthFlags: number;
  /** Where active checks go (its endpoint's health_check_config, upstream/endpoints.ts
   *  healthCheckConfigOf()): this address ('': `address`) and port (0: `port`). */
  hcAddress: string;
  hcPort: number;
  /** health_check_config.hostname: the L7 checks' Host / :authority ('': the checker's). */
  hcHostname: string;
  /** Envoy's Host::hostname(): the name a DNS cluster resolved it from; a STATIC host's
   *  Endpoint.hostname ('' when unset). */
  hostname: string;
}
export interface ClusterSnap {
  name: string;
  /** Cluster.type (`STATIC`): selects the cluster extension. */
  type: string;
  /** Cluster.lb_policy (`ROUND_ROBIN`): selects the load balancer extension. */
  lbPolicy: string;
  /** What the load balancer's module compiled from the cluster (null: nothing). */
  lbConfig: unknown;
  /** common_lb_config.healthy_panic_threshold, percent (Envoy's default 50). */
  panicThreshold: number;
  /** With common_lb_config.locality_weighted_lb_config: its localities' load_balancing_weight
   *  (upstream/locality.ts); null without it. */
  localityWeights: LocalityWeightSnap[] | null;
  connectTimeoutMs: number;
  bufferLimit: number;
  maxConnections: number;
  maxPendingRequests: number;
  maxRequests: number;
  maxRetries: number;
  /** circuit_breakers' retry_budget (it replaces maxRetries as the retries' limit), or null. */
  retryBudget: RetryBudgetLimits | null;
  /** Its connections' lifetimes and limits, TCP keepalive and preconnect ratio. */
  connections: ConnectionOptionsSnap;
  /** Where its circuit-breaker counts live in the process's shared buffer (upstream/
   *  resource-slots.ts); -1: counts of its own (tests, --mode validate). */
  resourceOffset: number;
  /** Its circuit breakers' gauges (the DEFAULT priority), set by the main thread from the shared
   *  counts: `*_open` 1 while the breaker is open; `remaining_*` with track_remaining (else -1;
   *  remaining_retries also -1 under a retry budget, which Envoy does not track). */
  breakerStats: BreakerStats;
  /** Its configured hosts; [] for a cluster type that finds them at run time (discovery). */
  hosts: HostSnap[];
  stats: ClusterStats;
  /** Its transport_socket (an UpstreamTlsContext), compiled by its module; null: raw TCP. */
  transportSocket: CompiledExtension | null;
  /** What its cluster type compiled from it (null for STATIC); `dynamic`: its hosts come from the
   *  type's main-thread service, published under `discovery.key`. */
  discovery: unknown;
  dynamic: boolean;
  /** Its active health check (health_checks[0]), or null. */
  healthCheck: HealthCheckSnap | null;
  /** Its outlier_detection, or null. */
  outlier: OutlierSnap | null;
}
export interface Snapshot {
  version: number;
  listeners: ListenerSnap[];
  clusters: ClusterSnap[];
  /** ES modules (file: URLs) each worker imports before building from this snapshot
   *  (CompileContext.preloadModule); absent: none. */
  modules?: string[];
}

export interface SnapshotOptions {
  /** --buffer-size: the default per-connection buffer limit. */
  bufferLimit: number;
  version: number;
  /** The process's circuit-breaker counts (main); absent: each cluster counts on its own. */
  resources?: ResourceSlots;
  /** The config file's directory (CompileContext.configDir); absent: the current directory. */
  configDir?: string;
}

export interface BreakerStats {
  cx_open: number;
  rq_pending_open: number;
  rq_open: number;
  remaining_cx: number;
  remaining_pending: number;
  remaining_rq: number;
  rq_retry_open: number;
  remaining_retries: number;
}

type Obj = Record<string, any>;

/** Envoy's ResourceManagers::load(): a retry_budget is in force once it sets either field (an empty
 *  one leaves max_retries in charge); the other takes its default. A budget_percent given without a
 *  value is 0%. */
function compileRetryBudget(rb: Obj | undefined): RetryBudgetLimits | null {
  if (rb === undefined || (rb.budget_percent === undefined && rb.min_retry_concurrency === undefined)) return null;
  return {
    budgetPercent: rb.budget_percent === undefined ? DEFAULT_BUDGET_PERCENT : rb.budget_percent.value ?? 0,
    minRetryConcurrency: rb.min_retry_concurrency ?? DEFAULT_MIN_RETRY_CONCURRENCY,
  };
}

function addressOf(addr: Obj | undefined): { host: string; port: number } {
  const sa = addr?.socket_address ?? {};
  return { host: sa.address ?? '0.0.0.0', port: sa.port_value ?? 0 };
}

export function buildSnapshot(bootstrap: Obj, layout: StatsLayout, opts: SnapshotOptions): Snapshot {
  const sr = bootstrap.static_resources ?? {};
  const clusters: ClusterSnap[] = [];
  const clusterNames = new Set<string>();
  const withTransport = new Set(((sr.clusters ?? []) as Obj[]).filter((c) => c.transport_socket !== undefined).map((c) => String(c.name)));
  for (const c of (sr.clusters ?? []) as Obj[]) clusterNames.add(c.name);
  const modules = new Set<string>();
  const ctx = compileContext(layout, opts, clusterNames, withTransport, modules, String(bootstrap.node?.cluster ?? ''));
  ((sr.clusters ?? []) as Obj[]).forEach((c, i) => {
    const prefix = `cluster.${c.name}.`;
    const type = typeof c.type === 'string' ? c.type : 'STATIC';
    const module = clusterTypeModule(type);
    // (The loader refuses a type no module implements.)
    if (module === undefined) fail(`static_resources.clusters[${i}].type`, `cluster type ${type} is not supported by Legate`);
    const cpath = `static_resources.clusters[${i}]`;
    const discovery = module.compile(c, { ...ctx, path: cpath });
    const lbPolicy = typeof c.lb_policy === 'string' ? c.lb_policy : 'ROUND_ROBIN';
    const lbModule = loadBalancerModule(lbPolicy);
    if (lbModule === undefined) fail(`${cpath}.lb_policy`, `lb_policy ${lbPolicy} is not supported by Legate`);
    for (const m of loadBalancerModules()) {
      if (m.configField !== undefined && m.lbPolicy !== lbPolicy && c[m.configField] !== undefined) {
        fail(`${cpath}.${m.configField}`, `applies to lb_policy ${m.lbPolicy} only (this cluster's is ${lbPolicy})`);
      }
    }
    const lbConfig = lbModule.compile(c, { ...ctx, path: cpath });
    const localityWeights = compileLocalityWeights(c, { ...ctx, path: cpath }, type === 'LOGICAL_DNS');
    const panic = c.common_lb_config?.healthy_panic_threshold?.value;
    const dynamic = module.mainService !== undefined;
    const th = ((c.circuit_breakers?.thresholds ?? []) as Obj[])
      .find((t) => (t.priority ?? 'DEFAULT') === 'DEFAULT') ?? {};
    const hosts: HostSnap[] = [];
    ((dynamic ? [] : c.load_assignment?.endpoints ?? []) as Obj[]).forEach((le, i) => {
      const loc = le.locality ?? {};
      ((le.lb_endpoints ?? []) as Obj[]).forEach((lb, j) => {
        const { host, port } = addressOf(lb.endpoint?.address);
        const hcPath = `${cpath}.load_assignment.endpoints[${i}].lb_endpoints[${j}].endpoint.health_check_config`;
        hosts.push({
          address: host, port,
          stats: hostStats(layout, c.name, host, port),
          weight: lb.load_balancing_weight ?? 1,
          priority: le.priority ?? 0,
          region: loc.region ?? '', zone: loc.zone ?? '', subZone: loc.sub_zone ?? '',
          healthFlags: edsHealthFlags(lb.health_status),
          ...healthCheckConfigOf(lb.endpoint?.health_check_config, hcPath, ctx),
          hostname: lb.endpoint?.hostname ?? '',
        });
      });
    });
    const stats = slots(layout, prefix, CLUSTER_COUNTERS, CLUSTER_GAUGES, CLUSTER_HISTOGRAMS);
    const retryBudget = compileRetryBudget(th.retry_budget);
    const cb = `${prefix}circuit_breakers.default.`;
    const remaining = (n: string): number => (th.track_remaining === true ? layout.gauge(cb + n) : -1);
    const breakerStats: BreakerStats = {
      cx_open: layout.gauge(`${cb}cx_open`),
      rq_pending_open: layout.gauge(`${cb}rq_pending_open`),
      rq_open: layout.gauge(`${cb}rq_open`),
      remaining_cx: remaining('remaining_cx'),
      remaining_pending: remaining('remaining_pending'),
      remaining_rq: remaining('remaining_rq'),
      rq_retry_open: layout.gauge(`${cb}rq_retry_open`),
      remaining_retries: retryBudget === null ? remaining('remaining_retries') : -1,
    };
    clusters.push({
      name: c.name,
      type,
      lbPolicy,
      lbConfig,
      panicThreshold: typeof panic === 'number' ? panic : DEFAULT_PANIC_THRESHOLD,
      localityWeights,
      connectTimeoutMs: durationMs(c.connect_timeout, DEFAULT_CONNECT_TIMEOUT_MS),
      bufferLimit: c.per_connection_buffer_limit_bytes ?? opts.bufferLimit,
      maxConnections: th.max_connections ?? DEFAULT_MAX_CONNECTIONS,
      maxPendingRequests: th.max_pending_requests ?? DEFAULT_MAX_PENDING,
      maxRequests: th.max_requests ?? DEFAULT_MAX_REQUESTS,
      maxRetries: th.max_retries ?? DEFAULT_MAX_RETRIES,
      retryBudget,
      connections: compileConnectionOptions(c, { ...ctx, path: cpath }, extensionModuleByType),
      resourceOffset: opts.resources?.offsetFor(`${c.name}\n${JSON.stringify(c)}`) ?? -1,
      breakerStats,
      hosts,
      stats,
      transportSocket: null,
      discovery,
      dynamic,
      healthCheck: compileHealthCheck(c, { ...ctx, path: cpath }, healthCheckerModule),
      outlier: compileOutlier(c, { ...ctx, path: cpath }),
    });
  });

  // Cluster transport sockets (their stats under cluster.<name>.ssl.).
  ((sr.clusters ?? []) as Obj[]).forEach((c, i) => {
    if (c.transport_socket === undefined) return;
    clusters[i].transportSocket = ctx.compileNested(ExtensionCategory.TransportSocket, c.transport_socket,
      `static_resources.clusters[${i}].transport_socket`, `cluster.${c.name}.`);
  });
  const listeners: ListenerSnap[] = [];
  ((sr.listeners ?? []) as Obj[]).forEach((l, i) => {
    const lpath = `static_resources.listeners[${i}]`;
    const { host, port } = addressOf(l.address);
    const statName = `${host}_${port}`;
    const scope = `listener.${statName}.`;
    const chain = (fc: Obj, cpath: string): FilterChainSnap => ({
      name: typeof fc.name === 'string' ? fc.name : '',
      match: chainMatchOf(fc.filter_chain_match),
      matchJson: fc.filter_chain_match === undefined ? null : structuredClone(fc.filter_chain_match),
      filters: ((fc.filters ?? []) as Obj[]).map((f, k) => ctx.compileNested(
        ExtensionCategory.NetworkFilter, f, `${cpath}.filters[${k}]`)),
      transportSocket: fc.transport_socket === undefined ? null : ctx.compileNested(ExtensionCategory.TransportSocket,
        fc.transport_socket, `${cpath}.transport_socket`, scope),
    });
    const filterChains = ((l.filter_chains ?? []) as Obj[]).map((fc, j) => chain(fc, `${lpath}.filter_chains[${j}]`));
    const defaultFilterChain = l.default_filter_chain === undefined ? null
      : chain(l.default_filter_chain, `${lpath}.default_filter_chain`);
    const matchChains = !(filterChains.length === 1 && isEmptyMatch(filterChains[0].match));
    const listenerFilters = ((l.listener_filters ?? []) as Obj[]).map((f, k) => ctx.compileNested(
      ExtensionCategory.ListenerFilter, f, `${lpath}.listener_filters[${k}]`, scope));
    const hasFilters = listenerFilters.length > 0;
    listeners.push({
      name: l.name ?? statName,
      host, port, statName,
      exactBalance: l.connection_balance_config?.exact_balance !== undefined,
      reusePort: l.enable_reuse_port !== false,
      bufferLimit: l.per_connection_buffer_limit_bytes ?? opts.bufferLimit,
      filterChains,
      defaultFilterChain,
      matchChains,
      listenerFilters,
      listenerFiltersTimeoutMs: durationMs(l.listener_filters_timeout, DEFAULT_LISTENER_FILTERS_TIMEOUT_MS),
      continueOnListenerFiltersTimeout: l.continue_on_listener_filters_timeout === true,
      stats: slots(layout, scope, LISTENER_COUNTERS, LISTENER_GAUGES, LISTENER_HISTOGRAMS),
      optStats: {
        no_filter_chain_match: matchChains && defaultFilterChain === null ? layout.counter(`${scope}no_filter_chain_match`) : -1,
        downstream_pre_cx_timeout: hasFilters ? layout.counter(`${scope}downstream_pre_cx_timeout`) : -1,
        downstream_pre_cx_active: hasFilters ? layout.gauge(`${scope}downstream_pre_cx_active`) : -1,
      },
    });
  });
  return modules.size === 0 ? { version: opts.version, listeners, clusters }
    : { version: opts.version, listeners, clusters, modules: [...modules] };
}

function fail(path: string, message: string): never {
  throw new ConfigError([`${path}: ${message}`]);
}

/** What every extension's compile() gets; compileNested resolves an entry's module (by its
 *  typed_config @type, else by name, as the loader does) and compiles it at its path. */
function compileContext(layout: StatsLayout, opts: SnapshotOptions, clusters: ReadonlySet<string>,
  clustersWithTransportSocket: ReadonlySet<string>, modules: Set<string>, serviceCluster: string): CompileContext {
  const base: CompileContext = {
    layout, path: '', scope: '', bufferLimit: opts.bufferLimit, clusters, clustersWithTransportSocket, serviceCluster, fail,
    configDir: opts.configDir ?? process.cwd(),
    preloadModule(url: string): void { modules.add(url); },
    sharedSlots: (key, size, align) => opts.resources?.offsetFor(`\u0000${key}`, size, align) ?? -1,
    compileNested(category, entry, path, scope = ''): CompiledExtension {
      const tc: Obj | undefined = entry.typed_config;
      const type = tc?.['@type'];
      const name = String(entry.name ?? '');
      const m = typeof type === 'string' ? extensionModuleByType(typeNameOfUrl(type)) : extensionModule(name);
      // The loader refuses unknown, unsupported and misplaced extensions first. (A per-route config
      // type names its HTTP filter to the loader, but configures only a route.)
      const perRoute = typeof type === 'string' && (m === undefined || !m.types.includes(typeNameOfUrl(type)))
        ? perRouteModuleByType(typeNameOfUrl(type)) : undefined;
      if (perRoute !== undefined) {
        fail(`${path}.typed_config`, `${typeNameOfUrl(type)} is the per-route config of "${perRoute.name}" `
          + '(a route\'s typed_per_filter_config), not its config');
      }
      if (m === undefined) fail(path, `extension "${name}" is not supported by Legate`);
      if (m.category !== category) fail(path, `extension "${m.name}" (${m.category}) cannot be used as a ${category} extension`);
      return { name: m.name, config: m.compile(tc ?? {}, { ...base, path: `${path}.typed_config`, scope, configName: name }) };
    },
  };
  return base;
}
