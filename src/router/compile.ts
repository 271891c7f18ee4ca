// RouteConfiguration -> RouteConfigSnap (router/config.ts), run in main when a config arrives: Envoy's
// defaults filled in, every field Legate acts on read here with its field path for errors. The
// message tables (ROUTE_FIELDS) are what the HTTP connection manager's module declares for its
// route_config, so a field missing here is refused by the loader.
import { ExtensionCategory, type CompileContext, type SupportedField } from '../extensions/types.ts';
import {
  HashMethodKind, setCookieAttributes, wireText, type HashMethodSnap, type HashPolicySnap,
} from '../http/hash-policy.ts';
import { durationMs } from '../config/duration.ts';
import { DEFAULT_BACKOFF_BASE_MS, RetryOn, parseRetryOn, type RetryPolicySnap } from '../http/retry-policy.ts';
import { readDataSource } from '../common/data-source.ts';
import type { HeaderMatchSnap, RouteConfigSnap, RouteSnap, UpgradeSnap, VirtualHostSnap } from './config.ts';
import {
  DEFAULT_MAX_DIRECT_RESPONSE_BODY_BYTES, directResponseAction, legacyCorsLevel, perFilterLevel, redirectAction,
  resolveFilterDisabled, resolvePerFilterConfig, routeActionExtra, routeMetadata, usesStreamDuration,
} from './compile-action.ts';
import { MATCH_FIELDS, checkDomains, compileRouteMatch, headerMatcher } from './compile-match.ts';
import { HEADER_MUTATION_FIELDS, compileRouteHeaders } from './compile-headers.ts';
import {
  RATE_LIMIT_FIELDS, ROUTE_ACTION_RATE_LIMIT_FIELDS, VIRTUAL_HOST_RATE_LIMIT_FIELDS, compileRateLimits, compileRouteRateLimits,
} from './rate-limits.ts';

type Obj = Record<string, any>;

/** Envoy's route timeout default. */
const DEFAULT_ROUTE_TIMEOUT_MS = 15_000;

const ROUTE = 'envoy.config.route.v3.';

