// Shared configs for the config loader tests.
import assert from 'node:assert/strict';
import YAML from 'yaml';
import { ConfigError, validateBootstrap } from '../../src/config/load.ts';
import { buildSnapshot, type Snapshot } from '../../src/config/snapshot.ts';
import { StatsLayout } from '../../src/stats/layout.ts';

/** Validate a config object and build its snapshot (the compiled extensions). */
export function compileConfig(cfg: unknown): Snapshot {
  const { bootstrap } = validateBootstrap(cfg);
  return buildSnapshot(bootstrap, new StatsLayout(), { bufferLimit: 1 << 20, version: 1 });
}

/** The ConfigError lines `fn` throws (fails the test if it throws nothing, or something else). */
export function configErrors(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    return e.errors;
  }
  assert.fail('config was accepted');
}

export const HCM_TYPE =
  'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
export const ROUTER_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';
export const FILE_LOG_TYPE = 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog';
export const STDOUT_LOG_TYPE = 'type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog';

/** Everything supported in one config: a listener with HCM + router, routes of both kinds, a cluster. */
export const FULL_YAML = `
node:
  id: legate-1
  cluster: edge
admin:
  address:
    socket_address: { address: 127.0.0.1, port_value: 9901 }
static_resources:
  listeners:
  - name: listener_0
    address:
      socket_address: { address: 0.0.0.0, port_value: 10000, protocol: TCP }
    per_connection_buffer_limit_bytes: 32768
    enable_reuse_port: false
    connection_balance_config:
      exact_balance: {}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": ${HCM_TYPE}
          stat_prefix: ingress_http
          codec_type: AUTO
          use_remote_address: true
          xff_num_trusted_hops: 1
          generate_request_id: false
          server_name: legate
          max_request_headers_kb: 96
          stream_idle_timeout: 300s
          request_timeout: 0.25s
          drain_timeout: 1.5s
          common_http_protocol_options:
            idle_timeout: 3600s
            max_headers_count: 50
          access_log:
          - name: envoy.access_loggers.file
            typed_config:
              "@type": ${FILE_LOG_TYPE}
              path: /tmp/access.log
              log_format:
                json_format:
                  status: "%RESPONSE_CODE%"
                  nested: { list: [1, true, null, "x"] }
          - name: envoy.access_loggers.stdout
            typed_config:
              "@type": ${STDOUT_LOG_TYPE}
              log_format:
                text_format_source:
                  inline_string: "%START_TIME% %REQ(:PATH)%\\n"
          route_config:
            name: local_route
            virtual_hosts:
            - name: local_service
              domains: ["*"]
              routes:
              - name: direct
                match:
                  path: /direct
                  case_sensitive: false
                direct_response:
                  status: 200
                  body: { inline_string: "hello" }
              - match:
                  safe_regex: { regex: "^/re/[0-9]+$" }
                  headers:
                  - name: x-exact
                    string_match: { exact: "yes", ignore_case: true }
                  - name: x-present
                    present_match: true
                    invert_match: true
                direct_response:
                  status: 404
                  body: { inline_bytes: "bm9wZQ==" }
              - match: { prefix: "/" }
                route:
                  cluster: service_a
                  timeout: 15s
                  idle_timeout: 0.5s
                  prefix_rewrite: /v2/
                  host_rewrite_literal: upstream.local
          http_filters:
          - name: envoy.filters.http.router
            typed_config:
              "@type": ${ROUTER_TYPE}
  clusters:
  - name: service_a
    connect_timeout: 0.25s
    type: STATIC
    lb_policy: ROUND_ROBIN
    per_connection_buffer_limit_bytes: 65536
    circuit_breakers:
      thresholds:
      - priority: DEFAULT
        max_connections: 100
        max_pending_requests: 10
        max_requests: 1000
    load_assignment:
      cluster_name: service_a
      endpoints:
      - lb_endpoints:
        - endpoint:
            address:
              socket_address: { address: 127.0.0.1, port_value: 8080 }
        - endpoint:
            address:
              socket_address: { address: "::1", port_value: 8081 }
`;

