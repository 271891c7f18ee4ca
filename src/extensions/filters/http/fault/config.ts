// envoy.filters.http.fault's compiled settings (Envoy's FaultSettings, fault_filter.h, and the
// common fault providers, filters/common/fault/fault_config.h): plain data built once in main from
// an HTTPFault (the filter's typed_config, or a route's typed_per_filter_config entry).
import type { FractionalPercent } from '../../../../runtime/types.ts';
import type { HeaderMatchSnap } from '../../../../router/config.ts';

/** Where an abort's status comes from (FaultAbort.error_type). */
export const AbortKind = { Http: 0, Grpc: 1, Header: 2 } as const;
export type AbortKind = (typeof AbortKind)[keyof typeof AbortKind];

/** Where a delay's duration, or a response rate limit's rate, comes from. */
export const SourceKind = { Fixed: 0, Header: 1 } as const;
export type SourceKind = (typeof SourceKind)[keyof typeof SourceKind];

export interface AbortSnap {
  kind: AbortKind;
  /** http_status (AbortKind.Http). */
  httpStatus: number;
  /** grpc_status (AbortKind.Grpc). */
  grpcStatus: number;
  percentage: FractionalPercent;
}

export interface DelaySnap {
  kind: SourceKind;
  /** fixed_delay in ms (SourceKind.Fixed). */
  fixedMs: number;
  percentage: FractionalPercent;
}

export interface RateLimitSnap {
  kind: SourceKind;
  /** fixed_limit.limit_kbps (SourceKind.Fixed): KiB per second. */
  kbps: number;
  percentage: FractionalPercent;
}

/** The runtime keys of a settings (the *_runtime fields, defaulted to Envoy's names). */
export interface FaultRuntimeKeys {
  delayPercent: string;
  abortPercent: string;
  delayDuration: string;
  abortHttpStatus: string;
  abortGrpcStatus: string;
  maxActiveFaults: string;
  responseRateLimitPercent: string;
}

export interface FaultSettingsSnap {
  abort: AbortSnap | null;
  delay: DelaySnap | null;
  /** upstream_cluster ('' for any). */
  upstreamCluster: string;
  headers: HeaderMatchSnap[];
  /** downstream_nodes (empty: any). */
  downstreamNodes: string[];
  /** max_active_faults (-1: not set, no limit unless the runtime key sets one). */
  maxActiveFaults: number;
  responseRateLimit: RateLimitSnap | null;
  runtime: FaultRuntimeKeys;
}

/** The filter's compiled config: its settings, its stats and the process-wide active fault count. */
export interface FaultSnap {
  settings: FaultSettingsSnap;
  /** The filter's config name (http_filters[i].name): its routes' typed_per_filter_config key. */
  filterName: string;
  stats: FaultStats;
  /** One Int32 (index 0): the faults active in every worker (shared memory: structured clone hands
   *  the workers the same buffer). One per stat name, as Envoy's active_faults gauge is. */
  active: SharedArrayBuffer;
}

export const FAULT_COUNTERS = ['aborts_injected', 'delays_injected', 'faults_overflow', 'response_rl_injected'] as const;
export const FAULT_GAUGES = ['active_faults'] as const;
export type FaultStats = Record<(typeof FAULT_COUNTERS)[number] | (typeof FAULT_GAUGES)[number], number>;

// Envoy's HeaderNames (filters/common/fault/fault_config.h).
export const HEADER_ABORT = 'x-envoy-fault-abort-request';
export const HEADER_ABORT_PERCENTAGE = 'x-envoy-fault-abort-request-percentage';
export const HEADER_ABORT_GRPC = 'x-envoy-fault-abort-grpc-request';
export const HEADER_DELAY = 'x-envoy-fault-delay-request';
export const HEADER_DELAY_PERCENTAGE = 'x-envoy-fault-delay-request-percentage';
export const HEADER_THROUGHPUT = 'x-envoy-fault-throughput-response';
export const HEADER_THROUGHPUT_PERCENTAGE = 'x-envoy-fault-throughput-response-percentage';
