// How a cluster's upstream connections are kept (compiled in main, ClusterSnap.connections): the
// HTTP pool's lifetimes and limits from its HttpProtocolOptions (typed_extension_protocol_options,
// or the deprecated Cluster.common_http_protocol_options / max_requests_per_connection),
// upstream_connection_options.tcp_keepalive, and preconnect_policy.per_upstream_preconnect_ratio.
// Envoy's defaults: an idle timeout of 1 h, no maximum duration, no request limit, 100 response
// headers, no TCP keepalive, a preconnect ratio of 1 (connect only for requests in flight).
import type { Duration } from '../config/types.ts';
import { ExtensionCategory, type CompileContext, type UpstreamOptionsModule } from '../extensions/types.ts';

/** The name (the typed_extension_protocol_options key) of the HTTP protocol options extension
 *  (extensions/upstreams/http). */
export const HTTP_OPTIONS = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';

export const DEFAULT_IDLE_TIMEOUT_MS = 3_600_000;
export const DEFAULT_MAX_RESPONSE_HEADERS_COUNT = 100;

/** What Node sets whenever keepalive is on (socket.setKeepAlive: TCP_KEEPCNT=10, TCP_KEEPINTVL=1);
 *  it cannot set other values. */
export const NODE_KEEPALIVE_PROBES = 10;
export const NODE_KEEPALIVE_INTERVAL_S = 1;

export interface ConnectionOptionsSnap {
  /** common_http_protocol_options.idle_timeout: an idle connection closes after it (0: never). */
  idleTimeoutMs: number;
  /** max_connection_duration: a connection drains once this old (0: no limit). */
  maxConnectionDurationMs: number;
  /** max_requests_per_connection: a connection drains after this many requests (0: no limit). */
  maxRequestsPerConnection: number;
  /** max_headers_count: the most headers a response head may have. */
  maxResponseHeadersCount: number;
  /** tcp_keepalive: -1 off; otherwise on, with this idle time before the first probe (0: the
   *  system's, keepalive_time unset). */
  tcpKeepaliveMs: number;
  /** per_upstream_preconnect_ratio (1 to 3). */
  preconnectRatio: number;
}

/** Envoy's defaults (a cluster that sets none of these). */
export const DEFAULT_CONNECTION_OPTIONS: Readonly<ConnectionOptionsSnap> = {
  idleTimeoutMs: DEFAULT_IDLE_TIMEOUT_MS, maxConnectionDurationMs: 0, maxRequestsPerConnection: 0,
  maxResponseHeadersCount: DEFAULT_MAX_RESPONSE_HEADERS_COUNT, tcpKeepaliveMs: -1, preconnectRatio: 1,
};

type Obj = Record<string, any>;

/** common_http_protocol_options as an upstream uses it; null: not set (the default applies). */
export interface CommonHttpOptionsSnap {
  idleTimeoutMs: number | null;
  maxConnectionDurationMs: number | null;
  maxRequestsPerConnection: number | null;
  maxHeadersCount: number | null;
}

/** A Duration in milliseconds (truncated, as Envoy's PROTOBUF_GET_MS_OR_DEFAULT); null when unset.
 *  Negative ones are refused, as Envoy's DurationUtil refuses them. */
function nonNegativeMs(d: Duration | undefined, path: string, ctx: Pick<CompileContext, 'fail'>): number | null {
  if (d === undefined || d === null) return null;
  if (d.seconds < 0 || d.nanos < 0) ctx.fail(path, `Expected positive duration: ${JSON.stringify(d)}`);
  return Math.trunc(d.seconds * 1000 + d.nanos / 1e6);
}

/** core.v3.HttpProtocolOptions at `path`, as an upstream uses it (HttpProtocolOptions'
 *  common_http_protocol_options, or the cluster's deprecated field of that name). */
export function commonHttpOptions(o: Obj | undefined, path: string, ctx: Pick<CompileContext, 'fail'>): CommonHttpOptionsSnap {
  const h = o ?? {};
  return {
    idleTimeoutMs: nonNegativeMs(h.idle_timeout, `${path}.idle_timeout`, ctx),
    maxConnectionDurationMs: nonNegativeMs(h.max_connection_duration, `${path}.max_connection_duration`, ctx),
    maxRequestsPerConnection: typeof h.max_requests_per_connection === 'number' ? h.max_requests_per_connection : null,
    maxHeadersCount: typeof h.max_headers_count === 'number' ? h.max_headers_count : null,
  };
}

