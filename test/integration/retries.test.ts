// Retries and timeouts through a real Legate to real upstreams: retry_on conditions (5xx, reset,
// retriable status codes), num_retries and URX, per_try_timeout, backoff, previous_hosts, the
// request body replayed, x-envoy-attempt-count, the x-envoy-* request headers, the max_retries
// circuit breaker, and retry_priority (previous_priorities) sending a retry to another priority.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import crypto from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { fileAccessLog, hcmListener, tmpFile, type Legate } from '../helpers/legate.ts';
import { legateFor, httpUp } from './fixtures/tracked.ts';
import { echo } from './fixtures/upstreams.ts';
import { rawRequest } from './fixtures/clients.ts';

interface Opts {
  retryPolicy?: string;
  routeExtra?: string;
  vhExtra?: string;
  clusterExtra?: string;
  log?: string;
}

function config(ports: number[], o: Opts = {}): string {
  const routes = `
              - match: { prefix: "/" }
                route:
                  cluster: up${o.routeExtra ?? ''}${o.retryPolicy === undefined ? '' : `
                  retry_policy:${o.retryPolicy}`}`;
  let yaml = `
static_resources:
  listeners:${hcmListener('proxy', 'ingress', routes, o.log === undefined ? {} : { hcmExtra: fileAccessLog(o.log, '%RESPONSE_CODE% %RESPONSE_FLAGS%\\n') })}
  clusters:
  - name: up
    connect_timeout: 1s${o.clusterExtra ?? ''}
    load_assignment:
      cluster_name: up
      endpoints:
      - lb_endpoints:${ports.map((p) => `
        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${p} } } }`).join('')}
`;
  if (o.vhExtra !== undefined) yaml = yaml.replace('              domains: ["*"]', `              domains: ["*"]${o.vhExtra}`);
  return yaml;
}

async function get(port: number, path = '/', headers: Record<string, string> = {}, method = 'GET', body?: Buffer): Promise<{ status: number; body: string }> {
  const r = await request(`http://127.0.0.1:${port}${path}`, { method: method as 'GET', headers, body, reset: true });
  return { status: r.statusCode, body: await r.body.text() };
}

/** Wait for the access log to hold `mark`, then check it is exactly `want`. */
async function logLine(log: string, mark: string, want: string): Promise<void> {
  for (let i = 0; i < 50 && !fs.readFileSync(log, 'utf8').includes(mark); i++) await sleep(20);
  assert.equal(fs.readFileSync(log, 'utf8').trim(), want);
}

async function stats(l: Legate): Promise<Map<string, number>> {
  return l.stats();
}

test('5xx then 200: the client gets the 200; attempts counted, x-envoy-attempt-count upstream; the body is replayed', async () => {
  let n = 0;
  const up = await httpUp((req, res, body) => {
    n++;
    if (n % 2 === 1) {
      res.writeHead(503, { 'content-type': 'text/plain' });
      res.end('busy');
      return;
    }
    res.writeHead(200, { 'x-body-sha': crypto.createHash('sha256').update(body).digest('hex') });
    res.end(`ok ${req.headers['x-envoy-attempt-count']}`);
  });
  const l = await legateFor(config([up.port], {
    retryPolicy: `
                    retry_on: 5xx
                    num_retries: 2`,
    vhExtra: `
              include_request_attempt_count: true`,
  }));
  const port = l.port('proxy');
  const r = await get(port);
  assert.deepEqual(r, { status: 200, body: 'ok 2' });
  assert.deepEqual(up.requests.map((q) => q.headers['x-envoy-attempt-count']), ['1', '2']);
  // A POST body goes out whole on each attempt.
  const payload = crypto.randomBytes(64 * 1024);
  const before = up.requests.length;
  const res = await request(`http://127.0.0.1:${port}/post`, { method: 'POST', body: payload, reset: true });
  assert.equal(res.statusCode, 200);
  assert.equal(res.headers['x-body-sha'], crypto.createHash('sha256').update(payload).digest('hex'));
  await res.body.dump();
  const tries = up.requests.slice(before);
  assert.equal(tries.length, 2);
  for (const t of tries) assert.ok(t.body.equals(payload));
  const st = await stats(l);
  assert.equal(st.get('cluster.up.upstream_rq_retry'), 2);
  assert.equal(st.get('cluster.up.upstream_rq_retry_success'), 2);
  assert.equal(st.get('cluster.up.upstream_rq_5xx'), 2);
  assert.equal(st.get('cluster.up.upstream_rq_2xx'), 2);
});

