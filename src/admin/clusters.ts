// GET /clusters, as Envoy renders it (source/server/admin/clusters_handler.cc). Text: per cluster
// `name::observability_name::..`, circuit breakers for the default and high priorities,
// `added_via_api`, then per host its stats sorted by name and `hostname`, `health_flags`, `weight`,
// `region`, `zone`, `sub_zone`, `canary`, `priority`, `success_rate`,
// `local_origin_success_rate`. ?format=json gives envoy.admin.v3.Clusters in proto3 JSON (fields in
// field-number order, defaults left out). Hosts come priority by priority, as Envoy walks its
// host sets.
import { StatKind } from '../stats/layout.ts';
import type { StatsSnapshot } from '../stats/store.ts';
import { addressString, fmtDouble, fmtValue, prettyJson } from './format.ts';
import {
  CONTENT_JSON, type AdminHandler, type AdminOptions, type AdminRequest, type AdminResponse,
  type CircuitBreakerThresholds, type ClusterStatus, type HostStatus,
} from './types.ts';

/** Envoy's defaults when a priority has no thresholds. */
export const DEFAULT_THRESHOLDS: CircuitBreakerThresholds = {
  max_connections: 1024, max_pending_requests: 1024, max_requests: 1024, max_retries: 3,
};

/** HostUtility::healthFlagsToString(). */
export function healthFlagsString(flags: readonly string[]): string {
  return flags.length === 0 ? 'healthy' : flags.map((f) => `/${f}`).join('');
}

function thresholdsText(name: string, priority: string, t: CircuitBreakerThresholds): string {
  return `${name}::${priority}_priority::max_connections::${t.max_connections}\n`
    + `${name}::${priority}_priority::max_pending_requests::${t.max_pending_requests}\n`
    + `${name}::${priority}_priority::max_requests::${t.max_requests}\n`
    + `${name}::${priority}_priority::max_retries::${t.max_retries}\n`;
}

function hostStatNames(h: HostStatus): string[] {
  return Object.keys(h.stats).sort();
}

/** A cluster's hosts as Envoy lists them: priority 0's, then 1's... (each in its own order). */
export function hostsByPriority(c: ClusterStatus): HostStatus[] {
  return c.hosts.map((h, i) => [h, i] as const)
    .sort((a, b) => (a[0].priority ?? 0) - (b[0].priority ?? 0) || a[1] - b[1])
    .map(([h]) => h);
}

export function renderClustersText(clusters: readonly ClusterStatus[], snap: StatsSnapshot): string {
  let out = '';
  for (const c of clusters) {
    const n = c.name;
    out += `${n}::observability_name::${c.observability_name ?? n}\n`;
    out += thresholdsText(n, 'default', c.circuit_breakers.default);
    out += thresholdsText(n, 'high', c.circuit_breakers.high ?? DEFAULT_THRESHOLDS);
    out += `${n}::added_via_api::${c.added_via_api === true}\n`;
    if (c.eds_service_name) out += `${n}::eds_service_name::${c.eds_service_name}\n`;
    for (const h of hostsByPriority(c)) {
      const a = `${n}::${addressString(h.address, h.port)}`;
      for (const s of hostStatNames(h)) out += `${a}::${s}::${fmtValue(snap.value(h.stats[s]))}\n`;
      out += `${a}::hostname::${h.hostname ?? ''}\n`;
      out += `${a}::health_flags::${healthFlagsString(h.health_flags)}\n`;
      out += `${a}::weight::${h.weight ?? 1}\n`;
      out += `${a}::region::${h.region ?? ''}\n`;
      out += `${a}::zone::${h.zone ?? ''}\n`;
      out += `${a}::sub_zone::${h.sub_zone ?? ''}\n`;
      out += `${a}::canary::${h.canary === true}\n`;
      out += `${a}::priority::${h.priority ?? 0}\n`;
      out += `${a}::success_rate::${fmtDouble(h.success_rate ?? -1)}\n`;
      out += `${a}::local_origin_success_rate::${fmtDouble(h.local_origin_success_rate ?? -1)}\n`;
    }
  }
  return out;
}

// proto3 JSON: uint64 as strings, default values (0, false, "", enum 0) left out.
function thresholdsJson(t: CircuitBreakerThresholds, priority?: 'HIGH'): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  if (priority !== undefined) o.priority = priority;
  o.max_connections = t.max_connections;
  o.max_pending_requests = t.max_pending_requests;
  o.max_requests = t.max_requests;
  o.max_retries = t.max_retries;
  return o;
}