/** `moduleByType`: the implemented extension of a typed_config type (full message name). */
export function compileConnectionOptions(c: Obj, ctx: CompileContext,
  moduleByType: (typeName: string) => { category: string } | undefined): ConnectionOptionsSnap {
  // (Registry lookups come in as an argument: nothing under upstream/ imports the extensions.)
  const path = ctx.path;
  let typed: CommonHttpOptionsSnap | null = null;
  const tepo: Obj = c.typed_extension_protocol_options ?? {};
  for (const key of Object.keys(tepo)) {
    const kpath = `${path}.typed_extension_protocol_options[${JSON.stringify(key)}]`;
    const any: Obj = tepo[key];
    const url = typeof any['@type'] === 'string' ? any['@type'] : '';
    const found = moduleByType(url.slice(url.lastIndexOf('/') + 1));
    // (The loader refuses the types of extensions Legate does not have.)
    if (found === undefined || found.category !== ExtensionCategory.UpstreamOptions) {
      ctx.fail(kpath, `${url === '' ? 'an empty Any' : url} is not a protocol options message`);
    }
    const m = found as UpstreamOptionsModule;
    if (!m.keys.includes(key)) {
      // Envoy looks the factory up by the key.
      ctx.fail(kpath, `Didn't find a registered network or http filter or protocol options implementation for name: '${key}'`);
    }
    if (m.name === HTTP_OPTIONS) {
      if (typed !== null) ctx.fail(kpath, 'HttpProtocolOptions set twice (under its name and its alias)');
      typed = (m as UpstreamOptionsModule<CommonHttpOptionsSnap>).compile(any, { ...ctx, path: kpath });
    }
  }
  let http: CommonHttpOptionsSnap;
  if (typed !== null) {
    if (c.common_http_protocol_options !== undefined) {
      // Envoy silently ignores the deprecated field then; Legate says so.
      ctx.fail(`${path}.common_http_protocol_options`, `ignored by Envoy when typed_extension_protocol_options["${HTTP_OPTIONS}"] `
        + 'is set: set its fields there');
    }
    http = typed;
  } else {
    http = commonHttpOptions(c.common_http_protocol_options, `${path}.common_http_protocol_options`, ctx);
  }
  let maxRequests = http.maxRequestsPerConnection;
  if (typeof c.max_requests_per_connection === 'number') {
    if (maxRequests !== null) {
      ctx.fail(`${path}.max_requests_per_connection`,
        'Only one of max_requests_per_connection from Cluster or HttpProtocolOptions can be specified');
    }
    maxRequests = c.max_requests_per_connection;
  }
  return {
    idleTimeoutMs: http.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
    maxConnectionDurationMs: http.maxConnectionDurationMs ?? 0,
    maxRequestsPerConnection: maxRequests ?? 0,
    maxResponseHeadersCount: http.maxHeadersCount ?? DEFAULT_MAX_RESPONSE_HEADERS_COUNT,
    tcpKeepaliveMs: tcpKeepalive(c.upstream_connection_options?.tcp_keepalive,
      `${path}.upstream_connection_options.tcp_keepalive`, ctx),
    preconnectRatio: c.preconnect_policy?.per_upstream_preconnect_ratio ?? 1,
  };
}

/** TcpKeepalive: Node's socket.setKeepAlive sets SO_KEEPALIVE and TCP_KEEPIDLE (its initial delay)
 *  and always TCP_KEEPCNT=10 and TCP_KEEPINTVL=1 s, with no way to set them otherwise; so
 *  keepalive_time is acted on, keepalive_probes and keepalive_interval only at those values. */
function tcpKeepalive(k: Obj | undefined, path: string, ctx: CompileContext): number {
  if (k === undefined) return -1;
  if (k.keepalive_probes !== undefined && k.keepalive_probes !== NODE_KEEPALIVE_PROBES) {
    ctx.fail(`${path}.keepalive_probes`, `Node always sets TCP_KEEPCNT=${NODE_KEEPALIVE_PROBES} when it enables keepalive `
      + `(socket.setKeepAlive) and cannot set ${k.keepalive_probes}; leave it unset or set ${NODE_KEEPALIVE_PROBES}`);
  }
  if (k.keepalive_interval !== undefined && k.keepalive_interval !== NODE_KEEPALIVE_INTERVAL_S) {
    ctx.fail(`${path}.keepalive_interval`, `Node always sets TCP_KEEPINTVL=${NODE_KEEPALIVE_INTERVAL_S} s when it enables `
      + `keepalive (socket.setKeepAlive) and cannot set ${k.keepalive_interval}; leave it unset or set ${NODE_KEEPALIVE_INTERVAL_S}`);
  }
  if (k.keepalive_time === undefined) return 0;
  if (k.keepalive_time === 0) ctx.fail(`${path}.keepalive_time`, 'must be at least 1 (seconds): the kernel refuses an idle time of 0');
  return k.keepalive_time * 1000;
}
