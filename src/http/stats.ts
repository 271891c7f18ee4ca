// Envoy's HTTP connection manager stats (http.<stat_prefix>.*) and router stats, exactly Envoy's names.
export const HCM_COUNTERS = [
  'downstream_cx_total', 'downstream_cx_http1_total', 'downstream_cx_destroy',
  'downstream_cx_destroy_remote', 'downstream_cx_destroy_local', 'downstream_cx_protocol_error',
  'downstream_cx_rx_bytes_total', 'downstream_cx_tx_bytes_total', 'downstream_cx_idle_timeout',
  'downstream_rq_total', 'downstream_rq_http1_total', 'downstream_rq_1xx', 'downstream_rq_2xx',
  'downstream_rq_3xx', 'downstream_rq_4xx', 'downstream_rq_5xx', 'downstream_rq_completed',
  'downstream_rq_rx_reset', 'downstream_rq_tx_reset', 'downstream_rq_timeout',
  'downstream_rq_too_large', 'downstream_rq_idle_timeout', 'downstream_rq_non_relative_path',
  'no_route', 'no_cluster', 'rq_direct_response', 'rq_total', 'rq_reset_after_downstream_response_started',
  'rs_too_large', 'downstream_cx_upgrades_total', 'downstream_rq_ws_on_non_ws_route',
  // (Envoy declares rq_redirect and never counts it: a redirect counts as rq_direct_response, and
  // Legate keeps no constant-zero stat.)
  'downstream_rq_max_duration_reached',
  'downstream_rq_failed_path_normalization', 'downstream_rq_redirected_with_normalized_path',
  'downstream_cx_drain_close',
] as const;
export const HCM_GAUGES = [
  'downstream_cx_active', 'downstream_cx_http1_active', 'downstream_rq_active', 'downstream_cx_upgrades_active',
] as const;
export const HCM_HISTOGRAMS = ['downstream_rq_time', 'downstream_cx_length_ms'] as const;

export type HcmStatName =
  | (typeof HCM_COUNTERS)[number] | (typeof HCM_GAUGES)[number] | (typeof HCM_HISTOGRAMS)[number];
/** Stat name -> slot, resolved once in main when config arrives. */
export type HcmStats = Record<HcmStatName, number>;
