// Builds the immutable snapshot workers run on, from a validated bootstrap (see load.ts).
// Runs once per config in the main thread: defaults are filled in, stat names are resolved to
// slots, and everything a request needs is flattened into plain, structured-cloneable data.
// Workers only compile it further (regexes) and never look a stat up by name.
import { durationMs } from './duration.ts';
import { HCM_COUNTERS, HCM_GAUGES, HCM_HISTOGRAMS, type HcmStats } from '../http/stats.ts';
import {
  CLUSTER_COUNTERS, CLUSTER_GAUGES, CLUSTER_HISTOGRAMS, HOST_COUNTERS, HOST_GAUGES,
  type ClusterStats, type HostStats,
} from '../upstream/stats.ts';
import { edsHealthFlags } from '../upstream/host.ts';
import {
  LISTENER_COUNTERS, LISTENER_GAUGES, LISTENER_HISTOGRAMS, type ListenerStats,
} from '../listener/stats.ts';
import type { StatsLayout } from '../stats/layout.ts';

// Envoy's defaults.
const DEFAULT_ROUTE_TIMEOUT_MS = 15_000;
const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
const DEFAULT_MAX_CONNECTIONS = 1024;
const DEFAULT_MAX_PENDING = 1024;
const DEFAULT_MAX_REQUESTS = 1024;
const DEFAULT_MAX_RETRIES = 3;
const DEFAULT_STREAM_IDLE_TIMEOUT_MS = 300_000;
const DEFAULT_IDLE_TIMEOUT_MS = 3_600_000;
const DEFAULT_DRAIN_TIMEOUT_MS = 5_000;
const DEFAULT_MAX_REQUEST_HEADERS_KB = 60;
const DEFAULT_MAX_HEADERS_COUNT = 100;

export const ROUTER_FILTER = 'envoy.filters.http.router';

export interface HeaderMatchSnap {
  name: string;
  kind: 'exact' | 'prefix' | 'suffix' | 'contains' | 'regex' | 'present';
  value: string;
  ignoreCase: boolean;
  invert: boolean;
  present: boolean;
}
export interface RouteSnap {
  name: string;
  match: { kind: 'prefix' | 'path' | 'regex'; value: string; caseSensitive: boolean };
  headers: HeaderMatchSnap[];
  action:
    | { kind: 'cluster'; cluster: string; clusterIndex: number; timeoutMs: number;
        idleTimeoutMs: number; prefixRewrite: string | null; hostRewrite: string | null }
    | { kind: 'direct'; status: number; body: string | null };
}
export interface VirtualHostSnap { name: string; domains: string[]; routes: RouteSnap[] }
export interface AccessLogSnap { kind: 'file' | 'stdout' | 'stderr'; path: string; format: string | null; json: Record<string, unknown> | null }
export interface HttpFilterSnap { name: string; config: Record<string, unknown> }
export interface HcmSnap {
  statPrefix: string;
  useRemoteAddress: boolean;
  xffNumTrustedHops: number;
  generateRequestId: boolean;
  serverName: string;
  requestTimeoutMs: number;
  streamIdleTimeoutMs: number;
  idleTimeoutMs: number;
  drainTimeoutMs: number;
  maxRequestHeadersBytes: number;
  maxHeadersCount: number;
  virtualHosts: VirtualHostSnap[];
  httpFilters: HttpFilterSnap[];
  accessLogs: AccessLogSnap[];
  stats: HcmStats;
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
  hcm: HcmSnap;
  stats: ListenerStats;
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
}
export interface ClusterSnap {
  name: string;
  index: number;
  /** Cluster.type (`STATIC`): selects the cluster extension. */
  type: string;
  /** Cluster.lb_policy (`ROUND_ROBIN`): selects the load balancer extension. */
  lbPolicy: string;
  connectTimeoutMs: number;
  bufferLimit: number;
  maxConnections: number;
  maxPendingRequests: number;
  maxRequests: number;
  maxRetries: number;
  hosts: HostSnap[];
  stats: ClusterStats;
}
export interface Snapshot {
  version: number;
  listeners: ListenerSnap[];
  clusters: ClusterSnap[];
}

export interface SnapshotOptions {
  /** --buffer-size: the default per-connection buffer limit. */
  bufferLimit: number;
  version: number;
}

type Obj = Record<string, any>;

function slots<T extends string>(
  layout: StatsLayout, prefix: string,
  counters: readonly T[], gauges: readonly T[], histograms: readonly T[],
  hidden = false,
): Record<T, number> {
  const out = {} as Record<T, number>;
  for (const n of counters) out[n] = layout.counter(prefix + n, hidden ? { hidden: true } : undefined);
  for (const n of gauges) out[n] = layout.gauge(prefix + n, hidden ? { hidden: true } : undefined);
  for (const n of histograms) out[n] = layout.histogram(prefix + n, 'ms');
  return out;
}

