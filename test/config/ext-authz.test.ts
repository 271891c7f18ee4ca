// envoy.filters.http.ext_authz in the config: both service kinds compiled with Envoy's defaults,
// the per-route ExtAuthzPerRoute, and what Legate does not implement refused by name.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateBootstrap } from '../../src/config/load.ts';
import { HCM, ROUTER_TYPE, compileConfig, configErrors, hcmOf, minimal } from './fixtures.ts';

const TYPE = 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz';
const PER_ROUTE = 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute';
const EA = `${HCM}.http_filters[0].typed_config`;

function withAuthz(authz: Record<string, unknown>, perRoute?: Record<string, unknown>): any {
  const cfg = minimal();
  const hcm = hcmOf(cfg);
  hcm.http_filters = [
    { name: 'authz', typed_config: { '@type': TYPE, ...authz } },
    { name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER_TYPE } },
  ];
  if (perRoute !== undefined) {
    hcm.route_config.virtual_hosts[0].routes[0].typed_per_filter_config = { authz: { '@type': PER_ROUTE, ...perRoute } };
  }
  return cfg;
}

const filterOf = (snap: any): any => snap.listeners[0].filterChains[0].filters[0].config.httpFilters[0].config;

test('gRPC service: cluster, authority, Envoy\'s 200 ms timeout, status_on_error 403, per-route context', () => {
  const snap: any = compileConfig(withAuthz({ grpc_service: { envoy_grpc: { cluster_name: 'c0' } }, stat_prefix: 'waf' },
    { check_settings: { context_extensions: { k: 'v' } } }));
  const f = filterOf(snap);
  assert.equal(f.grpc, true);
  assert.equal(f.cluster, 'c0');
  assert.equal(f.authority, 'c0');
  assert.equal(f.timeoutMs, 200);
  assert.equal(f.statusOnError, 403);
  assert.equal(f.filterName, 'authz');
  assert.equal(f.clusterStats, undefined);
  const pr = snap.listeners[0].filterChains[0].filters[0].config.routeConfig.virtualHosts[0].routes[0].perFilterConfig.authz;
  assert.deepEqual(pr, { disabled: false, contextExtensions: ['k', 'v'], disableRequestBodyBuffering: false });
});

test('HTTP service: matchers, headers_to_add, status_on_error by name, body settings', () => {
  const f = filterOf(compileConfig(withAuthz({
    http_service: {
      server_uri: { uri: 'http://a', cluster: 'c0', timeout: '1s' },
      path_prefix: '/auth',
      authorization_request: { allowed_headers: { patterns: [{ prefix: 'x-' }] }, headers_to_add: [{ key: 'X-A', value: 'b' }] },
      authorization_response: { allowed_upstream_headers: { patterns: [{ exact: 'x-user' }] } },
    },
    status_on_error: { code: 'ServiceUnavailable' },
    with_request_body: { max_request_bytes: 100, allow_partial_message: true },
    failure_mode_allow: true,
  })));
  assert.equal(f.grpc, false);
  assert.equal(f.timeoutMs, 1000);
  assert.equal(f.pathPrefix, '/auth');
  assert.deepEqual(f.headersToAdd, ['x-a', 'b']);
  assert.equal(f.allowedClientHeaders, null);
  assert.equal(f.statusOnError, 503);
  assert.deepEqual(f.withRequestBody, { maxRequestBytes: 100, allowPartialMessage: true, packAsBytes: false });
  assert.equal(f.failureModeAllow, true);
});

test('refused: unknown cluster, clear_route_cache, unsupported fields, a per-route message as the filter', () => {
  let errors = configErrors(() => compileConfig(withAuthz({ grpc_service: { envoy_grpc: { cluster_name: 'nope' } } })));
  assert.ok(errors.some((e) => e.startsWith(`${EA}.grpc_service.envoy_grpc.cluster_name`)), errors.join('\n'));
  errors = configErrors(() => compileConfig(withAuthz({ grpc_service: { envoy_grpc: { cluster_name: 'c0' } }, clear_route_cache: true })));
  assert.ok(errors.some((e) => e.startsWith(`${EA}.clear_route_cache`)), errors.join('\n'));
  errors = configErrors(() => validateBootstrap(withAuthz({
    grpc_service: { envoy_grpc: { cluster_name: 'c0' } }, metadata_context_namespaces: ['a'],
  })));
  assert.ok(errors.some((e) => e.startsWith(`${EA}.metadata_context_namespaces`)), errors.join('\n'));
  const cfg = minimal();
  hcmOf(cfg).http_filters.unshift({ name: 'x', typed_config: { '@type': PER_ROUTE, disabled: true } });
  errors = configErrors(() => compileConfig(cfg));
  assert.ok(errors.some((e) => e.startsWith(`${HCM}.http_filters[0]`)), errors.join('\n'));
});
