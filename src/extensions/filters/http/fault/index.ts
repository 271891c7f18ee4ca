// envoy.filters.http.fault (envoy.extensions.filters.http.fault.v3.HTTPFault): delays, aborts and
// response rate limits injected into a share of requests (filter.ts), on the filter and per route
// (a route's typed_per_filter_config HTTPFault replaces the filter's settings, as Envoy's
// resolveMostSpecificPerFilterConfig). Stats under the connection manager's prefix:
// http.<stat_prefix>.fault.{aborts_injected,delays_injected,faults_overflow,response_rl_injected}
// and the gauge active_faults. Refused by name: filter_metadata; disable_downstream_cluster_stats
// is accepted (Legate never emits the per-downstream-cluster stats, docs/differences.md).
import { ExtensionCategory, type CompileContext, type HttpFilterModule } from '../../../types.ts';
import type { DenominatorType, FractionalPercent } from '../../../../runtime/types.ts';
import { durationMs } from '../../../../config/duration.ts';
import { headerMatcher, MATCH_FIELDS } from '../../../../router/compile-match.ts';
import { slots } from '../../../../stats/slots.ts';
import {
  AbortKind, FAULT_COUNTERS, FAULT_GAUGES, SourceKind, type FaultSettingsSnap, type FaultSnap,
} from './config.ts';
import { FaultConfig, FaultFilter } from './filter.ts';

type Obj = Record<string, any>;

const TYPE = 'envoy.extensions.filters.http.fault.v3.HTTPFault';
const COMMON = 'envoy.extensions.filters.common.fault.v3.';
const ROUTE = 'envoy.config.route.v3.';

const DENOMINATORS: readonly DenominatorType[] = ['HUNDRED', 'TEN_THOUSAND', 'MILLION'];

/** A FractionalPercent as configured (absent: 0/100, which never fires, as Envoy's default). */
function percentage(p: Obj | undefined): FractionalPercent {
  const d = p?.denominator;
  const denominator = typeof d === 'number' ? DENOMINATORS[d] ?? 'HUNDRED' : (DENOMINATORS.includes(d) ? d : 'HUNDRED');
  return { numerator: Number(p?.numerator ?? 0), denominator };
}

/** The active fault counts, one per stat name for the life of the main thread: a config update
 *  that keeps the name keeps the count (faults in flight on the old config still count), as
 *  Envoy's active_faults gauge does. */
const activeByName = new Map<string, SharedArrayBuffer>();

/** An HTTPFault's settings; `path` is its field path. */
export function compileSettings(f: Obj, path: string, ctx: Pick<CompileContext, 'fail'>): FaultSettingsSnap {
  const a: Obj | undefined = f.abort;
  const d: Obj | undefined = f.delay;
  const r: Obj | undefined = f.response_rate_limit;
  return {
    abort: a === undefined ? null : a.http_status !== undefined
      ? { kind: AbortKind.Http, httpStatus: a.http_status, grpcStatus: -1, percentage: percentage(a.percentage) }
      : a.grpc_status !== undefined
        ? { kind: AbortKind.Grpc, httpStatus: -1, grpcStatus: a.grpc_status, percentage: percentage(a.percentage) }
        : { kind: AbortKind.Header, httpStatus: -1, grpcStatus: -1, percentage: percentage(a.percentage) },
    delay: d === undefined ? null : d.fixed_delay !== undefined
      ? { kind: SourceKind.Fixed, fixedMs: durationMs(d.fixed_delay, 0), percentage: percentage(d.percentage) }
      : { kind: SourceKind.Header, fixedMs: 0, percentage: percentage(d.percentage) },
    upstreamCluster: f.upstream_cluster ?? '',
    headers: ((f.headers ?? []) as Obj[]).map((h, i) => headerMatcher(h, `${path}.headers[${i}]`, ctx)),
    downstreamNodes: [...(f.downstream_nodes ?? [])],
    maxActiveFaults: f.max_active_faults === undefined ? -1 : Number(f.max_active_faults),
    responseRateLimit: r === undefined ? null : r.fixed_limit !== undefined
      ? { kind: SourceKind.Fixed, kbps: Number(r.fixed_limit.limit_kbps), percentage: percentage(r.percentage) }
      : { kind: SourceKind.Header, kbps: 0, percentage: percentage(r.percentage) },
    // Envoy's RuntimeKeys, unless the config names its own.
    runtime: {
      delayPercent: f.delay_percent_runtime || 'fault.http.delay.fixed_delay_percent',
      abortPercent: f.abort_percent_runtime || 'fault.http.abort.abort_percent',
      delayDuration: f.delay_duration_runtime || 'fault.http.delay.fixed_duration_ms',
      abortHttpStatus: f.abort_http_status_runtime || 'fault.http.abort.http_status',
      abortGrpcStatus: f.abort_grpc_status_runtime || 'fault.http.abort.grpc_status',
      maxActiveFaults: f.max_active_faults_runtime || 'fault.http.max_active_faults',
      responseRateLimitPercent: f.response_rate_limit_percent_runtime || 'fault.http.rate_limit.response_percent',
    },
  };
}

