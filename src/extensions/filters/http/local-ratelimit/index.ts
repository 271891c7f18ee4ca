// envoy.filters.http.local_ratelimit (envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit):
// a token bucket per filter config, shared by every worker of the process (token-bucket.ts), with
// per-descriptor buckets fed by the route's `rate_limits` actions (router/rate-limits.ts), Envoy's
// filter_enabled / filter_enforced fractions, its status, response_headers_to_add,
// request_headers_to_add_when_not_enforced, the x-ratelimit-* headers (DRAFT_VERSION_03), buckets per
// downstream connection, and a per-route LocalRateLimit through typed_per_filter_config. Stats
// `<stat_prefix>.http_local_rate_limit.{enabled,enforced,rate_limited,ok}`.
import { ExtensionCategory, type CompileContext, type HttpFilterModule } from '../../../types.ts';
import type { RuntimeFractionSnap } from '../../../../router/config.ts';
import { runtimeFraction } from '../../../../router/compile-match.ts';
import { durationMs } from '../../../../config/duration.ts';
import { slots } from '../../../../stats/slots.ts';
import { errorStatus } from '../../../../http/http-status-code.ts';
import { compileHeaderParser, type HeaderParserSnap } from '../../../../router/header-parser.ts';
import { BUCKET_ALIGN, BUCKET_SLOTS, type TokenBucketSnap } from './token-bucket.ts';
import { LocalRateLimitConfig, LocalRateLimitFilter, type LocalRateLimitStats } from './filter.ts';

type Obj = Record<string, any>;

const TYPE = 'envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit';
export const LOCAL_RATE_LIMIT_COUNTERS = ['enabled', 'enforced', 'rate_limited', 'ok'] as const;

/** filter_enabled / filter_enforced: null when not set (the filter is then off / not enforcing). */
export interface FractionSnap extends RuntimeFractionSnap {
  /** The default is 100% and no runtime key can change it: always true, no runtime lookup. */
  always: boolean;
}

export interface DescriptorBucketSnap {
  /** [key, value, ...] joined with '\0' (how a request's descriptor is looked up). */
  key: string;
  bucket: TokenBucketSnap;
}

export interface LocalRateLimitSnap {
  /** null: no token_bucket (a filter with its limits on routes only). */
  bucket: TokenBucketSnap | null;
  descriptors: DescriptorBucketSnap[];
  status: number;
  enabled: FractionSnap | null;
  enforced: FractionSnap | null;
  responseHeaders: HeaderParserSnap | null;
  requestHeadersWhenNotEnforced: HeaderParserSnap | null;
  stage: number;
  perConnection: boolean;
  xRateLimitHeaders: boolean;
  /** VhRateLimitsOptions (router/rate-limits.ts VhRateLimits). */
  vhRateLimits: number;
  alwaysConsumeDefault: boolean;
  /** The filter's config name (routes' typed_per_filter_config key). */
  name: string;
  stats: LocalRateLimitStats;
}

const VH: Record<string, number> = { OVERRIDE: 0, INCLUDE: 1, IGNORE: 2 };
const MIN_FILL_INTERVAL_MS = 50;

function fraction(f: Obj | undefined): FractionSnap | null {
  if (f === undefined) return null;
  const rf = runtimeFraction(f);
  const d = rf.defaultValue;
  const den = d.denominator === 'MILLION' ? 1e6 : d.denominator === 'TEN_THOUSAND' ? 1e4 : 100;
  return { ...rf, always: rf.runtimeKey === '' && d.numerator >= den };
}

function tokenBucket(tb: Obj, path: string, key: string, ctx: CompileContext): TokenBucketSnap {
  const fillIntervalMs = durationMs(tb.fill_interval, 0);
  if (fillIntervalMs < MIN_FILL_INTERVAL_MS) {
    ctx.fail(`${path}.fill_interval`, 'local rate limit token bucket fill timer must be >= 50ms');
  }
  const snap: TokenBucketSnap = {
    maxTokens: Number(tb.max_tokens), tokensPerFill: Number(tb.tokens_per_fill ?? 1), fillIntervalMs, offset: -1,
  };
  // The same bucket (same place, same numbers) keeps its tokens across a reload.
  snap.offset = ctx.sharedSlots?.(`local_ratelimit\n${key}\n${JSON.stringify(snap)}`, BUCKET_SLOTS, BUCKET_ALIGN) ?? -1;
  return snap;
}

function literalHeaders(list: Obj[] | undefined, path: string, ctx: CompileContext): HeaderParserSnap | null {
  (list ?? []).forEach((o, i) => {
    if (String(o.header?.value ?? '').includes('%')) {
      ctx.fail(`${path}[${i}].header.value`, 'substitution format strings (%...%) are not supported here by Legate');
    }
  });
  return compileHeaderParser(list, undefined, path, path, ctx);
}

