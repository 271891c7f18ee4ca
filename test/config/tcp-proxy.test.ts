// envoy.filters.network.tcp_proxy and upgrade_configs in the config: compiled with Envoy's
// defaults, and what Legate does not implement refused by name with its path.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateBootstrap } from '../../src/config/load.ts';
import { HCM, compileConfig, configErrors, hcmOf, minimal } from './fixtures.ts';

const TCP_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';
const F0 = 'static_resources.listeners[0].filter_chains[0].filters[0]';

function withTcpProxy(typedConfig: Record<string, unknown>): any {
  const cfg = minimal();
  cfg.static_resources.listeners[0].filter_chains[0].filters = [
    { name: 'envoy.filters.network.tcp_proxy', typed_config: { '@type': TCP_TYPE, ...typedConfig } },
  ];
  return cfg;
}

/** Compiled with every extension's module (the snapshot, untyped for the assertions). */
const compile = (cfg: unknown): any => compileConfig(cfg);
const errorsOf = configErrors;

test('tcp_proxy: Envoy defaults, cluster and weighted_clusters as one weighted list', () => {
  const one = compile(withTcpProxy({ stat_prefix: 'db', cluster: 'backend' }));
  const c = one.listeners[0].filterChains[0].filters[0];
  assert.equal(c.name, 'envoy.filters.network.tcp_proxy');
  assert.deepEqual(c.config.clusters, [{ name: 'backend', weight: 1 }]);
  assert.equal(c.config.idleTimeoutMs, 3_600_000);
  assert.equal(c.config.maxConnectAttempts, 1);
  assert.equal(typeof c.config.stats.downstream_cx_total, 'number');

  const w = compile(withTcpProxy({
    stat_prefix: 'db', idle_timeout: '0s', max_connect_attempts: 3,
    weighted_clusters: { clusters: [{ name: 'a', weight: 1 }, { name: 'b', weight: 3 }] },
  })).listeners[0].filterChains[0].filters[0].config;
  assert.deepEqual(w.clusters, [{ name: 'a', weight: 1 }, { name: 'b', weight: 3 }]);
  assert.equal(w.idleTimeoutMs, 0);
  assert.equal(w.maxConnectAttempts, 3);
});

test('tcp_proxy: what Legate does not implement is refused by name; Envoy\'s rules hold', () => {
  const errors = errorsOf(() => validateBootstrap(withTcpProxy({
    stat_prefix: 'db', cluster: 'backend', tunneling_config: { hostname: 'h' }, downstream_idle_timeout: '1s',
  })));
  assert.ok(errors.includes(`${F0}.typed_config.tunneling_config: field is not supported by Legate`), errors.join('\n'));
  assert.ok(errors.some((e) => e.startsWith(`${F0}.typed_config.downstream_idle_timeout: field is not supported`)),
    errors.join('\n'));
  // (Envoy's proto rules: a cluster specifier is required, and a weight is at least 1.)
  assert.ok(errorsOf(() => validateBootstrap(withTcpProxy({ stat_prefix: 'db' }))).length > 0);
  assert.ok(errorsOf(() => validateBootstrap(withTcpProxy({
    stat_prefix: 'db', weighted_clusters: { clusters: [{ name: 'a', weight: 0 }] },
  }))).some((e) => e.includes('weighted_clusters.clusters[0].weight')));
});

test('tcp_proxy is terminal', () => {
  const cfg = withTcpProxy({ stat_prefix: 'db', cluster: 'backend' });
  cfg.static_resources.listeners[0].filter_chains[0].filters.push(
    { name: 'envoy.filters.network.echo', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.network.echo.v3.Echo' } },
  );
  assert.ok(errorsOf(() => compile(cfg)).some((e) => e.includes('terminal')));
});

test('upgrade_configs: the HCM\'s and a route\'s, types lowercased; custom filters refused', () => {
  const cfg = minimal();
  const hcm = hcmOf(cfg);
  hcm.upgrade_configs = [{ upgrade_type: 'WebSocket' }, { upgrade_type: 'foo', enabled: false }];
  const route = hcm.route_config.virtual_hosts[0].routes[0];
  route.route.upgrade_configs = [{ upgrade_type: 'websocket', enabled: false }];
  const snap = compile(cfg).listeners[0].filterChains[0].filters[0].config;
  assert.deepEqual(snap.upgrades, [{ type: 'websocket', enabled: true }, { type: 'foo', enabled: false }]);
  assert.deepEqual(snap.routeConfig.virtualHosts[0].routes[0].action.upgrades, [{ type: 'websocket', enabled: false }]);

  hcm.upgrade_configs = [{ upgrade_type: 'websocket', filters: [{ name: 'envoy.filters.http.router' }] }];
  const errors = errorsOf(() => validateBootstrap(cfg));
  assert.ok(errors.some((e) => e.startsWith(`${HCM}.upgrade_configs[0].filters: field is not supported by Legate`)),
    errors.join('\n'));
});