/** The route messages' fields Legate acts on (the HTTP connection manager's module lists them). */
export const ROUTE_FIELDS: Record<string, readonly SupportedField[]> = {
    [ROUTE + 'RouteAction.UpgradeConfig']: ['upgrade_type', 'enabled'],
    [ROUTE + 'RouteConfiguration']: [
      'name', 'virtual_hosts', 'max_direct_response_body_size_bytes', 'ignore_port_in_host_matching',
      ...HEADER_MUTATION_FIELDS, 'most_specific_header_mutations_wins', 'internal_only_headers',
      'typed_per_filter_config',
    ],
    [ROUTE + 'VirtualHost']: [
      'name', 'domains', 'routes', 'retry_policy', 'include_request_attempt_count', ...HEADER_MUTATION_FIELDS,
      'typed_per_filter_config', 'cors',
      ...VIRTUAL_HOST_RATE_LIMIT_FIELDS,
    ],
    // (A typed_per_filter_config entry wrapping a filter's per-route config: router/compile-action.ts.)
    [ROUTE + 'FilterConfig']: ['config', 'is_optional', 'disabled'],
    [ROUTE + 'RetryPolicy']: [
      'retry_on', 'num_retries', 'per_try_timeout', 'per_try_idle_timeout', 'retry_back_off', 'retriable_status_codes', 'retriable_headers',
      'retry_host_predicate', 'host_selection_retry_max_attempts', 'retry_priority',
    ],
    [ROUTE + 'RetryPolicy.RetryBackOff']: ['base_interval', 'max_interval'],
    [ROUTE + 'RetryPolicy.RetryHostPredicate']: ['name', 'typed_config'],
    [ROUTE + 'RetryPolicy.RetryPriority']: ['name', 'typed_config'],
    [ROUTE + 'Route']: [
      'name', 'match', 'route', 'direct_response', 'redirect', 'metadata', 'typed_per_filter_config',
      ...HEADER_MUTATION_FIELDS,
    ],
    // (router/header-parser.ts.)
    'envoy.config.core.v3.HeaderValueOption': ['header', 'append_action', 'keep_empty_value', 'append'],
    'envoy.config.core.v3.HeaderValue': ['key', 'value'],
    ...MATCH_FIELDS,
    [ROUTE + 'RouteAction']: [
      'cluster', 'timeout', 'prefix_rewrite', 'host_rewrite_literal', 'idle_timeout', 'upgrade_configs',
      'hash_policy', 'retry_policy',
      // (router/compile-action.ts)
      'cluster_header', 'weighted_clusters', 'cluster_not_found_response_code', 'regex_rewrite', 'auto_host_rewrite',
      'host_rewrite_header', 'host_rewrite_path_regex', 'max_stream_duration', 'request_mirror_policies',
      // (The deprecated CorsPolicy: the CORS filter's module lists its fields and compiles it.)
      'cors',
      // (router/rate-limits.ts)
      ...ROUTE_ACTION_RATE_LIMIT_FIELDS,
    ],
    ...RATE_LIMIT_FIELDS,
    // (Refused: the per-cluster metadata_match and typed_per_filter_config.)
    [ROUTE + 'WeightedCluster']: ['clusters', 'total_weight', 'header_name', 'runtime_key_prefix'],
    [ROUTE + 'WeightedCluster.ClusterWeight']: [
      'name', 'cluster_header', 'weight', 'host_rewrite_literal', ...HEADER_MUTATION_FIELDS,
    ],
    'envoy.type.matcher.v3.RegexMatchAndSubstitute': ['pattern', 'substitution'],
    // (grpc_timeout_header_max / _offset refused: Legate has no gRPC timeout handling.)
    [ROUTE + 'RouteAction.MaxStreamDuration']: ['max_stream_duration'],
    // (trace_sampled refused: no tracing.)
    [ROUTE + 'RouteAction.RequestMirrorPolicy']: [
      'cluster', 'cluster_header', 'disable_shadow_host_suffix_append', 'runtime_fraction',
    ],
    [ROUTE + 'RedirectAction']: [
      'https_redirect', 'scheme_redirect', 'host_redirect', 'port_redirect', 'path_redirect', 'prefix_rewrite',
      'regex_rewrite', 'response_code', 'strip_query',
    ],
    // (filter_metadata only: typed_filter_metadata has no reader.)
    'envoy.config.core.v3.Metadata': ['filter_metadata'],
    // (http/hash-policy.ts. Refused: filter_state, which needs filters that store hashable state;
    // header.regex_rewrite, whose GlobalReplace exists (common/regex.ts compileRewrite) but is not
    // wired into the hash policy yet.)
    [ROUTE + 'RouteAction.HashPolicy']: ['header', 'cookie', 'connection_properties', 'query_parameter', 'terminal'],
    [ROUTE + 'RouteAction.HashPolicy.Header']: ['header_name'],
    [ROUTE + 'RouteAction.HashPolicy.Cookie']: ['name', 'ttl', 'path', 'attributes'],
    [ROUTE + 'RouteAction.HashPolicy.CookieAttribute']: ['name', 'value'],
    [ROUTE + 'RouteAction.HashPolicy.ConnectionProperties']: ['source_ip'],
    [ROUTE + 'RouteAction.HashPolicy.QueryParameter']: ['name'],
    [ROUTE + 'DirectResponseAction']: ['status', 'body'],
};

/** route_config (a RouteConfiguration); `path` is its field path. */
export function compileRouteConfig(rc: Obj | undefined, path: string, ctx: CompileContext): RouteConfigSnap {
  checkDomains(rc, path, ctx);
  const snap: RouteConfigSnap = {
    name: rc?.name ?? '', virtualHosts: virtualHosts(rc, path, ctx),
    ignorePortInHostMatching: rc?.ignore_port_in_host_matching === true,
  };
  compileRouteHeaders(rc, snap, path, ctx);
  return snap;
}

