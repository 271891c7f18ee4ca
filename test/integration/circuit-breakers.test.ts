// Circuit breakers hold for the process, not per worker: two workers (connections spread by
// exact_balance), a slow upstream, max_requests 2: two requests reach the upstream, the rest get a
// 503 UO and count upstream_rq_pending_overflow; the gauges show the breaker open meanwhile. A
// retry budget limits retries to a share of the requests in flight in the whole process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileAccessLog, hcmListener, routeAll, tmpFile } from '../helpers/legate.ts';
import { legateFor, httpUp } from './fixtures/tracked.ts';
import { echo } from './fixtures/upstreams.ts';
import type { ServerResponse } from 'node:http';
import { pollLog, rawRequest, until, type RawResponse } from './fixtures/clients.ts';

test('max_requests holds across two workers; overflow is a 503 UO with its stat; the gauges track it', async () => {
  let inFlight = 0;
  let maxInFlight = 0;
  const up = await httpUp((req, res, body) => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    setTimeout(() => { inFlight--; echo(req, res, body); }, 600);
  });
  const log = tmpFile('access.log', '');
  const l = await legateFor(`
static_resources:
  listeners:${hcmListener('proxy', 'ingress', routeAll('up'), {
    listenerExtra: `
    connection_balance_config: { exact_balance: {} }`,
    hcmExtra: fileAccessLog(log, '%RESPONSE_CODE% %RESPONSE_FLAGS%\\n') })}
  clusters:
  - name: up
    connect_timeout: 1s
    circuit_breakers:
      thresholds:
      - { max_requests: 2, max_pending_requests: 100, max_connections: 100, track_remaining: true }
    load_assignment:
      cluster_name: up
      endpoints:
      - lb_endpoints:
        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${up.port} } } }
`, { concurrency: 2, env: { LEGATE_TEST_HOOKS: '1' } });
  const port = l.port('proxy');
  const st0 = await l.stats();
  assert.equal(st0.get('cluster.up.circuit_breakers.default.rq_open'), 0);
  assert.equal(st0.get('cluster.up.circuit_breakers.default.remaining_rq'), 2);
  // The retry breaker's gauges (no retry here: max_retries' default, 3, all remaining).
  assert.equal(st0.get('cluster.up.circuit_breakers.default.rq_retry_open'), 0);
  assert.equal(st0.get('cluster.up.circuit_breakers.default.remaining_retries'), 3);
  // Two requests first (one per worker), then six more while they are in flight.
  const first = [rawRequest(port, 'GET /a HTTP/1.1\r\nHost: x\r\n\r\n'), rawRequest(port, 'GET /b HTTP/1.1\r\nHost: x\r\n\r\n')];
  await sleep(200);
  const st = await l.stats();
  assert.equal(st.get('cluster.up.circuit_breakers.default.rq_open'), 1, 'the breaker is open with two in flight');
  assert.equal(st.get('cluster.up.circuit_breakers.default.remaining_rq'), 0);
  const rest = Array.from({ length: 6 }, (_, i) => rawRequest(port, `GET /c${i} HTTP/1.1\r\nHost: x\r\n\r\n`));
  const answers = await Promise.all([...first, ...rest]);
  const statuses = answers.map((a) => a.status).sort();
  assert.deepEqual(statuses, [200, 200, 503, 503, 503, 503, 503, 503]);
  assert.equal(maxInFlight, 2, 'the upstream saw more than max_requests at once');
  const after = await l.stats();
  assert.equal(after.get('cluster.up.upstream_rq_pending_overflow'), 6);
  assert.equal(after.get('cluster.up.circuit_breakers.default.rq_open'), 0);
  assert.equal(after.get('cluster.up.circuit_breakers.default.remaining_rq'), 2);
  // Both workers answered (exact_balance), so per-worker limits would have let four by.
  const workers = new Set(answers.map((a) => /worker-(\d+)/.exec(a.headers.server ?? '')?.[1]));
  assert.deepEqual([...workers].sort(), ['0', '1']);
  for (let i = 0; i < 50 && fs.readFileSync(log, 'utf8').split('\n').filter(Boolean).length < 8; i++) await sleep(50);
  const lines = fs.readFileSync(log, 'utf8').split('\n').filter(Boolean).sort();
  assert.deepEqual(lines, ['200 -', '200 -', '503 UO', '503 UO', '503 UO', '503 UO', '503 UO', '503 UO']);
});

