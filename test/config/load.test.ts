import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { fieldSupport } from '../../src/config/supported.ts';
import {
  ConfigError, loadBootstrapFile, loadBootstrapText, validateBootstrap, type LoadOptions,
} from '../../src/config/load.ts';
import {
  C0, F0, FILE_LOG_TYPE, FULL_NORMALIZED, FULL_YAML, HCM, HCM_TYPE, L0, ROUTER_TYPE, VH0, hcmOf, minimal,
} from './fixtures.ts';

/** The errors a config is rejected with (fails when it is accepted). */
function errorsOf(obj: unknown, opts?: LoadOptions): string[] {
  try {
    validateBootstrap(obj, opts);
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected ConfigError, got ${String(e)}`);
    assert.equal(e.code, 'LEGATE_ERR_CONFIG');
    assert.equal(e.message, e.errors.join('\n'));
    return e.errors;
  }
  assert.fail('config was accepted');
}

function rejectsWith(obj: unknown, expected: string[]): void {
  assert.deepEqual(errorsOf(obj), expected);
}

function textErrors(text: string, format: 'yaml' | 'json'): string[] {
  try {
    loadBootstrapText(text, format);
  } catch (e) {
    assert.ok(e instanceof ConfigError);
    return e.errors;
  }
  assert.fail('config was accepted');
}

describe('valid configs', () => {
  test('a full config round-trips to the normalized form', () => {
    const { bootstrap, warnings } = loadBootstrapText(FULL_YAML, 'yaml');
    assert.deepEqual(bootstrap, FULL_NORMALIZED);
    assert.deepEqual(warnings, []);
    // Plain data: workers receive it by structured clone.
    assert.deepEqual(structuredClone(bootstrap), FULL_NORMALIZED);
  });

  test('the same config as JSON, and from files by extension', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'legate-config-'));
    try {
      const json = JSON.stringify(YAML.parse(FULL_YAML));
      fs.writeFileSync(path.join(dir, 'a.json'), json);
      fs.writeFileSync(path.join(dir, 'a.yaml'), FULL_YAML);
      fs.writeFileSync(path.join(dir, 'a.yml'), FULL_YAML);
      assert.deepEqual(loadBootstrapText(json, 'json').bootstrap, FULL_NORMALIZED);
      for (const f of ['a.json', 'a.yaml', 'a.yml']) {
        assert.deepEqual(loadBootstrapFile(path.join(dir, f)).bootstrap, FULL_NORMALIZED);
      }
      fs.writeFileSync(path.join(dir, 'a.txt'), FULL_YAML);
      assert.throws(() => loadBootstrapFile(path.join(dir, 'a.txt')), (e: unknown) =>
        e instanceof ConfigError && /unknown config file extension "\.txt"/.test(e.message));
      assert.throws(() => loadBootstrapFile(path.join(dir, 'missing.yaml')), (e: unknown) =>
        e instanceof ConfigError && /cannot read/.test(e.message));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('only fields that were set appear; defaults are not filled in', () => {
    const { bootstrap } = validateBootstrap(minimal());
    const c = bootstrap.static_resources!.clusters![0]!;
    assert.deepEqual(Object.keys(c).sort(), ['connect_timeout', 'load_assignment', 'name']);
    assert.equal(c.lb_policy, undefined);
  });

  test('lowerCamelCase names are accepted and normalized to snake_case', () => {
    const camel = {
      staticResources: {
        listeners: [{
          name: 'l0',
          address: { socketAddress: { address: '127.0.0.1', portValue: 10000 } },
          perConnectionBufferLimitBytes: 1024,
          enableReusePort: true,
          filterChains: [{
            filters: [{
              name: 'envoy.filters.network.http_connection_manager',
              typedConfig: {
                '@type': HCM_TYPE,
                statPrefix: 'http',
                codecType: 'HTTP1',
                xffNumTrustedHops: 2,
                commonHttpProtocolOptions: { idleTimeout: '5s', maxHeadersCount: 10 },
                routeConfig: {
                  virtualHosts: [{
                    name: 'vh', domains: ['*'],
                    routes: [{ match: { prefix: '/' }, directResponse: { status: 204 } }],
                  }],
                },
                httpFilters: [{ name: 'envoy.filters.http.router', typedConfig: { '@type': ROUTER_TYPE } }],
              },
            }],
          }],
        }],
        clusters: [{ name: 'c0', connectTimeout: '1s', lbPolicy: 'ROUND_ROBIN' }],
      },
    };
    const { bootstrap } = validateBootstrap(camel);
    const l = bootstrap.static_resources!.listeners![0]!;
    assert.equal(l.per_connection_buffer_limit_bytes, 1024);
    assert.equal(l.enable_reuse_port, true);
    assert.deepEqual(l.address, { socket_address: { address: '127.0.0.1', port_value: 10000 } });
    const hcm = l.filter_chains![0]!.filters![0]!.typed_config as any;
    assert.equal(hcm.stat_prefix, 'http');
    assert.equal(hcm.codec_type, 'HTTP1');
    assert.equal(hcm.xff_num_trusted_hops, 2);
    assert.deepEqual(hcm.common_http_protocol_options, { idle_timeout: { seconds: 5, nanos: 0 }, max_headers_count: 10 });
    assert.deepEqual(hcm.route_config.virtual_hosts[0].routes[0].direct_response, { status: 204 });
    assert.deepEqual(bootstrap.static_resources!.clusters![0], {
      name: 'c0', connect_timeout: { seconds: 1, nanos: 0 }, lb_policy: 'ROUND_ROBIN',
    });
  });

  test('a field given in both spellings is an error', () => {
    const cfg = minimal();
    cfg.static_resources.clusters[0].connectTimeout = '2s';
    rejectsWith(cfg, [`${C0}.connect_timeout: field set twice (as "connect_timeout" and "connectTimeout")`]);
  });

  test('null means unset', () => {
    const cfg = minimal();
    cfg.static_resources.clusters[0].lb_policy = null;
    cfg.admin = null;
    const { bootstrap } = validateBootstrap(cfg);
    assert.equal('lb_policy' in bootstrap.static_resources!.clusters![0]!, false);
    assert.equal('admin' in bootstrap, false);
  });

  test('enums by name, case-insensitively (as Envoy loads them), or by number', () => {
    const cfg = minimal();
    cfg.static_resources.clusters[0].lb_policy = 'round_robin';
    cfg.static_resources.clusters[0].type = 0;
    hcmOf(cfg).codec_type = 'http1';
    const { bootstrap } = validateBootstrap(cfg);
    assert.equal(bootstrap.static_resources!.clusters![0]!.lb_policy, 'ROUND_ROBIN');
    assert.equal(bootstrap.static_resources!.clusters![0]!.type, 'STATIC');
    assert.equal((bootstrap.static_resources!.listeners![0]!.filter_chains![0]!.filters![0]!.typed_config as any)
      .codec_type, 'HTTP1');
  });

  test('durations', () => {
    const cfg = minimal();
    const route = hcmOf(cfg).route_config.virtual_hosts[0].routes[0].route;
    route.timeout = '0s';
    route.idle_timeout = '1.000000001s';
    hcmOf(cfg).stream_idle_timeout = '90s';
    hcmOf(cfg).request_timeout = '0.050s';
    const { bootstrap } = validateBootstrap(cfg);
    const hcm = bootstrap.static_resources!.listeners![0]!.filter_chains![0]!.filters![0]!.typed_config as any;
    assert.deepEqual(hcm.route_config.virtual_hosts[0].routes[0].route.timeout, { seconds: 0, nanos: 0 });
    assert.deepEqual(hcm.route_config.virtual_hosts[0].routes[0].route.idle_timeout, { seconds: 1, nanos: 1 });
    assert.deepEqual(hcm.stream_idle_timeout, { seconds: 90, nanos: 0 });
    assert.deepEqual(hcm.request_timeout, { seconds: 0, nanos: 50_000_000 });
    for (const bad of ['abc', '1', '1.5', '1m', '1.0000000001s', '', ' 1s']) {
      const c = minimal();
      c.static_resources.clusters[0].connect_timeout = bad;
      rejectsWith(c, [`${C0}.connect_timeout: invalid duration ${JSON.stringify(bad)}`]);
    }
    const c = minimal();
    c.static_resources.clusters[0].connect_timeout = 5;
    rejectsWith(c, [`${C0}.connect_timeout: invalid duration 5`]);
  });

  test('circuit breakers: max_retries and retry_budget are acted on; a budget_percent over 100 is refused', () => {
    const cfg = minimal();
    cfg.static_resources.clusters[0].circuit_breakers = { thresholds: [{ max_retries: 2 }] };
    assert.deepEqual(validateBootstrap(cfg).warnings, []);
    cfg.static_resources.clusters[0].circuit_breakers = {
      thresholds: [{ retry_budget: { budget_percent: { value: 20 }, min_retry_concurrency: 2 } }],
    };
    assert.deepEqual(validateBootstrap(cfg).warnings, []);
    cfg.static_resources.clusters[0].circuit_breakers = { thresholds: [{ retry_budget: { budget_percent: { value: 150 } } }] };
    rejectsWith(cfg, [`${C0}.circuit_breakers.thresholds[0].retry_budget.budget_percent.value: value must be less than or equal to 100, got 150`]);
  });

  test('wrappers are plain scalars, present even when set to the default', () => {
    const cfg = minimal();
    cfg.static_resources.listeners[0].enable_reuse_port = false;
    cfg.static_resources.listeners[0].per_connection_buffer_limit_bytes = '0';
    cfg.static_resources.clusters[0].circuit_breakers = { thresholds: [{ max_connections: '100', max_requests: 0 }] };
    hcmOf(cfg).generate_request_id = true;
    const { bootstrap } = validateBootstrap(cfg);
    const l = bootstrap.static_resources!.listeners![0]!;
    assert.equal(l.enable_reuse_port, false);
    assert.equal(l.per_connection_buffer_limit_bytes, 0);
    assert.deepEqual(bootstrap.static_resources!.clusters![0]!.circuit_breakers, {
      thresholds: [{ max_connections: 100, max_requests: 0 }],
    });
    const bad = minimal();
    bad.static_resources.listeners[0].enable_reuse_port = { value: true };
    bad.static_resources.listeners[0].per_connection_buffer_limit_bytes = -1;
    rejectsWith(bad, [
      `${L0}.enable_reuse_port: expected boolean, got object`,
      `${L0}.per_connection_buffer_limit_bytes: integer out of range for uint32, got -1`,
    ]);
  });

  test('64-bit integers from strings or numbers, as JS numbers', () => {
    const cfg = minimal();
    cfg.static_resources.clusters[0].ring_hash_lb_config = { minimum_ring_size: '1024', maximum_ring_size: 2048 };
    const { bootstrap, warnings } = validateBootstrap(cfg, { allowUnsupportedFields: true });
    assert.deepEqual((bootstrap.static_resources!.clusters![0] as any).ring_hash_lb_config, {
      minimum_ring_size: 1024, maximum_ring_size: 2048,
    });
    assert.deepEqual(warnings, []);
    const big = minimal();
    big.static_resources.clusters[0].ring_hash_lb_config = { minimum_ring_size: '18446744073709551615' };
    assert.deepEqual(errorsOf(big, { allowUnsupportedFields: true }), [
      `${C0}.ring_hash_lb_config.minimum_ring_size: integer out of range for uint64 in Legate (max 9007199254740991), `
        + 'got "18446744073709551615"',
    ]);
  });

  test('Struct fields are plain JSON; bytes are base64', () => {
    const { bootstrap } = loadBootstrapText(FULL_YAML, 'yaml');
    const hcm = bootstrap.static_resources!.listeners![0]!.filter_chains![0]!.filters![0]!.typed_config as any;
    assert.deepEqual(hcm.access_log[0].typed_config.log_format.json_format,
      { status: '%RESPONSE_CODE%', nested: { list: [1, true, null, 'x'] } });
    const cfg = minimal();
    hcmOf(cfg).route_config.virtual_hosts[0].routes[0] = {
      match: { prefix: '/' }, direct_response: { status: 200, body: { inline_bytes: 'aGk' } },
    };
    const r = validateBootstrap(cfg).bootstrap as any;
    const body = r.static_resources.listeners[0].filter_chains[0].filters[0].typed_config
      .route_config.virtual_hosts[0].routes[0].direct_response.body;
    assert.deepEqual(body, { inline_bytes: 'aGk=' });
    hcmOf(cfg).route_config.virtual_hosts[0].routes[0].direct_response.body.inline_bytes = 'not base64!';
    rejectsWith(cfg, [`${VH0}.routes[0].direct_response.body.inline_bytes: invalid base64 "not base64!"`]);
  });

  test('typed_config is resolved by @type and validated as that message', () => {
    const cfg = minimal();
    hcmOf(cfg).access_log = [{ name: 'my_log', typed_config: { '@type': FILE_LOG_TYPE, path: '/dev/null', foo: 1 } }];
    rejectsWith(cfg, [`${HCM}.access_log[0].typed_config.foo: unknown field`]);
    hcmOf(cfg).access_log = [{ name: 'my_log', typed_config: { '@type': FILE_LOG_TYPE } }];
    rejectsWith(cfg, [`${HCM}.access_log[0].typed_config.path: value length must be at least 1 characters, got ""`]);
    hcmOf(cfg).access_log = [{ name: 'my_log', typed_config: { path: '/dev/null' } }];
    rejectsWith(cfg, [`${HCM}.access_log[0].typed_config: missing "@type"`]);
    // Any prefix before the last '/' is accepted; the normalized URL is type.googleapis.com/...
    hcmOf(cfg).access_log = [{ typed_config: { '@type': 'example.com/x/envoy.extensions.access_loggers.file.v3.FileAccessLog', path: '/p' } }];
    const { bootstrap } = validateBootstrap(cfg);
    const hcm = bootstrap.static_resources!.listeners![0]!.filter_chains![0]!.filters![0]!.typed_config as any;
    assert.deepEqual(hcm.access_log, [{ typed_config: { '@type': FILE_LOG_TYPE, path: '/p' } }]);
  });

  test('a TypedStruct typed_config is normalized to its inner type', () => {
    const cfg = minimal();
    hcmOf(cfg).http_filters = [{
      name: 'envoy.filters.http.router',
      typed_config: { '@type': 'type.googleapis.com/xds.type.v3.TypedStruct', type_url: ROUTER_TYPE, value: {} },
    }];
    const { bootstrap } = validateBootstrap(cfg);
    const hcm = bootstrap.static_resources!.listeners![0]!.filter_chains![0]!.filters![0]!.typed_config as any;
    assert.deepEqual(hcm.http_filters, [{ name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER_TYPE } }]);
    hcmOf(cfg).http_filters[0].typed_config.value = { bogus: 1 };
    rejectsWith(cfg, [`${HCM}.http_filters[0].typed_config.value.bogus: unknown field`]);
  });

  test('filters named without typed_config resolve by name where the default config is valid', () => {
    const cfg = minimal();
    hcmOf(cfg).http_filters = [{ name: 'envoy.filters.http.router' }];
    hcmOf(cfg).access_log = [{ name: 'envoy.access_loggers.stderr' }, { name: 'envoy.access_loggers.stdout', typed_config: {} }];
    const { bootstrap } = validateBootstrap(cfg);
    const hcm = bootstrap.static_resources!.listeners![0]!.filter_chains![0]!.filters![0]!.typed_config as any;
    assert.deepEqual(hcm.http_filters, [{ name: 'envoy.filters.http.router' }]);
    assert.deepEqual(hcm.access_log, [{ name: 'envoy.access_loggers.stderr' }, { name: 'envoy.access_loggers.stdout', typed_config: {} }]);

    const noHcmConfig = minimal();
    delete noHcmConfig.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
    rejectsWith(noHcmConfig, [
      `${F0}: extension "envoy.filters.network.http_connection_manager" requires typed_config (its default config is `
        + 'invalid: one of "rds", "route_config", "scoped_routes" must be set (oneof "route_specifier" is required))',
    ]);

    const unknown = minimal();
    hcmOf(unknown).http_filters = [{ name: 'my.filter' }, { name: 'envoy.filters.http.router' }];
    rejectsWith(unknown, [
      `${HCM}.http_filters[0]: extension "my.filter" is unknown or not supported by Legate (set typed_config with its "@type")`,
    ]);
  });
});

describe('errors', () => {
  test('the error classes, each with its path and bad value, all collected together', () => {
    const cfg = minimal();
    cfg.static_resources.clusters[0].lb_policy = 'ROUNDROBIN';
    cfg.static_resources.clusters[0].connect_timeout = 'abc';
    cfg.static_resources.listeners[0].foo = 1;
    cfg.static_resources.listeners[0].address.socket_address.port_value = 'x';
    cfg.static_resources.listeners[0].name = 7;
    rejectsWith(cfg, [
      `${L0}.name: expected string, got number 7`,
      `${L0}.address.socket_address.port_value: expected integer, got string "x"`,
      `${L0}.foo: unknown field`,
      `${C0}.connect_timeout: invalid duration "abc"`,
      `${C0}.lb_policy: unknown value "ROUNDROBIN"`,
    ]);
  });

  test('type mismatches', () => {
    const cfg = minimal();
    cfg.static_resources.listeners = { name: 'x' };
    cfg.static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address = 'a';
    cfg.static_resources.clusters[0].connect_timeout = null;
    cfg.static_resources.clusters[0].circuit_breakers = { thresholds: [{ max_requests: 1.5 }] };
    rejectsWith(cfg, [
      'static_resources.listeners: expected array, got object',
      `${C0}.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address: expected object, got string "a"`,
      `${C0}.circuit_breakers.thresholds[0].max_requests: expected integer, got number 1.5`,
    ]);
  });

  test('two members of a oneof', () => {
    const cfg = minimal();
    hcmOf(cfg).route_config.virtual_hosts[0].routes[0].match = { prefix: '/', path: '/x' };
    rejectsWith(cfg, [
      `${VH0}.routes[0].match: fields "prefix" and "path" are both set, but only one of oneof "path_specifier" may be`,
    ]);
  });

  test('YAML syntax errors carry line and column', () => {
    const errors = textErrors('static_resources:\n  listeners: [\n  clusters: []\n', 'yaml');
    assert.ok(errors.length >= 1);
    assert.match(errors[0]!, /^yaml: .* at line \d+, column \d+$/);
    const dup = textErrors('admin: {}\nadmin: {}\n', 'yaml');
    assert.deepEqual(dup, ['yaml: Map keys must be unique at line 2, column 1']);
  });

  test('JSON syntax errors', () => {
    const errors = textErrors('{"static_resources": ', 'json');
    assert.equal(errors.length, 1);
    assert.match(errors[0]!, /^json: /);
  });

  test('documents that are not an object', () => {
    assert.deepEqual(textErrors('hello', 'yaml'), ['<root>: the bootstrap must be an object (a mapping), got a string ("hello")']);
    assert.deepEqual(textErrors('', 'yaml'), ['<root>: the bootstrap must be an object (a mapping), got an empty document']);
    assert.deepEqual(textErrors('- a\n- b\n', 'yaml'), ['<root>: the bootstrap must be an object (a mapping), got a list']);
    assert.deepEqual(textErrors('42', 'json'), ['<root>: the bootstrap must be an object (a mapping), got a number (42)']);
    assert.deepEqual(textErrors('a: 1\n---\nb: 2\n', 'yaml'), ['yaml: expected one document, got 2']);
  });

  test('YAML anchors and merge keys work as in Envoy', () => {
    const text = `
static_resources:
  clusters:
  - &base
    name: a
    connect_timeout: 1s
  - <<: *base
    name: b
`;
    const { bootstrap } = loadBootstrapText(text, 'yaml');
    assert.deepEqual(bootstrap.static_resources!.clusters!.map((c) => [c.name, c.connect_timeout]), [
      ['a', { seconds: 1, nanos: 0 }], ['b', { seconds: 1, nanos: 0 }],
    ]);
  });
});

describe('unsupported extensions', () => {
  test('a known Envoy extension Legate does not implement is refused by name', () => {
    const cfg = minimal();
    const filters = cfg.static_resources.listeners[0].filter_chains[0].filters;
    filters.push({
      name: 'envoy.filters.network.redis_proxy',
      typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.filters.network.redis_proxy.v3.RedisProxy',
        stat_prefix: 'redis',
      },
    });
    rejectsWith(cfg, [
      `${L0}.filter_chains[0].filters[1]: extension "envoy.filters.network.redis_proxy" `
        + '(type.googleapis.com/envoy.extensions.filters.network.redis_proxy.v3.RedisProxy) is not supported by Legate',
    ]);
  });

  test('by type, whatever the filter is named; and by name without typed_config', () => {
    const cfg = minimal();
    hcmOf(cfg).http_filters.unshift(
      { name: 'my-dynamo', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.dynamo.v3.Dynamo' } },
      { name: 'envoy.filters.http.lua' },
    );
    rejectsWith(cfg, [
      `${HCM}.http_filters[0]: extension "envoy.filters.http.dynamo" `
        + '(type.googleapis.com/envoy.extensions.filters.http.dynamo.v3.Dynamo) is not supported by Legate',
      `${HCM}.http_filters[1]: extension "envoy.filters.http.lua" `
        + '(type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua) is not supported by Legate',
    ]);
  });

  test('a real Envoy type that is not in the registry is refused too', () => {
    const cfg = minimal();
    hcmOf(cfg).http_filters.unshift({
      name: 'envoy.filters.http.grpc_field_extraction',
      typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.grpc_field_extraction.v3.GrpcFieldExtractionConfig' },
    });
    rejectsWith(cfg, [
      `${HCM}.http_filters[0]: extension "envoy.filters.http.grpc_field_extraction" (type.googleapis.com/`
        + 'envoy.extensions.filters.http.grpc_field_extraction.v3.GrpcFieldExtractionConfig) is not supported by Legate',
    ]);
  });

  test('an @type whose proto cannot be found is an unknown type', () => {
    const cfg = minimal();
    hcmOf(cfg).http_filters[0].typed_config['@type'] = 'type.googleapis.com/envoy.extensions.filters.http.nope.v3.Nope';
    rejectsWith(cfg, [`${HCM}.http_filters[0].typed_config: unknown type "type.googleapis.com/envoy.extensions.filters.http.nope.v3.Nope"`]);
  });

  test('an extension in the wrong slot', () => {
    const cfg = minimal();
    cfg.static_resources.listeners[0].filter_chains[0].filters.unshift({
      name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER_TYPE },
    });
    rejectsWith(cfg, [
      `${L0}.filter_chains[0].filters[0]: extension "envoy.filters.http.router" (envoy.filters.http) cannot be used as a network extension`,
    ]);
  });

  test('inside an unsupported field, only the field is reported', () => {
    const cfg = minimal();
    cfg.static_resources.clusters[0].transport_socket_matches = [{
      name: 'm',
      transport_socket: {
        name: 'envoy.transport_sockets.tls',
        typed_config: {
          '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
          allow_renegotiation: true,
        },
      },
    }];
    const errors = errorsOf(cfg);
    assert.deepEqual(errors.slice(1), [`${C0}.transport_socket_matches: field is not supported by Legate`]);
    const { warnings } = validateBootstrap(cfg, { allowUnsupportedFields: true });
    assert.deepEqual(warnings, [`${C0}.transport_socket_matches: field is not supported by Legate; ignored`]);
  });
});

/** The Cluster enum values Legate implements, as the report lists them. */
function supportedValues(field: string): string {
  return fieldSupport('envoy.config.cluster.v3.Cluster', field)!.enumValues!.join(', ');
}

describe('unsupported fields', () => {
  const setUnsupported = (cfg: any): void => {
    cfg.layered_runtime = { layers: [{ name: 'static', static_layer: { a: 1 } }, { name: 'rtds', rtds_layer: { name: 'r' } }] };
    cfg.static_resources.clusters[0].type = 'ORIGINAL_DST';
    cfg.static_resources.clusters[0].close_connections_on_host_health_failure = true;
    cfg.static_resources.clusters[0].lb_policy = 'CLUSTER_PROVIDED';
    cfg.static_resources.clusters[0].ignore_health_on_host_removal = true;
    hcmOf(cfg).codec_type = 'HTTP2';
    hcmOf(cfg).route_config.virtual_hosts[0].routes[0].route.append_x_forwarded_host = true;
  };
  const lines = [
    `${L0}.filter_chains[0].filters[0].typed_config.codec_type: value "HTTP2" is not supported by Legate (supported: AUTO, HTTP1)`,
    `${VH0}.routes[0].route.append_x_forwarded_host: field is not supported by Legate (value true)`,
    `${C0}.type: value "ORIGINAL_DST" is not supported by Legate (supported: ${supportedValues('type')})`,
    `${C0}.close_connections_on_host_health_failure: field is not supported by Legate (value true)`,
    `${C0}.lb_policy: value "CLUSTER_PROVIDED" is not supported by Legate (supported: ${supportedValues('lb_policy')})`,
    `${C0}.ignore_health_on_host_removal: field is not supported by Legate (value true)`,
    'layered_runtime.layers[1].rtds_layer: field is not supported by Legate',
  ];

  test('all are listed in one report, which is an error by default', () => {
    const cfg = minimal();
    setUnsupported(cfg);
    const errors = errorsOf(cfg);
    assert.equal(errors[0], `${lines.length} field(s) set that Legate does not act on yet; remove them, or set `
      + 'allowUnsupportedFields (they are then ignored with a warning):');
    assert.deepEqual(errors.slice(1).sort(), [...lines].sort());
  });

  test('allowUnsupportedFields turns the report into warnings', () => {
    const cfg = minimal();
    setUnsupported(cfg);
    const { bootstrap, warnings } = validateBootstrap(cfg, { allowUnsupportedFields: true });
    assert.deepEqual([...warnings].sort(), lines.map((l) => `${l}; ignored`).sort());
    // The tree keeps them (normalized); consumers read only the supported subset.
    assert.equal((bootstrap.static_resources!.clusters![0] as any).close_connections_on_host_health_failure, true);
  });

  test('hard errors stay errors under allowUnsupportedFields, listed before the report', () => {
    const cfg = minimal();
    setUnsupported(cfg);
    cfg.static_resources.clusters[0].connect_timeout = 'x';
    assert.deepEqual(errorsOf(cfg, { allowUnsupportedFields: true }), [`${C0}.connect_timeout: invalid duration "x"`]);
    const errors = errorsOf(cfg);
    assert.equal(errors[0], `${C0}.connect_timeout: invalid duration "x"`);
    assert.match(errors[1]!, /^7 field\(s\) set that Legate does not act on yet/);
  });

  test('unsupported fields set to their default value are not reported', () => {
    const cfg = minimal();
    cfg.static_resources.clusters[0].dns_lookup_family = 'AUTO';
    cfg.static_resources.clusters[0].respect_dns_ttl = false;
    cfg.static_resources.clusters[0].alt_stat_name = '';
    cfg.static_resources.clusters[0].health_checks = [];
    cfg.static_resources.clusters[0].lb_policy = 'ROUND_ROBIN';
    assert.deepEqual(validateBootstrap(cfg).warnings, []);
  });

  test('deprecated fields warn, as Envoy does', () => {
    const cfg = minimal();
    hcmOf(cfg).route_config.virtual_hosts[0].routes[0].match = { safe_regex: { google_re2: {}, regex: '^/' } };
    assert.deepEqual(validateBootstrap(cfg).warnings, [
      `${VH0}.routes[0].match.safe_regex.google_re2: field is deprecated in Envoy's API`,
    ]);
  });
});

