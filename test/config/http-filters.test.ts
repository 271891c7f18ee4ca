// The HTTP filter chain in the config: HttpFilter.disabled and is_optional, typed_per_filter_config
// on routes, virtual hosts and route configurations (plain per-route configs and
// envoy.config.route.v3.FilterConfig), and the buffer and health_check filters' configs: what
// compiles, and what is refused by field path.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateBootstrap } from '../../src/config/load.ts';
import { HCM, ROUTER_TYPE, VH0, compileConfig, configErrors, hcmOf, minimal } from './fixtures.ts';

const BUFFER = 'type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer';
const PER_ROUTE = 'type.googleapis.com/envoy.extensions.filters.http.buffer.v3.BufferPerRoute';
const FILTER_CONFIG = 'type.googleapis.com/envoy.config.route.v3.FilterConfig';
const HC = 'type.googleapis.com/envoy.extensions.filters.http.health_check.v3.HealthCheck';
const LUA = 'type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua';
const ROUTER = { name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER_TYPE } };

function withFilters(filters: unknown[]): any {
  const cfg = minimal();
  hcmOf(cfg).http_filters = [...filters, ROUTER];
  return cfg;
}
function hcmSnap(cfg: unknown): any {
  return (compileConfig(cfg) as any).listeners[0].filterChains[0].filters[0].config;
}
const errorsOf = configErrors;

test('buffer: max_request_bytes compiles; BufferPerRoute (disabled, buffer) on route, virtual host and route configuration, most specific first', () => {
  const cfg = withFilters([{ name: 'buf', typed_config: { '@type': BUFFER, max_request_bytes: 1024 } }]);
  const h = hcmOf(cfg);
  h.route_config.typed_per_filter_config = { buf: { '@type': PER_ROUTE, buffer: { max_request_bytes: 1 } } };
  h.route_config.virtual_hosts[0].typed_per_filter_config = { buf: { '@type': PER_ROUTE, disabled: true } };
  h.route_config.virtual_hosts[0].routes.push(
    { match: { prefix: '/r' }, route: { cluster: 'c0' }, typed_per_filter_config: { buf: { '@type': PER_ROUTE, buffer: { max_request_bytes: 7 } } } });
  const snap = hcmSnap(cfg);
  assert.deepEqual(snap.httpFilters[0], {
    name: 'envoy.filters.http.buffer', config: { disabled: false, maxRequestBytes: 1024 }, configName: 'buf', disabled: false,
  });
  const [vhRoute, own] = snap.routeConfig.virtualHosts[0].routes;
  assert.deepEqual(vhRoute.perFilterConfig, { buf: { disabled: true, maxRequestBytes: 0 } });
  assert.deepEqual(own.perFilterConfig, { buf: { disabled: false, maxRequestBytes: 7 } });
  assert.deepEqual(own.filterDisabled, { buf: false });
});

test('buffer: max_request_bytes is required and positive; a per-route type is not a filter config', () => {
  assert.match(errorsOf(() => validateBootstrap(withFilters([{ name: 'b', typed_config: { '@type': BUFFER } }])))[0]!,
    /http_filters\[0\]\.typed_config\.max_request_bytes: .*required/);
  assert.match(errorsOf(() => validateBootstrap(withFilters([{ name: 'b', typed_config: { '@type': BUFFER, max_request_bytes: 0 } }])))[0]!,
    /max_request_bytes/);
  assert.deepEqual(errorsOf(() => compileConfig(withFilters([{ name: 'b', typed_config: { '@type': PER_ROUTE, disabled: true } }]))), [
    `${HCM}.http_filters[0].typed_config: envoy.extensions.filters.http.buffer.v3.BufferPerRoute is the per-route config `
      + 'of "envoy.filters.http.buffer" (a route\'s typed_per_filter_config), not its config',
  ]);
});

test('HttpFilter.disabled: compiled; route entries enable or disable by config name; the terminal filter cannot be disabled', () => {
  const cfg = withFilters([{ name: 'lazy', disabled: true, typed_config: { '@type': BUFFER, max_request_bytes: 8 } }]);
  hcmOf(cfg).route_config.virtual_hosts[0].routes[0].typed_per_filter_config = {
    lazy: { '@type': FILTER_CONFIG, config: {} },
    other: { '@type': FILTER_CONFIG, disabled: true },
  };
  const snap = hcmSnap(cfg);
  assert.equal(snap.httpFilters[0].disabled, true);
  assert.deepEqual(snap.routeConfig.virtualHosts[0].routes[0].filterDisabled, { lazy: false, other: true });
  assert.equal(snap.routeConfig.virtualHosts[0].routes[0].perFilterConfig, null);

  const bad = minimal();
  hcmOf(bad).http_filters[0].disabled = true;
  assert.deepEqual(errorsOf(() => compileConfig(bad)), [
    `${HCM}.http_filters[0].disabled: Error: the last (terminal) filter (envoy.filters.http.router) in the http filter chain `
      + 'cannot be disabled by default.',
  ]);
  const empty = minimal();
  hcmOf(empty).route_config.virtual_hosts[0].typed_per_filter_config = { x: { '@type': FILTER_CONFIG } };
  assert.deepEqual(errorsOf(() => compileConfig(empty)), [
    `${VH0}.typed_per_filter_config["x"]: Empty route/virtual host per filter configuration for x filter`,
  ]);
});

