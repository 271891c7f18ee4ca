// Resolves a component's const stat-name lists (counters, gauges, histograms under one Envoy prefix)
// to slots, once, when config arrives in main: the worker gets the name -> slot record.
import type { StatsLayout } from './layout.ts';

export function slots<T extends string>(
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
