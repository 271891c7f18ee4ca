// What Legate acts on, per proto message: full message name -> the fields it implements, with the
// enum values it implements where it implements only some. Any other field that is set (to a
// non-default value) is reported as unsupported, listing every one with its path: an error, or a
// warning under allowUnsupportedFields. A message that is not in this table has no supported field.
// The core messages (bootstrap, listeners, clusters) are listed here, in step with
// src/config/snapshot.ts; each extension lists its own in its module (`fields`, src/extensions),
// merged in below.
import { HEALTH_CHECK_FIELDS } from '../upstream/health-check.ts';
import { OUTLIER_FIELDS } from '../upstream/outlier.ts';
import type { FieldSupport, SupportedField } from '../extensions/types.ts';
import { extensionModules } from '../extensions/index.ts';

export type { FieldSupport, SupportedField };

const CORE: Record<string, readonly SupportedField[]> = {
  // Bootstrap.
  'envoy.config.bootstrap.v3.Bootstrap': ['node', 'static_resources', 'admin', 'layered_runtime'],
  'envoy.config.bootstrap.v3.Bootstrap.StaticResources': ['listeners', 'clusters'],
  'envoy.config.bootstrap.v3.Admin': ['address'],
  // The runtime (src/runtime/config.ts). rtds_layer is refused: no xDS yet.
  'envoy.config.bootstrap.v3.LayeredRuntime': ['layers'],
  'envoy.config.bootstrap.v3.RuntimeLayer': ['name', 'static_layer', 'disk_layer', 'admin_layer'],
  'envoy.config.bootstrap.v3.RuntimeLayer.DiskLayer': ['symlink_root', 'subdirectory', 'append_service_cluster'],
  'envoy.config.bootstrap.v3.RuntimeLayer.AdminLayer': [],
  // Accepted as metadata (the admin endpoint and logs show them; node.cluster is the service
  // cluster a disk layer's append_service_cluster appends).
  'envoy.config.core.v3.Node': ['id', 'cluster'],

  // Addresses.
  'envoy.config.core.v3.Address': ['socket_address'],
  'envoy.config.core.v3.SocketAddress': ['address', 'port_value', ['protocol', { enumValues: ['TCP'] }]],

  // Listeners.
  'envoy.config.listener.v3.Listener': [
    'name', 'address', 'filter_chains', 'per_connection_buffer_limit_bytes', 'connection_balance_config',
    'enable_reuse_port', 'default_filter_chain', 'listener_filters', 'listener_filters_timeout',
    'continue_on_listener_filters_timeout',
  ],
  'envoy.config.listener.v3.Listener.ConnectionBalanceConfig': ['exact_balance'],
  'envoy.config.listener.v3.Listener.ConnectionBalanceConfig.ExactBalance': [],
  'envoy.config.listener.v3.FilterChain': ['filters', 'transport_socket', 'filter_chain_match', 'name'],
  // (src/listener/filter-chain-match.ts; direct_source_prefix_ranges, address_suffix and suffix_len
  // are refused.)
  'envoy.config.listener.v3.FilterChainMatch': [
    'destination_port', 'prefix_ranges', 'server_names', 'transport_protocol', 'application_protocols',
    'source_type', 'source_prefix_ranges', 'source_ports',
  ],
  'envoy.config.core.v3.CidrRange': ['address_prefix', 'prefix_len'],
  // (filter_disabled is refused.)
  'envoy.config.listener.v3.ListenerFilter': ['name', 'typed_config'],
  'envoy.config.core.v3.TransportSocket': ['name', 'typed_config'],
  'envoy.config.listener.v3.Filter': ['name', 'typed_config'],

  // Clusters.
  // (`type` and `lb_policy`, with the enum values Legate has, and the fields of the host list come
  // from the cluster-type and load-balancer extensions.)
  'envoy.config.cluster.v3.Cluster': [
    'name', 'connect_timeout', 'per_connection_buffer_limit_bytes', 'circuit_breakers', 'transport_socket',
    'common_lb_config', 'health_checks', 'outlier_detection', 'typed_extension_protocol_options',
    'upstream_connection_options', 'preconnect_policy',
    // (Deprecated in Envoy's API for typed_extension_protocol_options; upstream/connection-options.ts.)
    'common_http_protocol_options', 'max_requests_per_connection',
  ],
  'envoy.config.cluster.v3.OutlierDetection': [...OUTLIER_FIELDS],
  // (upstream/connection-options.ts. Refused: predictive_preconnect_ratio, which needs the load
  // balancer to tell which host it would pick next; set_local_interface_name_on_upstream_connections
  // and happy_eyeballs_config.)
  'envoy.config.cluster.v3.Cluster.PreconnectPolicy': ['per_upstream_preconnect_ratio'],
  'envoy.config.cluster.v3.UpstreamConnectionOptions': ['tcp_keepalive'],
  // (keepalive_probes and keepalive_interval only at the values Node sets itself.)
  'envoy.config.core.v3.TcpKeepalive': ['keepalive_time', 'keepalive_probes', 'keepalive_interval'],
  'envoy.config.core.v3.HealthCheck': [...HEALTH_CHECK_FIELDS],
  // (upstream/locality.ts: every load balancer acts on locality_weighted_lb_config. Refused:
  // zone_aware_lb_config, which needs the local cluster, and the rest.)
  'envoy.config.cluster.v3.Cluster.CommonLbConfig': ['healthy_panic_threshold', 'locality_weighted_lb_config'],
  'envoy.config.cluster.v3.Cluster.CommonLbConfig.LocalityWeightedLbConfig': [],
  'envoy.type.v3.Percent': ['value'],
  'envoy.config.cluster.v3.CircuitBreakers': ['thresholds'],
  'envoy.config.cluster.v3.CircuitBreakers.Thresholds': [
    ['priority', { enumValues: ['DEFAULT'] }], 'max_connections', 'max_pending_requests', 'max_requests',
    'max_retries', 'track_remaining', 'retry_budget',
  ],
  'envoy.config.cluster.v3.CircuitBreakers.Thresholds.RetryBudget': ['budget_percent', 'min_retry_concurrency'],
};

function buildSupported(): Map<string, Map<string, FieldSupport>> {
  const out = new Map<string, Map<string, FieldSupport>>();
  const add = (table: Readonly<Record<string, readonly SupportedField[]>>): void => {
    for (const [msg, fields] of Object.entries(table)) {
      let m = out.get(msg);
      if (m === undefined) out.set(msg, m = new Map());
      // A message several extensions list gets the union of their fields, and a field several
      // list with enum values the union of the values (each cluster type adds its Cluster.type).
      for (const f of fields) {
        const name = typeof f === 'string' ? f : f[0];
        const sup: FieldSupport = typeof f === 'string' ? {} : f[1];
        const had = m.get(name);
        if (had?.enumValues !== undefined && sup.enumValues !== undefined) {
          m.set(name, { enumValues: [...new Set([...had.enumValues, ...sup.enumValues])] });
        } else if (had === undefined || sup.enumValues === undefined) {
          m.set(name, sup);
        }
      }
    }
  };
  add(CORE);
  for (const e of extensionModules()) add(e.fields);
  return out;
}

/** full message name -> field name -> restrictions ({} when the field is supported as a whole). */
export const SUPPORTED: ReadonlyMap<string, ReadonlyMap<string, FieldSupport>> = buildSupported();

/** The field's support, or undefined when Legate does not act on it. */
export function fieldSupport(messageName: string, fieldName: string): FieldSupport | undefined {
  return SUPPORTED.get(messageName)?.get(fieldName);
}