function addressOf(addr: Obj | undefined): { host: string; port: number } {
  const sa = addr?.socket_address ?? {};
  return { host: sa.address ?? '0.0.0.0', port: sa.port_value ?? 0 };
}

function stringMatch(name: string, sm: Obj, invert: boolean): HeaderMatchSnap {
  const ignoreCase = sm.ignore_case === true;
  for (const kind of ['exact', 'prefix', 'suffix', 'contains'] as const) {
    if (typeof sm[kind] === 'string') {
      return { name, kind, value: ignoreCase ? sm[kind].toLowerCase() : sm[kind], ignoreCase, invert, present: false };
    }
  }
  if (sm.safe_regex) return { name, kind: 'regex', value: sm.safe_regex.regex, ignoreCase, invert, present: false };
  return { name, kind: 'exact', value: '', ignoreCase, invert, present: false };
}

function headerMatcher(h: Obj): HeaderMatchSnap {
  const name = String(h.name).toLowerCase();
  const invert = h.invert_match === true;
  if (h.string_match) return stringMatch(name, h.string_match, invert);
  if (h.present_match !== undefined) {
    return { name, kind: 'present', value: '', ignoreCase: false, invert, present: h.present_match !== false };
  }
  // Envoy: a matcher with no match specifier matches when the header is present.
  return { name, kind: 'present', value: '', ignoreCase: false, invert, present: true };
}

function dataSourceString(ds: Obj | undefined): string | null {
  if (!ds) return null;
  if (typeof ds.inline_string === 'string') return ds.inline_string;
  if (typeof ds.inline_bytes === 'string') return Buffer.from(ds.inline_bytes, 'base64').toString('utf8');
  return null;
}

function accessLog(al: Obj): AccessLogSnap {
  const tc = al.typed_config ?? {};
  const type: string = tc['@type'] ?? '';
  const lf = tc.log_format;
  const format = lf ? dataSourceString(lf.text_format_source) ?? (typeof lf.text_format === 'string' ? lf.text_format : null) : null;
  const json = lf?.json_format ?? null;
  if (type.endsWith('.FileAccessLog')) return { kind: 'file', path: tc.path, format, json };
  if (type.endsWith('.StderrAccessLog') || al.name === 'envoy.access_loggers.stderr') {
    return { kind: 'stderr', path: '', format, json };
  }
  return { kind: 'stdout', path: '', format, json };
}

export function buildSnapshot(bootstrap: Obj, layout: StatsLayout, opts: SnapshotOptions): Snapshot {
  const sr = bootstrap.static_resources ?? {};
  const clusters: ClusterSnap[] = [];
  const clusterIndex = new Map<string, number>();
  for (const c of (sr.clusters ?? []) as Obj[]) {
    const prefix = `cluster.${c.name}.`;
    const th = ((c.circuit_breakers?.thresholds ?? []) as Obj[])
      .find((t) => (t.priority ?? 'DEFAULT') === 'DEFAULT') ?? {};
    const hosts: HostSnap[] = [];
    for (const le of (c.load_assignment?.endpoints ?? []) as Obj[]) {
      const loc = le.locality ?? {};
      for (const lb of (le.lb_endpoints ?? []) as Obj[]) {
        const { host, port } = addressOf(lb.endpoint?.address);
        const hostPrefix = `${prefix}${host}:${port}.`;
        hosts.push({
          address: host, port,
          stats: slots(layout, hostPrefix, HOST_COUNTERS, HOST_GAUGES, [], true),
          weight: lb.load_balancing_weight ?? 1,
          priority: le.priority ?? 0,
          region: loc.region ?? '', zone: loc.zone ?? '', subZone: loc.sub_zone ?? '',
          healthFlags: edsHealthFlags(lb.health_status),
        });
      }
    }
    const idx = clusters.length;
    clusterIndex.set(c.name, idx);
    const stats = slots(layout, prefix, CLUSTER_COUNTERS, CLUSTER_GAUGES, CLUSTER_HISTOGRAMS);
    clusters.push({
      name: c.name,
      index: idx,
      type: typeof c.type === 'string' ? c.type : 'STATIC',
      lbPolicy: typeof c.lb_policy === 'string' ? c.lb_policy : 'ROUND_ROBIN',
      connectTimeoutMs: durationMs(c.connect_timeout, DEFAULT_CONNECT_TIMEOUT_MS),
      bufferLimit: c.per_connection_buffer_limit_bytes ?? opts.bufferLimit,
      maxConnections: th.max_connections ?? DEFAULT_MAX_CONNECTIONS,
      maxPendingRequests: th.max_pending_requests ?? DEFAULT_MAX_PENDING,
      maxRequests: th.max_requests ?? DEFAULT_MAX_REQUESTS,
      maxRetries: th.max_retries ?? DEFAULT_MAX_RETRIES,
      hosts,
      stats,
    });
  }

  const listeners: ListenerSnap[] = [];
  for (const l of (sr.listeners ?? []) as Obj[]) {
    const { host, port } = addressOf(l.address);
    const statName = `${host}_${port}`;
    const filters = (l.filter_chains?.[0]?.filters ?? []) as Obj[];
    const hcmCfg = filters.find((f) => f.name === 'envoy.filters.network.http_connection_manager'
      || String(f.typed_config?.['@type'] ?? '').endsWith('.HttpConnectionManager'))?.typed_config ?? {};
    listeners.push({
      name: l.name ?? statName,
      host, port, statName,
      exactBalance: l.connection_balance_config?.exact_balance !== undefined,
      reusePort: l.enable_reuse_port !== false,
      bufferLimit: l.per_connection_buffer_limit_bytes ?? opts.bufferLimit,
      hcm: buildHcm(hcmCfg, layout, clusterIndex),
      stats: slots(layout, `listener.${statName}.`, LISTENER_COUNTERS, LISTENER_GAUGES, LISTENER_HISTOGRAMS),
    });
  }
  return { version: opts.version, listeners, clusters };
}

