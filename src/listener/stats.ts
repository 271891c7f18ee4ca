// Envoy's listener stats (listener.<address>.*), Envoy's names.
export const LISTENER_COUNTERS = ['downstream_cx_total', 'downstream_cx_destroy'] as const;
export const LISTENER_GAUGES = ['downstream_cx_active'] as const;
export const LISTENER_HISTOGRAMS = ['downstream_cx_length_ms'] as const;
export type ListenerStatName =
  | (typeof LISTENER_COUNTERS)[number] | (typeof LISTENER_GAUGES)[number]
  | (typeof LISTENER_HISTOGRAMS)[number];
export type ListenerStats = Record<ListenerStatName, number>;
