// The normalized bootstrap that load.ts returns, typed for the subset Legate supports (supported.ts).
// Normalized form: the proto's snake_case field names; only fields that were set (no defaults filled
// in); enums by name; 64-bit integers as numbers; Duration as { seconds, nanos }; wrappers
// (UInt32Value, BoolValue...) as the plain value; Any as { '@type', ...fields of the inner message };
// Struct as plain JSON; bytes as base64. A oneof member appears under its own field name.
// Under allowUnsupportedFields, fields outside this subset can be present too and must be ignored.

export interface Duration {
  seconds: number;
  nanos: number;
}

/** google.protobuf.Struct / Value as plain JSON. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/** A resolved google.protobuf.Any: its type URL and the normalized fields of the inner message. */
export interface TypedConfig {
  '@type': string;
  [field: string]: unknown;
}

export interface Bootstrap {
  node?: Node;
  static_resources?: StaticResources;
  admin?: Admin;
  layered_runtime?: LayeredRuntime;
}

/** src/runtime/config.ts compiles it. */
export interface LayeredRuntime {
  layers?: RuntimeLayer[];
}

export interface RuntimeLayer {
  name?: string;
  /** A google.protobuf.Struct, as JSON. */
  static_layer?: Record<string, unknown>;
  disk_layer?: { symlink_root?: string; subdirectory?: string; append_service_cluster?: boolean };
  admin_layer?: Record<string, never>;
}

export interface Node {
  id?: string;
  cluster?: string;
}

export interface StaticResources {
  listeners?: Listener[];
  clusters?: Cluster[];
}

export interface Admin {
  address?: Address;
}

export interface Address {
  socket_address?: SocketAddress;
}

export interface SocketAddress {
  protocol?: 'TCP';
  address?: string;
  port_value?: number;
}

// Listeners.

export interface Listener {
  name?: string;
  address?: Address;
  filter_chains?: FilterChain[];
  per_connection_buffer_limit_bytes?: number;
  connection_balance_config?: ConnectionBalanceConfig;
  enable_reuse_port?: boolean;
}

export interface ConnectionBalanceConfig {
  exact_balance?: Record<string, never>;
}

export interface FilterChain {
  filters?: NetworkFilter[];
}

export interface NetworkFilter {
  name?: string;
  typed_config?: HttpConnectionManagerConfig | TypedConfig;
}

// HTTP connection manager.

export interface HttpConnectionManager {
  stat_prefix?: string;
  codec_type?: 'AUTO' | 'HTTP1';
  route_config?: RouteConfiguration;
  http_filters?: HttpFilter[];
  access_log?: AccessLog[];
  use_remote_address?: boolean;
  xff_num_trusted_hops?: number;
  generate_request_id?: boolean;
  stream_idle_timeout?: Duration;
  request_timeout?: Duration;
  common_http_protocol_options?: HttpProtocolOptions;
  max_request_headers_kb?: number;
  server_name?: string;
  drain_timeout?: Duration;
}

export interface HttpConnectionManagerConfig extends HttpConnectionManager {
  '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
}

export interface HttpProtocolOptions {
  idle_timeout?: Duration;
  max_headers_count?: number;
}

export interface HttpFilter {
  name?: string;
  typed_config?: TypedConfig;
}

/** envoy.extensions.filters.http.router.v3.Router: no supported fields yet. */
export interface Router {
  '@type'?: 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';
}

// Routes.

export interface RouteConfiguration {
  name?: string;
  virtual_hosts?: VirtualHost[];
}

export interface VirtualHost {
  name?: string;
  domains?: string[];
  routes?: Route[];
}

export interface Route {
  name?: string;
  match?: RouteMatch;
  route?: RouteAction;
  direct_response?: DirectResponseAction;
}

export interface RouteMatch {
  prefix?: string;
  path?: string;
  safe_regex?: RegexMatcher;
  headers?: HeaderMatcher[];
  case_sensitive?: boolean;
}

export interface RegexMatcher {
  regex?: string;
  google_re2?: Record<string, never>;
}

export interface HeaderMatcher {
  name?: string;
  string_match?: StringMatcher;
  present_match?: boolean;
  invert_match?: boolean;
}

export interface StringMatcher {
  exact?: string;
  prefix?: string;
  suffix?: string;
  contains?: string;
  safe_regex?: RegexMatcher;
  ignore_case?: boolean;
}

export interface RouteAction {
  cluster?: string;
  timeout?: Duration;
  prefix_rewrite?: string;
  host_rewrite_literal?: string;
  idle_timeout?: Duration;
}

export interface DirectResponseAction {
  status?: number;
  body?: DataSource;
}

export interface DataSource {
  inline_string?: string;
  /** base64 */
  inline_bytes?: string;
}

// Access logs.

export interface AccessLog {
  name?: string;
  typed_config?: FileAccessLog | StdoutAccessLog | StderrAccessLog | TypedConfig;
}

export interface SubstitutionFormatString {
  text_format_source?: DataSource;
  json_format?: JsonObject;
}

export interface FileAccessLog {
  '@type': 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog';
  path?: string;
  log_format?: SubstitutionFormatString;
}

export interface StdoutAccessLog {
  '@type': 'type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog';
  log_format?: SubstitutionFormatString;
}

export interface StderrAccessLog {
  '@type': 'type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StderrAccessLog';
  log_format?: SubstitutionFormatString;
}

// Clusters.

export interface Cluster {
  name?: string;
  type?: 'STATIC';
  connect_timeout?: Duration;
  lb_policy?: 'ROUND_ROBIN';
  load_assignment?: ClusterLoadAssignment;
  per_connection_buffer_limit_bytes?: number;
  circuit_breakers?: CircuitBreakers;
}

export interface ClusterLoadAssignment {
  cluster_name?: string;
  endpoints?: LocalityLbEndpoints[];
}

export interface LocalityLbEndpoints {
  lb_endpoints?: LbEndpoint[];
}

export interface LbEndpoint {
  endpoint?: Endpoint;
}

export interface Endpoint {
  address?: Address;
}

export interface CircuitBreakers {
  thresholds?: Thresholds[];
}

export interface Thresholds {
  priority?: 'DEFAULT';
  max_connections?: number;
  max_pending_requests?: number;
  max_requests?: number;
  max_retries?: number;
  retry_budget?: { budget_percent?: { value?: number }; min_retry_concurrency?: number };
  track_remaining?: boolean;
}
