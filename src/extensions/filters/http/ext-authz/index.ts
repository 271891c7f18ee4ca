// envoy.filters.http.ext_authz (envoy.extensions.filters.http.ext_authz.v3.ExtAuthz): asks an
// authorization service about each request (filter.ts) over HTTP (http_service: http-client.ts)
// or gRPC (grpc_service.envoy_grpc: grpc-client.ts, Envoy's Authorization/Check). Per route:
// ExtAuthzPerRoute `disabled` and check_settings (context_extensions, merged over the route, its
// virtual host and the route configuration; disable_request_body_buffering). Stats: http.<stat_prefix>.ext_authz.[<stat_prefix>.]{ok,denied,
// error,failure_mode_allowed} (Envoy's per route cluster ones are absent: docs/differences.md). Refused by
// name: everything else (filter_enabled, metadata namespaces, dynamic metadata, header mutation
// rules, disallowed_headers ...); clear_route_cache only as false.
import { ExtensionCategory, type CompileContext, type HttpFilterModule } from '../../../types.ts';
import { durationMs } from '../../../../config/duration.ts';
import { statusCodeOf } from '../../../../http/status-names.ts';
import { MATCH_FIELDS, stringMatcher } from '../../../../router/compile-match.ts';
import type { StringMatchSnap } from '../../../../router/config.ts';
import { asciiLower } from '../../../../router/matchers.ts';
import { slots } from '../../../../stats/slots.ts';
import { EXT_AUTHZ_COUNTERS, type ExtAuthzPerRouteSnap, type ExtAuthzSnap } from './config.ts';
import { ExtAuthzFilter, type ExtAuthzConfig } from './filter.ts';
import { HttpAuthzClient } from './http-client.ts';
import { GrpcAuthzClient } from './grpc-client.ts';

type Obj = Record<string, any>;

