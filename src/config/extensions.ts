// The config loader's table of Envoy extensions: Envoy's extension name <-> its typed_config type(s),
// which slot (category) it plugs into, whether Legate implements it, and whether it is terminal.
// The implemented ones come from the list of extension modules (src/extensions/index.ts); the
// well-known extensions Legate does not implement are listed here by name, so a config using one is
// refused by name ("... is not supported by Legate") instead of failing as an unknown type.
import { ExtensionCategory } from '../extensions/types.ts';
import { extensionModules } from '../extensions/index.ts';

export { ExtensionCategory };

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

type Row = [name: string, category: ExtensionCategory, types: string[], terminal?: boolean];

/** Well-known extensions Legate does not implement. */
const UNSUPPORTED: Row[] = [
  // Network filters.
  ['envoy.filters.network.redis_proxy', C.NetworkFilter, [NET + 'redis_proxy.v3.RedisProxy'], true],
  ['envoy.filters.network.mongo_proxy', C.NetworkFilter, [NET + 'mongo_proxy.v3.MongoProxy']],
  ['envoy.filters.network.ext_authz', C.NetworkFilter, [NET + 'ext_authz.v3.ExtAuthz']],
  ['envoy.filters.network.local_ratelimit', C.NetworkFilter, [NET + 'local_ratelimit.v3.LocalRateLimit']],
  ['envoy.filters.network.ratelimit', C.NetworkFilter, [NET + 'ratelimit.v3.RateLimit']],
  ['envoy.filters.network.rbac', C.NetworkFilter, [NET + 'rbac.v3.RBAC']],
  ['envoy.filters.network.connection_limit', C.NetworkFilter, [NET + 'connection_limit.v3.ConnectionLimit']],
  ['envoy.filters.network.sni_cluster', C.NetworkFilter, [NET + 'sni_cluster.v3.SniCluster']],
  ['envoy.filters.network.sni_dynamic_forward_proxy', C.NetworkFilter,
    [NET + 'sni_dynamic_forward_proxy.v3.FilterConfig']],
  ['envoy.filters.network.thrift_proxy', C.NetworkFilter, [NET + 'thrift_proxy.v3.ThriftProxy'], true],
  ['envoy.filters.network.dubbo_proxy', C.NetworkFilter, [NET + 'dubbo_proxy.v3.DubboProxy'], true],
  ['envoy.filters.network.zookeeper_proxy', C.NetworkFilter, [NET + 'zookeeper_proxy.v3.ZooKeeperProxy']],
  ['envoy.filters.network.set_filter_state', C.NetworkFilter, [NET + 'set_filter_state.v3.Config']],
  ['envoy.filters.network.wasm', C.NetworkFilter, [NET + 'wasm.v3.Wasm']],
  ['envoy.filters.network.mysql_proxy', C.NetworkFilter, [NET + 'mysql_proxy.v3.MySQLProxy']],
  ['envoy.filters.network.postgres_proxy', C.NetworkFilter, [NET + 'postgres_proxy.v3alpha.PostgresProxy']],
  ['envoy.filters.network.kafka_broker', C.NetworkFilter, [NET + 'kafka_broker.v3.KafkaBroker']],

  // HTTP filters.
  ['envoy.filters.http.dynamo', C.HttpFilter, [HTTP + 'dynamo.v3.Dynamo']],
  ['envoy.filters.http.grpc_web', C.HttpFilter, [HTTP + 'grpc_web.v3.GrpcWeb']],
  ['envoy.filters.http.lua', C.HttpFilter, [HTTP + 'lua.v3.Lua']],
  ['envoy.filters.http.ext_proc', C.HttpFilter, [HTTP + 'ext_proc.v3.ExternalProcessor']],
  ['envoy.filters.http.jwt_authn', C.HttpFilter, [HTTP + 'jwt_authn.v3.JwtAuthentication']],
  ['envoy.filters.http.gzip', C.HttpFilter, [HTTP + 'gzip.v3.Gzip']],
  ['envoy.filters.http.csrf', C.HttpFilter, [HTTP + 'csrf.v3.CsrfPolicy']],
  ['envoy.filters.http.grpc_json_transcoder', C.HttpFilter,
    [HTTP + 'grpc_json_transcoder.v3.GrpcJsonTranscoder']],
  ['envoy.filters.http.grpc_http1_bridge', C.HttpFilter, [HTTP + 'grpc_http1_bridge.v3.Config']],
  ['envoy.filters.http.grpc_http1_reverse_bridge', C.HttpFilter,
    [HTTP + 'grpc_http1_reverse_bridge.v3.FilterConfig']],
  ['envoy.filters.http.grpc_stats', C.HttpFilter, [HTTP + 'grpc_stats.v3.FilterConfig']],
  ['envoy.filters.http.header_to_metadata', C.HttpFilter, [HTTP + 'header_to_metadata.v3.Config']],
  ['envoy.filters.http.ip_tagging', C.HttpFilter, [HTTP + 'ip_tagging.v3.IPTagging']],
  ['envoy.filters.http.oauth2', C.HttpFilter, [HTTP + 'oauth2.v3.OAuth2']],
  ['envoy.filters.http.wasm', C.HttpFilter, [HTTP + 'wasm.v3.Wasm']],
  ['envoy.filters.http.tap', C.HttpFilter, [HTTP + 'tap.v3.Tap']],
  ['envoy.filters.http.adaptive_concurrency', C.HttpFilter,
    [HTTP + 'adaptive_concurrency.v3.AdaptiveConcurrency']],
  ['envoy.filters.http.admission_control', C.HttpFilter, [HTTP + 'admission_control.v3.AdmissionControl']],
  ['envoy.filters.http.aws_lambda', C.HttpFilter, [HTTP + 'aws_lambda.v3.Config']],
  ['envoy.filters.http.aws_request_signing', C.HttpFilter,
    [HTTP + 'aws_request_signing.v3.AwsRequestSigning']],
  ['envoy.filters.http.cache', C.HttpFilter, [HTTP + 'cache.v3.CacheConfig']],
  ['envoy.filters.http.cdn_loop', C.HttpFilter, [HTTP + 'cdn_loop.v3.CdnLoopConfig']],
  ['envoy.filters.http.dynamic_forward_proxy', C.HttpFilter, [HTTP + 'dynamic_forward_proxy.v3.FilterConfig']],
  ['envoy.filters.http.on_demand', C.HttpFilter, [HTTP + 'on_demand.v3.OnDemand']],
  ['envoy.filters.http.original_src', C.HttpFilter, [HTTP + 'original_src.v3.OriginalSrc']],
  ['envoy.filters.http.kill_request', C.HttpFilter, [HTTP + 'kill_request.v3.KillRequest']],
  ['envoy.filters.http.stateful_session', C.HttpFilter, [HTTP + 'stateful_session.v3.StatefulSession']],
  ['envoy.filters.http.basic_auth', C.HttpFilter, [HTTP + 'basic_auth.v3.BasicAuth']],
  ['envoy.filters.http.custom_response', C.HttpFilter, [HTTP + 'custom_response.v3.CustomResponse']],
  ['envoy.filters.http.bandwidth_limit', C.HttpFilter, [HTTP + 'bandwidth_limit.v3.BandwidthLimit']],
  ['envoy.filters.http.composite', C.HttpFilter, [HTTP + 'composite.v3.Composite']],
  ['envoy.filters.http.geoip', C.HttpFilter, [HTTP + 'geoip.v3.Geoip']],
  ['envoy.filters.http.gcp_authn', C.HttpFilter, [HTTP + 'gcp_authn.v3.GcpAuthnFilterConfig']],
  ['envoy.filters.http.credential_injector', C.HttpFilter,
    [HTTP + 'credential_injector.v3.CredentialInjector']],
  ['envoy.filters.http.json_to_metadata', C.HttpFilter, [HTTP + 'json_to_metadata.v3.JsonToMetadata']],
  ['envoy.filters.http.upstream_codec', C.HttpFilter, [HTTP + 'upstream_codec.v3.UpstreamCodec'], true],
  // ExtensionWithMatcher (a filter wrapped in a matcher tree) is Envoy's match_delegate filter.
  ['envoy.filters.http.match_delegate', C.HttpFilter, ['envoy.extensions.common.matching.v3.ExtensionWithMatcher']],

  // Listener filters.
  ['envoy.filters.listener.original_dst', C.ListenerFilter, [LIS + 'original_dst.v3.OriginalDst']],
  ['envoy.filters.listener.original_src', C.ListenerFilter, [LIS + 'original_src.v3.OriginalSrc']],
  ['envoy.filters.listener.local_ratelimit', C.ListenerFilter, [LIS + 'local_ratelimit.v3.LocalRateLimit']],

  // Access loggers.
  ['envoy.access_loggers.http_grpc', C.AccessLogger, [LOG + 'grpc.v3.HttpGrpcAccessLogConfig']],
  ['envoy.access_loggers.tcp_grpc', C.AccessLogger, [LOG + 'grpc.v3.TcpGrpcAccessLogConfig']],
  ['envoy.access_loggers.open_telemetry', C.AccessLogger,
    [LOG + 'open_telemetry.v3.OpenTelemetryAccessLogConfig']],
  ['envoy.access_loggers.fluentd', C.AccessLogger, [LOG + 'fluentd.v3.FluentdAccessLogConfig']],
  ['envoy.access_loggers.wasm', C.AccessLogger, [LOG + 'wasm.v3.WasmAccessLog']],

  // Transport sockets.
  ['envoy.transport_sockets.raw_buffer', C.TransportSocket, [TS + 'raw_buffer.v3.RawBuffer']],
  ['envoy.transport_sockets.alts', C.TransportSocket, [TS + 'alts.v3.Alts']],
  ['envoy.transport_sockets.upstream_proxy_protocol', C.TransportSocket,
    [TS + 'proxy_protocol.v3.ProxyProtocolUpstreamTransport']],
  ['envoy.transport_sockets.starttls', C.TransportSocket,
    [TS + 'starttls.v3.StartTlsConfig', TS + 'starttls.v3.UpstreamStartTlsConfig']],
  ['envoy.transport_sockets.http_11_proxy', C.TransportSocket,
    [TS + 'http_11_proxy.v3.Http11ProxyUpstreamTransport']],
  ['envoy.transport_sockets.internal_upstream', C.TransportSocket,
    [TS + 'internal_upstream.v3.InternalUpstreamTransport']],
  ['envoy.transport_sockets.tap', C.TransportSocket, [TS + 'tap.v3.Tap']],
  ['envoy.transport_sockets.tcp_stats', C.TransportSocket, [TS + 'tcp_stats.v3.Config']],
  ['envoy.transport_sockets.quic', C.TransportSocket,
    [TS + 'quic.v3.QuicDownstreamTransport', TS + 'quic.v3.QuicUpstreamTransport']],

  // Retry host predicates.
  ['envoy.retry_host_predicates.omit_canary_hosts', C.RetryHostPredicate,
    ['envoy.extensions.retry.host.omit_canary_hosts.v3.OmitCanaryHostsPredicate']],
  ['envoy.retry_host_predicates.omit_host_metadata', C.RetryHostPredicate,
    ['envoy.extensions.retry.host.omit_host_metadata.v3.OmitHostMetadataConfig']],

  // DNS resolvers.
  ['envoy.network.dns_resolver.apple', C.DnsResolver,
    ['envoy.extensions.network.dns_resolver.apple.v3.AppleDnsResolverConfig']],
];

