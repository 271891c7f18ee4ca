// Two workers: stats summed by main match the traffic sent (/stats json and text, /stats/prometheus),
// a crashed worker is replaced while the listener keeps serving, exact_balance spreads connections.
// LEGATE_TEST_HOOKS=1 makes each worker's `server` header end in ` worker-<id>`, so a test can tell
// which worker served.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startLegate, proxyConfig, type Legate } from '../helpers/legate.ts';
import { httpUpstream, type HttpUpstream } from './fixtures/upstreams.ts';
import { RawClient, parsePrometheus, pollStat, promValue, rawRequest, type RawResponse } from './fixtures/clients.ts';

const HOOKS = { LEGATE_TEST_HOOKS: '1' };
const cleanup: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const f of cleanup.reverse()) await f();
});

async function setup(opts: { listenerExtra?: string } = {}): Promise<{ up: HttpUpstream; l: Legate; port: number }> {
  const up = await httpUpstream();
  cleanup.push(() => up.close());
  const l = await startLegate(proxyConfig([up.port], { listenerExtra: opts.listenerExtra }), { concurrency: 2, env: HOOKS });
  cleanup.push(() => l.stop());
  return { up, l, port: l.port('proxy') };
}

/** One GET on a fresh connection (Connection: close so the kernel spreads connections over the
 *  workers' reuse-port sockets by 4-tuple). */
function freshGet(port: number, path: string): Promise<RawResponse> {
  return rawRequest(port, `GET ${path} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n`);
}

function workerOf(r: RawResponse): string {
  return /worker-(\d+)$/.exec(r.headers.server ?? '')?.[1] ?? `none (server: ${r.headers.server})`;
}

async function getText(url: string): Promise<string> {
  const r = await fetch(url, { signal: AbortSignal.timeout(5000) });
  assert.equal(r.status, 200, url);
  return r.text();
}

test('with --concurrency 2, /stats and /stats/prometheus totals match the requests sent', async () => {
  const { l, port } = await setup();
  const workers = new Set<string>();
  let n = 0;
  // At least 40 requests, and on until both workers have served some (bounded).
  while (n < 40 || (workers.size < 2 && n < 400)) {
    const r = await freshGet(port, `/count/${n}`);
    n++;
    assert.equal(r.status, 200);
    workers.add(workerOf(r));
  }
  assert.deepEqual([...workers].sort(), ['0', '1'], `after ${n} connections only worker(s) ${[...workers]} served`);

  const exact: Record<string, number> = {
    'http.ingress.downstream_rq_total': n,
    'http.ingress.downstream_rq_2xx': n,
    'http.ingress.downstream_cx_total': n,
    'cluster.upstream.upstream_rq_total': n,
    'cluster.upstream.upstream_rq_2xx': n,
    'listener.127.0.0.1_0.downstream_cx_total': n,
  };
  // The last connection's close may still be in flight on Legate's side: wait for the gauge to settle.
  assert.equal(await pollStat(l, 'http.ingress.downstream_cx_active', (v) => v === 0), 0, 'downstream_cx_active');
  const stats = await l.stats();
  for (const [name, want] of Object.entries(exact)) assert.equal(stats.get(name), want, name);
  assert.equal(stats.get('http.ingress.downstream_rq_5xx'), 0);
  assert.equal(stats.get('http.ingress.downstream_rq_4xx'), 0);
  assert.equal(stats.get('server.concurrency'), 2);
  const upCx = stats.get('cluster.upstream.upstream_cx_total')!;
  assert.ok(upCx >= 1 && upCx <= 4, `upstream_cx_total ${upCx}: each worker has its own pool, reused`);
  assert.equal(stats.get('cluster.upstream.upstream_cx_active'), upCx, 'pooled connections stay open');

  // Envoy's text format: "name: value" per line.
  const text = await getText(`${l.admin}/stats`);
  const lines = new Map(text.split('\n').filter((x) => x.includes(': ')).map((x) => {
    const i = x.lastIndexOf(': ');
    return [x.slice(0, i), x.slice(i + 2)] as const;
  }));
  for (const [name, want] of Object.entries(exact)) assert.equal(lines.get(name), String(want), `/stats ${name}`);

  const prom = parsePrometheus(await getText(`${l.admin}/stats/prometheus`));
  const ingress = { envoy_http_conn_manager_prefix: 'ingress' };
  const cluster = { envoy_cluster_name: 'upstream' };
  assert.equal(promValue(prom, 'envoy_http_downstream_rq_total', ingress), n);
  assert.equal(promValue(prom, 'envoy_http_downstream_rq_xx', { ...ingress, envoy_response_code_class: '2' }), n);
  assert.equal(promValue(prom, 'envoy_http_downstream_rq_xx', { ...ingress, envoy_response_code_class: '5' }), 0);
  assert.equal(promValue(prom, 'envoy_http_downstream_cx_total', ingress), n);
  assert.equal(promValue(prom, 'envoy_cluster_upstream_rq_total', cluster), n);
  assert.equal(promValue(prom, 'envoy_cluster_upstream_rq_xx', { ...cluster, envoy_response_code_class: '2' }), n);
  assert.equal(promValue(prom, 'envoy_cluster_upstream_cx_total', cluster), upCx);
  assert.equal(promValue(prom, 'envoy_listener_downstream_cx_total', { envoy_listener_address: '127.0.0.1_0' }), n);
});

