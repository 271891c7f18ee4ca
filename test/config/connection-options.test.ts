// A cluster's connection options in the config: HttpProtocolOptions in typed_extension_protocol_options
// (and the deprecated Cluster fields), upstream_connection_options.tcp_keepalive and
// preconnect_policy, compiled with Envoy's defaults; what Envoy refuses and what Legate cannot act
// on refused with the field path.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { C0, compileConfig, configErrors, hcmOf, minimal } from './fixtures.ts';
import { validateBootstrap } from '../../src/config/load.ts';
import { DEFAULT_CONNECTION_OPTIONS } from '../../src/upstream/connection-options.ts';

const HPO = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';
const TEPO = `${C0}.typed_extension_protocol_options["${HPO}"]`;

function withCluster(fields: Record<string, unknown>): any {
  const cfg = minimal();
  Object.assign(cfg.static_resources.clusters[0], fields);
  return cfg;
}
const optionsOf = (fields: Record<string, unknown>): unknown => compileConfig(withCluster(fields)).clusters[0].connections;
const errorsOf = (fields: Record<string, unknown>): string[] => configErrors(() => compileConfig(withCluster(fields)));
const unsupported = (...lines: string[]): string[] => [
  `${lines.length} field(s) set that Legate does not act on yet; remove them, or set allowUnsupportedFields (they are `
    + 'then ignored with a warning):',
  ...lines,
];
/** typed_extension_protocol_options with an HttpProtocolOptions of these fields. */
const typed = (fields: Record<string, unknown>): Record<string, unknown> => ({
  typed_extension_protocol_options: { [HPO]: { '@type': `type.googleapis.com/${HPO}`, ...fields } },
});
const explicit = { explicit_http_config: { http_protocol_options: {} } };

test('Envoy\'s defaults: 1 h idle timeout, no duration or request limit, 100 headers, no keepalive, ratio 1', () => {
  assert.deepEqual(optionsOf({}), {
    idleTimeoutMs: 3_600_000, maxConnectionDurationMs: 0, maxRequestsPerConnection: 0, maxResponseHeadersCount: 100,
    tcpKeepaliveMs: -1, preconnectRatio: 1,
  });
  assert.deepEqual(optionsOf({}), DEFAULT_CONNECTION_OPTIONS);
  assert.deepEqual(optionsOf(typed(explicit)), DEFAULT_CONNECTION_OPTIONS);
  assert.deepEqual(optionsOf(typed({ use_downstream_protocol_config: {} })), DEFAULT_CONNECTION_OPTIONS);
});

test('HttpProtocolOptions.common_http_protocol_options', () => {
  assert.deepEqual(optionsOf(typed({
    ...explicit,
    common_http_protocol_options: {
      idle_timeout: '0.25s', max_connection_duration: '60s', max_requests_per_connection: 100, max_headers_count: 20,
    },
  })), {
    ...DEFAULT_CONNECTION_OPTIONS, idleTimeoutMs: 250, maxConnectionDurationMs: 60_000, maxRequestsPerConnection: 100,
    maxResponseHeadersCount: 20,
  });
  // 0: no idle timeout (Envoy's "disabled").
  assert.equal((optionsOf(typed({ ...explicit, common_http_protocol_options: { idle_timeout: '0s' } })) as any).idleTimeoutMs, 0);
  assert.deepEqual(errorsOf(typed({ ...explicit, common_http_protocol_options: { idle_timeout: '-1s' } })), [
    `${TEPO}.common_http_protocol_options.idle_timeout: Expected positive duration: {"seconds":-1,"nanos":0}`,
  ]);
});