export const EXTENSIONS: readonly ExtensionInfo[] = [
  ...extensionModules().map((m): ExtensionInfo => ({
    name: m.name, category: m.category, supported: true, terminal: m.terminal === true,
    // (An HTTP filter's per-route config types too: typed_per_filter_config entries are Anys. Once
    // each: a per-route config may be the filter's own message, as local_ratelimit's and fault's.)
    types: m.category === C.HttpFilter && m.perRoute !== undefined
      ? [...new Set([...m.types, ...m.perRoute.types])] : m.types,
  })),
  ...UNSUPPORTED.map(([name, category, types, terminal]): ExtensionInfo => ({
    name, category, types, supported: false, terminal: terminal === true,
  })),
];

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
  ['envoy.config.route.v3.RetryPolicy.RetryHostPredicate', C.RetryHostPredicate],
  ['envoy.config.route.v3.RetryPolicy.RetryPriority', C.RetryPriority],
]);

/** Human words for a category, as used in Envoy's terminal-filter messages. */
export const CHAIN_NAMES: Readonly<Record<ExtensionCategory, string>> = {
  [C.NetworkFilter]: 'network',
  [C.HttpFilter]: 'http',
  [C.ListenerFilter]: 'listener',
  [C.AccessLogger]: 'access logger',
  [C.TransportSocket]: 'transport socket',
  [C.Cluster]: 'cluster',
  [C.LoadBalancer]: 'load balancer',
  [C.DnsResolver]: 'DNS resolver',
  [C.HealthChecker]: 'health checker',
  [C.RetryHostPredicate]: 'retry host predicate',
  [C.RetryPriority]: 'retry priority',
  [C.UpstreamOptions]: 'upstream protocol options',
  [C.PathMatch]: 'path match',
  [C.Compressor]: 'compressor library',
  [C.Decompressor]: 'decompressor library',
};