test('is_optional: a filter or per-route config Legate does not implement is skipped with a warning, else refused by name', () => {
  const cfg = withFilters([{ name: 'lua', is_optional: true, typed_config: { '@type': LUA } }]);
  hcmOf(cfg).route_config.virtual_hosts[0].routes[0].typed_per_filter_config = {
    lua: { '@type': FILTER_CONFIG, is_optional: true, config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.lua.v3.LuaPerRoute', disabled: true } },
  };
  const { warnings } = validateBootstrap(cfg);
  assert.equal(warnings.length, 2);
  assert.ok(warnings.some((w) => /http_filters\[0\]: optional filter "lua" .* is not supported by Legate: skipped/.test(w)), warnings.join('\n'));
  assert.ok(warnings.some((w) => /typed_per_filter_config\["lua"\]\.config: optional filter .* skipped/.test(w)), warnings.join('\n'));
  const snap = hcmSnap(cfg);
  assert.deepEqual(snap.httpFilters.map((f: any) => f.configName), ['envoy.filters.http.router']);
  assert.equal(snap.routeConfig.virtualHosts[0].routes[0].perFilterConfig, null);
  // (An entry for the filter still enables it there, as Envoy's PerFilterConfigs.)
  assert.deepEqual(snap.routeConfig.virtualHosts[0].routes[0].filterDisabled, { lua: false });

  assert.deepEqual(errorsOf(() => validateBootstrap(withFilters([{ name: 'lua', typed_config: { '@type': LUA } }]))), [
    `${HCM}.http_filters[0]: extension "envoy.filters.http.lua" (${LUA}) is not supported by Legate`,
  ]);
});

test('ExtensionWithMatcher is refused by name', () => {
  const [e] = errorsOf(() => validateBootstrap(withFilters([{
    name: 'm', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.common.matching.v3.ExtensionWithMatcher' },
  }])));
  assert.equal(e, `${HCM}.http_filters[0]: extension "envoy.filters.http.match_delegate" `
    + '(type.googleapis.com/envoy.extensions.common.matching.v3.ExtensionWithMatcher) is not supported by Legate');
});

test('health_check: compiled with Envoy\'s rules; cache_time needs pass_through_mode', () => {
  const cfg = withFilters([{
    name: 'hc', typed_config: {
      '@type': HC, pass_through_mode: false, headers: [{ name: ':path', string_match: { exact: '/healthz' } }],
      cluster_min_healthy_percentages: { c0: { value: 12.5 } },
    },
  }]);
  cfg.node = { id: 'n', cluster: 'svc' };
  const hc = hcmSnap(cfg).httpFilters[0];
  assert.equal(hc.name, 'envoy.filters.http.health_check');
  assert.deepEqual(hc.config.minHealthy, [{ cluster: 'c0', percent: 12 }]);
  assert.equal(hc.config.serviceCluster, 'svc');
  assert.equal(hc.config.headers[0].name, ':path');
  assert.deepEqual(errorsOf(() => compileConfig(withFilters([{
    name: 'hc', typed_config: { '@type': HC, pass_through_mode: false, cache_time: '5s' },
  }]))), [`${HCM}.http_filters[0].typed_config.cache_time: cache_time_ms must not be set when path_through_mode is disabled`]);
  assert.match(errorsOf(() => validateBootstrap(withFilters([{ name: 'hc', typed_config: { '@type': HC } }])))[0]!,
    /pass_through_mode: .*required/);
});

test('a FilterConfig belongs in typed_per_filter_config only', () => {
  assert.deepEqual(errorsOf(() => validateBootstrap(withFilters([{ name: 'x', typed_config: { '@type': FILTER_CONFIG, disabled: true } }]))), [
    `${HCM}.http_filters[0]: extension "x" (${FILTER_CONFIG}) is not supported by Legate`,
  ]);
});