test('retries stop at num_retries: the last 503 goes to the client with URX', async () => {
  const up = await httpUp((_req, res) => { res.writeHead(503); res.end('no'); });
  const log = tmpFile('access.log', '');
  const l = await legateFor(config([up.port], { log, retryPolicy: `
                    retry_on: gateway-error
                    num_retries: 2
                    retry_back_off: { base_interval: 0.01s }` }));
  const r = await get(l.port('proxy'));
  assert.deepEqual(r, { status: 503, body: 'no' });
  assert.equal(up.requests.length, 3);
  const st = await stats(l);
  assert.equal(st.get('cluster.up.upstream_rq_retry'), 2);
  assert.equal(st.get('cluster.up.upstream_rq_retry_limit_exceeded'), 1);
  assert.equal(st.get('cluster.up.upstream_rq_retry_success') ?? 0, 0);
  await logLine(log, '503', '503 URX');
});

test('a host that resets is retried on another (reset, previous_hosts); without a policy the reset is a 503 UC', async () => {
  const good = await httpUp();
  const bad = await httpUp((req) => { req.socket.destroy(); });
  const l = await legateFor(config([bad.port, good.port], { retryPolicy: `
                    retry_on: reset
                    num_retries: 3
                    retry_host_predicate:
                    - name: envoy.retry_host_predicates.previous_hosts
                      typed_config:
                        "@type": type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate
                    host_selection_retry_max_attempts: 3` }), { concurrency: 2 });
  const port = l.port('proxy');
  for (let i = 0; i < 20; i++) assert.deepEqual(await get(port, `/r${i}`), { status: 200, body: `GET /r${i}` });
  const st = await stats(l);
  assert.ok(st.get('cluster.up.upstream_rq_retry')! >= 1);
  assert.equal(st.get('cluster.up.upstream_rq_retry')!, bad.requests.length, 'each reset was retried once, on the good host');
  const plain = await legateFor(config([bad.port]));
  const r = await get(plain.port('proxy'));
  assert.equal(r.status, 503);
  assert.match(r.body, /connection termination/);
});

test('per_try_timeout: a slow attempt is given up and retried; without retries it is a 504', async () => {
  let n = 0;
  const up = await httpUp((req, res, body) => {
    n++;
    if (n === 1) setTimeout(() => echo(req, res, body), 3000);
    else echo(req, res, body);
  });
  const l = await legateFor(config([up.port], { retryPolicy: `
                    retry_on: 5xx
                    num_retries: 1
                    per_try_timeout: 0.2s` }));
  const t0 = Date.now();
  const r = await get(l.port('proxy'), '/slow');
  assert.deepEqual(r, { status: 200, body: 'GET /slow' });
  assert.ok(Date.now() - t0 < 2000, `took ${Date.now() - t0} ms`);
  assert.equal((await stats(l)).get('cluster.up.upstream_rq_per_try_timeout'), 1);
  // No retries left: the per-try timeout answers 504 UT.
  n = 0;
  const single = await legateFor(config([up.port], { retryPolicy: `
                    retry_on: connect-failure
                    per_try_timeout: 0.2s` }));
  const r2 = await get(single.port('proxy'), '/slow2');
  assert.equal(r2.status, 504);
  assert.equal(r2.body, 'upstream request timeout');
});

