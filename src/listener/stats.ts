// Envoy's listener stats (listener.<address>.*), Envoy's names.
export const LISTENER_COUNTERS = ['downstream_cx_total', 'downstream_cx_destroy'] as const;
export const LISTENER_GAUGES = ['downstream_cx_active'] as const;
export const LISTENER_HISTOGRAMS = ['downstream_cx_length_ms'] as const;
export type ListenerStatName =
  | (typeof LISTENER_COUNTERS)[number] | (typeof LISTENER_GAUGES)[number]
  | (typeof LISTENER_HISTOGRAMS)[number];
export type ListenerStats = Record<ListenerStatName, number>;

/** Stats only some listeners can count, and only those have (slot -1 elsewhere: absent, never a
 *  constant zero): no_filter_chain_match where a connection can miss every chain (some chain has a
 *  filter_chain_match and there is no default_filter_chain), the downstream_pre_cx_* pair where
 *  there are listener filters. */
export interface ListenerOptionalStats {
  no_filter_chain_match: number;
  downstream_pre_cx_timeout: number;
  downstream_pre_cx_active: number;
}
