// Local replies and upstream failures through a real Legate: 404 no route, 503 connect failure,
// 504 route timeout, a response aborted when the upstream dies mid-body, 503 overflow.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, request } from 'undici';
import { proxyConfig } from '../helpers/legate.ts';
import { legateFor, httpUp, rawUp } from './fixtures/tracked.ts';
import { deadPort } from './fixtures/upstreams.ts';
import { RawClient, curl, pollStat, rawRequest } from './fixtures/clients.ts';


test('no route: 404 from a config whose only route matches prefix /api', async () => {
  const up = await httpUp();
  const routes = `
              - match: { prefix: "/api" }
                route: { cluster: upstream }`;
  const l = await legateFor(proxyConfig([up.port], { routes }));
  const port = l.port('proxy');
  const ok = await rawRequest(port, 'GET /api/x HTTP/1.1\r\nHost: h\r\n\r\n');
  assert.equal(ok.status, 200, 'the /api route works');
  const r = await rawRequest(port, 'GET /other HTTP/1.1\r\nHost: h\r\n\r\n');
  assert.equal(r.statusLine, 'HTTP/1.1 404 Not Found');
  assert.equal(r.headers.server, 'legate');
  assert.equal(up.requests.length, 1, 'only the /api request reached the upstream');
  assert.equal(await pollStat(l, 'http.ingress.no_route', (v) => v === 1), 1);
  assert.equal(await pollStat(l, 'http.ingress.downstream_rq_4xx', (v) => v === 1), 1);
  const c = await curl(['-s', '-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${port}/nope`]);
  assert.equal(c.stdout.toString(), '404');
});

test('upstream down: 503 with Envoy\'s body and upstream_cx_connect_fail', async () => {
  const l = await legateFor(proxyConfig([await deadPort()]));
  const port = l.port('proxy');
  const agent = new Agent();
  try {
    const r = await request(`http://127.0.0.1:${port}/down`, { dispatcher: agent });
    const body = await r.body.text();
    assert.equal(r.statusCode, 503);
    assert.ok(body.startsWith('upstream connect error or disconnect/reset before headers'), body);
    // The downstream connection survives a local reply.
    const r2 = await request(`http://127.0.0.1:${port}/down2`, { dispatcher: agent });
    await r2.body.dump();
    assert.equal(r2.statusCode, 503);
  } finally {
    await agent.close();
  }
  assert.equal(await pollStat(l, 'cluster.upstream.upstream_cx_connect_fail', (v) => v === 2), 2);
  assert.equal(await pollStat(l, 'http.ingress.downstream_rq_5xx', (v) => v === 2), 2);
});

test('upstream hangs: 504 at the 0.5 s route timeout and upstream_rq_timeout', async () => {
  const up = await rawUp(() => { /* read the request, never answer */ });
  const l = await legateFor(proxyConfig([up.port], { routeTimeout: '0.5s' }));
  const port = l.port('proxy');
  const t0 = performance.now();
  const r = await rawRequest(port, 'GET /hang HTTP/1.1\r\nHost: h\r\n\r\n', { timeoutMs: 5000 });
  const elapsed = performance.now() - t0;
  assert.equal(r.statusLine, 'HTTP/1.1 504 Gateway Timeout');
  assert.equal(r.body.toString(), 'upstream request timeout');
  assert.ok(elapsed >= 450, `answered after ${elapsed} ms, before the timeout`);
  assert.ok(elapsed < 3000, `answered after ${elapsed} ms`);
  assert.equal(await pollStat(l, 'cluster.upstream.upstream_rq_timeout', (v) => v === 1), 1);
  assert.equal(up.connections(), 1);
});

test('curl against a hanging upstream gets the 504 too', async () => {
  const up = await rawUp(() => {});
  const l = await legateFor(proxyConfig([up.port], { routeTimeout: '0.5s' }));
  const r = await curl(['-s', '-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${l.port('proxy')}/hang`]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.toString(), '504');
  assert.ok(r.ms >= 450 && r.ms < 3000, `${r.ms} ms`);
});

const MID_BODY = (s: import('node:net').Socket) => {
  s.write('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 1000\r\n\r\n0123456789');
  setTimeout(() => s.destroy(), 50);
};

test('upstream closes mid-body: undici sees the response aborted, upstream_rq_rx_reset and rq_reset_after_downstream_response_started count it, the client connection closes as a local destroy', async () => {
  const up = await rawUp(MID_BODY);
  const l = await legateFor(proxyConfig([up.port]));
  const agent = new Agent();
  try {
    const r = await request(`http://127.0.0.1:${l.port('proxy')}/mid`, { dispatcher: agent });
    assert.equal(r.statusCode, 200);
    assert.equal(r.headers['content-length'], '1000');
    await assert.rejects(r.body.text(), 'reading the body must fail, not end short');
  } finally {
    await agent.close();
  }
  const v = await pollStat(l, 'cluster.upstream.upstream_rq_rx_reset', (x) => x >= 1);
  assert.ok(v !== undefined && v >= 1, `upstream_rq_rx_reset = ${v}`);
  assert.equal(await pollStat(l, 'http.ingress.rq_reset_after_downstream_response_started', (x) => x === 1), 1);
  // Legate reset the client's connection: a local destroy, not a remote one.
  assert.equal(await pollStat(l, 'http.ingress.downstream_cx_destroy_local', (x) => x === 1), 1);
  assert.equal((await l.stats()).get('http.ingress.downstream_cx_destroy_remote'), 0);
});

test('upstream closes mid-body: curl exits non-zero with a partial transfer', async () => {
  const up = await rawUp(MID_BODY);
  const l = await legateFor(proxyConfig([up.port]));
  const r = await curl([`http://127.0.0.1:${l.port('proxy')}/mid`]);
  assert.notEqual(r.code, 0);
  assert.equal(r.code, 18, `curl exit ${r.code} (18 = partial file): ${r.stderr}`);
  assert.equal(r.stdout.toString(), '0123456789');
  const v = await pollStat(l, 'cluster.upstream.upstream_rq_rx_reset', (x) => x >= 1);
  assert.ok(v !== undefined && v >= 1, `upstream_rq_rx_reset = ${v}`);
});

test('upstream closes before sending headers: 503 with the termination body', async () => {
  const up = await rawUp((s) => s.destroy());
  const l = await legateFor(proxyConfig([up.port]));
  const r = await rawRequest(l.port('proxy'), 'GET /rst HTTP/1.1\r\nHost: h\r\n\r\n');
  assert.equal(r.status, 503);
  assert.ok(r.body.toString().startsWith('upstream connect error or disconnect/reset before headers'), r.body.toString());
});

test('max_connections 1, max_pending_requests 1: one request queues, the next gets 503 overflow', async () => {
  // Envoy counts a request waiting for a connection to be established as pending, so the first
  // request needs max_pending_requests >= 1 too; the second waits for the first's connection.
  let release!: () => void;
  const gate = new Promise<void>((r) => { release = r; });
  const up = await httpUp((req, res) => {
    void gate.then(() => { res.writeHead(200, { 'content-length': req.url!.length }); res.end(req.url); });
  });
  const clusterExtra = `
    circuit_breakers:
      thresholds:
      - max_connections: 1
        max_pending_requests: 1`;
  const l = await legateFor(proxyConfig([up.port], { clusterExtra }));
  const port = l.port('proxy');
  const first = rawRequest(port, 'GET /one HTTP/1.1\r\nHost: h\r\n\r\n');
  await up.nextRequest();
  const second = rawRequest(port, 'GET /two HTTP/1.1\r\nHost: h\r\n\r\n');
  assert.equal(await pollStat(l, 'cluster.upstream.upstream_rq_pending_active', (x) => x === 1), 1, 'the second request is queued');
  const third = await rawRequest(port, 'GET /three HTTP/1.1\r\nHost: h\r\n\r\n');
  assert.equal(third.status, 503);
  assert.ok(third.body.toString().startsWith('upstream connect error or disconnect/reset before headers'), third.body.toString());
  assert.match(third.body.toString(), /overflow/);
  assert.equal(await pollStat(l, 'cluster.upstream.upstream_rq_pending_overflow', (x) => x === 1), 1);
  release();
  const [r1, r2] = await Promise.all([first, second]);
  assert.equal(r1.status, 200);
  assert.equal(r1.body.toString(), '/one');
  assert.equal(r2.status, 200);
  assert.equal(r2.body.toString(), '/two');
  assert.equal(up.connections(), 1, 'both went over the one allowed connection');
  assert.equal(up.requests.map((r) => r.url).join(','), '/one,/two');
});

test('a client that closes its keep-alive connection: downstream_cx_destroy_remote, not _local', async () => {
  const up = await httpUp();
  const l = await legateFor(proxyConfig([up.port]));
  const c = await RawClient.connect(l.port('proxy'));
  await c.write('GET /a HTTP/1.1\r\nHost: h\r\n\r\n');
  assert.equal((await c.readResponse()).status, 200);
  c.destroy();
  assert.equal(await pollStat(l, 'http.ingress.downstream_cx_destroy_remote', (x) => x === 1), 1);
  assert.equal((await l.stats()).get('http.ingress.downstream_cx_destroy_local'), 0);
});