test('x-envoy-retry-on, x-envoy-max-retries and x-envoy-upstream-rq-timeout-ms on a route without a policy; stripped upstream', async () => {
  let n = 0;
  const up = await httpUp((req, res, body) => {
    n++;
    if (req.url === '/hang') return;
    if (n <= 2) { res.writeHead(500); res.end(); return; }
    echo(req, res, body);
  });
  const l = await legateFor(config([up.port]));
  const port = l.port('proxy');
  const r = await get(port, '/h', { 'x-envoy-retry-on': '5xx', 'x-envoy-max-retries': '3' });
  assert.deepEqual(r, { status: 200, body: 'GET /h' });
  assert.equal(up.requests.length, 3);
  for (const q of up.requests) {
    assert.equal(q.headers['x-envoy-retry-on'], undefined);
    assert.equal(q.headers['x-envoy-max-retries'], undefined);
  }
  const t0 = Date.now();
  const t = await get(port, '/hang', { 'x-envoy-upstream-rq-timeout-ms': '150' });
  assert.equal(t.status, 504);
  assert.ok(Date.now() - t0 < 1500);
  // Without the header no retry happens.
  n = 0;
  assert.equal((await get(port, '/once')).status, 500);
});

test('retriable-status-codes and retriable-4xx; the max_retries circuit breaker', async () => {
  let n = 0;
  const up = await httpUp((req, res, body) => {
    n++;
    if (req.url === '/418' && n % 2 === 1) { res.writeHead(418); res.end(); return; }
    if (req.url === '/409' && n % 2 === 1) { res.writeHead(409); res.end(); return; }
    echo(req, res, body);
  });
  const l = await legateFor(config([up.port], { retryPolicy: `
                    retry_on: retriable-status-codes,retriable-4xx
                    retriable_status_codes: [418]` }));
  n = 0;
  assert.equal((await get(l.port('proxy'), '/418')).status, 200);
  n = 0;
  assert.equal((await get(l.port('proxy'), '/409')).status, 200);
  // max_retries 0: no retry may be made; counted as an overflow.
  const noneLog = tmpFile('access.log', '');
  const none = await legateFor(config([up.port], {
    log: noneLog,
    retryPolicy: `
                    retry_on: retriable-4xx`,
    clusterExtra: `
    circuit_breakers: { thresholds: [{ max_retries: 0 }] }`,
  }));
  n = 0;
  assert.equal((await get(none.port('proxy'), '/409')).status, 409);
  assert.equal((await stats(none)).get('cluster.up.upstream_rq_retry_overflow'), 1);
  await logLine(noneLog, '409', '409 UO');
});

test('retry_on values Legate does not know are refused by path', async () => {
  const { runLegate } = await import('../helpers/legate.ts');
  const r = await runLegate(['--mode', 'validate', '-c', tmpFile('c.yaml', config([1], { retryPolicy: `
                    retry_on: 5xx,envoy-ratelimited` }))]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /routes\[0\]\.route\.retry_policy\.retry_on: unknown or unsupported retry condition\(s\) "envoy-ratelimited"/);
});


test('the route timeout still runs after a retried answer that had no body; an empty chunked body is retried whole', async () => {
  let n = 0;
  const up = await httpUp((req, res, body) => {
    n++;
    if (req.url === '/hang-after-503') {
      if (n === 1) { res.writeHead(503, { 'content-length': '0' }); res.end(); }
      return; // the retry hangs
    }
    if (n % 2 === 1) { res.writeHead(503, { 'content-length': '0' }); res.end(); return; }
    echo(req, res, body);
  });
  const l = await legateFor(config([up.port], {
    routeExtra: `
                  timeout: 0.5s`,
    retryPolicy: `
                    retry_on: 5xx
                    num_retries: 1`,
  }));
  const port = l.port('proxy');
  const t0 = Date.now();
  const r = await get(port, '/hang-after-503');
  assert.equal(r.status, 504);
  assert.ok(Date.now() - t0 < 3000, `the route timeout did not fire (${Date.now() - t0} ms)`);
  // A chunked request with an empty body: the retry sends the headers and the end of the body.
  n = 0;
  const res = await rawRequest(port, 'POST /empty HTTP/1.1\r\nHost: x\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n',
    { timeoutMs: 3000 });
  assert.equal(res.status, 200);
  assert.equal(res.body.toString(), 'POST /empty');
});