function buildHcm(h: Obj, layout: StatsLayout, clusterIndex: Map<string, number>): HcmSnap {
  const statPrefix: string = h.stat_prefix ?? '';
  const hpo = h.common_http_protocol_options ?? {};
  const virtualHosts: VirtualHostSnap[] = [];
  for (const vh of (h.route_config?.virtual_hosts ?? []) as Obj[]) {
    const routes: RouteSnap[] = [];
    for (const r of (vh.routes ?? []) as Obj[]) {
      const m = r.match ?? {};
      const caseSensitive = m.case_sensitive !== false;
      let match: RouteSnap['match'];
      if (typeof m.path === 'string') match = { kind: 'path', value: m.path, caseSensitive };
      else if (m.safe_regex) match = { kind: 'regex', value: m.safe_regex.regex, caseSensitive };
      else match = { kind: 'prefix', value: m.prefix ?? '', caseSensitive };
      let action: RouteSnap['action'];
      if (r.direct_response) {
        action = { kind: 'direct', status: r.direct_response.status, body: dataSourceString(r.direct_response.body) };
      } else {
        const ra = r.route ?? {};
        action = {
          kind: 'cluster',
          cluster: ra.cluster ?? '',
          clusterIndex: clusterIndex.get(ra.cluster) ?? -1,
          timeoutMs: durationMs(ra.timeout, DEFAULT_ROUTE_TIMEOUT_MS),
          idleTimeoutMs: durationMs(ra.idle_timeout, 0),
          prefixRewrite: ra.prefix_rewrite ?? null,
          hostRewrite: ra.host_rewrite_literal ?? null,
        };
      }
      routes.push({ name: r.name ?? '', match, headers: ((m.headers ?? []) as Obj[]).map(headerMatcher), action });
    }
    virtualHosts.push({ name: vh.name, domains: (vh.domains ?? []).map((d: string) => d.toLowerCase()), routes });
  }
  const httpFilters: HttpFilterSnap[] = ((h.http_filters ?? []) as Obj[]).map((f) => ({
    name: f.name, config: f.typed_config ?? {},
  }));
  if (httpFilters.length === 0) httpFilters.push({ name: ROUTER_FILTER, config: {} });
  return {
    statPrefix,
    useRemoteAddress: h.use_remote_address === true,
    xffNumTrustedHops: h.xff_num_trusted_hops ?? 0,
    generateRequestId: h.generate_request_id !== false,
    serverName: h.server_name ?? 'legate',
    requestTimeoutMs: durationMs(h.request_timeout, 0),
    streamIdleTimeoutMs: durationMs(h.stream_idle_timeout, DEFAULT_STREAM_IDLE_TIMEOUT_MS),
    idleTimeoutMs: durationMs(hpo.idle_timeout, DEFAULT_IDLE_TIMEOUT_MS),
    drainTimeoutMs: durationMs(h.drain_timeout, DEFAULT_DRAIN_TIMEOUT_MS),
    maxRequestHeadersBytes: (h.max_request_headers_kb ?? DEFAULT_MAX_REQUEST_HEADERS_KB) * 1024,
    maxHeadersCount: hpo.max_headers_count ?? DEFAULT_MAX_HEADERS_COUNT,
    virtualHosts,
    httpFilters,
    accessLogs: ((h.access_log ?? []) as Obj[]).map(accessLog),
    stats: slots(layout, `http.${statPrefix}.`, HCM_COUNTERS, HCM_GAUGES, HCM_HISTOGRAMS),
  };
}
