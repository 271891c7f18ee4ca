// tcp_proxy's stats (tcp.<stat_prefix>.*), Envoy's names. Not here: downstream_cx_rx_bytes_buffered
// (bytes read go to the upstream connection in the read's own call, so nothing waits in between:
// it would be a constant zero; docs/differences.md).
export const TCP_COUNTERS = [
  'downstream_cx_total', 'downstream_cx_no_route', 'downstream_cx_rx_bytes_total', 'downstream_cx_tx_bytes_total',
  'downstream_flow_control_paused_reading_total', 'downstream_flow_control_resumed_reading_total',
  'idle_timeout', 'upstream_flush_total',
] as const;
export const TCP_GAUGES = ['downstream_cx_tx_bytes_buffered', 'upstream_flush_active'] as const;

export type TcpProxyStatName = (typeof TCP_COUNTERS)[number] | (typeof TCP_GAUGES)[number];
export type TcpProxyStats = Record<TcpProxyStatName, number>;