describe('protoc-gen-validate rules', () => {
  test('string.min_len', () => {
    const cfg = minimal();
    hcmOf(cfg).stat_prefix = '';
    rejectsWith(cfg, [`${HCM}.stat_prefix: value length must be at least 1 characters, got ""`]);
    delete hcmOf(cfg).stat_prefix; // an absent proto3 string is "", and PGV checks it too
    rejectsWith(cfg, [`${HCM}.stat_prefix: value length must be at least 1 characters, got ""`]);
  });

  test('uint32 lte / gte / lt', () => {
    const cfg = minimal();
    cfg.static_resources.listeners[0].address.socket_address.port_value = 70000;
    hcmOf(cfg).route_config.virtual_hosts[0].routes[0] = { match: { prefix: '/' }, direct_response: { status: 99 } };
    hcmOf(cfg).max_request_headers_kb = 9000;
    rejectsWith(cfg, [
      `${L0}.address.socket_address.port_value: value must be less than or equal to 65535, got 70000`,
      `${VH0}.routes[0].direct_response.status: value must be greater than or equal to 200, got 99`,
      `${HCM}.max_request_headers_kb: value must be less than or equal to 8192, got 9000`,
    ]);
    hcmOf(cfg).route_config.virtual_hosts[0].routes[0].direct_response.status = 600;
    assert.ok(errorsOf(cfg).includes(`${VH0}.routes[0].direct_response.status: value must be less than 600, got 600`));
  });

  test('repeated.min_items', () => {
    const cfg = minimal();
    hcmOf(cfg).route_config.virtual_hosts[0].domains = [];
    rejectsWith(cfg, [`${VH0}.domains: value must contain at least 1 item(s), got 0`]);
  });

  test('message.required and required oneofs', () => {
    const cfg = minimal();
    delete hcmOf(cfg).route_config.virtual_hosts[0].routes[0].match;
    delete hcmOf(cfg).route_config.virtual_hosts[0].routes[0].route;
    rejectsWith(cfg, [
      `${VH0}.routes[0]: one of "route", "redirect", "direct_response", "filter_action", "non_forwarding_action" must be `
        + 'set (oneof "action" is required)',
      `${VH0}.routes[0].match: value is required`,
    ]);
  });

  test('enum.defined_only', () => {
    const cfg = minimal();
    cfg.static_resources.clusters[0].lb_policy = 99;
    assert.equal(errorsOf(cfg)[0], `${C0}.lb_policy: value must be one of the defined enum values, got 99`);
  });

  test('duration.gt / duration.gte', () => {
    const cfg = minimal();
    cfg.static_resources.clusters[0].connect_timeout = '0s';
    rejectsWith(cfg, [`${C0}.connect_timeout: value must be greater than 0s, got "0s"`]);
    const neg = minimal();
    hcmOf(neg).request_headers_timeout = '-1.5s';
    // PGV applies inside unsupported fields too.
    assert.deepEqual(errorsOf(neg, { allowUnsupportedFields: true }), [
      `${HCM}.request_headers_timeout: value must be greater than or equal to 0s, got "-1.500s"`,
    ]);
  });

  test('HTTP header name rules', () => {
    const cfg = minimal();
    hcmOf(cfg).route_config.virtual_hosts[0].routes[0].match.headers = [{ name: 'bad\nname', present_match: true }];
    rejectsWith(cfg, [`${VH0}.routes[0].match.headers[0].name: value must be a valid HTTP header name, got "bad\\nname"`]);
  });
});

