// A cluster's health_checks compiled: Envoy's defaults for the intervals, the checker's own config,
// and the errors with their field paths.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import YAML from 'yaml';
import { compileConfig, configErrors } from './fixtures.ts';
import { checkTarget } from '../../src/upstream/health-check.ts';

function cluster(hc: string): unknown {
  return YAML.parse(`
static_resources:
  clusters:
  - name: c
    health_checks:${hc}
    load_assignment:
      cluster_name: c
      endpoints:
      - lb_endpoints:
        - endpoint:
            address: { socket_address: { address: 127.0.0.1, port_value: 80 } }
            health_check_config: { port_value: 8081 }
`);
}
const HC = `
    - timeout: 1s
      interval: 5s
      unhealthy_threshold: 3
      healthy_threshold: 2`;

test('defaults: unhealthy_interval = interval, edges follow, no_traffic_interval 60 s, reuse_connection', () => {
  const c = compileConfig(cluster(`${HC}
      http_health_check: { path: /hc }`)).clusters[0];
  const hc = c.healthCheck!;
  assert.equal(hc.intervalMs, 5000);
  assert.equal(hc.timeoutMs, 1000);
  assert.equal(hc.unhealthyIntervalMs, 5000);
  assert.equal(hc.unhealthyEdgeIntervalMs, 5000);
  assert.equal(hc.healthyEdgeIntervalMs, 5000);
  assert.equal(hc.noTrafficIntervalMs, 60_000);
  assert.equal(hc.reuseConnection, true);
  assert.equal(hc.checker.name, 'envoy.health_checkers.http');
  assert.deepEqual((hc.checker.config as { expected: unknown }).expected, [[200, 201]]);
  assert.equal(c.hosts[0].hcPort, 8081);
  // unhealthy_edge_interval follows unhealthy_interval when only that is set.
  const u = compileConfig(cluster(`${HC}
      unhealthy_interval: 2s
      tcp_health_check: {}`)).clusters[0].healthCheck!;
  assert.equal(u.unhealthyEdgeIntervalMs, 2000);
  assert.equal(u.checker.name, 'envoy.health_checkers.tcp');
  assert.equal(compileConfig(cluster('')).clusters[0].healthCheck, null);
});

test('health check errors name the field', () => {
  const err = (hc: string): string => configErrors(() => compileConfig(cluster(hc))).join('\n');
  assert.match(err(`${HC}
      http_health_check: { path: /a }${HC}
      http_health_check: { path: /b }`), /static_resources\.clusters\[0\]\.health_checks: Legate runs one health check per cluster/);
  assert.match(err(`${HC}
      tcp_health_check: { send: { text: "zz" } }`), /health_checks\[0\]\.tcp_health_check\.send\.text: invalid hex string "zz"/);
  assert.match(err(`${HC}
      http_health_check: { path: /a, expected_statuses: [{ start: 300, end: 200 }] }`),
  /health_checks\[0\]\.http_health_check\.expected_statuses\[0\]: a status range must lie within \[100, 600\) with start < end/);
  assert.match(err(`${HC}
      http_health_check: { path: /a, request_headers_to_add: [{ header: { key: x, value: y }, append_action: OVERWRITE_IF_EXISTS_OR_ADD }] }`),
  /request_headers_to_add\[0\]\.append_action: is not supported on a health check request/);
  assert.match(err(`${HC}
      custom_health_check: { name: x }`), /custom_health_check: field is not supported by Legate/);
  assert.match(err(`${HC}
      http_health_check: { path: /a, codec_client_type: HTTP3 }`), /codec_client_type/);
  assert.match(err(`${HC}
      http_health_check: { path: /a, codec_client_type: HTTP2, request_headers_to_add: [{ header: { key: Connection, value: x } }] }`),
  /request_headers_to_add\[0\]\.header\.key: "connection" is a connection-specific header, which HTTP\/2 does not carry/);
  assert.match(err(`
    - timeout: 1s
      interval: 5s
      healthy_threshold: 2
      http_health_check: { path: /a }`), /health_checks\[0\]\.unhealthy_threshold/);
});

function withHcc(hcc: string, type = 'STATIC', address = '127.0.0.1'): unknown {
  return YAML.parse(`
static_resources:
  clusters:
  - name: c
    type: ${type}
    health_checks:${HC}
      http_health_check: { path: /hc, host: cluster.test, codec_client_type: HTTP2 }
    load_assignment:
      cluster_name: c
      endpoints:
      - lb_endpoints:
        - endpoint:
            address: { socket_address: { address: ${address}, port_value: 80 } }
            health_check_config: ${hcc}
`);
}

test('codec_client_type HTTP2; endpoint health_check_config hostname and address (Envoy\'s resolveHealthCheckAddress)', () => {
  const c = compileConfig(withHcc('{ hostname: ep.test }')).clusters[0];
  assert.equal((c.healthCheck!.checker.config as { http2: boolean }).http2, true);
  assert.deepEqual([c.hosts[0].hcAddress, c.hosts[0].hcPort, c.hosts[0].hcHostname], ['', 0, 'ep.test']);
  // address: with its own port, or with port_value when set.
  const a = compileConfig(withHcc('{ address: { socket_address: { address: 127.0.0.2, port_value: 9000 } } }')).clusters[0].hosts[0];
  assert.deepEqual([a.hcAddress, a.hcPort], ['127.0.0.2', 9000]);
  assert.deepEqual(checkTarget(a), { address: '127.0.0.2', port: 9000, hostname: '' });
  assert.deepEqual(checkTarget(c.hosts[0]), { address: '127.0.0.1', port: 80, hostname: 'ep.test' });
  const b = compileConfig(withHcc('{ port_value: 9001, address: { socket_address: { address: "::1", port_value: 9000 } } }'))
    .clusters[0].hosts[0];
  assert.deepEqual([b.hcAddress, b.hcPort], ['::1', 9001]);
  const err = (hcc: string, type?: string, address?: string): string =>
    configErrors(() => compileConfig(withHcc(hcc, type, address))).join('\n');
  assert.match(err('{ address: { socket_address: { address: hc.test, port_value: 9000 } } }'),
    /lb_endpoints\[0\]\.endpoint\.health_check_config\.address\.socket_address\.address: a health check address must be an IP address, got "hc\.test"/);
  assert.match(err('{ address: { socket_address: { address: 127.0.0.2, port_value: 0 } } }'),
    /health_check_config\.address\.socket_address\.port_value: a health check address needs a port/);
  assert.match(err('{ disable_active_health_check: true }'), /disable_active_health_check: field is not supported by Legate/);
  // A DNS cluster's endpoints too.
  assert.match(err('{ address: { socket_address: { address: x.test, port_value: 1 } } }', 'STRICT_DNS', 'svc.test'),
    /health_check_config\.address\.socket_address\.address: a health check address must be an IP address/);
});
