// envoy.filters.http.health_check's filter over a real FilterManager: which requests are health
// checks (headers; none configured: all), answered locally or passed through, the server's
// health-check-failed state, cache_time, cluster_min_healthy_percentages over a cluster manager's
// host sets, and the response headers it adds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import healthCheck from '../../../../src/extensions/filters/http/health-check/index.ts';
import type { HealthCheckSnap } from '../../../../src/extensions/filters/http/health-check/filter.ts';
import { ServerState } from '../../../../src/common/server-state.ts';
import type { WorkerContext } from '../../../../src/extensions/types.ts';
import { b, stream } from './harness.ts';

const PATH = { name: ':path', kind: 'exact', value: '/healthz', ignoreCase: false, invert: false, present: true } as const;

/** Cluster name -> [hosts, healthy, degraded]. */
function ctxWith(clusters: Record<string, [number, number, number]>, state = new ServerState()): WorkerContext {
  const fake = (n: number) => Array.from({ length: n }, () => ({}));
  return {
    serverState: state,
    clusterManager: {
      getThreadLocalCluster(name: string) {
        const c = clusters[name];
        if (c === undefined) return undefined;
        return { prioritySet: { hostSetsPerPriority: [{ hosts: fake(c[0]), healthyHosts: fake(c[1]), degradedHosts: fake(c[2]) }] } };
      },
    },
  } as unknown as WorkerContext;
}

function snap(s: Partial<HealthCheckSnap>): HealthCheckSnap {
  return { passThrough: false, cacheMs: 0, headers: [{ ...PATH }], minHealthy: [], serviceCluster: 'svc', ...s };
}

test('a matching request is answered 200 locally, marked a health check, with the service cluster; others pass', () => {
  const f = healthCheck.createFilterFactory(snap({}), ctxWith({}));
  const hc = stream(f, { method: 'GET', path: '/healthz' });
  hc.fm.decodeHeaders(true);
  assert.equal(hc.owner.status, 200);
  assert.equal(hc.owner.headers!.get('x-envoy-upstream-healthchecked-cluster'), 'svc');
  assert.equal(hc.owner.streamInfo.healthCheck, true);
  assert.equal(hc.owner.streamInfo.responseCodeDetails, 'health_check_ok');
  assert.deepEqual(hc.terminal.events, []);
  const other = stream(f, { method: 'GET', path: '/x' });
  other.fm.decodeHeaders(true);
  assert.deepEqual(other.terminal.events, ['headers end']);
  assert.equal(other.owner.streamInfo.healthCheck, false);
  assert.equal(other.owner.headers!.get('x-envoy-upstream-healthchecked-cluster'), undefined);
});

test('no header matchers: every request is a health check; its body is dropped and the answer comes at its end', () => {
  const f = healthCheck.createFilterFactory(snap({ headers: [] }), ctxWith({}));
  const s = stream(f, { path: '/anything' });
  s.fm.decodeHeaders(false);
  s.fm.decodeData(b('body'), false);
  assert.equal(s.owner.status, 0);
  s.fm.decodeData(b('end'), true);
  assert.equal(s.owner.status, 200);
  assert.deepEqual(s.terminal.events, []);
});

test('the server failing health checks: 503 with flag LH, even in pass-through mode; other responses marked', () => {
  const state = new ServerState();
  state.setHealthCheckFailed(true);
  for (const passThrough of [false, true]) {
    const f = healthCheck.createFilterFactory(snap({ passThrough }), ctxWith({}, state));
    const hc = stream(f, { method: 'GET', path: '/healthz' });
    hc.fm.decodeHeaders(true);
    assert.equal(hc.owner.status, 503);
    assert.equal(hc.owner.streamInfo.responseFlags, 'LH');
    assert.equal(hc.owner.streamInfo.responseCodeDetails, 'health_check_failed');
    const other = stream(f, { method: 'GET', path: '/x' });
    other.fm.decodeHeaders(true);
    assert.equal(other.owner.status, 200);
    assert.equal(other.owner.headers!.get('x-envoy-immediate-health-check-fail'), 'true');
  }
});

test('pass-through with cache_time: the first goes on, its answer is cached for the next', () => {
  const f = healthCheck.createFilterFactory(snap({ passThrough: true, cacheMs: 60_000 }), ctxWith({}));
  const first = stream(f, { method: 'GET', path: '/healthz' });
  first.fm.decodeHeaders(true);
  assert.deepEqual(first.terminal.events, ['headers end']);
  assert.equal(first.owner.headers!.get('x-envoy-upstream-healthchecked-cluster'), 'svc');
  const second = stream(f, { method: 'GET', path: '/healthz' });
  second.fm.decodeHeaders(true);
  assert.deepEqual(second.terminal.events, []);
  assert.equal(second.owner.status, 200);
  assert.equal(second.owner.streamInfo.responseCodeDetails, 'health_check_cached');
});

test('cluster_min_healthy_percentages: healthy plus degraded against the percentage; empty and missing clusters', () => {
  const clusters: Record<string, [number, number, number]> = { a: [4, 2, 1], empty: [0, 0, 0] };
  const cases: [HealthCheckSnap['minHealthy'], number, string][] = [
    [[{ cluster: 'a', percent: 75 }], 200, 'health_check_ok_cluster_healthy'],
    [[{ cluster: 'a', percent: 76 }], 503, 'health_check_failed_cluster_unhealthy'],
    [[{ cluster: 'empty', percent: 0 }, { cluster: 'a', percent: 10 }], 200, 'health_check_ok_cluster_healthy'],
    [[{ cluster: 'empty', percent: 1 }], 503, 'health_check_failed_cluster_empty'],
    [[{ cluster: 'nope', percent: 1 }], 503, 'health_check_failed_no_cluster_found'],
  ];
  for (const [minHealthy, status, details] of cases) {
    const f = healthCheck.createFilterFactory(snap({ minHealthy }), ctxWith(clusters));
    const s = stream(f, { method: 'GET', path: '/healthz' });
    s.fm.decodeHeaders(true);
    assert.equal(s.owner.status, status, JSON.stringify(minHealthy));
    assert.equal(s.owner.streamInfo.responseCodeDetails, details);
    assert.equal(s.owner.streamInfo.responseFlags, status === 200 ? '' : 'LH');
  }
});
