// buildSnapshot compiles every extension through its module: resolved by typed_config type (the
// filter's own name is free) or, without one, by Envoy name; the snapshot carries Envoy's names.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateBootstrap } from '../../src/config/load.ts';
import { buildSnapshot, type HcmSnap } from '../../src/config/snapshot.ts';
import { StatsLayout } from '../../src/stats/layout.ts';
import { FILE_LOG_TYPE, hcmOf, minimal } from './fixtures.ts';

test('extensions compile by type or by name, and the listener carries its compiled chain', () => {
  const cfg = minimal();
  cfg.static_resources.listeners[0].filter_chains[0].filters[0].name = 'my-hcm';
  hcmOf(cfg).http_filters = [{ name: 'envoy.filters.http.router' }];
  hcmOf(cfg).access_log = [
    { name: 'envoy.access_loggers.stderr' },
    { name: 'envoy.access_loggers.stdout', typed_config: {} },
    { name: 'anything', typed_config: { '@type': FILE_LOG_TYPE, path: '/dev/null', log_format: { text_format_source: { inline_string: '%RESPONSE_CODE%\n' } } } },
  ];
  const { bootstrap } = validateBootstrap(cfg);
  const layout = new StatsLayout();
  const snap = buildSnapshot(bootstrap, layout, { bufferLimit: 1 << 20, version: 1 });
  const l = snap.listeners[0]!;
  assert.deepEqual(l.filterChains.map((c) => c.filters.map((f) => f.name)),
    [['envoy.filters.network.http_connection_manager']]);
  const hcm = l.filterChains[0]!.filters[0]!.config as HcmSnap;
  assert.deepEqual(hcm.httpFilters, [
    { name: 'envoy.filters.http.router', config: null, configName: 'envoy.filters.http.router', disabled: false },
  ]);
  assert.deepEqual(hcm.accessLogs, [
    { name: 'envoy.access_loggers.stderr', config: { kind: 'stderr', path: '', format: null, json: null } },
    { name: 'envoy.access_loggers.stdout', config: { kind: 'stdout', path: '', format: null, json: null } },
    { name: 'envoy.access_loggers.file', config: { kind: 'file', path: '/dev/null', format: '%RESPONSE_CODE%\n', json: null } },
  ]);
  // The HCM declared its stats under its stat_prefix.
  assert.equal(hcm.stats.downstream_rq_total, layout.find('http.http.downstream_rq_total'));
  assert.ok(hcm.stats.downstream_rq_total >= 0);
  // Plain data: what crosses to a worker.
  assert.deepEqual(structuredClone(snap), snap);
});

test('circuit breakers: a retry_budget with either field replaces max_retries (Envoy\'s defaults 20% and 3); an empty one does not', () => {
  const budgetOf = (thresholds: unknown[]): { budget: unknown; gauges: string[] } => {
    const cfg = minimal();
    cfg.static_resources.clusters[0].circuit_breakers = { thresholds };
    const layout = new StatsLayout();
    const c = buildSnapshot(validateBootstrap(cfg).bootstrap, layout, { bufferLimit: 1 << 20, version: 1 }).clusters[0]!;
    const cb = `cluster.${c.name}.circuit_breakers.default.`;
    return {
      budget: c.retryBudget,
      gauges: ['rq_retry_open', 'remaining_retries', 'remaining_rq'].filter((n) => layout.find(cb + n) >= 0),
    };
  };
  assert.deepEqual(budgetOf([{ max_retries: 5 }]), { budget: null, gauges: ['rq_retry_open'] });
  assert.deepEqual(budgetOf([{ retry_budget: {} }]).budget, null);
  assert.deepEqual(budgetOf([{ retry_budget: { min_retry_concurrency: 1 } }]).budget, { budgetPercent: 20, minRetryConcurrency: 1 });
  assert.deepEqual(budgetOf([{ retry_budget: { budget_percent: { value: 12.5 } } }]).budget, { budgetPercent: 12.5, minRetryConcurrency: 3 });
  // A budget_percent without a value is 0% (the proto's default), not the 20% of an absent one.
  assert.deepEqual(budgetOf([{ retry_budget: { budget_percent: {} } }]).budget, { budgetPercent: 0, minRetryConcurrency: 3 });
  // track_remaining: remaining_retries with max_retries; under a budget Envoy does not track it.
  assert.deepEqual(budgetOf([{ track_remaining: true }]).gauges, ['rq_retry_open', 'remaining_retries', 'remaining_rq']);
  assert.deepEqual(budgetOf([{ track_remaining: true, retry_budget: { min_retry_concurrency: 1 } }]).gauges,
    ['rq_retry_open', 'remaining_rq']);
});