const fault: HttpFilterModule<FaultSnap> = {
  name: 'envoy.filters.http.fault',
  category: ExtensionCategory.HttpFilter,
  types: [TYPE],
  fields: {
    [TYPE]: [
      'delay', 'abort', 'upstream_cluster', 'headers', 'downstream_nodes', 'max_active_faults', 'response_rate_limit',
      'delay_percent_runtime', 'abort_percent_runtime', 'delay_duration_runtime', 'abort_http_status_runtime',
      'max_active_faults_runtime', 'response_rate_limit_percent_runtime', 'abort_grpc_status_runtime',
      'disable_downstream_cluster_stats',
    ],
    'envoy.extensions.filters.http.fault.v3.FaultAbort': ['http_status', 'grpc_status', 'header_abort', 'percentage'],
    'envoy.extensions.filters.http.fault.v3.FaultAbort.HeaderAbort': [],
    [COMMON + 'FaultDelay']: ['fixed_delay', 'header_delay', 'percentage'],
    [COMMON + 'FaultDelay.HeaderDelay']: [],
    [COMMON + 'FaultRateLimit']: ['fixed_limit', 'header_limit', 'percentage'],
    [COMMON + 'FaultRateLimit.FixedLimit']: ['limit_kbps'],
    [COMMON + 'FaultRateLimit.HeaderLimit']: [],
    'envoy.type.v3.FractionalPercent': ['numerator', 'denominator'],
    [ROUTE + 'HeaderMatcher']: MATCH_FIELDS[ROUTE + 'HeaderMatcher']!,
    'envoy.type.v3.Int64Range': ['start', 'end'],
    'envoy.type.matcher.v3.StringMatcher': MATCH_FIELDS['envoy.type.matcher.v3.StringMatcher']!,
    'envoy.type.matcher.v3.RegexMatcher': ['regex', 'google_re2'],
    'envoy.type.matcher.v3.RegexMatcher.GoogleRE2': [],
  },
  protos: ['envoy/extensions/filters/http/fault/v3/fault.proto'],
  compile(tc, ctx) {
    const prefix = `${ctx.scope}fault.`;
    let active = activeByName.get(prefix);
    if (active === undefined) activeByName.set(prefix, active = new SharedArrayBuffer(4));
    return {
      settings: compileSettings(tc, ctx.path, ctx),
      filterName: ctx.configName ?? '',
      stats: slots(ctx.layout, prefix, FAULT_COUNTERS, FAULT_GAUGES, []),
      active,
    };
  },
  perRoute: {
    types: [TYPE],
    compile: (tc, ctx) => compileSettings(tc, ctx.path, ctx),
  },
  createFilterFactory(snap, ctx) {
    const config = new FaultConfig(snap, ctx.runtime);
    // Both sides: a route's HTTPFault may rate limit the response even when the filter's does not.
    return (cb) => cb.addStreamFilter(new FaultFilter(config));
  },
};
export default fault;
