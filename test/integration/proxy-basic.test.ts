// Through a real Legate to a real upstream: curl and undici GETs, request/response header
// handling, upstream keep-alive reuse, HEAD/204/304 framing, pipelining, HTTP/1.0, direct_response.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, request } from 'undici';
import { startLegate, proxyConfig, type Legate } from '../helpers/legate.ts';
import { httpUpstream, echo, type HttpUpstream } from './fixtures/upstreams.ts';
import { RawClient, curl, pollStat, rawRequest } from './fixtures/clients.ts';

let up: HttpUpstream;
let legate: Legate;
let port: number;
const agent = new Agent({ keepAliveTimeout: 10_000 });

before(async () => {
  up = await httpUpstream((req, res, body) => {
    const u = req.url!;
    if (u === '/head') {
      // Node leaves the body out for HEAD but keeps this content-length.
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 100 });
      res.end(req.method === 'HEAD' ? undefined : 'x'.repeat(100));
    } else if (u === '/204') {
      res.writeHead(204, { 'x-kind': 'no-content' });
      res.end();
    } else if (u === '/304') {
      res.writeHead(304, { etag: '"v1"' });
      res.end();
    } else if (u.startsWith('/slow/')) {
      setTimeout(() => echo(req, res, body), Number(u.slice(6)));
    } else if (u === '/unsized') {
      // No content-length: chunked to a 1.1 peer (Legate), close-delimited to a 1.0 client.
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('part one, ');
      setTimeout(() => res.end('part two'), 20);
    } else if (u === '/hop') {
      res.writeHead(200, {
        'content-type': 'text/plain', 'content-length': 2, connection: 'keep-alive, x-private',
        'x-private': 'secret', 'keep-alive': 'timeout=60', 'x-public': 'ok',
      });
      res.end('ok');
    } else {
      echo(req, res, body);
    }
  });
  const routes = `
              - match: { prefix: "/direct" }
                direct_response: { status: 200, body: { inline_string: "direct hello" } }
              - match: { prefix: "/" }
                route: { cluster: upstream }`;
  legate = await startLegate(proxyConfig([up.port], { routes }));
  port = legate.port('proxy');
});

after(async () => {
  await agent.close();
  await legate?.stop();
  await up?.close();
});

test('curl GET reaches the upstream and gets its response', async () => {
  const r = await curl(['-i', `http://127.0.0.1:${port}/hello?x=1`]);
  assert.equal(r.code, 0, r.stderr);
  const text = r.stdout.toString('latin1');
  assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(text, /\r\nserver: legate\r\n/i);
  assert.match(text, /\r\nx-envoy-upstream-service-time: \d+\r\n/i);
  assert.ok(text.endsWith('\r\n\r\nGET /hello?x=1'), text);
  const seen = up.requests.at(-1)!;
  assert.equal(seen.method, 'GET');
  assert.equal(seen.url, '/hello?x=1');
  assert.equal(seen.headers.host, `127.0.0.1:${port}`);
  assert.equal(seen.headers['user-agent']?.startsWith('curl/'), true);
});