/** FULL_YAML in Legate's normalized form. */
export const FULL_NORMALIZED = {
  node: { id: 'legate-1', cluster: 'edge' },
  admin: { address: { socket_address: { address: '127.0.0.1', port_value: 9901 } } },
  static_resources: {
    listeners: [{
      name: 'listener_0',
      address: { socket_address: { address: '0.0.0.0', port_value: 10000, protocol: 'TCP' } },
      per_connection_buffer_limit_bytes: 32768,
      enable_reuse_port: false,
      connection_balance_config: { exact_balance: {} },
      filter_chains: [{
        filters: [{
          name: 'envoy.filters.network.http_connection_manager',
          typed_config: {
            '@type': HCM_TYPE,
            stat_prefix: 'ingress_http',
            codec_type: 'AUTO',
            use_remote_address: true,
            xff_num_trusted_hops: 1,
            generate_request_id: false,
            server_name: 'legate',
            max_request_headers_kb: 96,
            stream_idle_timeout: { seconds: 300, nanos: 0 },
            request_timeout: { seconds: 0, nanos: 250_000_000 },
            drain_timeout: { seconds: 1, nanos: 500_000_000 },
            common_http_protocol_options: { idle_timeout: { seconds: 3600, nanos: 0 }, max_headers_count: 50 },
            access_log: [
              {
                name: 'envoy.access_loggers.file',
                typed_config: {
                  '@type': FILE_LOG_TYPE,
                  path: '/tmp/access.log',
                  log_format: { json_format: { status: '%RESPONSE_CODE%', nested: { list: [1, true, null, 'x'] } } },
                },
              },
              {
                name: 'envoy.access_loggers.stdout',
                typed_config: {
                  '@type': STDOUT_LOG_TYPE,
                  log_format: { text_format_source: { inline_string: '%START_TIME% %REQ(:PATH)%\n' } },
                },
              },
            ],
            route_config: {
              name: 'local_route',
              virtual_hosts: [{
                name: 'local_service',
                domains: ['*'],
                routes: [
                  {
                    name: 'direct',
                    match: { path: '/direct', case_sensitive: false },
                    direct_response: { status: 200, body: { inline_string: 'hello' } },
                  },
                  {
                    match: {
                      safe_regex: { regex: '^/re/[0-9]+$' },
                      headers: [
                        { name: 'x-exact', string_match: { exact: 'yes', ignore_case: true } },
                        { name: 'x-present', present_match: true, invert_match: true },
                      ],
                    },
                    direct_response: { status: 404, body: { inline_bytes: 'bm9wZQ==' } },
                  },
                  {
                    match: { prefix: '/' },
                    route: {
                      cluster: 'service_a',
                      timeout: { seconds: 15, nanos: 0 },
                      idle_timeout: { seconds: 0, nanos: 500_000_000 },
                      prefix_rewrite: '/v2/',
                      host_rewrite_literal: 'upstream.local',
                    },
                  },
                ],
              }],
            },
            http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER_TYPE } }],
          },
        }],
      }],
    }],
    clusters: [{
      name: 'service_a',
      connect_timeout: { seconds: 0, nanos: 250_000_000 },
      type: 'STATIC',
      lb_policy: 'ROUND_ROBIN',
      per_connection_buffer_limit_bytes: 65536,
      circuit_breakers: {
        thresholds: [{
          priority: 'DEFAULT', max_connections: 100, max_pending_requests: 10, max_requests: 1000,
        }],
      },
      load_assignment: {
        cluster_name: 'service_a',
        endpoints: [{
          lb_endpoints: [
            { endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: 8080 } } } },
            { endpoint: { address: { socket_address: { address: '::1', port_value: 8081 } } } },
          ],
        }],
      },
    }],
  },
};

/** A small valid config as a fresh, mutable object. */
export function minimal(): any {
  return YAML.parse(`
static_resources:
  listeners:
  - name: l0
    address: { socket_address: { address: 127.0.0.1, port_value: 10000 } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": ${HCM_TYPE}
          stat_prefix: http
          route_config:
            virtual_hosts:
            - name: vh
              domains: ["*"]
              routes:
              - match: { prefix: "/" }
                route: { cluster: c0 }
          http_filters:
          - name: envoy.filters.http.router
            typed_config: { "@type": ${ROUTER_TYPE} }
  clusters:
  - name: c0
    connect_timeout: 1s
    load_assignment:
      cluster_name: c0
      endpoints:
      - lb_endpoints:
        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 8080 } } }
`);
}

/** Paths into minimal(). */
export const L0 = 'static_resources.listeners[0]';
export const F0 = `${L0}.filter_chains[0].filters[0]`;
export const HCM = `${F0}.typed_config`;
export const VH0 = `${HCM}.route_config.virtual_hosts[0]`;
export const C0 = 'static_resources.clusters[0]';

export function hcmOf(cfg: any): any {
  return cfg.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
}
