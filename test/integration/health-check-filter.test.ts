// envoy.filters.http.health_check through a real Legate with two workers: health checks answered
// 200 with x-envoy-upstream-healthchecked-cluster; admin POST /healthcheck/fail makes every worker
// answer them 503 at once, marks other responses x-envoy-immediate-health-check-fail and closes
// their connections (connection: close, downstream_cx_drain_close), /ready says DRAINING; POST
// /healthcheck/ok undoes it. Also pass-through mode with cache_time, cluster_min_healthy_percentages,
// and local_reply_config's not_health_check_filter telling health checks apart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hcmListener, staticCluster } from '../helpers/legate.ts';
import { httpUp, legateFor } from './fixtures/tracked.ts';
import { pollStat, rawRequest, type RawResponse } from './fixtures/clients.ts';

const HC = 'type.googleapis.com/envoy.extensions.filters.http.health_check.v3.HealthCheck';
const up = await httpUp();

function hcFilter(fields: string): string {
  return `
          - name: envoy.filters.http.health_check
            typed_config:
              "@type": ${HC}${fields}`;
}
const HEALTHZ = `
              headers: [{ name: ":path", string_match: { exact: /healthz } }]`;

const routes = `
              - match: { prefix: "/up" }
                route: { cluster: upstream }`;

const l = await legateFor(`
node: { id: n1, cluster: front-proxy }
static_resources:
  listeners:${hcmListener('hc', 'hc', routes, {
    httpFilters: hcFilter(`
              pass_through_mode: false${HEALTHZ}`),
    hcmExtra: `
          local_reply_config:
            mappers:
            - filter: { not_health_check_filter: {} }
              status_code: 418`,
  })}${hcmListener('cached', 'cached', routes, {
    httpFilters: hcFilter(`
              pass_through_mode: true
              cache_time: 30s
              headers: [{ name: ":path", string_match: { prefix: /up/healthz } }]`),
  })}${hcmListener('clusters', 'clusters', routes, {
    httpFilters: hcFilter(`
              pass_through_mode: false
              cluster_min_healthy_percentages: { upstream: { value: 100 }, empty: { value: 0 } }${HEALTHZ}`),
  })}${hcmListener('empty', 'empty', routes, {
    httpFilters: hcFilter(`
              pass_through_mode: false
              cluster_min_healthy_percentages: { empty: { value: 50 } }${HEALTHZ}`),
  })}${hcmListener('missing', 'missing', routes, {
    httpFilters: hcFilter(`
              pass_through_mode: false
              cluster_min_healthy_percentages: { nope: { value: 10 } }${HEALTHZ}`),
  })}
  clusters:${staticCluster('upstream', [up.port])}
  - name: empty
    type: STATIC
    connect_timeout: 1s
    load_assignment: { cluster_name: empty }
`, { concurrency: 2, env: { LEGATE_TEST_HOOKS: '1' } });

/** One request on a fresh connection (new connections spread over both workers). */
function get(listener: string, path: string): Promise<RawResponse> {
  return rawRequest(l.port(listener), `GET ${path} HTTP/1.1\r\nhost: x\r\n\r\n`);
}

async function admin(path: string): Promise<{ status: number; body: string }> {
  const r = await fetch(`${l.admin}${path}`, { method: path.startsWith('/healthcheck') ? 'POST' : 'GET', signal: AbortSignal.timeout(5000) });
  return { status: r.status, body: await r.text() };
}

test('health checks answered 200 with the service cluster; other requests pass; /healthcheck/fail then /ok on every worker', async () => {
  for (let i = 0; i < 4; i++) {
    const hc = await get('hc', '/healthz');
    assert.equal(hc.status, 200);
    assert.equal(hc.headers['x-envoy-upstream-healthchecked-cluster'], 'front-proxy');
    assert.equal(hc.headers.connection, undefined);
  }
  const plain = await get('hc', '/up/a');
  assert.equal(plain.status, 200);
  assert.equal(plain.headers['x-envoy-upstream-healthchecked-cluster'], undefined);
  assert.equal(plain.headers['x-envoy-immediate-health-check-fail'], undefined);
  // local_reply_config's not_health_check_filter maps other local replies (no route: 404 -> 418).
  assert.equal((await get('hc', '/nothing')).status, 418);

  assert.deepEqual(await admin('/healthcheck/fail'), { status: 200, body: 'OK\n' });
  // Both workers see it at once: every new connection, whichever worker takes it (the test hooks
  // name the worker in the server header).
  const workers = new Set<string>();
  for (let i = 0; i < 16; i++) {
    const hc = await get('hc', '/healthz');
    workers.add(String(hc.headers.server));
    assert.equal(hc.status, 503);
    assert.equal(hc.headers['x-envoy-upstream-healthchecked-cluster'], 'front-proxy');
    assert.equal(hc.headers.connection, 'close');
  }
  assert.equal(workers.size, 2, `served by ${[...workers].join(', ')}`);
  const other = await get('hc', '/up/b');
  assert.equal(other.status, 200);
  assert.equal(other.headers['x-envoy-immediate-health-check-fail'], 'true');
  assert.equal(other.headers.connection, 'close');
  assert.deepEqual(await admin('/ready'), { status: 503, body: 'DRAINING\n' });
  assert.equal((await l.stats()).get('server.live'), 0);
  assert.ok((await pollStat(l, 'http.hc.downstream_cx_drain_close', (v) => v >= 17))! >= 17);

  assert.deepEqual(await admin('/healthcheck/ok'), { status: 200, body: 'OK\n' });
  for (let i = 0; i < 4; i++) {
    const hc = await get('hc', '/healthz');
    assert.equal(hc.status, 200);
    assert.equal(hc.headers.connection, undefined);
  }
  const again = await get('hc', '/up/c');
  assert.equal(again.headers['x-envoy-immediate-health-check-fail'], undefined);
  assert.deepEqual(await admin('/ready'), { status: 200, body: 'LIVE\n' });
});

test('pass_through_mode with cache_time: the upstream answers the first health check of a worker, the cache the next ones', async () => {
  const before = up.requests.length;
  for (let i = 0; i < 6; i++) {
    const r = await get('cached', '/up/healthz');
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-envoy-upstream-healthchecked-cluster'], 'front-proxy');
  }
  // One per worker at most (each worker keeps its own cache).
  const forwarded = up.requests.length - before;
  assert.ok(forwarded >= 1 && forwarded <= 2, `${forwarded} health checks reached the upstream`);
});

test('cluster_min_healthy_percentages: 200 when every cluster has its share, 503 for an empty or missing cluster', async () => {
  assert.equal((await get('clusters', '/healthz')).status, 200);
  assert.equal((await get('empty', '/healthz')).status, 503);
  assert.equal((await get('missing', '/healthz')).status, 503);
});
