// envoy.filters.http.local_ratelimit and envoy.filters.http.ratelimit in the config, and the route
// and virtual host `rate_limits` they read: compiled with Envoy's defaults, Envoy's checks, and what
// Legate does not implement refused by name with its field path.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateBootstrap } from '../../src/config/load.ts';
import { RateLimitActionKind } from '../../src/router/rate-limits.ts';
import { HCM, ROUTER_TYPE, VH0, compileConfig, configErrors, hcmOf, minimal } from './fixtures.ts';

const LOCAL = 'type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit';
const GLOBAL = 'type.googleapis.com/envoy.extensions.filters.http.ratelimit.v3.RateLimit';
const F = `${HCM}.http_filters[0].typed_config`;

function withFilter(typedConfig: Record<string, unknown>, route: Record<string, unknown> = {}, vh: Record<string, unknown> = {}): any {
  const cfg = minimal();
  const h = hcmOf(cfg);
  h.http_filters = [
    { name: 'rl', typed_config: typedConfig },
    { name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER_TYPE } },
  ];
  Object.assign(h.route_config.virtual_hosts[0], vh);
  Object.assign(h.route_config.virtual_hosts[0].routes[0].route, route);
  return cfg;
}

const BUCKET = { max_tokens: 10, fill_interval: '1s' };
const local = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  '@type': LOCAL, stat_prefix: 'lrl', token_bucket: BUCKET, ...extra,
});
const global = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  '@type': GLOBAL, domain: 'd', rate_limit_service: { grpc_service: { envoy_grpc: { cluster_name: 'c0' } }, transport_api_version: 'V3' },
  ...extra,
});

function filterConfig(snap: any): any {
  return snap.listeners[0].filterChains[0].filters[0].config.httpFilters[0].config;
}

test('local_ratelimit compiles with Envoy defaults: tokens_per_fill 1, status 429, off without filter_enabled', () => {
  const c = filterConfig(compileConfig(withFilter(local({ status: { code: 'OK' } }))));
  assert.deepEqual({ ...c.bucket, offset: 0 }, { maxTokens: 10, tokensPerFill: 1, fillIntervalMs: 1000, offset: 0 });
  // (A status below 400 falls back to 429, Envoy's toErrorCode.)
  assert.equal(c.status, 429);
  assert.equal(c.enabled, null);
  assert.equal(c.enforced, null);
  assert.equal(c.name, 'rl');
  assert.equal(c.alwaysConsumeDefault, true);
  assert.equal(typeof c.stats.enabled, 'number');
  const on = filterConfig(compileConfig(withFilter(local({
    filter_enabled: { default_value: { numerator: 100 } },
    filter_enforced: { runtime_key: 'rl.enforce', default_value: { numerator: 5, denominator: 'TEN_THOUSAND' } },
    status: { code: 'ServiceUnavailable' },
  }))));
  assert.equal(on.enabled.always, true);
  assert.deepEqual(on.enforced, { runtimeKey: 'rl.enforce', defaultValue: { numerator: 5, denominator: 'TEN_THOUSAND' }, always: false });
  assert.equal(on.status, 503);
});

test('local_ratelimit refusals: fill interval, descriptors, per-route bucket, unsupported fields', () => {
  assert.deepEqual(configErrors(() => compileConfig(withFilter(local({ token_bucket: { max_tokens: 1, fill_interval: '0.01s' } })))),
    [`${F}.token_bucket.fill_interval: local rate limit token bucket fill timer must be >= 50ms`]);
  const d = { entries: [{ key: 'k', value: 'v' }], token_bucket: { max_tokens: 1, fill_interval: '1.5s' } };
  assert.deepEqual(configErrors(() => compileConfig(withFilter(local({ descriptors: [d] })))),
    [`${F}.descriptors[0].token_bucket.fill_interval: local rate descriptor limit is not a multiple of token bucket fill timer`]);
  const d2 = { ...d, token_bucket: { max_tokens: 1, fill_interval: '2s' } };
  assert.deepEqual(configErrors(() => compileConfig(withFilter(local({ descriptors: [d2, d2] })))),
    [`${F}.descriptors[1]: duplicate descriptor in the local rate descriptor: k=v`]);
  const perRoute = withFilter(local());
  hcmOf(perRoute).route_config.virtual_hosts[0].routes[0].typed_per_filter_config = {
    rl: { '@type': LOCAL, stat_prefix: 'r' },
  };
  assert.deepEqual(configErrors(() => compileConfig(perRoute)),
    [`${VH0}.routes[0].typed_per_filter_config["rl"].token_bucket: local rate limit token bucket must be set for per filter configs`]);
  const e = configErrors(() => validateBootstrap(withFilter(local({ local_cluster_rate_limit: {} })))).join('\n');
  assert.match(e, /local_cluster_rate_limit: field is not supported by Legate/);
});

