// The route configuration as a config snapshot carries it (Envoy's envoy.config.route.v3
// RouteConfiguration, flattened to plain data that crosses threads): compiled in main by
// router/compile.ts, turned into matchers per worker by router/route-table.ts.
import type { HashPolicySnap } from '../http/hash-policy.ts';
import type { RetryPolicySnap } from '../http/retry-policy.ts';
import type { RedirectSnap } from './redirect.ts';
import type { WeightedClustersSnap } from './weighted-clusters.ts';
import type { ShadowPolicySnap } from './shadow.ts';
import type { HeaderParserSnap } from './header-parser.ts';
import type { RouteRateLimitsSnap } from './rate-limits.ts';
import type { FractionalPercent } from '../runtime/types.ts';

/** A RuntimeFractionalPercent (envoy.config.core.v3): the runtime's `runtimeKey` when set, else
 *  `defaultValue` (runtime/types.ts featureEnabledFractional). */
export interface RuntimeFractionSnap {
  runtimeKey: string;
  defaultValue: FractionalPercent;
}

export interface HeaderMatchSnap {
  name: string;
  kind: 'exact' | 'prefix' | 'suffix' | 'contains' | 'regex' | 'present' | 'range';
  /** The string to match (lowercased when ignoreCase), or the RE2 pattern. */
  value: string;
  ignoreCase: boolean;
  invert: boolean;
  present: boolean;
  /** range_match: [start, end) as int64 decimal strings ('' otherwise). */
  rangeStart?: string;
  rangeEnd?: string;
  /** treat_missing_header_as_empty. */
  treatMissingAsEmpty?: boolean;
}
/** A StringMatcher (envoy.type.matcher.v3): exact/prefix/suffix/contains (value lowercased when
 *  ignoreCase) or an RE2 pattern (kind 'regex'). */
export interface StringMatchSnap {
  kind: 'exact' | 'prefix' | 'suffix' | 'contains' | 'regex';
  value: string;
  ignoreCase: boolean;
}
/** A QueryParameterMatcher: `match` null with `present` null is "present". */
export interface QueryParamMatchSnap {
  name: string;
  match: StringMatchSnap | null;
  /** present_match when set, else null. */
  present: boolean | null;
}
/** RouteMatch: the path specifier and the conditions other than headers. */
export interface RouteMatchSnap {
  /** prefix, path, safe_regex, path_separated_prefix, path_match_policy (uri_template: `value`
   *  is the template, `regex` its RE2 translation). */
  kind: 'prefix' | 'path' | 'regex' | 'separated' | 'template';
  value: string;
  caseSensitive: boolean;
  /** The RE2 pattern of a template (kind 'template'). */
  regex?: string;
  queryParameters?: QueryParamMatchSnap[];
  /** grpc: {} (content-type application/grpc). */
  grpc?: boolean;
  /** tls_context: presented / validated (null: not asked). */
  tlsPresented?: boolean | null;
  tlsValidated?: boolean | null;
  /** runtime_fraction (null: none). */
  runtimeFraction?: RuntimeFractionSnap | null;
}
export interface RouteSnap {
  name: string;
  match: RouteMatchSnap;
  headers: HeaderMatchSnap[];
  action:
    | { kind: 'cluster'; cluster: string; timeoutMs: number;
        idleTimeoutMs: number; prefixRewrite: string | null; hostRewrite: string | null;
        /** RouteAction.upgrade_configs (null: none): they override the HCM's for their types. */
        upgrades: UpgradeSnap[] | null;
        /** RouteAction.hash_policy (null: none, or none that can yield a hash). */
        hashPolicy: HashPolicySnap | null;
        /** The route's retry_policy, else its virtual host's; null: none. */
        retryPolicy: RetryPolicySnap | null;
        /** VirtualHost.include_request_attempt_count: x-envoy-attempt-count upstream. */
        includeAttemptCount: boolean } & RouteActionExtra
    | { kind: 'direct'; status: number; body: string | null }
    | { kind: 'redirect'; redirect: RedirectSnap };
  /** Route.metadata.filter_metadata as plain JSON (null: none). */
  metadata: Record<string, unknown> | null;
  /** typed_per_filter_config: filter config name -> its module's compiled per-route config, the
   *  route's own, else its virtual host's, else the route configuration's (a filter with a
   *  `merge` gets the levels combined: router/compile-action.ts resolvePerFilterConfig); null:
   *  none. */
  perFilterConfig: Record<string, unknown> | null;
  /** The deprecated `cors` of the RouteAction and the virtual host, combined by the CORS filter's
   *  module (absent: neither has one). */
  cors?: object;
  /** Filter config name -> whether that filter is disabled on this route, for every name the
   *  route, its virtual host or its route configuration has an entry for, the most specific
   *  winning (null: none; HTTP filters keep their default). */
  filterDisabled?: Record<string, boolean> | null;
  /** RouteAction.rate_limits, its virtual host's rate_limits and include_vh_rate_limits
   *  (router/rate-limits.ts); null or absent: none. */
  rateLimits?: RouteRateLimitsSnap | null;
  /** request_headers_to_add / _to_remove of the route, its virtual host and the route
   *  configuration, in evaluation order (router/header-parser.ts routeChain); null: none. */
  requestHeaderParsers?: HeaderParserSnap[] | null;
  /** The same for response_headers_to_add / _to_remove (upstream responses and local replies). */
  responseHeaderParsers?: HeaderParserSnap[] | null;
}
/** A RegexMatchAndSubstitute (common/regex.ts compileRewrite builds it per worker). */
export interface RegexRewriteSnap { pattern: string; substitution: string }
/** The RouteAction fields of router/compile-action.ts. */
export interface RouteActionExtra {
  /** cluster_header, lowercased (null: none): the cluster is named by the request. */
  clusterHeader: string | null;
  weightedClusters: WeightedClustersSnap | null;
  /** cluster_not_found_response_code as a status. */
  clusterNotFoundStatus: number;
  regexRewrite: RegexRewriteSnap | null;
  /** host_rewrite_header, lowercased (null: none). */
  hostRewriteHeader: string | null;
  hostRewritePathRegex: RegexRewriteSnap | null;
  autoHostRewrite: boolean;
  /** max_stream_duration.max_stream_duration (ms; 0: explicitly none; -1: not set, the
   *  connection manager's own applies). */
  maxStreamDurationMs: number;
  /** request_mirror_policies, in order. */
  mirrors: ShadowPolicySnap[];
}
/** An upgrade_configs entry (HCM or route): the upgrade type, lowercase, and whether it is
 *  allowed. */
export interface UpgradeSnap { type: string; enabled: boolean }
export interface VirtualHostSnap { name: string; domains: string[]; routes: RouteSnap[] }

/** A RouteConfiguration. */
export interface RouteConfigSnap {
  name: string;
  virtualHosts: VirtualHostSnap[];
  /** ignore_port_in_host_matching. */
  ignorePortInHostMatching?: boolean;
  /** internal_only_headers, lowercase (null: none): removed from requests of external clients. */
  internalOnlyHeaders?: string[] | null;
}
