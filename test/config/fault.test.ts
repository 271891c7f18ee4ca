// envoy.filters.http.fault in the config: compiled settings (Envoy's defaults and runtime keys),
// stats under the connection manager's prefix, the per-route HTTPFault, and what Legate does
// not implement refused by name.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateBootstrap } from '../../src/config/load.ts';
import { AbortKind, SourceKind } from '../../src/extensions/filters/http/fault/config.ts';
import { HCM, ROUTER_TYPE, compileConfig, configErrors, hcmOf, minimal } from './fixtures.ts';

const TYPE = 'type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault';

function withFault(fault: Record<string, unknown>, perRoute?: Record<string, unknown>): any {
  const cfg = minimal();
  const hcm = hcmOf(cfg);
  hcm.http_filters = [
    { name: 'faults', typed_config: { '@type': TYPE, ...fault } },
    { name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER_TYPE } },
  ];
  if (perRoute !== undefined) {
    hcm.route_config.virtual_hosts[0].routes[0].typed_per_filter_config = { faults: { '@type': TYPE, ...perRoute } };
  }
  return cfg;
}

test('the settings compile with Envoy defaults; stats are http.<stat_prefix>.fault.*', () => {
  const snap: any = compileConfig(withFault({
    abort: { grpc_status: 14, percentage: { numerator: 5, denominator: 'TEN_THOUSAND' } },
    delay: { fixed_delay: '0.25s', percentage: { numerator: 50 } },
    response_rate_limit: { fixed_limit: { limit_kbps: 64 } },
    downstream_nodes: ['a'],
    headers: [{ name: 'X-Fault', exact_match: 'yes' }],
    max_active_faults: 7,
    abort_percent_runtime: 'my.abort',
  }, { abort: { header_abort: {}, percentage: { numerator: 100 } } }));
  const hcm = snap.listeners[0].filterChains[0].filters[0].config;
  const f = hcm.httpFilters[0].config;
  assert.equal(f.filterName, 'faults');
  assert.ok(f.active instanceof SharedArrayBuffer);
  const s = f.settings;
  assert.deepEqual(s.abort, { kind: AbortKind.Grpc, httpStatus: -1, grpcStatus: 14, percentage: { numerator: 5, denominator: 'TEN_THOUSAND' } });
  assert.deepEqual(s.delay, { kind: SourceKind.Fixed, fixedMs: 250, percentage: { numerator: 50, denominator: 'HUNDRED' } });
  assert.deepEqual(s.responseRateLimit, { kind: SourceKind.Fixed, kbps: 64, percentage: { numerator: 0, denominator: 'HUNDRED' } });
  assert.equal(s.maxActiveFaults, 7);
  assert.deepEqual(s.downstreamNodes, ['a']);
  assert.equal(s.headers[0].name, 'x-fault');
  assert.equal(s.runtime.abortPercent, 'my.abort');
  assert.equal(s.runtime.delayPercent, 'fault.http.delay.fixed_delay_percent');
  assert.equal(s.runtime.maxActiveFaults, 'fault.http.max_active_faults');
  assert.equal(typeof f.stats.aborts_injected, 'number');
  const route = hcm.routeConfig.virtualHosts[0].routes[0];
  assert.equal(route.perFilterConfig.faults.abort.kind, AbortKind.Header);
});

test('one shared active-fault count per stat name, across config builds', () => {
  const a: any = compileConfig(withFault({ delay: { fixed_delay: '1s' } }));
  const b: any = compileConfig(withFault({ delay: { fixed_delay: '2s' } }));
  const fa = a.listeners[0].filterChains[0].filters[0].config.httpFilters[0].config;
  const fb = b.listeners[0].filterChains[0].filters[0].config.httpFilters[0].config;
  assert.equal(fa.active, fb.active);
});

test('fields Legate does not act on are refused by name', () => {
  const errors = configErrors(() => validateBootstrap(withFault({ filter_metadata: { a: 1 } })));
  assert.ok(errors.some((e) => e.startsWith(`${HCM}.http_filters[0].typed_config.filter_metadata`)), errors.join('\n'));
});
