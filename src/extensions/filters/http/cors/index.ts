// envoy.filters.http.cors (envoy.extensions.filters.http.cors.v3.Cors, a message with no fields):
// answers CORS preflights and adds the CORS response headers (filter.ts) by the route's policy:
// a CorsPolicy in typed_per_filter_config at the route, virtual host or route configuration, or
// the deprecated `cors` field of a RouteAction or VirtualHost (envoy.config.route.v3.CorsPolicy,
// the same fields, which router/compile-action.ts compiles through this module). Stats:
// http.<stat_prefix>.cors.origin_valid / origin_invalid.
import { ExtensionCategory, type CompileContext, type HttpFilterModule } from '../../../types.ts';
import { slots } from '../../../../stats/slots.ts';
import { stringMatcher } from '../../../../router/compile-match.ts';
import type { DenominatorType } from '../../../../runtime/types.ts';
import { CorsFilter, type CorsPolicySnap, type CorsShared, type RuntimeFraction } from './filter.ts';

type Obj = Record<string, any>;

const PKG = 'envoy.extensions.filters.http.cors.v3.';
const TYPE = PKG + 'Cors';
const POLICY = PKG + 'CorsPolicy';
const POLICY_FIELDS = [
  'allow_origin_string_match', 'allow_methods', 'allow_headers', 'expose_headers', 'max_age', 'allow_credentials',
  'filter_enabled', 'shadow_enabled', 'allow_private_network_access', 'forward_not_matching_preflights',
];

const COUNTERS = ['origin_valid', 'origin_invalid'] as const;

interface CorsSnap {
  configName: string;
  stats: Record<(typeof COUNTERS)[number], number>;
}

/** A BoolValue as the loader gives it (a boolean, or { value }); null when unset. */
function boolValue(v: unknown): boolean | null {
  if (v === undefined || v === null) return null;
  if (typeof v === 'object') return (v as Obj).value === true;
  return v === true;
}

function fraction(f: Obj | undefined): RuntimeFraction | null {
  if (f === undefined) return null;
  const d: Obj = f.default_value ?? {};
  return {
    key: String(f.runtime_key ?? ''),
    defaultValue: { numerator: Number(d.numerator ?? 0), denominator: (d.denominator ?? 'HUNDRED') as DenominatorType },
  };
}

/** A CorsPolicy (the filter's, or the route's deprecated one); `ctx.path` is its field path. */
function compilePolicy(p: Obj, ctx: CompileContext): CorsPolicySnap {
  return {
    allowOrigins: ((p.allow_origin_string_match ?? []) as Obj[])
      .map((m, i) => stringMatcher(m, `${ctx.path}.allow_origin_string_match[${i}]`, ctx)),
    allowMethods: String(p.allow_methods ?? ''),
    allowHeaders: String(p.allow_headers ?? ''),
    exposeHeaders: String(p.expose_headers ?? ''),
    maxAge: String(p.max_age ?? ''),
    allowCredentials: boolValue(p.allow_credentials),
    allowPrivateNetworkAccess: boolValue(p.allow_private_network_access),
    forwardNotMatchingPreflights: boolValue(p.forward_not_matching_preflights),
    filterEnabled: fraction(p.filter_enabled),
    shadowEnabled: fraction(p.shadow_enabled),
  };
}

/** Envoy's CorsFilter reads each field from the most specific policy that sets it, and
 *  filter_enabled / shadow_enabled from the most specific policy alone. */
function mergePolicies(outer: CorsPolicySnap, inner: CorsPolicySnap): CorsPolicySnap {
  return {
    allowOrigins: inner.allowOrigins.length > 0 ? inner.allowOrigins : outer.allowOrigins,
    allowMethods: inner.allowMethods || outer.allowMethods,
    allowHeaders: inner.allowHeaders || outer.allowHeaders,
    exposeHeaders: inner.exposeHeaders || outer.exposeHeaders,
    maxAge: inner.maxAge || outer.maxAge,
    allowCredentials: inner.allowCredentials ?? outer.allowCredentials,
    allowPrivateNetworkAccess: inner.allowPrivateNetworkAccess ?? outer.allowPrivateNetworkAccess,
    forwardNotMatchingPreflights: inner.forwardNotMatchingPreflights ?? outer.forwardNotMatchingPreflights,
    filterEnabled: inner.filterEnabled,
    shadowEnabled: inner.shadowEnabled,
  };
}

const cors: HttpFilterModule<CorsSnap> = {
  name: 'envoy.filters.http.cors',
  category: ExtensionCategory.HttpFilter,
  types: [TYPE],
  fields: {
    [TYPE]: [],
    [POLICY]: POLICY_FIELDS,
    // The deprecated route/virtual host `cors` (router/compile-action.ts legacyCorsLevel).
    'envoy.config.route.v3.CorsPolicy': POLICY_FIELDS,
    'envoy.config.core.v3.RuntimeFractionalPercent': ['default_value', 'runtime_key'],
    'envoy.type.v3.FractionalPercent': ['numerator', 'denominator'],
    // (router/compile-match.ts compiles these, as for routes.)
    'envoy.type.matcher.v3.StringMatcher': ['exact', 'prefix', 'suffix', 'contains', 'safe_regex', 'ignore_case'],
    'envoy.type.matcher.v3.RegexMatcher': ['regex', 'google_re2'],
    'envoy.type.matcher.v3.RegexMatcher.GoogleRE2': [],
  },
  protos: ['envoy/extensions/filters/http/cors/v3/cors.proto'],
  compile(_tc, ctx) {
    return {
      configName: ctx.configName ?? 'envoy.filters.http.cors',
      stats: slots(ctx.layout, `${ctx.scope}cors.`, COUNTERS, [], []),
    };
  },
  perRoute: {
    types: [POLICY],
    compile: (tc, ctx) => compilePolicy(tc, ctx),
    merge: (outer, inner) => mergePolicies(outer as CorsPolicySnap, inner as CorsPolicySnap),
  },
  createFilterFactory(snap, ctx) {
    const shared: CorsShared = {
      configName: snap.configName,
      runtime: ctx.runtime,
      stats: ctx.stats,
      originValid: snap.stats.origin_valid,
      originInvalid: snap.stats.origin_invalid,
    };
    return (cb) => cb.addStreamFilter(new CorsFilter(shared));
  },
};
export default cors;
