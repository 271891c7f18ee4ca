// The config loader's table of Envoy extensions: Envoy's extension name <-> its typed_config type(s),
// which slot (category) it plugs into, whether Legate implements it, and whether it is terminal.
// Well-known extensions Legate does not implement are listed too, so a config using one is refused
// by name ("... is not supported by Legate") instead of failing as an unknown type.
// Adding an extension: flip `supported` (or add an entry), add its proto to PRELOADED_PROTOS in
// protos.ts and its messages to supported.ts; src/extensions registers the implementation.

export const ExtensionCategory = {
  NetworkFilter: 'envoy.filters.network',
  HttpFilter: 'envoy.filters.http',
  ListenerFilter: 'envoy.filters.listener',
  AccessLogger: 'envoy.access_loggers',
  TransportSocket: 'envoy.transport_sockets',
} as const;
export type ExtensionCategory = (typeof ExtensionCategory)[keyof typeof ExtensionCategory];

export interface ExtensionInfo {
  /** Envoy's canonical extension name, e.g. `envoy.filters.http.router`. */
  name: string;
  category: ExtensionCategory;
  /** Full proto message names of its typed_config (without the type.googleapis.com/ prefix). */
  types: readonly string[];
  supported: boolean;
  /** Must be the last filter of its chain (Envoy's isTerminalFilter). */
  terminal: boolean;
}

export const TYPE_URL_PREFIX = 'type.googleapis.com/';

const C = ExtensionCategory;
const NET = 'envoy.extensions.filters.network.';
const HTTP = 'envoy.extensions.filters.http.';
const LIS = 'envoy.extensions.filters.listener.';
const LOG = 'envoy.extensions.access_loggers.';
const TS = 'envoy.extensions.transport_sockets.';

type Row = [name: string, category: ExtensionCategory, types: string[], supported: boolean, terminal?: boolean];

