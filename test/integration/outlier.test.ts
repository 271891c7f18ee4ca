// Outlier detection through real Legate processes (two workers reporting through their rings, one
// detector in main): consecutive 5xx ejects a host and it returns after base_ejection_time;
// gateway failures are detected but not enforced by default; max_ejection_percent overflows; success
// rate and failure percentage eject at the interval.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { hcmListener, routeAll, type Legate } from '../helpers/legate.ts';
import { until } from './fixtures/clients.ts';
import { legateFor, httpUp } from './fixtures/tracked.ts';
import { echo, type HttpUpstream } from './fixtures/upstreams.ts';

function config(ports: number[], outlier: string): string {
  return `
static_resources:
  listeners:${hcmListener('proxy', 'ingress', routeAll('up'))}
  clusters:
  - name: up
    connect_timeout: 1s
    outlier_detection:${outlier}
    load_assignment:
      cluster_name: up
      endpoints:
      - lb_endpoints:${ports.map((p) => `
        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${p} } } }`).join('')}
`;
}

/** An upstream answering `state.status` (echo on 200). */
async function host(): Promise<HttpUpstream & { state: { status: number; alternate: boolean; n: number } }> {
  const state = { status: 200, alternate: false, n: 0 };
  const up = await httpUp((req, res, body) => {
    state.n++;
    const status = state.alternate ? (state.n % 2 === 0 ? 500 : 200) : state.status;
    if (status === 200) echo(req, res, body);
    else { res.writeHead(status); res.end(); }
  });
  return Object.assign(up, { state });
}

async function load(port: number, n: number): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < n; i++) {
    const r = await request(`http://127.0.0.1:${port}/x`, { reset: true });
    await r.body.dump();
    statuses.push(r.statusCode);
  }
  return statuses;
}

async function stat(l: Legate, name: string): Promise<number> {
  return (await l.stats()).get(name) ?? -1;
}


test('consecutive_5xx ejects a host, which returns after base_ejection_time', async () => {
  const [a, b, c] = [await host(), await host(), await host()];
  b.state.status = 500;
  const l = await legateFor(config([a.port, b.port, c.port], `
      consecutive_5xx: 3
      interval: 0.2s
      base_ejection_time: 1s
      max_ejection_percent: 50`), { concurrency: 2 });
  const port = l.port('proxy');
  await load(port, 30);
  await until('b ejected', async () => (await stat(l, 'cluster.up.outlier_detection.ejections_active')) === 1);
  assert.ok(await stat(l, 'cluster.up.outlier_detection.ejections_enforced_consecutive_5xx') >= 1);
  // Without split_external_local_origin_errors the local-origin stats do not exist (they could only read 0).
  assert.equal((await l.stats()).has('cluster.up.outlier_detection.ejections_detected_consecutive_local_origin_failure'), false);
  const before = b.requests.length;
  const statuses = await load(port, 20);
  assert.equal(b.requests.length, before, 'the ejected host got requests');
  assert.deepEqual([...new Set(statuses)], [200]);
  const clusters = await (await request(`${l.admin}/clusters`)).body.text();
  assert.match(clusters, new RegExp(`up::127\\.0\\.0\\.1:${b.port}::health_flags::/failed_outlier_check`));
  // Back after the ejection time; healthy again, it serves.
  b.state.status = 200;
  await until('b back', async () => (await stat(l, 'cluster.up.outlier_detection.ejections_active')) === 0);
  await load(port, 9);
  assert.ok(b.requests.length > before, 'the returned host got no request');
  assert.equal(await stat(l, 'cluster.up.outlier_detection.ejections_enforced_total'), 1);
});