test('retry_budget: retries beyond budget_percent of the requests in flight (at least min_retry_concurrency) are not made', async () => {
  // /retry/<id>: a 503 the first time, then held until released; /hold/<id>: held. Held requests
  // are the load the budget is a share of.
  const attempts = new Map<string, number>();
  const held = new Map<string, ServerResponse>();
  const up = await httpUp((req, res) => {
    const [, kind, id] = (req.url ?? '').split('/');
    const n = (attempts.get(id) ?? 0) + 1;
    attempts.set(id, n);
    if (kind === 'retry' && n === 1) {
      res.writeHead(503, { 'content-type': 'text/plain' });
      res.end(`no ${id}`);
      return;
    }
    held.set(id, res);
  });
  const release = (id: string): void => {
    held.get(id)!.writeHead(200, { 'content-type': 'text/plain' }).end(`ok ${id}`);
    held.delete(id);
  };
  const log = tmpFile('access.log', '');
  const l = await legateFor(`
static_resources:
  listeners:${hcmListener('proxy', 'ingress', `
              - match: { prefix: "/" }
                route:
                  cluster: up
                  retry_policy: { retry_on: 5xx, num_retries: 1 }`, {
    listenerExtra: `
    connection_balance_config: { exact_balance: {} }`,
    hcmExtra: fileAccessLog(log, '%REQ(:PATH)% %RESPONSE_CODE% %RESPONSE_FLAGS%\\n') })}
  clusters:
  - name: up
    connect_timeout: 1s
    circuit_breakers:
      thresholds:
      - max_retries: 2
        track_remaining: true
        retry_budget: { budget_percent: { value: 50 }, min_retry_concurrency: 1 }
    load_assignment:
      cluster_name: up
      endpoints:
      - lb_endpoints:
        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${up.port} } } }
`, { concurrency: 2, env: { LEGATE_TEST_HOOKS: '1' } });
  const port = l.port('proxy');
  const send = (path: string): Promise<RawResponse> => rawRequest(port, `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
  const cb = 'cluster.up.circuit_breakers.default.';
  /** /clusters' max_retries: the budget's limit now (Envoy prints retries().max()). */
  const maxRetries = async (): Promise<string | undefined> =>
    /^up::default_priority::max_retries::(\d+)$/m.exec(await (await fetch(`${l.admin}/clusters`)).text())?.[1];
  const st0 = await l.stats();
  assert.equal(st0.get(`${cb}rq_retry_open`), 0);
  assert.equal(st0.has(`${cb}remaining_retries`), false, 'not tracked under a retry budget (Envoy keeps it at 0)');
  assert.equal(st0.get(`${cb}remaining_rq`), 1024);
  assert.equal(await maxRetries(), '1', 'nothing in flight: min_retry_concurrency');

  // A's retry is made (the budget's minimum, 1) and held at the upstream: one retry in flight.
  const a = send('/retry/a');
  await until('A is retried', () => held.has('a'));
  assert.equal(await maxRetries(), '1', '50% of 1 request is 0: still the minimum');
  // B's would be a second retry with one request in flight (two with B's own): over the budget.
  // The client gets the upstream's 503 at once; the upstream never sees B again.
  const b = await send('/retry/b');
  assert.equal(b.status, 503);
  assert.equal(b.body.toString(), 'no b');
  let st = await l.stats();
  assert.equal(st.get('cluster.up.upstream_rq_retry'), 1);
  assert.equal(st.get('cluster.up.upstream_rq_retry_overflow'), 1);
  assert.equal(st.get('cluster.up.upstream_rq_retry_limit_exceeded'), 0);
  assert.equal(st.get(`${cb}rq_retry_open`), 0, 'one retry: below max_retries');

  // Three more requests in flight: four in all, so the budget is 2 and C's retry is made.
  const h = ['h1', 'h2', 'h3'].map((id) => send(`/hold/${id}`));
  await until('three requests held', () => held.size === 4);
  assert.equal(await maxRetries(), '2');
  const c = send('/retry/c');
  await until('C is retried', () => held.has('c'));
  st = await l.stats();
  assert.equal(st.get('cluster.up.upstream_rq_retry'), 2);
  // Envoy's gauge follows the max_retries breaker the budget replaced: two retries, max_retries 2.
  assert.equal(st.get(`${cb}rq_retry_open`), 1);
  assert.equal(st.get(`${cb}remaining_rq`), 1024 - 5);

  // One held request answered: four in flight (five with D), 50% is 2, and two retries are out.
  release('h3');
  assert.equal((await h[2]).status, 200);
  const d = await send('/retry/d');
  assert.equal(d.status, 503);
  assert.equal(d.body.toString(), 'no d');
  await sleep(200); // (longer than the retry backoff: no retry of D comes)
  assert.equal(attempts.get('b'), 1);
  assert.equal(attempts.get('d'), 1);

  for (const id of ['a', 'c', 'h1', 'h2']) release(id);
  const answers = [await a, await c, await h[0], await h[1]];
  assert.deepEqual(answers.map((r) => `${r.status} ${r.body}`), ['200 ok a', '200 ok c', '200 ok h1', '200 ok h2']);
  st = await l.stats();
  assert.equal(st.get('cluster.up.upstream_rq_retry'), 2);
  assert.equal(st.get('cluster.up.upstream_rq_retry_success'), 2);
  assert.equal(st.get('cluster.up.upstream_rq_retry_overflow'), 2);
  assert.equal(st.get('cluster.up.upstream_rq_retry_limit_exceeded'), 0);
  assert.equal(st.get(`${cb}rq_retry_open`), 0);
  assert.equal(await maxRetries(), '1');
  // The retries the budget refused end as the upstream's 503 with UO, not URX (retries were left).
  const lines = (await pollLog(log, (t) => t.split('\n').filter(Boolean).length === 7)).split('\n').filter(Boolean).sort();
  assert.deepEqual(lines, [
    '/hold/h1 200 -', '/hold/h2 200 -', '/hold/h3 200 -', '/retry/a 200 -', '/retry/b 503 UO', '/retry/c 200 -',
    '/retry/d 503 UO',
  ]);
  // Both workers served (exact_balance): the budget and its counts are the process's.
  const workers = new Set([b, d, ...answers].map((r) => /worker-(\d+)/.exec(r.headers.server ?? '')?.[1]));
  assert.deepEqual([...workers].sort(), ['0', '1']);
});