test('the deprecated Cluster.common_http_protocol_options and max_requests_per_connection', () => {
  assert.deepEqual(optionsOf({ common_http_protocol_options: { idle_timeout: '5s' }, max_requests_per_connection: 3 }), {
    ...DEFAULT_CONNECTION_OPTIONS, idleTimeoutMs: 5000, maxRequestsPerConnection: 3,
  });
  // With the typed options too: Envoy's rule for max_requests_per_connection; the deprecated
  // common_http_protocol_options, which Envoy would ignore, is refused.
  assert.deepEqual(optionsOf({ ...typed(explicit), max_requests_per_connection: 3 }), {
    ...DEFAULT_CONNECTION_OPTIONS, maxRequestsPerConnection: 3,
  });
  assert.deepEqual(errorsOf({
    ...typed({ ...explicit, common_http_protocol_options: { max_requests_per_connection: 2 } }), max_requests_per_connection: 3,
  }), [
    `${C0}.max_requests_per_connection: Only one of max_requests_per_connection from Cluster or HttpProtocolOptions can be specified`,
  ]);
  assert.deepEqual(errorsOf({ ...typed(explicit), common_http_protocol_options: { idle_timeout: '5s' } }), [
    `${C0}.common_http_protocol_options: ignored by Envoy when typed_extension_protocol_options["${HPO}"] is set: set its fields there`,
  ]);
  const { warnings } = validateBootstrap(withCluster({ max_requests_per_connection: 3 }));
  assert.deepEqual(warnings, [`${C0}.max_requests_per_connection: field is deprecated in Envoy's API`]);
});

test('HTTP/2, HTTP/3, auto_config and the rest of HttpProtocolOptions are refused by name', () => {
  assert.deepEqual(errorsOf(typed({ explicit_http_config: { http2_protocol_options: {} } })), unsupported(
    `${TEPO}.explicit_http_config.http2_protocol_options: field is not supported by Legate`,
  ));
  assert.deepEqual(errorsOf(typed({ auto_config: {} })), unsupported(`${TEPO}.auto_config: field is not supported by Legate`));
  assert.deepEqual(errorsOf(typed({ use_downstream_protocol_config: { http2_protocol_options: {} } })), unsupported(
    `${TEPO}.use_downstream_protocol_config.http2_protocol_options: field is not supported by Legate`,
  ));
  assert.deepEqual(errorsOf(typed({ explicit_http_config: { http_protocol_options: { accept_http_10: true } } })), unsupported(
    `${TEPO}.explicit_http_config.http_protocol_options.accept_http_10: field is not supported by Legate (value true)`,
  ));
  assert.deepEqual(errorsOf(typed({ ...explicit, upstream_http_protocol_options: { auto_sni: true } })), unsupported(
    `${TEPO}.upstream_http_protocol_options: field is not supported by Legate`,
  ));
  assert.deepEqual(errorsOf(typed({ ...explicit, common_http_protocol_options: { max_stream_duration: '5s' } })), unsupported(
    `${TEPO}.common_http_protocol_options.max_stream_duration: field is not supported by Legate`,
  ));
  // The proto's own rule: one of the protocol choices is required.
  assert.deepEqual(errorsOf(typed({})), [
    `${TEPO}: one of "explicit_http_config", "use_downstream_protocol_config", "auto_config" must be set `
      + '(oneof "upstream_protocol_options" is required)',
  ]);
});

test('typed_extension_protocol_options: the key names the extension; other protocol options are refused', () => {
  const key = (k: string, type: string, fields: Record<string, unknown> = {}): Record<string, unknown> => ({
    typed_extension_protocol_options: { [k]: { '@type': `type.googleapis.com/${type}`, ...fields } },
  });
  assert.deepEqual(errorsOf(key('envoy.upstreams.http', HPO, explicit)), [
    `${C0}.typed_extension_protocol_options["envoy.upstreams.http"]: Didn't find a registered network or http filter or `
      + 'protocol options implementation for name: \'envoy.upstreams.http\'',
  ]);
  // Envoy registers the factory under an alias too.
  assert.equal((optionsOf(key('envoy.upstreams.http.http_protocol_options', HPO, {
    ...explicit, common_http_protocol_options: { idle_timeout: '2s' },
  })) as any).idleTimeoutMs, 2000);
  const tcp = 'envoy.extensions.upstreams.tcp.v3.TcpProtocolOptions';
  assert.deepEqual(errorsOf(key(tcp, tcp)), [
    `${C0}.typed_extension_protocol_options["${tcp}"]: extension "${tcp}" (type.googleapis.com/${tcp}) is not supported by Legate`,
  ]);
  const router = 'envoy.extensions.filters.http.router.v3.Router';
  assert.deepEqual(errorsOf(key(HPO, router)), [
    `${TEPO}: type.googleapis.com/${router} is not a protocol options message`,
  ]);
});

