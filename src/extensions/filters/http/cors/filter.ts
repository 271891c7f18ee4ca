// envoy.filters.http.cors's per-stream filter (Envoy's CorsFilter, cors_filter.cc). The route's
// policy is the CORS filter's typed_per_filter_config entry (its virtual host's and route
// configuration's merged in, field by field, at config time: index.ts merge), else the deprecated
// `cors` of the RouteAction and the virtual host (merged the same way); a route without either,
// and a direct response or redirect route, is left alone.
//
// Request side (decodeHeaders): with the policy enabled (filter_enabled, else shadow_enabled for
// counting only) and a non-empty Origin, the origin is checked against allow_origin_string_match
// (a matcher that matches "*" allows any origin) and counted (cors.origin_valid / origin_invalid).
// A preflight (OPTIONS with Origin and Access-Control-Request-Method) is answered here with 200
// and the policy's Access-Control-Allow-* headers, unless the origin is not allowed and
// forward_not_matching_preflights (default true) sends it upstream. Response side (encodeHeaders):
// a request whose origin was allowed gets Access-Control-Allow-Origin (the origin itself),
// -Allow-Credentials and -Expose-Headers.
import {
  FilterHeadersStatus, type StreamDecoderFilterCallbacks, type StreamFilter,
} from '../../../../http/filter.ts';
import { ResponseHeaders, type RequestHeaders } from '../../../../http/types.ts';
import type { StatSink } from '../../../../common/stat-sink.ts';
import type { FractionalPercent, Loader } from '../../../../runtime/types.ts';
import type { StringMatchSnap } from '../../../../router/config.ts';
import { StringMatcher } from '../../../../router/matchers.ts';
import { PassThroughFilter } from '../../../../http/pass-through-filter.ts';

/** A RuntimeFractionalPercent. */
export interface RuntimeFraction {
  key: string;
  defaultValue: FractionalPercent;
}

/** A CorsPolicy (the filter's or the route's deprecated one), compiled. Empty strings, empty
 *  lists and nulls are "not set": a less specific level's value applies (merge). */
export interface CorsPolicySnap {
  allowOrigins: StringMatchSnap[];
  allowMethods: string;
  allowHeaders: string;
  exposeHeaders: string;
  maxAge: string;
  allowCredentials: boolean | null;
  allowPrivateNetworkAccess: boolean | null;
  forwardNotMatchingPreflights: boolean | null;
  /** Taken from the most specific level only (Envoy reads enabled() of the first policy). */
  filterEnabled: RuntimeFraction | null;
  shadowEnabled: RuntimeFraction | null;
}

/** What the filter's instances share. */
export interface CorsShared {
  /** The typed_per_filter_config key of this filter (its http_filters name). */
  configName: string;
  runtime: Loader;
  stats: StatSink;
  originValid: number;
  originInvalid: number;
}

/** A policy as a worker uses it: the snapshot and its compiled origin matchers. */
interface Policy {
  snap: CorsPolicySnap;
  origins: StringMatcher[];
}

// Policies compiled on first use in this worker, kept with their snapshot (which lives as long as
// its config).
const policies = new WeakMap<CorsPolicySnap, Policy>();

function policyOf(snap: CorsPolicySnap): Policy {
  let p = policies.get(snap);
  if (p === undefined) policies.set(snap, p = { snap, origins: snap.allowOrigins.map((s) => new StringMatcher(s)) });
  return p;
}

function isOriginAllowed(p: Policy, origin: string): boolean {
  for (const m of p.origins) if (m.match('*') || m.match(origin)) return true;
  return false;
}

export class CorsFilter extends PassThroughFilter implements StreamFilter {
  readonly #shared: CorsShared;
  #cb: StreamDecoderFilterCallbacks | null;
  #policy: Policy | null;
  /** The request's Origin when it was allowed ('' otherwise): what the response echoes. */
  #latchedOrigin: string;
  #isCorsRequest: boolean;