test('gateway failures are detected but not enforced by default; max_ejection_percent overflows', async () => {
  const [a, b, c] = [await host(), await host(), await host()];
  b.state.status = 503;
  c.state.status = 503;
  const l = await legateFor(config([a.port, b.port, c.port], `
      consecutive_5xx: 100
      consecutive_gateway_failure: 2
      interval: 0.2s`));
  await load(l.port('proxy'), 30);
  await until('gateway failures detected', async () =>
    (await stat(l, 'cluster.up.outlier_detection.ejections_detected_consecutive_gateway_failure')) >= 2);
  assert.equal(await stat(l, 'cluster.up.outlier_detection.ejections_active'), 0);
  // With the default max_ejection_percent 10, one host of three is already 33%: Envoy ejects none
  // (overflow), unless always_eject_one_host lets the first go.
  const l2 = await legateFor(config([a.port, b.port, c.port], `
      consecutive_5xx: 3
      interval: 0.2s`));
  await load(l2.port('proxy'), 40);
  await until('overflow', async () => (await stat(l2, 'cluster.up.outlier_detection.ejections_overflow')) >= 2);
  assert.equal(await stat(l2, 'cluster.up.outlier_detection.ejections_active'), 0);
  const l3 = await legateFor(config([a.port, b.port, c.port], `
      consecutive_5xx: 3
      interval: 0.2s
      always_eject_one_host: true`));
  await load(l3.port('proxy'), 40);
  await until('one ejected, one overflow', async () =>
    (await stat(l3, 'cluster.up.outlier_detection.ejections_active')) === 1
    && (await stat(l3, 'cluster.up.outlier_detection.ejections_overflow')) >= 1);
});

test('success rate and failure percentage eject at the interval', async () => {
  const [a, b, c] = [await host(), await host(), await host()];
  // b fails every other request: never 3 in a row, but half of them.
  b.state.alternate = true;
  const sr = await legateFor(config([a.port, b.port, c.port], `
      consecutive_5xx: 1000
      interval: 0.5s
      base_ejection_time: 30s
      max_ejection_percent: 50
      success_rate_minimum_hosts: 3
      success_rate_request_volume: 10
      success_rate_stdev_factor: 1000`));
  await load(sr.port('proxy'), 60);
  await until('success rate ejects b', async () =>
    (await stat(sr, 'cluster.up.outlier_detection.ejections_enforced_success_rate')) === 1);
  const fp = await legateFor(config([a.port, b.port, c.port], `
      consecutive_5xx: 1000
      interval: 0.5s
      max_ejection_percent: 50
      enforcing_success_rate: 0
      failure_percentage_threshold: 40
      enforcing_failure_percentage: 100
      failure_percentage_minimum_hosts: 3
      failure_percentage_request_volume: 10`));
  await load(fp.port('proxy'), 60);
  await until('failure percentage ejects b', async () =>
    (await stat(fp, 'cluster.up.outlier_detection.ejections_enforced_failure_percentage')) === 1);
  assert.equal(await stat(fp, 'cluster.up.outlier_detection.ejections_active'), 1);
});

test('local-origin failures: counted on their own with the split (connect failures eject), refused without it', async () => {
  const a = await host();
  const { deadPort } = await import('./fixtures/upstreams.ts');
  const dead = await deadPort();
  const l = await legateFor(config([a.port, dead], `
      split_external_local_origin_errors: true
      consecutive_local_origin_failure: 2
      consecutive_5xx: 1000
      interval: 0.2s
      max_ejection_percent: 50`));
  await load(l.port('proxy'), 8);
  await until('the dead host ejected', async () =>
    (await stat(l, 'cluster.up.outlier_detection.ejections_enforced_consecutive_local_origin_failure')) === 1);
  assert.deepEqual([...new Set(await load(l.port('proxy'), 6))], [200]);
  const { runLegate, tmpFile } = await import('../helpers/legate.ts');
  const r = await runLegate(['--mode', 'validate', '-c', tmpFile('c.yaml', config([a.port], `
      consecutive_local_origin_failure: 2`))]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /outlier_detection\.consecutive_local_origin_failure: applies with split_external_local_origin_errors only/);
});
