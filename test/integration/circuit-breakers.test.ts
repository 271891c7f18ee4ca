// Circuit breakers hold for the process, not per worker: two workers (connections spread by
// exact_balance), a slow upstream, max_requests 2: two requests reach the upstream, the rest get a
// 503 UO and count upstream_rq_pending_overflow; the gauges show the breaker open meanwhile.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileAccessLog, hcmListener, routeAll, tmpFile } from '../helpers/legate.ts';
import { legateFor, httpUp } from './fixtures/tracked.ts';
import { echo } from './fixtures/upstreams.ts';
import { rawRequest } from './fixtures/clients.ts';

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