const ROWS: Row[] = [
  // Network filters.
  ['envoy.filters.network.http_connection_manager', C.NetworkFilter,
    [NET + 'http_connection_manager.v3.HttpConnectionManager'], true, true],
  ['envoy.filters.network.tcp_proxy', C.NetworkFilter, [NET + 'tcp_proxy.v3.TcpProxy'], false, true],
  ['envoy.filters.network.redis_proxy', C.NetworkFilter, [NET + 'redis_proxy.v3.RedisProxy'], false, true],
  ['envoy.filters.network.mongo_proxy', C.NetworkFilter, [NET + 'mongo_proxy.v3.MongoProxy'], false],
  ['envoy.filters.network.direct_response', C.NetworkFilter, [NET + 'direct_response.v3.Config'], false, true],
  ['envoy.filters.network.echo', C.NetworkFilter, [NET + 'echo.v3.Echo'], false, true],
  ['envoy.filters.network.ext_authz', C.NetworkFilter, [NET + 'ext_authz.v3.ExtAuthz'], false],
  ['envoy.filters.network.local_ratelimit', C.NetworkFilter, [NET + 'local_ratelimit.v3.LocalRateLimit'], false],
  ['envoy.filters.network.ratelimit', C.NetworkFilter, [NET + 'ratelimit.v3.RateLimit'], false],
  ['envoy.filters.network.rbac', C.NetworkFilter, [NET + 'rbac.v3.RBAC'], false],
  ['envoy.filters.network.connection_limit', C.NetworkFilter, [NET + 'connection_limit.v3.ConnectionLimit'], false],
  ['envoy.filters.network.sni_cluster', C.NetworkFilter, [NET + 'sni_cluster.v3.SniCluster'], false],
  ['envoy.filters.network.sni_dynamic_forward_proxy', C.NetworkFilter,
    [NET + 'sni_dynamic_forward_proxy.v3.FilterConfig'], false],
  ['envoy.filters.network.thrift_proxy', C.NetworkFilter, [NET + 'thrift_proxy.v3.ThriftProxy'], false, true],
  ['envoy.filters.network.dubbo_proxy', C.NetworkFilter, [NET + 'dubbo_proxy.v3.DubboProxy'], false, true],
  ['envoy.filters.network.zookeeper_proxy', C.NetworkFilter, [NET + 'zookeeper_proxy.v3.ZooKeeperProxy'], false],
  ['envoy.filters.network.set_filter_state', C.NetworkFilter, [NET + 'set_filter_state.v3.Config'], false],
  ['envoy.filters.network.wasm', C.NetworkFilter, [NET + 'wasm.v3.Wasm'], false],
  ['envoy.filters.network.client_ssl_auth', C.NetworkFilter, [NET + 'client_ssl_auth.v3.ClientSSLAuth'], false],
  ['envoy.filters.network.mysql_proxy', C.NetworkFilter, [NET + 'mysql_proxy.v3.MySQLProxy'], false],
  ['envoy.filters.network.postgres_proxy', C.NetworkFilter, [NET + 'postgres_proxy.v3alpha.PostgresProxy'], false],
  ['envoy.filters.network.kafka_broker', C.NetworkFilter, [NET + 'kafka_broker.v3.KafkaBroker'], false],

  // HTTP filters.
  ['envoy.filters.http.router', C.HttpFilter, [HTTP + 'router.v3.Router'], true, true],
  ['envoy.filters.http.buffer', C.HttpFilter, [HTTP + 'buffer.v3.Buffer'], false],
  ['envoy.filters.http.fault', C.HttpFilter, [HTTP + 'fault.v3.HTTPFault'], false],
  ['envoy.filters.http.local_ratelimit', C.HttpFilter, [HTTP + 'local_ratelimit.v3.LocalRateLimit'], false],
  ['envoy.filters.http.ratelimit', C.HttpFilter, [HTTP + 'ratelimit.v3.RateLimit'], false],
  ['envoy.filters.http.health_check', C.HttpFilter, [HTTP + 'health_check.v3.HealthCheck'], false],
  ['envoy.filters.http.dynamo', C.HttpFilter, [HTTP + 'dynamo.v3.Dynamo'], false],
  ['envoy.filters.http.grpc_web', C.HttpFilter, [HTTP + 'grpc_web.v3.GrpcWeb'], false],
  ['envoy.filters.http.cors', C.HttpFilter, [HTTP + 'cors.v3.Cors'], false],
  ['envoy.filters.http.lua', C.HttpFilter, [HTTP + 'lua.v3.Lua'], false],
  ['envoy.filters.http.ext_authz', C.HttpFilter, [HTTP + 'ext_authz.v3.ExtAuthz'], false],
  ['envoy.filters.http.ext_proc', C.HttpFilter, [HTTP + 'ext_proc.v3.ExternalProcessor'], false],
  ['envoy.filters.http.jwt_authn', C.HttpFilter, [HTTP + 'jwt_authn.v3.JwtAuthentication'], false],
  ['envoy.filters.http.rbac', C.HttpFilter, [HTTP + 'rbac.v3.RBAC'], false],
  ['envoy.filters.http.compressor', C.HttpFilter, [HTTP + 'compressor.v3.Compressor'], false],
  ['envoy.filters.http.decompressor', C.HttpFilter, [HTTP + 'decompressor.v3.Decompressor'], false],
  ['envoy.filters.http.gzip', C.HttpFilter, [HTTP + 'gzip.v3.Gzip'], false],
  ['envoy.filters.http.csrf', C.HttpFilter, [HTTP + 'csrf.v3.CsrfPolicy'], false],
  ['envoy.filters.http.grpc_json_transcoder', C.HttpFilter,
    [HTTP + 'grpc_json_transcoder.v3.GrpcJsonTranscoder'], false],
  ['envoy.filters.http.grpc_http1_bridge', C.HttpFilter, [HTTP + 'grpc_http1_bridge.v3.Config'], false],
  ['envoy.filters.http.grpc_http1_reverse_bridge', C.HttpFilter,
    [HTTP + 'grpc_http1_reverse_bridge.v3.FilterConfig'], false],
  ['envoy.filters.http.grpc_stats', C.HttpFilter, [HTTP + 'grpc_stats.v3.FilterConfig'], false],
  ['envoy.filters.http.header_to_metadata', C.HttpFilter, [HTTP + 'header_to_metadata.v3.Config'], false],
  ['envoy.filters.http.header_mutation', C.HttpFilter, [HTTP + 'header_mutation.v3.HeaderMutation'], false],
  ['envoy.filters.http.ip_tagging', C.HttpFilter, [HTTP + 'ip_tagging.v3.IPTagging'], false],
  ['envoy.filters.http.oauth2', C.HttpFilter, [HTTP + 'oauth2.v3.OAuth2'], false],
  ['envoy.filters.http.wasm', C.HttpFilter, [HTTP + 'wasm.v3.Wasm'], false],
  ['envoy.filters.http.tap', C.HttpFilter, [HTTP + 'tap.v3.Tap'], false],
  ['envoy.filters.http.adaptive_concurrency', C.HttpFilter,
    [HTTP + 'adaptive_concurrency.v3.AdaptiveConcurrency'], false],
  ['envoy.filters.http.admission_control', C.HttpFilter, [HTTP + 'admission_control.v3.AdmissionControl'], false],
  ['envoy.filters.http.aws_lambda', C.HttpFilter, [HTTP + 'aws_lambda.v3.Config'], false],
  ['envoy.filters.http.aws_request_signing', C.HttpFilter,
    [HTTP + 'aws_request_signing.v3.AwsRequestSigning'], false],
  ['envoy.filters.http.cache', C.HttpFilter, [HTTP + 'cache.v3.CacheConfig'], false],
  ['envoy.filters.http.cdn_loop', C.HttpFilter, [HTTP + 'cdn_loop.v3.CdnLoopConfig'], false],
  ['envoy.filters.http.dynamic_forward_proxy', C.HttpFilter, [HTTP + 'dynamic_forward_proxy.v3.FilterConfig'], false],
  ['envoy.filters.http.on_demand', C.HttpFilter, [HTTP + 'on_demand.v3.OnDemand'], false],
  ['envoy.filters.http.original_src', C.HttpFilter, [HTTP + 'original_src.v3.OriginalSrc'], false],
  ['envoy.filters.http.kill_request', C.HttpFilter, [HTTP + 'kill_request.v3.KillRequest'], false],
  ['envoy.filters.http.set_metadata', C.HttpFilter, [HTTP + 'set_metadata.v3.Config'], false],
  ['envoy.filters.http.stateful_session', C.HttpFilter, [HTTP + 'stateful_session.v3.StatefulSession'], false],
  ['envoy.filters.http.basic_auth', C.HttpFilter, [HTTP + 'basic_auth.v3.BasicAuth'], false],
  ['envoy.filters.http.custom_response', C.HttpFilter, [HTTP + 'custom_response.v3.CustomResponse'], false],
  ['envoy.filters.http.bandwidth_limit', C.HttpFilter, [HTTP + 'bandwidth_limit.v3.BandwidthLimit'], false],
  ['envoy.filters.http.composite', C.HttpFilter, [HTTP + 'composite.v3.Composite'], false],
  ['envoy.filters.http.geoip', C.HttpFilter, [HTTP + 'geoip.v3.Geoip'], false],
  ['envoy.filters.http.gcp_authn', C.HttpFilter, [HTTP + 'gcp_authn.v3.GcpAuthnFilterConfig'], false],
  ['envoy.filters.http.credential_injector', C.HttpFilter,
    [HTTP + 'credential_injector.v3.CredentialInjector'], false],
  ['envoy.filters.http.json_to_metadata', C.HttpFilter, [HTTP + 'json_to_metadata.v3.JsonToMetadata'], false],
  ['envoy.filters.http.upstream_codec', C.HttpFilter, [HTTP + 'upstream_codec.v3.UpstreamCodec'], false, true],

  // Listener filters.
  ['envoy.filters.listener.tls_inspector', C.ListenerFilter, [LIS + 'tls_inspector.v3.TlsInspector'], false],
  ['envoy.filters.listener.http_inspector', C.ListenerFilter, [LIS + 'http_inspector.v3.HttpInspector'], false],
  ['envoy.filters.listener.original_dst', C.ListenerFilter, [LIS + 'original_dst.v3.OriginalDst'], false],
  ['envoy.filters.listener.original_src', C.ListenerFilter, [LIS + 'original_src.v3.OriginalSrc'], false],
  ['envoy.filters.listener.proxy_protocol', C.ListenerFilter, [LIS + 'proxy_protocol.v3.ProxyProtocol'], false],
  ['envoy.filters.listener.local_ratelimit', C.ListenerFilter, [LIS + 'local_ratelimit.v3.LocalRateLimit'], false],

  // Access loggers.
  ['envoy.access_loggers.file', C.AccessLogger, [LOG + 'file.v3.FileAccessLog'], true],
  ['envoy.access_loggers.stdout', C.AccessLogger, [LOG + 'stream.v3.StdoutAccessLog'], true],
  ['envoy.access_loggers.stderr', C.AccessLogger, [LOG + 'stream.v3.StderrAccessLog'], true],
  ['envoy.access_loggers.http_grpc', C.AccessLogger, [LOG + 'grpc.v3.HttpGrpcAccessLogConfig'], false],
  ['envoy.access_loggers.tcp_grpc', C.AccessLogger, [LOG + 'grpc.v3.TcpGrpcAccessLogConfig'], false],
  ['envoy.access_loggers.open_telemetry', C.AccessLogger,
    [LOG + 'open_telemetry.v3.OpenTelemetryAccessLogConfig'], false],
  ['envoy.access_loggers.fluentd', C.AccessLogger, [LOG + 'fluentd.v3.FluentdAccessLogConfig'], false],
  ['envoy.access_loggers.wasm', C.AccessLogger, [LOG + 'wasm.v3.WasmAccessLog'], false],

  // Transport sockets.
  ['envoy.transport_sockets.tls', C.TransportSocket,
    [TS + 'tls.v3.UpstreamTlsContext', TS + 'tls.v3.DownstreamTlsContext'], false],
  ['envoy.transport_sockets.raw_buffer', C.TransportSocket, [TS + 'raw_buffer.v3.RawBuffer'], false],
  ['envoy.transport_sockets.alts', C.TransportSocket, [TS + 'alts.v3.Alts'], false],
  ['envoy.transport_sockets.upstream_proxy_protocol', C.TransportSocket,
    [TS + 'proxy_protocol.v3.ProxyProtocolUpstreamTransport'], false],
  ['envoy.transport_sockets.starttls', C.TransportSocket,
    [TS + 'starttls.v3.StartTlsConfig', TS + 'starttls.v3.UpstreamStartTlsConfig'], false],
  ['envoy.transport_sockets.http_11_proxy', C.TransportSocket,
    [TS + 'http_11_proxy.v3.Http11ProxyUpstreamTransport'], false],
  ['envoy.transport_sockets.internal_upstream', C.TransportSocket,
    [TS + 'internal_upstream.v3.InternalUpstreamTransport'], false],
  ['envoy.transport_sockets.tap', C.TransportSocket, [TS + 'tap.v3.Tap'], false],
  ['envoy.transport_sockets.tcp_stats', C.TransportSocket, [TS + 'tcp_stats.v3.Config'], false],
  ['envoy.transport_sockets.quic', C.TransportSocket,
    [TS + 'quic.v3.QuicDownstreamTransport', TS + 'quic.v3.QuicUpstreamTransport'], false],
];