/** HostHealthStatus.eds_health_status as Envoy's setHealthFlag() leaves it: the EDS flags, with
 *  eds_status_draining (handled last) winning. */
function edsHealthStatus(flags: readonly string[]): 'HEALTHY' | 'UNHEALTHY' | 'DEGRADED' | 'DRAINING' {
  if (flags.includes('eds_status_draining')) return 'DRAINING';
  if (flags.includes('failed_eds_health')) return 'UNHEALTHY';
  return flags.includes('degraded_eds_health') ? 'DEGRADED' : 'HEALTHY';
}

// envoy.admin.v3.HostHealthStatus's fields in field-number order: a flag's bool (printed when
// true), and eds_health_status (null), always printed (HEALTHY is 1, not the enum's default).
const HEALTH_FIELDS: readonly [flag: string | null, field: string][] = [
  ['failed_active_hc', 'failed_active_health_check'],
  ['failed_outlier_check', 'failed_outlier_check'],
  [null, 'eds_health_status'],
  ['degraded_active_hc', 'failed_active_degraded_check'],
  ['pending_dynamic_removal', 'pending_dynamic_removal'],
  ['pending_active_hc', 'pending_active_hc'],
  ['excluded_via_immediate_hc_fail', 'excluded_via_immediate_hc_fail'],
  ['active_hc_timeout', 'active_hc_timeout'],
];

function healthStatusJson(flags: readonly string[]): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const [flag, field] of HEALTH_FIELDS) {
    if (flag === null) o[field] = edsHealthStatus(flags);
    else if (flags.includes(flag)) o[field] = true;
  }
  return o;
}

function hostJson(h: HostStatus, snap: StatsSnapshot): Record<string, unknown> {
  const counters: string[] = [];
  const gauges: string[] = [];
  for (const s of hostStatNames(h)) {
    (snap.layout.kindOf(h.stats[s]) === StatKind.Gauge ? gauges : counters).push(s);
  }
  const stats = [...counters, ...gauges].map((s) => {
    const m: Record<string, unknown> = { name: s };
    const v = snap.value(h.stats[s]);
    if (v !== 0) m.value = fmtValue(v);
    if (gauges.includes(s)) m.type = 'GAUGE';
    return m;
  });
  const o: Record<string, unknown> = { address: { socket_address: { address: h.address, port_value: h.port } } };
  if (stats.length > 0) o.stats = stats;
  o.health_status = healthStatusJson(h.health_flags);
  if (h.success_rate !== undefined && h.success_rate >= 0) o.success_rate = { value: h.success_rate };
  o.weight = h.weight ?? 1;
  if (h.hostname) o.hostname = h.hostname;
  if (h.priority) o.priority = h.priority;
  if (h.local_origin_success_rate !== undefined && h.local_origin_success_rate >= 0) {
    o.local_origin_success_rate = { value: h.local_origin_success_rate };
  }
  const locality: Record<string, string> = {};
  if (h.region) locality.region = h.region;
  if (h.zone) locality.zone = h.zone;
  if (h.sub_zone) locality.sub_zone = h.sub_zone;
  o.locality = locality;
  return o;
}

export function renderClustersJson(clusters: readonly ClusterStatus[], snap: StatsSnapshot): string {
  if (clusters.length === 0) return prettyJson({});
  return prettyJson({
    cluster_statuses: clusters.map((c) => {
      const o: Record<string, unknown> = { name: c.name };
      if (c.added_via_api === true) o.added_via_api = true;
      if (c.hosts.length > 0) o.host_statuses = hostsByPriority(c).map((h) => hostJson(h, snap));
      o.circuit_breakers = {
        thresholds: [
          thresholdsJson(c.circuit_breakers.default),
          thresholdsJson(c.circuit_breakers.high ?? DEFAULT_THRESHOLDS, 'HIGH'),
        ],
      };
      o.observability_name = c.observability_name ?? c.name;
      if (c.eds_service_name) o.eds_service_name = c.eds_service_name;
      return o;
    }),
  });
}

export const clustersHandler: AdminHandler = {
  prefix: '/clusters',
  help: 'upstream cluster status',
  mutatesState: false,
  handle(req: AdminRequest, opts: AdminOptions): AdminResponse {
    const snap = opts.stats.snapshot();
    const clusters = opts.clusters();
    if (req.query.get('format') === 'json') {
      return { status: 200, contentType: CONTENT_JSON, body: renderClustersJson(clusters, snap) };
    }
    return { status: 200, body: renderClustersText(clusters, snap) };
  },
};
