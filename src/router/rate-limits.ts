// Route rate limit policies (Envoy's RateLimitPolicyImpl, source/common/router/router_ratelimit.cc):
// the `rate_limits` of a RouteAction and of its VirtualHost, compiled in main to plain data
// (compileRouteRateLimits), and turned into rate limit descriptors per request by the filters that
// use them (envoy.filters.http.ratelimit and local_ratelimit: populateDescriptors).
//
// A RateLimit entry yields one descriptor: one (key, value) entry per action, in order. An action
// that cannot produce its entry (a header absent without skip_if_absent, a header_value_match whose
// outcome is not the expected one, a remote address that is not IP) drops the whole descriptor, as
// Envoy's populateDescriptors does. Only the entries of the filter's `stage` apply.
import type { CompileContext, SupportedField } from '../extensions/types.ts';
import type { HeaderMap } from '../http/types.ts';
import type { HeaderMatchSnap } from './config.ts';
import { headerMatcher } from './compile-match.ts';
import { headerMatcherOf, headerValue } from './matchers.ts';

type Obj = Record<string, any>;

const ROUTE = 'envoy.config.route.v3.';

/** The RateLimit fields Legate acts on (the HTTP connection manager lists them with the routes'). */
export const RATE_LIMIT_FIELDS: Record<string, readonly SupportedField[]> = {
  // (disable_key needs the runtime's ratelimit.<key>.http_filter_enabled; limit overrides need
  // dynamic metadata: refused.)
  [ROUTE + 'RateLimit']: ['stage', 'actions'],
  [ROUTE + 'RateLimit.Action']: [
    'source_cluster', 'destination_cluster', 'request_headers', 'remote_address', 'generic_key', 'header_value_match',
  ],
  [ROUTE + 'RateLimit.Action.SourceCluster']: [],
  [ROUTE + 'RateLimit.Action.DestinationCluster']: [],
  [ROUTE + 'RateLimit.Action.RequestHeaders']: ['header_name', 'descriptor_key', 'skip_if_absent'],
  [ROUTE + 'RateLimit.Action.RemoteAddress']: [],
  [ROUTE + 'RateLimit.Action.GenericKey']: ['descriptor_value', 'descriptor_key'],
  [ROUTE + 'RateLimit.Action.HeaderValueMatch']: ['descriptor_key', 'descriptor_value', 'expect_match', 'headers'],
};

/** The RouteAction / VirtualHost fields that carry them. */
export const ROUTE_ACTION_RATE_LIMIT_FIELDS = ['rate_limits', 'include_vh_rate_limits'] as const;
export const VIRTUAL_HOST_RATE_LIMIT_FIELDS = ['rate_limits'] as const;

export const RateLimitActionKind = {
  SourceCluster: 0,
  DestinationCluster: 1,
  RequestHeaders: 2,
  RemoteAddress: 3,
  GenericKey: 4,
  HeaderValueMatch: 5,
} as const;
export type RateLimitActionKind = (typeof RateLimitActionKind)[keyof typeof RateLimitActionKind];

export interface RateLimitActionSnap {
  kind: RateLimitActionKind;
  /** The descriptor entry's key. */
  key: string;
  /** generic_key / header_value_match: the entry's value; source_cluster: the local service
   *  cluster (node.cluster); request_headers: the header name (lowercase). */
  value: string;
  /** request_headers.skip_if_absent. */
  skipIfAbsent: boolean;
  /** header_value_match.expect_match (default true). */
  expectMatch: boolean;
  /** header_value_match.headers (null otherwise). */
  headers: HeaderMatchSnap[] | null;
}

/** One RateLimit entry. */
export interface RateLimitSnap {
  stage: number;
  actions: RateLimitActionSnap[];
}

/** A route's policies (RouteSnap.rateLimits): its own, its virtual host's, and
 *  include_vh_rate_limits. */
export interface RouteRateLimitsSnap {
  route: RateLimitSnap[];
  virtualHost: RateLimitSnap[];
  includeVirtualHost: boolean;
}

/** A list of RateLimit messages; `path` is the list's field path. */
export function compileRateLimits(list: Obj[] | undefined, path: string, ctx: CompileContext): RateLimitSnap[] {
  return (list ?? []).map((rl, i): RateLimitSnap => {
    const p = `${path}[${i}]`;
    return {
      stage: Number(rl.stage ?? 0),
      actions: ((rl.actions ?? []) as Obj[]).map((a, j) => action(a, `${p}.actions[${j}]`, ctx)),
    };
  });
}

function action(a: Obj, path: string, ctx: CompileContext): RateLimitActionSnap {
  const out: RateLimitActionSnap = {
    kind: RateLimitActionKind.GenericKey, key: '', value: '', skipIfAbsent: false, expectMatch: true, headers: null,
  };
  if (a.source_cluster !== undefined) {
    out.kind = RateLimitActionKind.SourceCluster;
    out.key = 'source_cluster';
    out.value = ctx.serviceCluster ?? '';
  } else if (a.destination_cluster !== undefined) {
    out.kind = RateLimitActionKind.DestinationCluster;
    out.key = 'destination_cluster';
  } else if (a.request_headers !== undefined) {
    out.kind = RateLimitActionKind.RequestHeaders;
    out.key = String(a.request_headers.descriptor_key);
    // Envoy's LowerCaseString lowers ASCII letters only.
    out.value = String(a.request_headers.header_name).replace(/[A-Z]+/g, (u) => u.toLowerCase());
    out.skipIfAbsent = a.request_headers.skip_if_absent === true;
  } else if (a.remote_address !== undefined) {
    out.kind = RateLimitActionKind.RemoteAddress;
    out.key = 'remote_address';
  } else if (a.generic_key !== undefined) {
    out.kind = RateLimitActionKind.GenericKey;
    out.key = a.generic_key.descriptor_key || 'generic_key';
    out.value = String(a.generic_key.descriptor_value);
  } else if (a.header_value_match !== undefined) {
    const m = a.header_value_match;
    out.kind = RateLimitActionKind.HeaderValueMatch;
    out.key = m.descriptor_key || 'header_match';
    out.value = String(m.descriptor_value);
    // (A BoolValue: absent is true.)
    out.expectMatch = m.expect_match === undefined || m.expect_match === null ? true
      : typeof m.expect_match === 'object' ? m.expect_match.value !== false : m.expect_match !== false;
    out.headers = ((m.headers ?? []) as Obj[]).map((h, k) => headerMatcher(h, `${path}.header_value_match.headers[${k}]`, ctx));
  } else {
    // (The loader refuses the other action kinds by name; an empty oneof by the proto's rule.)
    ctx.fail(path, 'a rate limit action needs one of its action specifiers');
  }
  return out;
}