/** A RetryPolicy (http/retry-policy.ts); `path` is its field path. */
function retryPolicy(rp: Obj | undefined, path: string, ctx: CompileContext): RetryPolicySnap | null {
  if (rp === undefined) return null;
  const unknown: string[] = [];
  const retryOn = parseRetryOn(String(rp.retry_on ?? ''), unknown);
  if (unknown.length > 0) {
    ctx.fail(`${path}.retry_on`, `unknown or unsupported retry condition(s) ${unknown.map((u) => `"${u}"`).join(', ')} `
      + `(Legate acts on ${Object.keys(RetryOn).join(', ')})`);
  }
  const base = durationMs(rp.retry_back_off?.base_interval, DEFAULT_BACKOFF_BASE_MS);
  const max = durationMs(rp.retry_back_off?.max_interval, base * 10);
  if (max < base) {
    ctx.fail(`${path}.retry_back_off.max_interval`, 'max_interval must be greater than or equal to the base_interval');
  }
  let previousHosts = false;
  ((rp.retry_host_predicate ?? []) as Obj[]).forEach((pred, i) => {
    // (previous_hosts is the one Legate has: the router acts on it.)
    ctx.compileNested(ExtensionCategory.RetryHostPredicate, pred, `${path}.retry_host_predicate[${i}]`);
    previousHosts = true;
  });
  const retryPriority = rp.retry_priority === undefined ? null
    : ctx.compileNested(ExtensionCategory.RetryPriority, rp.retry_priority, `${path}.retry_priority`);
  return {
    retryOn,
    numRetries: rp.num_retries ?? 1,
    perTryTimeoutMs: durationMs(rp.per_try_timeout, 0),
    perTryIdleTimeoutMs: durationMs(rp.per_try_idle_timeout, 0),
    backoffBaseMs: base,
    backoffMaxMs: max,
    retriableStatusCodes: (rp.retriable_status_codes ?? []) as number[],
    retriableHeaders: ((rp.retriable_headers ?? []) as Obj[])
      .map((h, j): HeaderMatchSnap => headerMatcher(h, `${path}.retriable_headers[${j}]`, ctx)),
    previousHosts,
    hostSelectionMaxAttempts: Number(rp.host_selection_retry_max_attempts ?? 1),
    retryPriority,
  };
}

function virtualHosts(rc: Obj | undefined, path: string, ctx: CompileContext): VirtualHostSnap[] {
  const out: VirtualHostSnap[] = [];
  const rcFilters = perFilterLevel(rc?.typed_per_filter_config, `${path}.typed_per_filter_config`, ctx);
  const maxBody: number = rc?.max_direct_response_body_size_bytes ?? DEFAULT_MAX_DIRECT_RESPONSE_BODY_BYTES;
  ((rc?.virtual_hosts ?? []) as Obj[]).forEach((vh, v) => {
    const vpath = `${path}.virtual_hosts[${v}]`;
    const vhRetry = retryPolicy(vh.retry_policy, `${vpath}.retry_policy`, ctx);
    const attemptCount = vh.include_request_attempt_count === true;
    const vhFilters = perFilterLevel(vh.typed_per_filter_config, `${vpath}.typed_per_filter_config`, ctx);
    const vhCors = legacyCorsLevel(vh.cors, `${vpath}.cors`, ctx);
    const vhRateLimits = compileRateLimits(vh.rate_limits, `${vpath}.rate_limits`, ctx);
    const routes: RouteSnap[] = [];
    ((vh.routes ?? []) as Obj[]).forEach((r, i) => {
      const m = r.match ?? {};
      const mpath = `${vpath}.routes[${i}].match`;
      const match = compileRouteMatch(m, mpath, ctx);
      let action: RouteSnap['action'];
      let rateLimits: RouteSnap['rateLimits'] = null;
      const rpath = `${vpath}.routes[${i}]`;
      if (r.direct_response) {
        action = directResponseAction(r.direct_response, `${rpath}.direct_response`, maxBody, ctx);
      } else if (r.redirect) {
        action = { kind: 'redirect', redirect: redirectAction(r.redirect, `${rpath}.redirect`, ctx) };
      } else {
        const ra = r.route ?? {};
        action = {
          kind: 'cluster',
          cluster: ra.cluster ?? '',
          // (With max_stream_duration the route timeout is not applied: Envoy's new timeouts.)
          timeoutMs: usesStreamDuration(ra) ? 0 : durationMs(ra.timeout, DEFAULT_ROUTE_TIMEOUT_MS),
          idleTimeoutMs: durationMs(ra.idle_timeout, 0),
          prefixRewrite: ra.prefix_rewrite ?? null,
          hostRewrite: ra.host_rewrite_literal ?? null,
          upgrades: ra.upgrade_configs === undefined ? null : upgradeConfigs(ra.upgrade_configs),
          hashPolicy: hashPolicy(ra.hash_policy),
          // A route's policy replaces its virtual host's (Envoy's).
          retryPolicy: ra.retry_policy === undefined ? vhRetry
            : retryPolicy(ra.retry_policy, `${vpath}.routes[${i}].route.retry_policy`, ctx),
          includeAttemptCount: attemptCount,
          ...routeActionExtra(ra, `${rpath}.route`, ctx, r.name ?? ''),
        };
        rateLimits = compileRouteRateLimits(ra, `${rpath}.route`, vhRateLimits, ctx);
      }
      const headers = ((m.headers ?? []) as Obj[]).map((h, j) => headerMatcher(h, `${mpath}.headers[${j}]`, ctx));
      const routeFilters = perFilterLevel(r.typed_per_filter_config, `${rpath}.typed_per_filter_config`, ctx);
      const routeCors = legacyCorsLevel(r.route?.cors, `${rpath}.route.cors`, ctx);
      const cors = vhCors === null && routeCors === null ? null
        : resolvePerFilterConfig([vhCors, routeCors])!.cors as object;
      routes.push({
        name: r.name ?? '', match, headers, action,
        metadata: routeMetadata(r.metadata), perFilterConfig: resolvePerFilterConfig([rcFilters, vhFilters, routeFilters]),
        filterDisabled: resolveFilterDisabled([rcFilters, vhFilters, routeFilters]),
        ...(cors === null ? {} : { cors }),
        rateLimits,
      });
    });
    out.push({ name: vh.name, domains: (vh.domains ?? []).map((d: string) => d.toLowerCase()), routes });
  });
  return out;
}

