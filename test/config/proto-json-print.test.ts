// The normalized config printed back as proto3 JSON the way Envoy prints a message in the admin:
// field-number order, defaults left out but oneof members kept, 64-bit integers as strings,
// well-known types in their JSON forms, Any with its @type, sensitive fields redacted; and printing
// what the loader reads back from the output gives the same output again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { loadBootstrapFile, loadBootstrapText, validateBootstrap } from '../../src/config/load.ts';
import { formatTimestamp, printMessage, timestampJson } from '../../src/config/proto-json-print.ts';

const CLUSTER = 'envoy.config.cluster.v3.Cluster';

function clusterOf(yaml: string): Record<string, unknown> {
  const b = loadBootstrapText(`static_resources:\n  clusters:\n${yaml}`, 'yaml', { allowUnsupportedFields: true }).bootstrap;
  return b.static_resources!.clusters![0] as unknown as Record<string, unknown>;
}

test('a cluster: field-number order, defaults out, the oneof member kept, durations, wrappers, uint64 as a string', () => {
  const c = clusterOf(`
  - lb_policy: ROUND_ROBIN
    load_assignment:
      cluster_name: web
      endpoints:
      - priority: 0
        lb_endpoints:
        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 8080 } } }
          load_balancing_weight: 2
    connect_timeout: 0.250s
    type: STATIC
    name: web
    per_connection_buffer_limit_bytes: 0
    circuit_breakers: { thresholds: [{ priority: DEFAULT, max_connections: 7, track_remaining: false }] }
    ring_hash_lb_config: { minimum_ring_size: 2048 }
    metadata: { filter_metadata: { x: { n: 1, s: "a", l: [true, null] } } }
`);
  const out = printMessage(CLUSTER, c);
  assert.deepEqual(out, {
    name: 'web',
    type: 'STATIC',
    connect_timeout: '0.250s',
    per_connection_buffer_limit_bytes: 0,
    circuit_breakers: { thresholds: [{ max_connections: 7 }] },
    ring_hash_lb_config: { minimum_ring_size: '2048' },
    metadata: { filter_metadata: { x: { n: 1, s: 'a', l: [true, null] } } },
    load_assignment: {
      cluster_name: 'web',
      endpoints: [{
        lb_endpoints: [{
          endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: 8080 } } },
          load_balancing_weight: 2,
        }],
      }],
    },
  });
  // Cluster field numbers: name 1, type 2, connect_timeout 4, per_connection_buffer_limit_bytes 5,
  // circuit_breakers 10, ring_hash_lb_config 23, metadata 25, load_assignment 33.
  assert.deepEqual(Object.keys(out), ['name', 'type', 'connect_timeout', 'per_connection_buffer_limit_bytes',
    'circuit_breakers', 'ring_hash_lb_config', 'metadata', 'load_assignment']);
});

test('an Any prints its @type then the fields of the message inside; sensitive fields are redacted', () => {
  const tls = {
    '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
    sni: 'up.test',
    common_tls_context: {
      tls_certificates: [{
        certificate_chain: { inline_string: 'CERT' },
        private_key: { inline_bytes: Buffer.from('KEY').toString('base64') },
        password: { inline_string: 'secret' },
      }],
      validation_context: { trusted_ca: { filename: '/etc/ca.pem' } },
    },
  };
  const out = printMessage(CLUSTER, {
    name: 'tls', transport_socket: { name: 'envoy.transport_sockets.tls', typed_config: tls },
  });
  assert.deepEqual(out.transport_socket, {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
      common_tls_context: {
        tls_certificates: [{
          certificate_chain: { inline_string: 'CERT' },
          private_key: { inline_bytes: Buffer.from('[redacted]').toString('base64') },
          password: { inline_string: '[redacted]' },
        }],
        validation_context: { trusted_ca: { filename: '/etc/ca.pem' } },
      },
      sni: 'up.test',
    },
  });
  const plain = printMessage(CLUSTER, { name: 'tls', transport_socket: { typed_config: tls } }, { redact: false });
  assert.equal((plain as any).transport_socket.typed_config.common_tls_context.tls_certificates[0].password.inline_string, 'secret');
});

test('enums by name, 0 left out unless in a oneof; NaN and infinities as strings; Timestamp', () => {
  const out = printMessage(CLUSTER, {
    name: 'x', lb_policy: 'LEAST_REQUEST', dns_lookup_family: 'AUTO',
    common_lb_config: { healthy_panic_threshold: { value: NaN } },
  });
  assert.deepEqual(out, { name: 'x', lb_policy: 'LEAST_REQUEST', common_lb_config: { healthy_panic_threshold: { value: 'NaN' } } });
  assert.equal(formatTimestamp({ seconds: 5, nanos: 0 }), '1970-01-01T00:00:05Z');
  assert.equal(formatTimestamp({ seconds: 5, nanos: 120_000_000 }), '1970-01-01T00:00:05.120Z');
  assert.equal(formatTimestamp({ seconds: 5, nanos: 1000 }), '1970-01-01T00:00:05.000001Z');
  assert.equal(timestampJson(Date.UTC(2024, 0, 2, 3, 4, 5, 678)), '2024-01-02T03:04:05.678Z');
});

test('printing what the loader reads back from the output gives the same output (every example config)', () => {
  const dir = path.join(import.meta.dirname, '../../examples');
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.yaml'));
  assert.ok(files.length > 0);
  for (const f of files) {
    const b = loadBootstrapFile(path.join(dir, f), { allowUnsupportedFields: true }).bootstrap as unknown as Record<string, unknown>;
    const once = printMessage('envoy.config.bootstrap.v3.Bootstrap', b, { redact: false });
    const again = validateBootstrap(structuredClone(once), { allowUnsupportedFields: true }).bootstrap;
    assert.deepEqual(printMessage('envoy.config.bootstrap.v3.Bootstrap', again as any, { redact: false }), once, f);
  }
});