/** RouteSnap.rateLimits from a route's RouteAction and its virtual host; null when neither has
 *  any (the filters then do nothing for the route). */
export function compileRouteRateLimits(ra: Obj, raPath: string, vhRateLimits: RateLimitSnap[],
  ctx: CompileContext): RouteRateLimitsSnap | null {
  const route = compileRateLimits(ra.rate_limits, `${raPath}.rate_limits`, ctx);
  if (route.length === 0 && vhRateLimits.length === 0) return null;
  const inc = ra.include_vh_rate_limits;
  return {
    route, virtualHost: vhRateLimits,
    includeVirtualHost: inc === true || (typeof inc === 'object' && inc !== null && inc.value === true),
  };
}

/** What a descriptor's actions read besides the request headers. */
export interface DescriptorSource {
  /** The route's cluster (destination_cluster). */
  cluster: string;
  /** The downstream client's address, without port ('' when unknown). */
  remoteAddress: string;
}

/** A descriptor: [key, value, key, value ...]. */
export type Descriptor = string[];

/** How a filter combines a route's and its virtual host's policies (Envoy's VhRateLimitsOptions):
 *  Override uses the virtual host's only when the route has none. */
export const VhRateLimits = { Override: 0, Include: 1, Ignore: 2 } as const;
export type VhRateLimits = (typeof VhRateLimits)[keyof typeof VhRateLimits];

/** The descriptors of `policies` at `stage` for a request, appended to `out` (Envoy's
 *  Filter::populateDescriptors: the route's entries, then the virtual host's per `vh` unless the
 *  route says include_vh_rate_limits). */
export function populateDescriptors(policies: RouteRateLimitsSnap, stage: number, vh: VhRateLimits,
  headers: HeaderMap, src: DescriptorSource, out: Descriptor[]): void {
  populate(policies.route, stage, headers, src, out);
  const mode = policies.includeVirtualHost ? VhRateLimits.Include : vh;
  if (mode === VhRateLimits.Include || (mode === VhRateLimits.Override && policies.route.length === 0)) {
    populate(policies.virtualHost, stage, headers, src, out);
  }
}

function populate(list: readonly RateLimitSnap[], stage: number, headers: HeaderMap, src: DescriptorSource,
  out: Descriptor[]): void {
  for (let i = 0; i < list.length; i++) {
    const rl = list[i];
    if (rl.stage !== stage) continue;
    const d = descriptor(rl.actions, headers, src);
    if (d !== null) out.push(d);
  }
}

function descriptor(actions: readonly RateLimitActionSnap[], headers: HeaderMap, src: DescriptorSource): Descriptor | null {
  const d: Descriptor = [];
  for (let i = 0; i < actions.length; i++) {
    const a = actions[i];
    switch (a.kind) {
      case RateLimitActionKind.SourceCluster:
        d.push(a.key, a.value);
        break;
      case RateLimitActionKind.DestinationCluster:
        d.push(a.key, src.cluster);
        break;
      case RateLimitActionKind.RequestHeaders: {
        // Envoy takes the first line of the header (HeaderMap::get()[0]).
        const v = firstValue(headers, a.value);
        if (v === undefined) {
          if (a.skipIfAbsent) break;
          return null;
        }
        d.push(a.key, v);
        break;
      }
      case RateLimitActionKind.RemoteAddress:
        if (src.remoteAddress === '') return null;
        d.push(a.key, src.remoteAddress);
        break;
      case RateLimitActionKind.GenericKey:
        d.push(a.key, a.value);
        break;
      case RateLimitActionKind.HeaderValueMatch: {
        const hs = a.headers!;
        let all = true;
        for (let k = 0; k < hs.length && all; k++) all = headerMatcherOf(hs[k]).match(headers);
        if (all !== a.expectMatch) return null;
        d.push(a.key, a.value);
        break;
      }
    }
  }
  return d;
}

/** The first line of a header ('' counts as present), or undefined. Pseudo-headers through
 *  headerValue. */
function firstValue(h: HeaderMap, name: string): string | undefined {
  if (name.charCodeAt(0) === 58 /* ':' */) return headerValue(h, name);
  return h.get(name);
}

/** An address as `ip` from `ip:port` / `[ip]:port` (a bare ip unchanged). */
export function addressWithoutPort(a: string): string {
  if (a.startsWith('[')) {
    const end = a.indexOf(']');
    return end < 0 ? a : a.slice(1, end);
  }
  const colon = a.indexOf(':');
  // One colon: v4 with a port; more: a bare v6 address.
  return colon >= 0 && a.indexOf(':', colon + 1) < 0 ? a.slice(0, colon) : a;
}