export const EXTENSIONS: readonly ExtensionInfo[] = ROWS.map(([name, category, types, supported, terminal]) => ({
  name, category, types, supported, terminal: terminal === true,
}));

const byType = new Map<string, ExtensionInfo>();
const byName = new Map<string, ExtensionInfo>();
for (const e of EXTENSIONS) {
  byName.set(e.name, e);
  for (const t of e.types) byType.set(t, e);
}

/** Full message name from a type URL: everything after the last '/', as Envoy does. */
export function typeNameOfUrl(typeUrl: string): string {
  return typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
}

/** The extension whose typed_config has this type (a type URL or a full message name). */
export function extensionByType(typeUrlOrName: string): ExtensionInfo | undefined {
  return byType.get(typeNameOfUrl(typeUrlOrName));
}

export function extensionByName(name: string): ExtensionInfo | undefined {
  return byName.get(name);
}

/**
 * Extension slots: the `typed_config` field of these messages holds an extension of the given
 * category, named by the sibling `name` field.
 */
export const EXTENSION_SLOTS: ReadonlyMap<string, ExtensionCategory> = new Map([
  ['envoy.config.listener.v3.Filter', C.NetworkFilter],
  ['envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter', C.HttpFilter],
  ['envoy.config.listener.v3.ListenerFilter', C.ListenerFilter],
  ['envoy.config.accesslog.v3.AccessLog', C.AccessLogger],
  ['envoy.config.core.v3.TransportSocket', C.TransportSocket],
]);

/** Human words for a category, as used in Envoy's terminal-filter messages. */
export const CHAIN_NAMES: Readonly<Record<ExtensionCategory, string>> = {
  [C.NetworkFilter]: 'network',
  [C.HttpFilter]: 'http',
  [C.ListenerFilter]: 'listener',
  [C.AccessLogger]: 'access logger',
  [C.TransportSocket]: 'transport socket',
};
