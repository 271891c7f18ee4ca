// What Legate acts on, per proto message: full message name -> the fields it implements, with the
// enum values it implements where it implements only some. Any other field that is set (to a
// non-default value) is reported as unsupported, listing every one with its path: an error, or a
// warning under allowUnsupportedFields. A message that is not in this table has no supported field.
// Later issues widen the table as features land; keep it in step with src/config/snapshot.ts.

export interface FieldSupport {
  /** Only these enum values are implemented (by name). */
  enumValues?: readonly string[];
}

/** A field name, or [field name, restrictions]. */
export type SupportedField = string | readonly [string, FieldSupport];

const RAW: Record<string, readonly SupportedField[]> = {
  // Bootstrap.
  'envoy.config.bootstrap.v3.Bootstrap': ['node', 'static_resources', 'admin'],
  'envoy.config.bootstrap.v3.Bootstrap.StaticResources': ['listeners', 'clusters'],
  'envoy.config.bootstrap.v3.Admin': ['address'],
  // Accepted as metadata (the admin endpoint and logs show them).
  'envoy.config.core.v3.Node': ['id', 'cluster'],

  // Addresses.
  'envoy.config.core.v3.Address': ['socket_address'],
  'envoy.config.core.v3.SocketAddress': ['address', 'port_value', ['protocol', { enumValues: ['TCP'] }]],

  // Listeners.
  'envoy.config.listener.v3.Listener': [
    'name', 'address', 'filter_chains', 'per_connection_buffer_limit_bytes', 'connection_balance_config',
    'enable_reuse_port',
  ],
  'envoy.config.listener.v3.Listener.ConnectionBalanceConfig': ['exact_balance'],
  'envoy.config.listener.v3.Listener.ConnectionBalanceConfig.ExactBalance': [],
  'envoy.config.listener.v3.FilterChain': ['filters'],
  'envoy.config.listener.v3.Filter': ['name', 'typed_config'],

  // HTTP connection manager.
  'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager': [
    'stat_prefix', ['codec_type', { enumValues: ['AUTO', 'HTTP1'] }], 'route_config', 'http_filters', 'access_log',
    'use_remote_address', 'xff_num_trusted_hops', 'generate_request_id', 'stream_idle_timeout', 'request_timeout',
    'common_http_protocol_options', 'max_request_headers_kb', 'server_name', 'drain_timeout',
  ],
  'envoy.config.core.v3.HttpProtocolOptions': ['idle_timeout', 'max_headers_count'],
  'envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter': ['name', 'typed_config'],

  // Routes.
  'envoy.config.route.v3.RouteConfiguration': ['name', 'virtual_hosts'],
  'envoy.config.route.v3.VirtualHost': ['name', 'domains', 'routes'],
  'envoy.config.route.v3.Route': ['name', 'match', 'route', 'direct_response'],
  'envoy.config.route.v3.RouteMatch': ['prefix', 'path', 'safe_regex', 'headers', 'case_sensitive'],
  'envoy.type.matcher.v3.RegexMatcher': ['regex', 'google_re2'],
  'envoy.type.matcher.v3.RegexMatcher.GoogleRE2': [],
  'envoy.config.route.v3.HeaderMatcher': ['name', 'string_match', 'present_match', 'invert_match'],
  'envoy.type.matcher.v3.StringMatcher': ['exact', 'prefix', 'suffix', 'contains', 'safe_regex', 'ignore_case'],
  'envoy.config.route.v3.RouteAction': ['cluster', 'timeout', 'prefix_rewrite', 'host_rewrite_literal', 'idle_timeout'],
  'envoy.config.route.v3.DirectResponseAction': ['status', 'body'],
  'envoy.config.core.v3.DataSource': ['inline_string', 'inline_bytes'],

  // HTTP filters.
  'envoy.extensions.filters.http.router.v3.Router': [],

  // Access logs.
  'envoy.config.accesslog.v3.AccessLog': ['name', 'typed_config'],
  'envoy.extensions.access_loggers.file.v3.FileAccessLog': ['path', 'log_format'],
  'envoy.extensions.access_loggers.stream.v3.StdoutAccessLog': ['log_format'],
  'envoy.extensions.access_loggers.stream.v3.StderrAccessLog': ['log_format'],
  'envoy.config.core.v3.SubstitutionFormatString': ['text_format_source', 'json_format'],

  // Clusters.
  'envoy.config.cluster.v3.Cluster': [
    'name', ['type', { enumValues: ['STATIC'] }], 'connect_timeout', ['lb_policy', { enumValues: ['ROUND_ROBIN'] }],
    'load_assignment', 'per_connection_buffer_limit_bytes', 'circuit_breakers',
  ],
  'envoy.config.endpoint.v3.ClusterLoadAssignment': ['cluster_name', 'endpoints'],
  'envoy.config.endpoint.v3.LocalityLbEndpoints': ['lb_endpoints'],
  'envoy.config.endpoint.v3.LbEndpoint': ['endpoint'],
  'envoy.config.endpoint.v3.Endpoint': ['address'],
  'envoy.config.cluster.v3.CircuitBreakers': ['thresholds'],
  'envoy.config.cluster.v3.CircuitBreakers.Thresholds': [
    ['priority', { enumValues: ['DEFAULT'] }], 'max_connections', 'max_pending_requests', 'max_requests', 'max_retries',
  ],
};

/** full message name -> field name -> restrictions ({} when the field is supported as a whole). */
export const SUPPORTED: ReadonlyMap<string, ReadonlyMap<string, FieldSupport>> = new Map(
  Object.entries(RAW).map(([msg, fields]) => [
    msg,
    new Map(fields.map((f): [string, FieldSupport] => (typeof f === 'string' ? [f, {}] : [f[0], f[1]]))),
  ]),
);

/** The field's support, or undefined when Legate does not act on it. */
export function fieldSupport(messageName: string, fieldName: string): FieldSupport | undefined {
  return SUPPORTED.get(messageName)?.get(fieldName);
}