test('retriable-headers: a response carrying a matching header is retried', async () => {
  let n = 0;
  const up = await httpUp((req, res, body) => {
    n++;
    if (n === 1) { res.writeHead(200, { 'x-upstream-busy': 'yes' }); res.end('busy'); return; }
    echo(req, res, body);
  });
  const l = await legateFor(config([up.port], { retryPolicy: `
                    retry_on: retriable-headers
                    retriable_headers:
                    - name: x-upstream-busy
                      string_match: { exact: "yes" }` }));
  assert.deepEqual(await get(l.port('proxy'), '/rh'), { status: 200, body: 'GET /rh' });
  assert.equal(up.requests.length, 2);
});

test('per_try_idle_timeout: a quiet attempt is retried before its response and reset during it; data keeps it alive', async () => {
  let quiet = 0;
  const up = await httpUp((req, res, body) => {
    if (req.url === '/quiet-first' && quiet++ === 0) return;
    if (req.url === '/stall') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('part');
      return;
    }
    if (req.url === '/trickle') {
      res.writeHead(200);
      let i = 0;
      const t = setInterval(() => {
        res.write(`${i}`);
        if (++i === 8) { clearInterval(t); res.end(); }
      }, 100);
      return;
    }
    echo(req, res, body);
  });
  const log = tmpFile('access.log', '');
  const l = await legateFor(config([up.port], { log, retryPolicy: `
                    retry_on: reset
                    num_retries: 1
                    per_try_idle_timeout: 0.3s` }));
  const port = l.port('proxy');
  const t0 = Date.now();
  assert.deepEqual(await get(port, '/quiet-first'), { status: 200, body: 'GET /quiet-first' });
  assert.ok(Date.now() - t0 < 2000, `took ${Date.now() - t0} ms`);
  assert.equal(quiet, 2);
  assert.equal((await stats(l)).get('cluster.up.upstream_rq_per_try_idle_timeout'), 1);
  // 800 ms of response, a chunk every 100 ms: never 300 ms quiet.
  assert.deepEqual(await get(port, '/trickle'), { status: 200, body: '01234567' });
  // The response started and then went quiet: no retry, the client's stream is reset.
  const r = await request(`http://127.0.0.1:${port}/stall`, { reset: true });
  assert.equal(r.statusCode, 200);
  await assert.rejects(r.body.text());
  const st = await stats(l);
  assert.equal(st.get('cluster.up.upstream_rq_per_try_idle_timeout'), 2);
  assert.equal(st.get('cluster.up.upstream_rq_retry'), 1);
  for (let i = 0; i < 50 && fs.readFileSync(log, 'utf8').trim().split('\n').length < 3; i++) await sleep(20);
  assert.deepEqual(fs.readFileSync(log, 'utf8').trim().split('\n'), ['200 -', '200 -', '200 UT']);
});

test('a reset whose retries ran out answers 503 with both flags, UC and URX, in Envoy\'s order', async () => {
  const bad = await httpUp((req) => { req.socket.destroy(); });
  const log = tmpFile('access.log', '');
  const l = await legateFor(config([bad.port], { log, retryPolicy: `
                    retry_on: reset
                    num_retries: 1
                    retry_back_off: { base_interval: 0.01s }` }));
  const r = await get(l.port('proxy'));
  assert.equal(r.status, 503);
  assert.match(r.body, /connection termination/);
  assert.equal(bad.requests.length, 2);
  await logLine(log, '503', '503 UC,URX');
});

/** A cluster with one host at P0 and one at P1 (both healthy: P0 takes every first attempt). */
function priorityCluster(name: string, p0: number, p1: number, lbPolicy: string): string {
  return `
  - name: ${name}
    connect_timeout: 1s
    lb_policy: ${lbPolicy}
    load_assignment:
      cluster_name: ${name}
      endpoints:
      - priority: 0
        lb_endpoints:
        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${p0} } } }
      - priority: 1
        lb_endpoints:
        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${p1} } } }`;
}

/** A route with its retry policy, to `cluster`. */
function retryRoute(prefix: string, cluster: string, retryPolicy: string): string {
  return `
              - match: { prefix: "${prefix}" }
                route:
                  cluster: ${cluster}
                  retry_policy:${retryPolicy}`;
}