test('a crashed worker is replaced and the listener keeps serving', async () => {
  const { l, port } = await setup();
  for (let i = 0; i < 10; i++) assert.equal((await freshGet(port, `/pre/${i}`)).status, 200);
  const before = await l.stats();
  assert.equal(before.get('http.ingress.downstream_rq_total'), 10);
  assert.equal(before.get('server.legate.worker_restarts'), 0);

  process.kill(l.proc.pid!, 'SIGUSR2');
  assert.equal(await pollStat(l, 'server.legate.worker_restarts', (v) => v === 1, 10_000), 1);
  assert.equal(l.proc.exitCode, null, 'the process is still up');

  const workers = new Set<string>();
  for (let i = 0; i < 20; i++) {
    let r: RawResponse;
    try {
      r = await freshGet(port, `/post/${i}`);
    } catch (err) {
      throw new Error(`request ${i} after the restart: ${(err as Error).message}`);
    }
    assert.equal(r.status, 200, `request ${i} after the restart`);
    assert.equal(r.body.toString(), `GET /post/${i}`);
    workers.add(workerOf(r));
  }
  assert.ok(workers.has('0'), `the replacement worker 0 served none of 20 connections (${[...workers]})`);

  const afterStats = await l.stats();
  // Counters never go backwards: what the dead worker counted is kept.
  for (const [name, v] of before) {
    if (/(_total|_[1-5]xx|_completed|_restarts)$/.test(name)) {
      assert.ok((afterStats.get(name) ?? -1) >= v, `${name} went from ${v} to ${afterStats.get(name)}`);
    }
  }
  assert.equal(afterStats.get('http.ingress.downstream_rq_total'), 30);
  assert.equal(afterStats.get('http.ingress.downstream_rq_2xx'), 30);
  assert.equal(afterStats.get('cluster.upstream.upstream_rq_total'), 30);
  assert.equal(afterStats.get('server.legate.worker_restarts'), 1);
});

test('exact_balance: 4 long-lived connections land 2 and 2 on the two workers', async () => {
  const { l, port } = await setup({ listenerExtra: '\n    connection_balance_config:\n      exact_balance: {}' });
  const clients: RawClient[] = [];
  try {
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const c = await RawClient.connect(port);
      clients.push(c);
      await c.write(`GET /balance/${i} HTTP/1.1\r\nHost: h\r\n\r\n`);
      const r = await c.readResponse();
      assert.equal(r.status, 200);
      ids.push(workerOf(r));
    }
    assert.deepEqual([...ids].sort(), ['0', '0', '1', '1'], `workers: ${ids.join(',')}`);
    // The connections are still open and usable.
    for (const c of clients) {
      assert.equal(c.ended, false);
      await c.write('GET /again HTTP/1.1\r\nHost: h\r\n\r\n');
      assert.equal((await c.readResponse()).status, 200);
    }
    assert.equal(await pollStat(l, 'http.ingress.downstream_cx_active', (v) => v === 4), 4);
  } finally {
    for (const c of clients) c.destroy();
  }
});
