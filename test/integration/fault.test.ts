// envoy.filters.http.fault through a real Legate (--concurrency 2) and a real upstream, driven by
// undici: abort and delay rates over 1000 keep-alive requests, header-controlled faults (abort,
// gRPC abort, delay, percentage headers, response throughput), a route's own HTTPFault, and
// max_active_faults holding across both workers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { performance } from 'node:perf_hooks';
import { Pool, request } from 'undici';
import { hcmListener, routeAll, staticCluster } from '../helpers/legate.ts';
import { httpUp, legateFor } from './fixtures/tracked.ts';
import { until } from './fixtures/clients.ts';

const TYPE = 'type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault';

function config(port: number, fault: string, routes = routeAll('upstream')): string {
  return `
static_resources:
  listeners:${hcmListener('proxy', 'ingress', routes, {
    httpFilters: `
          - name: envoy.filters.http.fault
            typed_config:
              "@type": ${TYPE}${fault}`,
  })}
  clusters:${staticCluster('upstream', [port])}
`;
}

test('abort and delay rates over 1000 keep-alive requests are within tolerance; DI/FI stats count them', async () => {
  const up = await httpUp();
  const legate = await legateFor(config(up.port, `
              abort: { http_status: 503, percentage: { numerator: 30 } }
              delay: { fixed_delay: 0.002s, percentage: { numerator: 20 } }`), { concurrency: 2 });
  const pool = new Pool(`http://127.0.0.1:${legate.port('proxy')}`, { connections: 16, pipelining: 1 });
  try {
    const N = 1000;
    const codes: number[] = [];
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < N) {
        next++;
        const r = await pool.request({ path: '/x', method: 'GET' });
        const body = await r.body.text();
        if (r.statusCode === 503) assert.equal(body, 'fault filter abort');
        codes.push(r.statusCode);
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
    const aborted = codes.filter((c) => c === 503).length;
    assert.equal(codes.length, N);
    assert.equal(codes.filter((c) => c !== 503 && c !== 200).length, 0);
    // Binomial: sd ~14.5 for p=0.3; these bounds are about 5 sd wide.
    assert.ok(aborted > 230 && aborted < 370, `aborted ${aborted} of ${N}`);
    await until('stats', async () => (await legate.stats()).get('http.ingress.fault.aborts_injected') === aborted);
    const stats = await legate.stats();
    const delayed = stats.get('http.ingress.fault.delays_injected')!;
    assert.ok(delayed > 140 && delayed < 260, `delayed ${delayed} of ${N}`);
    assert.equal(stats.get('http.ingress.fault.active_faults'), 0);
    assert.equal(stats.get('http.ingress.fault.faults_overflow'), 0);
  } finally {
    await pool.close();
  }
});

