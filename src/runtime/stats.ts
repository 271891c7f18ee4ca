// The runtime's stats (runtime.*), Envoy's names (source/common/runtime/runtime_impl.h
// ALL_RUNTIME_STATS), written by the main thread, which owns the layers. Envoy's
// deprecated_feature_use and deprecated_feature_seen_since_process_start count deprecated config
// fields a runtime flag lets through; Legate has no such flags (deprecated fields only warn), so
// they are not declared.
import type { StatsLayout } from '../stats/layout.ts';

export const RUNTIME_COUNTERS = ['load_error', 'load_success', 'override_dir_exists', 'override_dir_not_exists'] as const;
/** Gauges a hot restart does not import (Envoy's NeverImport). */
export const RUNTIME_GAUGES = ['admin_overrides_active', 'num_keys', 'num_layers'] as const;

export type RuntimeStatName = (typeof RUNTIME_COUNTERS)[number] | (typeof RUNTIME_GAUGES)[number];
export type RuntimeStats = Record<RuntimeStatName, number>;

export function runtimeStats(layout: StatsLayout): RuntimeStats {
  const out = {} as RuntimeStats;
  for (const n of RUNTIME_COUNTERS) out[n] = layout.counter(`runtime.${n}`);
  for (const n of RUNTIME_GAUGES) out[n] = layout.gauge(`runtime.${n}`, 'neverImport');
  return out;
}
