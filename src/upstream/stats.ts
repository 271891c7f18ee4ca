// Envoy's cluster stats (cluster.<name>.*) and the per-host stats /clusters shows, Envoy's names.
import type { StatsLayout } from '../stats/layout.ts';
import { slots } from '../stats/slots.ts';
export const CLUSTER_COUNTERS = [
  'upstream_cx_total', 'upstream_cx_http1_total', 'upstream_cx_connect_fail',
  'upstream_cx_connect_timeout', 'upstream_cx_overflow', 'upstream_cx_destroy',
  'upstream_cx_destroy_local', 'upstream_cx_destroy_remote', 'upstream_cx_destroy_with_active_rq',
  'upstream_cx_close_notify', 'upstream_cx_protocol_error', 'upstream_cx_rx_bytes_total',
  'upstream_cx_tx_bytes_total', 'upstream_cx_none_healthy', 'lb_healthy_panic', 'upstream_cx_connect_attempts_exceeded', 'upstream_rq_total',
  'upstream_rq_completed', 'upstream_rq_pending_total', 'upstream_rq_pending_overflow',
  'upstream_rq_pending_failure_eject', 'upstream_rq_cancelled', 'upstream_rq_timeout', 'upstream_rq_per_try_timeout',
  'upstream_rq_per_try_idle_timeout',
  'upstream_rq_retry', 'upstream_rq_retry_success', 'upstream_rq_retry_overflow', 'upstream_rq_retry_limit_exceeded',
  'upstream_rq_retry_backoff_exponential',
  'upstream_rq_rx_reset', 'upstream_rq_tx_reset', 'upstream_rq_1xx', 'upstream_rq_2xx',
  'upstream_rq_3xx', 'upstream_rq_4xx', 'upstream_rq_5xx', 'membership_change',
  'upstream_cx_idle_timeout', 'upstream_cx_max_duration_reached', 'upstream_cx_max_requests',
  'retry_or_shadow_abandoned',
] as const;
export const CLUSTER_GAUGES = [
  'upstream_cx_active', 'upstream_rq_active', 'upstream_rq_pending_active',
  'membership_total', 'membership_healthy', 'membership_degraded', 'max_host_weight',
] as const;
export const CLUSTER_HISTOGRAMS = [
  'upstream_rq_time', 'upstream_cx_connect_ms', 'upstream_cx_length_ms',
] as const;
export type ClusterStatName =
  | (typeof CLUSTER_COUNTERS)[number] | (typeof CLUSTER_GAUGES)[number]
  | (typeof CLUSTER_HISTOGRAMS)[number];
export type ClusterStats = Record<ClusterStatName, number>;

/** Per-host stats, as Envoy's /clusters lists them (not in /stats). */
export const HOST_COUNTERS = [
  'cx_total', 'cx_connect_fail', 'rq_total', 'rq_success', 'rq_error', 'rq_timeout',
] as const;
export const HOST_GAUGES = ['cx_active', 'rq_active'] as const;
export type HostStatName = (typeof HOST_COUNTERS)[number] | (typeof HOST_GAUGES)[number];
export type HostStats = Record<HostStatName, number>;

/** A host's stat slots (hidden names `cluster.<cluster>.<address>:<port>.<stat>`, shown by
 *  /clusters), resolved in main: by the snapshot builder for configured hosts, by a cluster's
 *  discovery service for the hosts it finds. */
export function hostStats(layout: StatsLayout, cluster: string, address: string, port: number): HostStats {
  return slots(layout, `cluster.${cluster}.${address}:${port}.`, HOST_COUNTERS, HOST_GAUGES, [], true);
}