test('the HCM refuses the options only upstream connections act on', () => {
  for (const f of ['max_connection_duration', 'max_requests_per_connection']) {
    const cfg = minimal();
    hcmOf(cfg).common_http_protocol_options = { [f]: f === 'max_connection_duration' ? '5s' : 5 };
    const path = 'static_resources.listeners[0].filter_chains[0].filters[0].typed_config.common_http_protocol_options';
    assert.deepEqual(configErrors(() => compileConfig(cfg)), [
      `${path}.${f}: Legate acts on it for upstream connections only (a cluster's HttpProtocolOptions), not on downstream ones`,
    ]);
  }
});

test('tcp_keepalive: keepalive_time; probes and interval only at the values Node sets', () => {
  const ka = (k: Record<string, unknown>) => ({ upstream_connection_options: { tcp_keepalive: k } });
  assert.equal((optionsOf(ka({})) as any).tcpKeepaliveMs, 0);
  assert.equal((optionsOf(ka({ keepalive_time: 30 })) as any).tcpKeepaliveMs, 30_000);
  assert.equal((optionsOf(ka({ keepalive_time: 30, keepalive_probes: 10, keepalive_interval: 1 })) as any).tcpKeepaliveMs, 30_000);
  const path = `${C0}.upstream_connection_options.tcp_keepalive`;
  assert.deepEqual(errorsOf(ka({ keepalive_probes: 3 })), [
    `${path}.keepalive_probes: Node always sets TCP_KEEPCNT=10 when it enables keepalive (socket.setKeepAlive) and cannot `
      + 'set 3; leave it unset or set 10',
  ]);
  assert.deepEqual(errorsOf(ka({ keepalive_interval: 5 })), [
    `${path}.keepalive_interval: Node always sets TCP_KEEPINTVL=1 s when it enables keepalive (socket.setKeepAlive) and `
      + 'cannot set 5; leave it unset or set 1',
  ]);
  assert.deepEqual(errorsOf(ka({ keepalive_time: 0 })), [
    `${path}.keepalive_time: must be at least 1 (seconds): the kernel refuses an idle time of 0`,
  ]);
  assert.deepEqual(errorsOf({ upstream_connection_options: { happy_eyeballs_config: {} } }), unsupported(
    `${C0}.upstream_connection_options.happy_eyeballs_config: field is not supported by Legate`,
  ));
});

test('preconnect_policy: per_upstream_preconnect_ratio (1 to 3); predictive_preconnect_ratio refused', () => {
  assert.equal((optionsOf({ preconnect_policy: { per_upstream_preconnect_ratio: 1.5 } }) as any).preconnectRatio, 1.5);
  assert.deepEqual(errorsOf({ preconnect_policy: { per_upstream_preconnect_ratio: 3.5 } }), [
    `${C0}.preconnect_policy.per_upstream_preconnect_ratio: value must be less than or equal to 3, got 3.5`,
  ]);
  assert.deepEqual(errorsOf({ preconnect_policy: { predictive_preconnect_ratio: 2 } }), unsupported(
    `${C0}.preconnect_policy.predictive_preconnect_ratio: field is not supported by Legate (value 2)`,
  ));
});