describe('cross-field checks', () => {
  test('duplicate listener names and duplicate addresses', () => {
    const cfg = minimal();
    const l1 = structuredClone(cfg.static_resources.listeners[0]);
    cfg.static_resources.listeners.push(l1);
    rejectsWith(cfg, [
      "static_resources.listeners[1].name: duplicate listener name 'l0' (also static_resources.listeners[0])",
      "static_resources.listeners[1].address: error adding listener: 'l0' has duplicate address '127.0.0.1:10000' as existing listener",
    ]);
    l1.name = 'l1';
    l1.address.socket_address.port_value = 0;
    cfg.static_resources.listeners[0].address.socket_address.port_value = 0;
    validateBootstrap(cfg); // port 0 never clashes
  });

  test('duplicate cluster names', () => {
    const cfg = minimal();
    cfg.static_resources.clusters.push({ name: 'c0' });
    rejectsWith(cfg, ["static_resources.clusters[1].name: cluster manager: duplicate cluster 'c0'"]);
  });

  test('a route to an unknown cluster', () => {
    const cfg = minimal();
    hcmOf(cfg).route_config.virtual_hosts[0].routes[0].route.cluster = 'nope';
    rejectsWith(cfg, [`${VH0}.routes[0].route.cluster: route: unknown cluster 'nope'`]);
  });

  test('duplicate virtual host domains in a route config', () => {
    const cfg = minimal();
    const rc = hcmOf(cfg).route_config;
    rc.name = 'rc';
    rc.virtual_hosts[0].domains = ['a.example', '*'];
    rc.virtual_hosts.push({ name: 'vh2', domains: ['A.example', '*'], routes: [] });
    rejectsWith(cfg, [
      `${HCM}.route_config.virtual_hosts[1].domains[0]: Only unique values for domains are permitted. Duplicate entry of domain a.example in route rc`,
      `${HCM}.route_config.virtual_hosts[1].domains[1]: Only a single wildcard domain is permitted in route rc`,
    ]);
  });

  test('the router must be the last HTTP filter', () => {
    const cfg = minimal();
    hcmOf(cfg).http_filters = [{ name: 'first', typed_config: { '@type': ROUTER_TYPE } }, { name: 'envoy.filters.http.router' }];
    rejectsWith(cfg, [
      `${HCM}.http_filters[0]: Error: terminal filter named first of type envoy.filters.http.router must be the last filter in a http filter chain.`,
    ]);
    hcmOf(cfg).http_filters = [];
    rejectsWith(cfg, [
      `${HCM}.http_filters: no HTTP filters; envoy.filters.http.router must be the last filter in a http filter chain`,
    ]);
  });

  test('HCM must be the last network filter', () => {
    const cfg = minimal();
    const filters = cfg.static_resources.listeners[0].filter_chains[0].filters;
    filters.push(structuredClone(filters[0]));
    rejectsWith(cfg, [
      `${F0}: Error: terminal filter named envoy.filters.network.http_connection_manager of type `
        + 'envoy.filters.network.http_connection_manager must be the last filter in a network filter chain.',
    ]);
  });

  test('listener filter chains', () => {
    const cfg = minimal();
    const l = cfg.static_resources.listeners[0];
    l.filter_chains.push(structuredClone(l.filter_chains[0]));
    rejectsWith(cfg, [
      `${L0}.filter_chains[1]: error adding listener 'l0': multiple filter chains with the same matching rules are defined`
        + ` (as ${L0}.filter_chains[0])`,
    ]);
    l.filter_chains = [];
    rejectsWith(cfg, [`${L0}.filter_chains: error adding listener 'l0': no filter chains specified`]);
  });

  test('listener and STATIC endpoint addresses must be IPs', () => {
    const cfg = minimal();
    cfg.static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.address = 'localhost';
    rejectsWith(cfg, [
      `${C0}.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.address: malformed IP `
        + "address: localhost. Consider setting resolver_name or setting cluster type to 'STRICT_DNS' or 'LOGICAL_DNS'",
    ]);
  });
});