  constructor(shared: CorsShared) {
    super();
    this.#shared = shared;
    this.#cb = null;
    this.#policy = null;
    this.#latchedOrigin = '';
    this.#isCorsRequest = false;
  }

  setDecoderFilterCallbacks(cb: StreamDecoderFilterCallbacks): void {
    this.#cb = cb;
  }

  decodeHeaders(headers: RequestHeaders, _endStream: boolean): FilterHeadersStatus {
    const cb = this.#cb!;
    const route = cb.route;
    // (Envoy: only a route entry, not a direct response or redirect.)
    if (route === null || route.snap.action.kind !== 'cluster') return FilterHeadersStatus.Continue;
    const snap = (cb.perFilterConfig(this.#shared.configName) ?? route.snap.cors ?? null) as CorsPolicySnap | null;
    if (snap === null) return FilterHeadersStatus.Continue;
    const s = this.#shared;
    let enabled = true;
    let shadow = false;
    if (snap.filterEnabled !== null || snap.shadowEnabled !== null) {
      const rt = s.runtime.snapshot();
      if (snap.filterEnabled !== null) enabled = rt.featureEnabledFractional(snap.filterEnabled.key, snap.filterEnabled.defaultValue);
      if (snap.shadowEnabled !== null) shadow = rt.featureEnabledFractional(snap.shadowEnabled.key, snap.shadowEnabled.defaultValue);
    }
    if (!enabled && !shadow) return FilterHeadersStatus.Continue;
    const origin = headers.get('origin');
    if (origin === undefined || origin === '') return FilterHeadersStatus.Continue;
    const p = policyOf(snap);
    const allowed = isOriginAllowed(p, origin);
    if (allowed) {
      s.stats.v[s.originValid]++;
      this.#latchedOrigin = origin;
    } else {
      s.stats.v[s.originInvalid]++;
    }
    if (!enabled) return FilterHeadersStatus.Continue;
    this.#isCorsRequest = true;
    this.#policy = p;
    if (headers.method !== 'OPTIONS') return FilterHeadersStatus.Continue;
    const requestMethod = headers.get('access-control-request-method');
    if (requestMethod === undefined || requestMethod === '') return FilterHeadersStatus.Continue;
    // A preflight.
    if (!allowed && snap.forwardNotMatchingPreflights !== false) return FilterHeadersStatus.Continue;
    const h: string[] = [];
    if (allowed) h.push('access-control-allow-origin', origin);
    if (snap.allowCredentials === true) h.push('access-control-allow-credentials', 'true');
    if (snap.allowMethods !== '') {
      h.push('access-control-allow-methods', snap.allowMethods === '*' ? requestMethod : snap.allowMethods);
    }
    if (snap.allowHeaders !== '') {
      h.push('access-control-allow-headers',
        snap.allowHeaders === '*' ? headers.get('access-control-request-headers') ?? '' : snap.allowHeaders);
    }
    if (snap.maxAge !== '') h.push('access-control-max-age', snap.maxAge);
    // https://developer.chrome.com/blog/private-network-access-preflight
    if (snap.allowPrivateNetworkAccess === true && headers.get('access-control-request-private-network') === 'true') {
      h.push('access-control-allow-private-network', 'true');
    }
    cb.streamInfo.responseCodeDetails = 'cors_response';
    cb.encodeHeaders(new ResponseHeaders(200, h), true);
    return FilterHeadersStatus.StopIteration;
  }

  encodeHeaders(headers: ResponseHeaders, _endStream: boolean): FilterHeadersStatus {
    if (!this.#isCorsRequest || this.#latchedOrigin === '') return FilterHeadersStatus.Continue;
    const snap = this.#policy!.snap;
    headers.set('access-control-allow-origin', this.#latchedOrigin);
    if (snap.allowCredentials === true) headers.set('access-control-allow-credentials', 'true');
    if (snap.exposeHeaders !== '') headers.set('access-control-expose-headers', snap.exposeHeaders);
    return FilterHeadersStatus.Continue;
  }

  onDestroy(): void {
    this.#cb = null;
    this.#policy = null;
  }
}