/** RouteAction.hash_policy as http/hash-policy.ts evaluates it. The loader has checked the protos'
 *  rules (one specifier each, names not empty) and refused what Legate does not implement
 *  (header.regex_rewrite, filter_state). As Envoy: connection_properties without source_ip adds no
 *  method; the cookie's ttl counts in whole seconds (0: a session cookie, still generated). */
function hashPolicy(list: Obj[] | undefined): HashPolicySnap | null {
  const out: HashMethodSnap[] = [];
  for (const p of list ?? []) {
    const terminal = p.terminal === true;
    const m: HashMethodSnap = { kind: HashMethodKind.Header, terminal, name: '', generate: false, setCookieAttributes: '' };
    if (p.header) {
      // Envoy's LowerCaseString lowers ASCII letters only.
      m.name = wireText(p.header.header_name).replace(/[A-Z]+/g, (u) => u.toLowerCase());
    } else if (p.cookie) {
      const c = p.cookie;
      m.kind = HashMethodKind.Cookie;
      m.name = wireText(c.name);
      if (c.ttl !== undefined) {
        m.generate = true;
        const attributes = ((c.attributes ?? []) as Obj[]).map((a) => ({ name: a.name, value: a.value ?? '' }));
        m.setCookieAttributes = wireText(setCookieAttributes(c.path ?? '', c.ttl.seconds, true, attributes));
      }
    } else if (p.query_parameter) {
      m.kind = HashMethodKind.QueryParameter;
      m.name = wireText(p.query_parameter.name);
    } else if (p.connection_properties?.source_ip === true) {
      m.kind = HashMethodKind.SourceIp;
    } else {
      continue;
    }
    out.push(m);
  }
  return out.length === 0 ? null : out;
}

/** upgrade_configs (the HCM's or a route's): Envoy matches the type case-insensitively, and an
 *  entry is enabled unless `enabled` says otherwise. */
export function upgradeConfigs(list: Obj[]): UpgradeSnap[] {
  return list.map((u) => ({ type: String(u.upgrade_type).toLowerCase(), enabled: u.enabled !== false }));
}

