// envoy.filters.http.ext_authz's compiled config and the authorization service's answer, as the
// filter (filter.ts) and its two clients (http-client.ts, grpc-client.ts) share them (Envoy's
// FilterConfig and Filters::Common::ExtAuthz::Response).
import type { StringMatchSnap } from '../../../../router/config.ts';
import { StringMatcher } from '../../../../router/matchers.ts';

export const EXT_AUTHZ_COUNTERS = ['ok', 'denied', 'error', 'failure_mode_allowed'] as const;
export type ExtAuthzStats = Record<(typeof EXT_AUTHZ_COUNTERS)[number], number>;

export interface BodySettings {
  maxRequestBytes: number;
  allowPartialMessage: boolean;
  packAsBytes: boolean;
}

export interface ExtAuthzSnap {
  /** http_service or grpc_service (envoy_grpc). */
  grpc: boolean;
  /** The authorization service's cluster. */
  cluster: string;
  /** gRPC: envoy_grpc.authority (default: the cluster's name). */
  authority: string;
  /** server_uri.timeout / grpc_service.timeout (Envoy's default 200 ms for gRPC). */
  timeoutMs: number;
  /** http_service.path_prefix. */
  pathPrefix: string;
  /** allowed_headers (or the deprecated authorization_request.allowed_headers): the client's
   *  headers the service sees (HTTP mode: authorization, :method, :path and :authority always go,
   *  and none other when unset; gRPC mode: every header when unset). */
  allowedHeaders: StringMatchSnap[];
  /** allowed_headers was set (gRPC mode then sends only those, and the pseudo-headers). */
  allowedHeadersSet: boolean;
  /** authorization_request.headers_to_add, [name, value, ...] (set on the check request). */
  headersToAdd: string[];
  allowedUpstreamHeaders: StringMatchSnap[];
  allowedUpstreamHeadersToAppend: StringMatchSnap[];
  /** allowed_client_headers; null when not set (every header but host goes to the client). */
  allowedClientHeaders: StringMatchSnap[] | null;
  allowedClientHeadersOnSuccess: StringMatchSnap[];
  failureModeAllow: boolean;
  failureModeAllowHeaderAdd: boolean;
  statusOnError: number;
  withRequestBody: BodySettings | null;
  includePeerCertificate: boolean;
  /** The filter's config name (a route's typed_per_filter_config key). */
  filterName: string;
  /** http.<stat_prefix>.ext_authz.[<filter stat_prefix>.]* */
  stats: ExtAuthzStats;
}

/** ExtAuthzPerRoute. */
export interface ExtAuthzPerRouteSnap {
  disabled: boolean;
  /** check_settings.context_extensions, [key, value, ...]. */
  contextExtensions: string[];
  /** check_settings.disable_request_body_buffering. */
  disableRequestBodyBuffering: boolean;
}

/** Envoy's CheckStatus. */
export const CheckStatus = { Ok: 0, Denied: 1, Error: 2 } as const;
export type CheckStatus = (typeof CheckStatus)[keyof typeof CheckStatus];

/** The service's answer (Envoy's ExtAuthz::Response). Header lists are [name, value, ...]
 *  with lowercase names. */
export class AuthzResponse {
  status: CheckStatus;
  /** Denied: the status for the client. */
  statusCode: number;
  body: string;
  /** Set on the request (replacing), added to it, appended to an existing value with ','. */
  headersToSet: string[];
  headersToAdd: string[];
  headersToAppend: string[];
  headersToRemove: string[];
  /** Added to / set on the upstream's response (allowed: success). */
  responseHeadersToAdd: string[];
  responseHeadersToSet: string[];
  constructor(status: CheckStatus, statusCode: number) {
    this.status = status;
    this.statusCode = statusCode;
    this.body = '';
    this.headersToSet = [];
    this.headersToAdd = [];
    this.headersToAppend = [];
    this.headersToRemove = [];
    this.responseHeadersToAdd = [];
    this.responseHeadersToSet = [];
  }
}

export const ERROR_RESPONSE = new AuthzResponse(CheckStatus.Error, 403);

/** Header names against a ListStringMatcher (Envoy's HeaderKeyMatcher; `negate`: its
 *  NotHeaderKeyMatcher). */
export class KeyMatcher {
  readonly matchers: readonly StringMatcher[];
  readonly negate: boolean;
  constructor(list: readonly StringMatchSnap[], extraExact: readonly string[] = [], negate = false) {
    this.matchers = [...list.map((s) => new StringMatcher(s)),
      ...extraExact.map((value) => new StringMatcher({ kind: 'exact', value, ignoreCase: false }))];
    this.negate = negate;
  }
  get empty(): boolean { return this.matchers.length === 0 && !this.negate; }
  matches(name: string): boolean {
    const m = this.matchers;
    for (let i = 0; i < m.length; i++) if (m[i].match(name)) return !this.negate;
    return this.negate;
  }
}

/** What the filter hands a client to check. */
export interface CheckCallbacks {
  onComplete(r: AuthzResponse): void;
}

/** A client's call in flight. */
export interface CheckCall {
  cancel(): void;
}
