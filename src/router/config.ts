// The route configuration as a config snapshot carries it (Envoy's envoy.config.route.v3
// RouteConfiguration, flattened to plain data that crosses threads): compiled in main by
// router/compile.ts, turned into matchers per worker by router/route-table.ts.
import type { HashPolicySnap } from '../http/hash-policy.ts';
import type { RetryPolicySnap } from '../http/retry-policy.ts';
import type { HeaderParserSnap } from './header-parser.ts';

export interface HeaderMatchSnap {
  name: string;
  kind: 'exact' | 'prefix' | 'suffix' | 'contains' | 'regex' | 'present';
  value: string;
  ignoreCase: boolean;
  invert: boolean;
  present: boolean;
}
export interface RouteSnap {
  name: string;
  match: { kind: 'prefix' | 'path' | 'regex'; value: string; caseSensitive: boolean };
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
        includeAttemptCount: boolean }
    | { kind: 'direct'; status: number; body: string | null };
  /** request_headers_to_add / _to_remove of the route, its virtual host and the route
   *  configuration, in evaluation order (router/header-parser.ts routeChain); null: none. */
  requestHeaderParsers?: HeaderParserSnap[] | null;
  /** The same for response_headers_to_add / _to_remove (upstream responses and local replies). */
  responseHeaderParsers?: HeaderParserSnap[] | null;
}
/** An upgrade_configs entry (HCM or route): the upgrade type, lowercase, and whether it is
 *  allowed. */
export interface UpgradeSnap { type: string; enabled: boolean }
export interface VirtualHostSnap { name: string; domains: string[]; routes: RouteSnap[] }

/** A RouteConfiguration. */
export interface RouteConfigSnap {
  name: string;
  virtualHosts: VirtualHostSnap[];
  /** internal_only_headers, lowercase (null: none): removed from requests of external clients. */
  internalOnlyHeaders?: string[] | null;
}