test('route and virtual host rate_limits compile to actions; disable_key and other actions are refused by name', () => {
  const snap = compileConfig(withFilter(local(), {
    rate_limits: [
      { actions: [{ request_headers: { header_name: 'X-User', descriptor_key: 'user', skip_if_absent: true } }] },
      { stage: 2, actions: [{ generic_key: { descriptor_value: 'g' } }, { remote_address: {} }] },
      { actions: [{ header_value_match: { descriptor_value: 'm', expect_match: false, headers: [{ name: 'x-a', present_match: true }] } }] },
    ],
  }, { rate_limits: [{ actions: [{ destination_cluster: {} }, { source_cluster: {} }] }] })) as any;
  const rl = snap.listeners[0].filterChains[0].filters[0].config.routeConfig.virtualHosts[0].routes[0].rateLimits;
  assert.equal(rl.includeVirtualHost, false);
  assert.deepEqual(rl.route.map((r: any) => [r.stage, r.actions.map((a: any) => [a.kind, a.key, a.value])]), [
    [0, [[RateLimitActionKind.RequestHeaders, 'user', 'x-user']]],
    [2, [[RateLimitActionKind.GenericKey, 'generic_key', 'g'], [RateLimitActionKind.RemoteAddress, 'remote_address', '']]],
    [0, [[RateLimitActionKind.HeaderValueMatch, 'header_match', 'm']]],
  ]);
  assert.equal(rl.route[0].actions[0].skipIfAbsent, true);
  assert.equal(rl.route[2].actions[0].expectMatch, false);
  assert.deepEqual(rl.virtualHost[0].actions.map((a: any) => a.kind),
    [RateLimitActionKind.DestinationCluster, RateLimitActionKind.SourceCluster]);

  const e1 = configErrors(() => validateBootstrap(withFilter(local(), { rate_limits: [{ disable_key: 'x', actions: [{ generic_key: { descriptor_value: 'g' } }] }] }))).join('\n');
  assert.match(e1, /rate_limits\[0\]\.disable_key: field is not supported by Legate/);
  const e2 = configErrors(() => validateBootstrap(withFilter(local(), { rate_limits: [{ actions: [{ masked_remote_address: {} }] }] }))).join('\n');
  assert.match(e2, /rate_limits\[0\]\.actions\[0\]\.masked_remote_address: field is not supported by Legate/);
});

test('ratelimit compiles with Envoy defaults (20 ms, 429, 500) and needs a known envoy_grpc cluster', () => {
  const c = filterConfig(compileConfig(withFilter(global())));
  assert.equal(c.timeoutMs, 20);
  assert.equal(c.rateLimitedStatus, 429);
  assert.equal(c.statusOnError, 500);
  assert.equal(c.failureModeDeny, false);
  assert.equal(c.xEnvoyRateLimited, true);
  assert.equal(c.cluster, 'c0');
  const p = filterConfig(compileConfig(withFilter(global({ stat_prefix: 'p', request_type: 'external', timeout: '0.1s' }))));
  assert.equal(p.timeoutMs, 100);
  assert.equal(p.requestType, 2);
  assert.deepEqual(configErrors(() => compileConfig(withFilter(global({
    rate_limit_service: { grpc_service: { envoy_grpc: { cluster_name: 'nope' } }, transport_api_version: 'V3' },
  })))), [`${F}.rate_limit_service.grpc_service.envoy_grpc.cluster_name: unknown cluster 'nope'`]);
  const e = configErrors(() => validateBootstrap(withFilter(global({ rate_limited_as_resource_exhausted: true })))).join('\n');
  assert.match(e, /rate_limited_as_resource_exhausted: field is not supported by Legate/);
});