test('undici GET: request headers Legate adds and the response headers it sets', async () => {
  const r = await request(`http://127.0.0.1:${port}/undici`, { dispatcher: agent, headers: { 'x-custom': 'abc' } });
  assert.equal(r.statusCode, 200);
  assert.equal(await r.body.text(), 'GET /undici');
  assert.equal(r.headers.server, 'legate');
  assert.match(String(r.headers['x-envoy-upstream-service-time']), /^\d+$/);
  const seen = up.requests.at(-1)!;
  assert.equal(seen.headers['x-custom'], 'abc');
  assert.equal(seen.headers['x-forwarded-proto'], 'http');
  assert.match(String(seen.headers['x-request-id']), /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  // Without use_remote_address Legate does not append the peer to x-forwarded-for.
  assert.equal(seen.headers['x-forwarded-for'], undefined);
});

test('a client x-request-id is kept', async () => {
  const r = await request(`http://127.0.0.1:${port}/rid`, { dispatcher: agent, headers: { 'x-request-id': 'client-chosen-id' } });
  await r.body.dump();
  assert.equal(r.statusCode, 200);
  assert.equal(up.requests.at(-1)!.headers['x-request-id'], 'client-chosen-id');
});

test('hop-by-hop headers are not forwarded in either direction', async () => {
  const c = await RawClient.connect(port);
  try {
    await c.write('GET /hop HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, x-drop-me\r\nX-Drop-Me: 1\r\n'
      + 'Keep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nTE: gzip\r\nUpgrade: foo\r\nX-Keep: yes\r\n\r\n');
    const res = await c.readResponse();
    assert.equal(res.status, 200);
    assert.equal(res.body.toString(), 'ok');
    assert.equal(res.headers['x-public'], 'ok');
    assert.equal(res.headers['x-private'], undefined, 'named by the upstream Connection header');
    assert.equal(res.headers['keep-alive'], undefined);
    const seen = up.requests.at(-1)!;
    assert.equal(seen.headers['x-keep'], 'yes');
    for (const h of ['x-drop-me', 'keep-alive', 'proxy-connection', 'te', 'upgrade']) {
      assert.equal(seen.headers[h], undefined, `${h} reached the upstream`);
    }
  } finally {
    c.destroy();
  }
});

test('upstream connections are reused: 20 sequential requests use at most 2', async () => {
  const connsBefore = up.connections();
  const statBefore = (await legate.stats()).get('cluster.upstream.upstream_cx_total') ?? 0;
  assert.equal(statBefore, connsBefore, 'upstream_cx_total agrees with the upstream before the run');
  // 10 on one keep-alive downstream connection, 10 on a fresh downstream connection each.
  const pool = new Agent({ connections: 1 });
  try {
    for (let i = 0; i < 10; i++) {
      const r = await request(`http://127.0.0.1:${port}/reuse/${i}`, { dispatcher: pool });
      assert.equal(r.statusCode, 200);
      assert.equal(await r.body.text(), `GET /reuse/${i}`);
    }
  } finally {
    await pool.close();
  }
  for (let i = 10; i < 20; i++) {
    const r = await rawRequest(port, `GET /reuse/${i} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n`);
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), `GET /reuse/${i}`);
  }
  const opened = up.connections() - connsBefore;
  assert.ok(opened <= 2, `20 requests opened ${opened} upstream connections`);
  const stat = await pollStat(legate, 'cluster.upstream.upstream_cx_total', (v) => v === up.connections());
  assert.equal(stat, up.connections(), 'cluster.upstream.upstream_cx_total agrees with the upstream');
});

test('HEAD: no body even though the upstream sends content-length; the connection goes on', async () => {
  const c = await RawClient.connect(port);
  try {
    await c.write('HEAD /head HTTP/1.1\r\nHost: h\r\n\r\n');
    const head = await c.readResponse({ head: true });
    assert.equal(head.status, 200);
    assert.equal(head.headers['content-length'], '100');
    await c.write('GET /after-head HTTP/1.1\r\nHost: h\r\n\r\n');
    const next = await c.readResponse();
    // Had Legate sent body bytes after the HEAD response they would show up here instead.
    assert.equal(next.statusLine, 'HTTP/1.1 200 OK');
    assert.equal(next.body.toString(), 'GET /after-head');
    assert.equal(c.buf.length, 0, 'no stray bytes');
  } finally {
    c.destroy();
  }
});

test('curl HEAD gets the headers and no body', async () => {
  const r = await curl(['-I', `http://127.0.0.1:${port}/head`]);
  assert.equal(r.code, 0, r.stderr);
  const text = r.stdout.toString('latin1');
  assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(text, /\r\ncontent-length: 100\r\n/i);
  assert.ok(text.endsWith('\r\n\r\n'));
});

test('204 and 304 have no body and the next request on the connection works', async () => {
  const c = await RawClient.connect(port);
  try {
    await c.write('GET /204 HTTP/1.1\r\nHost: h\r\n\r\n');
    const r204 = await c.readResponse();
    assert.equal(r204.status, 204);
    assert.equal(r204.headers['x-kind'], 'no-content');
    assert.equal(r204.headers['content-length'], undefined);
    assert.equal(r204.headers['transfer-encoding'], undefined);
    await c.write('GET /304 HTTP/1.1\r\nHost: h\r\nIf-None-Match: "v1"\r\n\r\n');
    const r304 = await c.readResponse();
    assert.equal(r304.status, 304);
    assert.equal(r304.headers.etag, '"v1"');
    assert.equal(r304.headers['transfer-encoding'], undefined);
    await c.write('GET /after HTTP/1.1\r\nHost: h\r\n\r\n');
    const next = await c.readResponse();
    assert.equal(next.statusLine, 'HTTP/1.1 200 OK');
    assert.equal(next.body.toString(), 'GET /after');
    assert.equal(c.buf.length, 0, 'no stray bytes');
    assert.equal(c.ended, false);
  } finally {
    c.destroy();
  }
});

