// envoy.filters.http.ratelimit (envoy.extensions.filters.http.ratelimit.v3.RateLimit): global rate
// limiting. For a request whose route has `rate_limits` at the filter's stage, the descriptors its
// actions give (router/rate-limits.ts) are sent to a rate limit service (Envoy's RLS v3 over gRPC,
// rls-client.ts) and the request waits for the answer: OK continues, OVER_LIMIT answers 429, an
// error continues or answers 500 per failure_mode_deny. Stats `cluster.<rls cluster>.ratelimit.*`.
import { ExtensionCategory, type HttpFilterModule } from '../../../types.ts';
import { durationMs } from '../../../../config/duration.ts';
import { slots } from '../../../../stats/slots.ts';
import { errorStatus } from '../../../../http/http-status-code.ts';
import { compileHeaderParser, type HeaderParserSnap } from '../../../../router/header-parser.ts';
import { RateLimitFilter, RateLimitConfig, RequestType, type RateLimitStats } from './filter.ts';

type Obj = Record<string, any>;

const TYPE = 'envoy.extensions.filters.http.ratelimit.v3.RateLimit';
const DEFAULT_TIMEOUT_MS = 20;
export const RATE_LIMIT_COUNTERS = ['ok', 'over_limit', 'error', 'failure_mode_allowed'] as const;


export interface RateLimitSnap {
  domain: string;
  stage: number;
  requestType: number;
  timeoutMs: number;
  failureModeDeny: boolean;
  cluster: string;
  authority: string;
  xRateLimitHeaders: boolean;
  xEnvoyRateLimited: boolean;
  rateLimitedStatus: number;
  statusOnError: number;
  responseHeaders: HeaderParserSnap | null;
  stats: RateLimitStats;
}

const rateLimit: HttpFilterModule<RateLimitSnap> = {
  name: 'envoy.filters.http.ratelimit',
  category: ExtensionCategory.HttpFilter,
  types: [TYPE],
  fields: {
    // (Refused: rate_limited_as_resource_exhausted, gRPC statuses for local replies.)
    [TYPE]: [
      'domain', 'stage', 'request_type', 'timeout', 'failure_mode_deny', 'rate_limit_service',
      'enable_x_ratelimit_headers', 'disable_x_envoy_ratelimited_header', 'rate_limited_status',
      'response_headers_to_add', 'status_on_error', 'stat_prefix',
    ],
    'envoy.config.ratelimit.v3.RateLimitServiceConfig': [
      'grpc_service', ['transport_api_version', { enumValues: ['V3'] }],
    ],
    // (google_grpc, timeout and initial_metadata refused: the filter's own timeout applies.)
    'envoy.config.core.v3.GrpcService': ['envoy_grpc'],
    'envoy.config.core.v3.GrpcService.EnvoyGrpc': ['cluster_name', 'authority'],
    'envoy.type.v3.HttpStatus': ['code'],
    'envoy.config.core.v3.HeaderValueOption': ['header', 'append_action', 'keep_empty_value', 'append'],
    'envoy.config.core.v3.HeaderValue': ['key', 'value'],
  },
  protos: ['envoy/extensions/filters/http/ratelimit/v3/rate_limit.proto'],
  compile(tc: Obj, ctx) {
    const p = ctx.path;
    const eg: Obj = tc.rate_limit_service?.grpc_service?.envoy_grpc ?? {};
    const cluster = String(eg.cluster_name ?? '');
    if (tc.rate_limit_service?.grpc_service?.envoy_grpc === undefined) {
      ctx.fail(`${p}.rate_limit_service.grpc_service`, 'Legate needs envoy_grpc (a cluster) for the rate limit service');
    }
    if (!ctx.clusters.has(cluster)) {
      ctx.fail(`${p}.rate_limit_service.grpc_service.envoy_grpc.cluster_name`, `unknown cluster '${cluster}'`);
    }
    (tc.response_headers_to_add ?? []).forEach((o: Obj, i: number) => {
      if (String(o.header?.value ?? '').includes('%')) {
        ctx.fail(`${p}.response_headers_to_add[${i}].header.value`,
          'substitution format strings (%...%) are not supported here by Legate');
      }
    });
    const statPrefix = tc.stat_prefix ? `${tc.stat_prefix}.` : '';
    return {
      domain: String(tc.domain),
      stage: Number(tc.stage ?? 0),
      requestType: tc.request_type === 'internal' ? RequestType.Internal
        : tc.request_type === 'external' ? RequestType.External : RequestType.Both,
      timeoutMs: durationMs(tc.timeout, DEFAULT_TIMEOUT_MS),
      failureModeDeny: tc.failure_mode_deny === true,
      cluster,
      authority: String(eg.authority ?? ''),
      xRateLimitHeaders: tc.enable_x_ratelimit_headers === 'DRAFT_VERSION_03',
      xEnvoyRateLimited: tc.disable_x_envoy_ratelimited_header !== true,
      rateLimitedStatus: errorStatus(tc.rate_limited_status, 429),
      statusOnError: errorStatus(tc.status_on_error, 500),
      responseHeaders: compileHeaderParser(tc.response_headers_to_add, undefined, `${p}.response_headers_to_add`,
        `${p}.response_headers_to_add`, ctx),
      stats: slots(ctx.layout, `cluster.${cluster}.${statPrefix}ratelimit.`, RATE_LIMIT_COUNTERS, [], []),
    };
  },
  createFilterFactory(snap, ctx) {
    const config = new RateLimitConfig(snap, ctx);
    return (cb) => cb.addStreamFilter(new RateLimitFilter(config));
  },
};
export default rateLimit;