const PKG = 'envoy.extensions.filters.http.ext_authz.v3.';
const TYPE = PKG + 'ExtAuthz';
const PER_ROUTE = PKG + 'ExtAuthzPerRoute';
/** Envoy's default check timeout for a gRPC service (its config.cc DefaultTimeout). */
const DEFAULT_GRPC_TIMEOUT_MS = 200;
/** Envoy's default max_request_bytes is none: the field is required (gt 0) when the message is set. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;

function list(l: Obj | undefined, path: string, ctx: Pick<CompileContext, 'fail'>): StringMatchSnap[] {
  return ((l?.patterns ?? []) as Obj[]).map((p, i) => stringMatcher(p, `${path}.patterns[${i}]`, ctx));
}

function compile(tc: Obj, ctx: CompileContext): ExtAuthzSnap {
  const p = ctx.path;
  if (tc.clear_route_cache === true) {
    ctx.fail(`${p}.clear_route_cache`, 'Legate routes a request once, before its filters run: clearing the route cache is not supported');
  }
  const grpc = tc.grpc_service !== undefined;
  let cluster: string;
  let authority = '';
  let timeoutMs: number;
  const hs: Obj = tc.http_service ?? {};
  if (grpc) {
    const eg: Obj | undefined = tc.grpc_service.envoy_grpc;
    if (eg === undefined) ctx.fail(`${p}.grpc_service`, 'Legate implements envoy_grpc only');
    cluster = eg.cluster_name;
    authority = eg.authority || cluster;
    timeoutMs = durationMs(tc.grpc_service.timeout, DEFAULT_GRPC_TIMEOUT_MS);
    if (!ctx.clusters.has(cluster)) ctx.fail(`${p}.grpc_service.envoy_grpc.cluster_name`, `unknown cluster '${cluster}'`);
    if (ctx.clustersWithTransportSocket.has(cluster)) {
      ctx.fail(`${p}.grpc_service.envoy_grpc.cluster_name`, `cluster '${cluster}' has a transport_socket: Legate calls a gRPC authorization service over plaintext HTTP/2 only`);
    }
  } else if (tc.http_service !== undefined) {
    cluster = hs.server_uri?.cluster ?? '';
    timeoutMs = durationMs(hs.server_uri?.timeout, 0);
    if (!ctx.clusters.has(cluster)) ctx.fail(`${p}.http_service.server_uri.cluster`, `unknown cluster '${cluster}'`);
  } else {
    ctx.fail(p, 'one of grpc_service or http_service must be set');
  }
  const areq: Obj = hs.authorization_request ?? {};
  const ares: Obj = hs.authorization_response ?? {};
  const hp = `${p}.http_service`;
  const headersToAdd: string[] = [];
  ((areq.headers_to_add ?? []) as Obj[]).forEach((h, i) => {
    const name = asciiLower(String(h.key ?? ''));
    if (!TOKEN.test(name)) ctx.fail(`${hp}.authorization_request.headers_to_add[${i}].key`, `"${h.key}" is not a valid HTTP header name`);
    const value = String(h.value ?? '');
    if (value.includes('%')) {
      ctx.fail(`${hp}.authorization_request.headers_to_add[${i}].value`, `substitution format strings (%...%) are not supported by Legate; got "${value}"`);
    }
    headersToAdd.push(name, value);
  });
  const wb: Obj | undefined = tc.with_request_body;
  const statPrefix: string = tc.stat_prefix ?? '';
  const prefix = `${ctx.scope}ext_authz.${statPrefix === '' ? '' : `${statPrefix}.`}`;
  const onError = statusCodeOf(tc.status_on_error?.code);
  return {
    grpc,
    cluster,
    authority,
    timeoutMs,
    pathPrefix: hs.path_prefix ?? '',
    allowedHeaders: tc.allowed_headers !== undefined ? list(tc.allowed_headers, `${p}.allowed_headers`, ctx)
      : list(areq.allowed_headers, `${hp}.authorization_request.allowed_headers`, ctx),
    allowedHeadersSet: tc.allowed_headers !== undefined || areq.allowed_headers !== undefined,
    headersToAdd,
    allowedUpstreamHeaders: list(ares.allowed_upstream_headers, `${hp}.authorization_response.allowed_upstream_headers`, ctx),
    allowedUpstreamHeadersToAppend: list(ares.allowed_upstream_headers_to_append,
      `${hp}.authorization_response.allowed_upstream_headers_to_append`, ctx),
    allowedClientHeaders: ares.allowed_client_headers === undefined ? null
      : list(ares.allowed_client_headers, `${hp}.authorization_response.allowed_client_headers`, ctx),
    allowedClientHeadersOnSuccess: list(ares.allowed_client_headers_on_success,
      `${hp}.authorization_response.allowed_client_headers_on_success`, ctx),
    failureModeAllow: tc.failure_mode_allow === true,
    failureModeAllowHeaderAdd: tc.failure_mode_allow_header_add === true,
    // Envoy's toErrorCode: a status it does not know is 403.
    statusOnError: onError >= 100 && onError <= 511 ? onError : 403,
    withRequestBody: wb === undefined ? null : {
      maxRequestBytes: Number(wb.max_request_bytes ?? 0),
      allowPartialMessage: wb.allow_partial_message === true,
      packAsBytes: wb.pack_as_bytes === true,
    },
    includePeerCertificate: tc.include_peer_certificate === true,
    filterName: ctx.configName ?? '',
    stats: slots(ctx.layout, prefix, EXT_AUTHZ_COUNTERS, [], []),
  };
}

function compilePerRoute(tc: Obj, ctx: CompileContext): ExtAuthzPerRouteSnap {
  const cs: Obj = tc.check_settings ?? {};
  const contextExtensions: string[] = [];
  for (const [k, v] of Object.entries((cs.context_extensions ?? {}) as Record<string, string>)) contextExtensions.push(k, String(v));
  if (cs.disable_request_body_buffering === true && cs.with_request_body !== undefined) {
    ctx.fail(`${ctx.path}.check_settings`, 'Invalid configuration for check_settings. Only one of disable_request_body_buffering or with_request_body can be set.');
  }
  return { disabled: tc.disabled === true, contextExtensions, disableRequestBodyBuffering: cs.disable_request_body_buffering === true };
}

const LIST_STRING_MATCHER = 'envoy.type.matcher.v3.ListStringMatcher';

const extAuthz: HttpFilterModule<ExtAuthzSnap> = {
  name: 'envoy.filters.http.ext_authz',
  category: ExtensionCategory.HttpFilter,
  types: [TYPE],
  fields: {
    [TYPE]: [
      'grpc_service', 'http_service', ['transport_api_version', { enumValues: ['V3'] }], 'failure_mode_allow',
      'failure_mode_allow_header_add', 'with_request_body', 'clear_route_cache', 'status_on_error',
      'include_peer_certificate', 'stat_prefix', 'allowed_headers',
    ],
    [PKG + 'BufferSettings']: ['max_request_bytes', 'allow_partial_message', 'pack_as_bytes'],
    [PKG + 'HttpService']: ['server_uri', 'path_prefix', 'authorization_request', 'authorization_response'],
    [PKG + 'AuthorizationRequest']: ['allowed_headers', 'headers_to_add'],
    [PKG + 'AuthorizationResponse']: [
      'allowed_upstream_headers', 'allowed_upstream_headers_to_append', 'allowed_client_headers',
      'allowed_client_headers_on_success',
    ],
    [PER_ROUTE]: ['disabled', 'check_settings'],
    [PKG + 'CheckSettings']: ['context_extensions', 'disable_request_body_buffering'],
    'envoy.config.core.v3.HttpUri': ['uri', 'cluster', 'timeout'],
    'envoy.config.core.v3.GrpcService': ['envoy_grpc', 'timeout'],
    'envoy.config.core.v3.GrpcService.EnvoyGrpc': ['cluster_name', 'authority'],
    'envoy.config.core.v3.HeaderValue': ['key', 'value'],
    'envoy.type.v3.HttpStatus': ['code'],
    [LIST_STRING_MATCHER]: ['patterns'],
    'envoy.type.matcher.v3.StringMatcher': MATCH_FIELDS['envoy.type.matcher.v3.StringMatcher']!,
    'envoy.type.matcher.v3.RegexMatcher': ['regex', 'google_re2'],
    'envoy.type.matcher.v3.RegexMatcher.GoogleRE2': [],
  },
  protos: ['envoy/extensions/filters/http/ext_authz/v3/ext_authz.proto'],
  compile,
  perRoute: {
    types: [PER_ROUTE],
    compile: compilePerRoute,
    // Envoy's getMergedPerFilterConfig: context_extensions from every level (the more specific
    // wins a key), the flags from the most specific.
    merge(outer, inner) {
      const o = outer as ExtAuthzPerRouteSnap;
      const i = inner as ExtAuthzPerRouteSnap;
      const m = new Map<string, string>();
      for (const l of [o.contextExtensions, i.contextExtensions]) for (let k = 0; k < l.length; k += 2) m.set(l[k], l[k + 1]);
      return { disabled: i.disabled, disableRequestBodyBuffering: i.disableRequestBodyBuffering, contextExtensions: [...m].flat() };
    },
  },
  createFilterFactory(snap, ctx) {
    const config: ExtAuthzConfig = {
      snap,
      http: snap.grpc ? null : new HttpAuthzClient(snap, ctx.clusterManager),
      grpc: snap.grpc ? new GrpcAuthzClient(snap, ctx.clusterManager) : null,
    };
    // The response side only when a success may add headers to it.
    const encodes = snap.grpc || snap.allowedClientHeadersOnSuccess.length > 0;
    if (encodes) return (cb) => cb.addStreamFilter(new ExtAuthzFilter(config));
    return (cb) => cb.addStreamDecoderFilter(new ExtAuthzFilter(config));
  },
};
export default extAuthz;