test('pipelined requests on one socket are answered in order', async () => {
  const c = await RawClient.connect(port);
  try {
    // The first one is the slowest upstream-side; the answers must still come back in order.
    await c.write(
      'GET /slow/150 HTTP/1.1\r\nHost: h\r\n\r\n'
      + 'POST /pipe/2 HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello'
      + 'GET /pipe/3 HTTP/1.1\r\nHost: h\r\n\r\n'
      + 'POST /pipe/4 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n'
      + 'GET /pipe/5 HTTP/1.1\r\nHost: h\r\n\r\n');
    const bodies: string[] = [];
    const urls: string[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await c.readResponse();
      assert.equal(r.status, 200);
      bodies.push(r.body.toString());
      urls.push(r.headers['x-seen-url']);
    }
    assert.deepEqual(urls, ['/slow/150', '/pipe/2', '/pipe/3', '/pipe/4', '/pipe/5']);
    assert.deepEqual(bodies, ['GET /slow/150', 'hello', 'GET /pipe/3', 'abc', 'GET /pipe/5']);
    assert.equal(c.ended, false);
  } finally {
    c.destroy();
  }
});

test('HTTP/1.0 without keep-alive: sized response, then the connection is closed', async () => {
  const c = await RawClient.connect(port);
  try {
    await c.write('GET /ten HTTP/1.0\r\n\r\n');
    const r = await c.readResponse();
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), 'GET /ten');
    await c.waitForEnd();
    assert.equal(c.buf.length, 0);
  } finally {
    c.destroy();
  }
});

test('HTTP/1.0 POST with content-length is forwarded whole', async () => {
  const c = await RawClient.connect(port);
  try {
    await c.write('POST /ten-post HTTP/1.0\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello world');
    const r = await c.readResponse();
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), 'hello world');
    assert.equal(r.headers['x-seen-cl'], '11');
    await c.waitForEnd();
  } finally {
    c.destroy();
  }
});

test('HTTP/1.0 and an unsized upstream response: the body is delimited by the close', async () => {
  const c = await RawClient.connect(port);
  try {
    await c.write('GET /unsized HTTP/1.0\r\nHost: h\r\n\r\n');
    await c.waitForEnd();
    const r = await c.readResponse();
    assert.equal(r.status, 200);
    assert.equal(r.headers['transfer-encoding'], undefined, 'chunked is not HTTP/1.0');
    assert.equal(r.body.toString(), 'part one, part two');
  } finally {
    c.destroy();
  }
});

test('HTTP/1.0 with Connection: keep-alive keeps the connection for the next request', async () => {
  const c = await RawClient.connect(port);
  try {
    await c.write('GET /ka1 HTTP/1.0\r\nHost: h\r\nConnection: keep-alive\r\n\r\n');
    const r1 = await c.readResponse();
    assert.equal(r1.status, 200);
    assert.equal(r1.body.toString(), 'GET /ka1');
    assert.equal(r1.headers.connection?.toLowerCase(), 'keep-alive');
    await c.write('GET /ka2 HTTP/1.0\r\nHost: h\r\nConnection: keep-alive\r\n\r\n');
    const r2 = await c.readResponse();
    assert.equal(r2.body.toString(), 'GET /ka2');
    assert.equal(c.ended, false);
  } finally {
    c.destroy();
  }
});

test('Connection: close from an HTTP/1.1 client: response says close, then the socket ends', async () => {
  const c = await RawClient.connect(port);
  try {
    await c.write('GET /bye HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n');
    const r = await c.readResponse();
    assert.equal(r.body.toString(), 'GET /bye');
    assert.equal(r.headers.connection, 'close');
    await c.waitForEnd();
  } finally {
    c.destroy();
  }
});

test('a direct_response route answers locally', async () => {
  const before = up.requests.length;
  const r = await curl(['-i', `http://127.0.0.1:${port}/direct`]);
  assert.equal(r.code, 0, r.stderr);
  const text = r.stdout.toString('latin1');
  assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
  assert.ok(text.endsWith('\r\n\r\ndirect hello'), text);
  assert.equal(up.requests.length, before, 'the upstream saw nothing');
});