const RETRY_5XX_ONCE = `
                    retry_on: 5xx
                    num_retries: 1
                    retry_back_off: { base_interval: 0.001s }`;
const PREVIOUS_PRIORITIES = `
                    retry_priority:
                      name: envoy.retry_priorities.previous_priorities
                      typed_config:
                        "@type": type.googleapis.com/envoy.extensions.retry.priority.previous_priorities.v3.PreviousPrioritiesConfig
                        update_frequency: 1`;

test('retry_priority previous_priorities: the retry of a 503 from P0 goes to P1; without it, to P0 again', async () => {
  const p0 = await httpUp((_req, res) => { res.writeHead(503); res.end('p0 down'); });
  const p1 = await httpUp((_req, res) => { res.writeHead(200); res.end('p1'); });
  // One cluster per load balancer that consults it, each behind a route with the policy; /plain
  // is the round robin cluster behind a route without retry_priority.
  const policies = ['ROUND_ROBIN', 'LEAST_REQUEST', 'RANDOM'];
  const routes = [
    retryRoute('/plain', 'up_ROUND_ROBIN', RETRY_5XX_ONCE),
    ...policies.map((lb) => retryRoute(`/${lb}`, `up_${lb}`, RETRY_5XX_ONCE + PREVIOUS_PRIORITIES)),
  ].join('');
  const l = await legateFor(`
static_resources:
  listeners:${hcmListener('proxy', 'ingress', routes)}
  clusters:${policies.map((lb) => priorityCluster(`up_${lb}`, p0.port, p1.port, lb)).join('')}
`, { concurrency: 2 });
  const port = l.port('proxy');
  for (const lb of policies) {
    p0.requests.length = 0;
    p1.requests.length = 0;
    for (let i = 0; i < 10; i++) assert.deepEqual(await get(port, `/${lb}/${i}`), { status: 200, body: 'p1' }, lb);
    assert.equal(p0.requests.length, 10, `${lb}: every first attempt at P0`);
    assert.equal(p1.requests.length, 10, `${lb}: every retry at P1`);
  }
  const st = await stats(l);
  for (const lb of policies) {
    assert.equal(st.get(`cluster.up_${lb}.upstream_rq_retry`), 10);
    assert.equal(st.get(`cluster.up_${lb}.upstream_rq_retry_success`), 10);
  }
  // The same cluster without retry_priority: the retry goes to P0 again, and the 503 reaches the
  // client.
  p0.requests.length = 0;
  p1.requests.length = 0;
  for (let i = 0; i < 10; i++) assert.deepEqual(await get(port, `/plain/${i}`), { status: 503, body: 'p0 down' });
  assert.equal(p0.requests.length, 20);
  assert.equal(p1.requests.length, 0);
});

test('retry_priority on a virtual host\'s policy; every priority tried: the exclusions are cleared', async () => {
  // Both priorities answer 503: with two retries, the second one finds P0 and P1 both excluded,
  // so previous_priorities starts over (Envoy) and it goes to P0 again.
  const p0 = await httpUp((_req, res) => { res.writeHead(503); res.end('p0'); });
  const p1 = await httpUp((_req, res) => { res.writeHead(503); res.end('p1'); });
  // (A virtual host's fields sit four columns left of a route action's.)
  const policy = `
                    retry_on: 5xx
                    num_retries: 2
                    retry_back_off: { base_interval: 0.001s }${PREVIOUS_PRIORITIES}`.replace(/\n {4}/g, '\n');
  const yaml = `
static_resources:
  listeners:${hcmListener('proxy', 'ingress', `
              - match: { prefix: "/" }
                route: { cluster: up }`)}
  clusters:${priorityCluster('up', p0.port, p1.port, 'ROUND_ROBIN')}
`.replace('              domains: ["*"]', `              domains: ["*"]
              retry_policy:${policy}`);
  assert.match(yaml, /\n {14}retry_policy:\n {16}retry_on: 5xx\n/);
  const l = await legateFor(yaml);
  const r = await get(l.port('proxy'));
  assert.deepEqual(r, { status: 503, body: 'p0' });
  assert.equal(p0.requests.length, 2);
  assert.equal(p1.requests.length, 1);
});