function compileLocal(tc: Obj, ctx: CompileContext, perRoute: boolean): LocalRateLimitSnap {
  const p = ctx.path;
  if (perRoute && tc.token_bucket === undefined) {
    ctx.fail(`${p}.token_bucket`, 'local rate limit token bucket must be set for per filter configs');
  }
  if (tc.local_rate_limit_per_downstream_connection === true && tc.local_cluster_rate_limit !== undefined) {
    ctx.fail(p, 'local_cluster_rate_limit is set and local_rate_limit_per_downstream_connection is set to true');
  }
  const bucket = tc.token_bucket === undefined ? null : tokenBucket(tc.token_bucket, `${p}.token_bucket`, p, ctx);
  const seen = new Set<string>();
  const descriptors = ((tc.descriptors ?? []) as Obj[]).map((d, i): DescriptorBucketSnap => {
    const dp = `${p}.descriptors[${i}]`;
    const key = ((d.entries ?? []) as Obj[]).flatMap((e) => [String(e.key), String(e.value)]).join('\0');
    if (seen.has(key)) ctx.fail(dp, `duplicate descriptor in the local rate descriptor: ${key.split('\0').join('=')}`);
    seen.add(key);
    const b = tokenBucket(d.token_bucket ?? {}, `${dp}.token_bucket`, `${p}\n${key}`, ctx);
    if (bucket !== null && b.fillIntervalMs % bucket.fillIntervalMs !== 0) {
      ctx.fail(`${dp}.token_bucket.fill_interval`, 'local rate descriptor limit is not a multiple of token bucket fill timer');
    }
    return { key, bucket: b };
  });
  const statPrefix = String(tc.stat_prefix);
  return {
    bucket,
    descriptors,
    status: errorStatus(tc.status, 429),
    enabled: fraction(tc.filter_enabled),
    enforced: fraction(tc.filter_enforced),
    responseHeaders: literalHeaders(tc.response_headers_to_add, `${p}.response_headers_to_add`, ctx),
    requestHeadersWhenNotEnforced: literalHeaders(tc.request_headers_to_add_when_not_enforced,
      `${p}.request_headers_to_add_when_not_enforced`, ctx),
    stage: Number(tc.stage ?? 0),
    perConnection: tc.local_rate_limit_per_downstream_connection === true,
    xRateLimitHeaders: tc.enable_x_ratelimit_headers === 'DRAFT_VERSION_03',
    vhRateLimits: VH[String(tc.vh_rate_limits ?? 'OVERRIDE')] ?? 0,
    alwaysConsumeDefault: tc.always_consume_default_token_bucket !== false,
    name: ctx.configName ?? '',
    stats: slots(ctx.layout, `${statPrefix}.http_local_rate_limit.`, LOCAL_RATE_LIMIT_COUNTERS, [], []),
  };
}

const localRateLimit: HttpFilterModule<LocalRateLimitSnap> = {
  name: 'envoy.filters.http.local_ratelimit',
  category: ExtensionCategory.HttpFilter,
  types: [TYPE],
  fields: {
    // (Refused: local_cluster_rate_limit, which needs a local cluster's membership;
    // rate_limited_as_resource_exhausted, gRPC statuses for local replies.)
    [TYPE]: [
      'stat_prefix', 'status', 'token_bucket', 'filter_enabled', 'filter_enforced',
      'request_headers_to_add_when_not_enforced', 'response_headers_to_add', 'descriptors', 'stage',
      'local_rate_limit_per_downstream_connection', 'enable_x_ratelimit_headers', 'vh_rate_limits',
      'always_consume_default_token_bucket',
    ],
    'envoy.type.v3.HttpStatus': ['code'],
    'envoy.type.v3.TokenBucket': ['max_tokens', 'tokens_per_fill', 'fill_interval'],
    'envoy.config.core.v3.RuntimeFractionalPercent': ['default_value', 'runtime_key'],
    'envoy.type.v3.FractionalPercent': ['numerator', 'denominator'],
    'envoy.extensions.common.ratelimit.v3.LocalRateLimitDescriptor': ['entries', 'token_bucket'],
    'envoy.extensions.common.ratelimit.v3.RateLimitDescriptor.Entry': ['key', 'value'],
    // (router/header-parser.ts, literal values.)
    'envoy.config.core.v3.HeaderValueOption': ['header', 'append_action', 'keep_empty_value', 'append'],
    'envoy.config.core.v3.HeaderValue': ['key', 'value'],
  },
  protos: ['envoy/extensions/filters/http/local_ratelimit/v3/local_rate_limit.proto'],
  compile: (tc, ctx) => compileLocal(tc, ctx, false),
  perRoute: {
    types: [TYPE],
    compile: (tc, ctx) => compileLocal(tc, ctx, true),
  },
  createFilterFactory(snap, ctx) {
    const config = new LocalRateLimitConfig(snap, ctx);
    // (Both sides: the encoder adds the x-ratelimit-* and response headers, of this config or of a
    // route's.)
    return (cb) => cb.addStreamFilter(new LocalRateLimitFilter(config));
  },
};
export default localRateLimit;