test('header-controlled faults: abort status, gRPC status, percentage, delay and response throughput', async () => {
  const big = Buffer.alloc(200 * 1024, 'x');
  const up = await httpUp((req, res) => {
    if (req.url === '/big') {
      res.writeHead(200, { 'content-length': big.length });
      res.end(big);
      return;
    }
    res.writeHead(200, { 'content-length': 2 });
    res.end('ok');
  });
  const legate = await legateFor(config(up.port, `
              abort: { header_abort: {}, percentage: { numerator: 100 } }
              delay: { header_delay: {}, percentage: { numerator: 100 } }
              response_rate_limit: { header_limit: {}, percentage: { numerator: 100 } }`));
  const base = `http://127.0.0.1:${legate.port('proxy')}`;

  let r = await request(`${base}/a`, { headers: { 'x-envoy-fault-abort-request': '429' } });
  assert.equal(r.statusCode, 429);
  assert.equal(await r.body.text(), 'fault filter abort');

  // A status outside 200-599 is no abort.
  r = await request(`${base}/a`, { headers: { 'x-envoy-fault-abort-request': '700' } });
  assert.equal(r.statusCode, 200);
  await r.body.text();

  // The percentage header lowers the configured 100% to 0%.
  r = await request(`${base}/a`, {
    headers: { 'x-envoy-fault-abort-request': '500', 'x-envoy-fault-abort-request-percentage': '0' },
  });
  assert.equal(r.statusCode, 200);
  await r.body.text();

  // A gRPC request gets a trailers-only gRPC answer.
  r = await request(`${base}/svc/M`, {
    method: 'POST', body: '', headers: { 'content-type': 'application/grpc', 'x-envoy-fault-abort-grpc-request': '14' },
  });
  assert.equal(r.statusCode, 200);
  assert.equal(r.headers['grpc-status'], '14');
  assert.equal(r.headers['grpc-message'], 'fault filter abort');
  await r.body.text();

  let t = performance.now();
  r = await request(`${base}/d`, { headers: { 'x-envoy-fault-delay-request': '300' } });
  assert.equal(r.statusCode, 200);
  assert.equal(await r.body.text(), 'ok');
  assert.ok(performance.now() - t >= 290, `delayed ${performance.now() - t} ms`);

  // Delay, then abort.
  t = performance.now();
  r = await request(`${base}/d`, { headers: { 'x-envoy-fault-delay-request': '100', 'x-envoy-fault-abort-request': '503' } });
  assert.equal(r.statusCode, 503);
  await r.body.text();
  assert.ok(performance.now() - t >= 90);

  // 100 KiB/s: the first second's worth at once, the second 100 KiB over about a second.
  t = performance.now();
  r = await request(`${base}/big`, { headers: { 'x-envoy-fault-throughput-response': '100' } });
  const got = Buffer.from(await r.body.arrayBuffer());
  const took = performance.now() - t;
  assert.equal(got.length, big.length);
  assert.ok(got.equals(big));
  assert.ok(took >= 800 && took < 3000, `200 KiB at 100 KiB/s took ${took} ms`);

  await until('stats', async () => (await legate.stats()).get('http.ingress.fault.response_rl_injected') === 1);
  const stats = await legate.stats();
  assert.equal(stats.get('http.ingress.fault.aborts_injected'), 3);
  assert.equal(stats.get('http.ingress.fault.delays_injected'), 2);
  assert.equal(stats.get('http.ingress.fault.active_faults'), 0);
});

test("a route's typed_per_filter_config HTTPFault replaces the filter's settings", async () => {
  const up = await httpUp();
  const routes = `
              - match: { prefix: "/teapot" }
                route: { cluster: upstream }
                typed_per_filter_config:
                  envoy.filters.http.fault:
                    "@type": ${TYPE}
                    abort: { http_status: 418, percentage: { numerator: 100 } }
              - match: { prefix: "/" }
                route: { cluster: upstream }`;
  const legate = await legateFor(config(up.port, `
              abort: { http_status: 503, percentage: { numerator: 100 } }
              upstream_cluster: other`, routes));
  const base = `http://127.0.0.1:${legate.port('proxy')}`;
  let r = await request(`${base}/teapot`);
  assert.equal(r.statusCode, 418);
  await r.body.text();
  // The filter's own fault names another upstream cluster: this route is not faulted.
  r = await request(`${base}/else`);
  assert.equal(r.statusCode, 200);
  await r.body.text();
});

test('max_active_faults holds across both workers: the excess requests are not faulted and count in faults_overflow', async () => {
  const up = await httpUp();
  const legate = await legateFor(config(up.port, `
              delay: { fixed_delay: 0.4s, percentage: { numerator: 100 } }
              max_active_faults: 2`), { concurrency: 2 });
  const base = `http://127.0.0.1:${legate.port('proxy')}`;
  const start = performance.now();
  // Separate connections (the kernel spreads them over the workers).
  const times = await Promise.all(Array.from({ length: 6 }, async () => {
    const r = await request(`${base}/m`, { reset: true });
    await r.body.text();
    assert.equal(r.statusCode, 200);
    return performance.now() - start;
  }));
  const slow = times.filter((ms) => ms >= 390).length;
  assert.equal(slow, 2, `times ${times.map((x) => Math.round(x)).join(',')}`);
  await until('stats', async () => (await legate.stats()).get('http.ingress.fault.faults_overflow') === 4);
  const stats = await legate.stats();
  assert.equal(stats.get('http.ingress.fault.delays_injected'), 2);
  assert.equal(stats.get('http.ingress.fault.active_faults'), 0);
});
