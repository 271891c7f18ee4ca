// Envoy semantics at the edges of the HTTP/1 codec and the connection lifecycle, through a real
// Legate over raw sockets: upgrades (WebSocket refused, h2c served as HTTP/1.1), duplicate Host,
// header limits enforced while a head streams in, no Content-Length on 204, Connection: close on
// responses sent before the request is in, stream idle / request / connection idle timeouts,
// connections not wedged by flow control after a local reply, pipelining past the buffer limit,
// bytes after an upstream response, enable_reuse_port: false, drain of an idle connection.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { proxyConfig, type Legate, type StartOptions } from '../helpers/legate.ts';
import { legateFor as trackedLegate, httpUp, rawUp, track } from './fixtures/tracked.ts';
import {
  deadPort, withTimeout, type HttpUpstream, type RawUpstream,
} from './fixtures/upstreams.ts';
import { RawClient, parseResponse, pollStat, rawRequest, type RawResponse } from './fixtures/clients.ts';

// SIGKILL: these Legates need no drain, and some tests leave connections hanging on purpose.
const legateFor = (yaml: string, opts: StartOptions = {}) => trackedLegate(yaml, opts, 'SIGKILL');

async function connect(port: number): Promise<RawClient> {
  const c = await RawClient.connect(port);
  track(async () => c.destroy());
  return c;
}

async function stat(l: Legate, name: string): Promise<number> {
  return (await l.stats()).get(name) ?? 0;
}

/** What became of a request written on a connection that may have been closed: a response, or
 *  the server closed it. Anything else within `timeoutMs` (the connection wedged) throws. */
async function responseOrClose(c: RawClient, bytes: string, timeoutMs: number): Promise<RawResponse | 'closed'> {
  if (!c.ended) await c.write(bytes).catch(() => {});
  return c.until<RawResponse | 'closed'>(() => {
    const p = parseResponse(c.buf, { ended: c.ended });
    if (p !== null) {
      c.buf = c.buf.subarray(p.used);
      return p.res;
    }
    return c.ended ? 'closed' : undefined;
  }, timeoutMs, 'a response or the connection to close (the connection is wedged)');
}

// ---- A: codec edges against a node:http upstream, plus direct responses --------------------

let a: { l: Legate; port: number; up: HttpUpstream; upgrades: () => number } | undefined;
async function legateA(): Promise<NonNullable<typeof a>> {
  if (a !== undefined) return a;
  const up = await httpUp();
  // Node hands requests carrying Connection: upgrade + Upgrade to 'upgrade', not the request
  // handler: count them so a forwarded upgrade cannot go unseen.
  let upgrades = 0;
  up.server.on('upgrade', (_req, sock: net.Socket) => { upgrades++; sock.destroy(); });
  const routes = `
              - match: { prefix: "/direct404" }
                direct_response: { status: 404, body: { inline_string: "nope" } }
              - match: { prefix: "/direct204" }
                direct_response: { status: 204 }
              - match: { prefix: "/up" }
                route: { cluster: upstream }`;
  const l = await legateFor(proxyConfig([up.port], { routes }));
  a = { l, port: l.port('proxy'), up, upgrades: () => upgrades };
  return a;
}

test('Connection: Upgrade + Upgrade: websocket: 403, connection closed, nothing reaches the upstream', async () => {
  const { port, up, upgrades } = await legateA();
  const c = await connect(port);
  await c.write('GET /up/ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n'
    + 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
  const r = await c.readResponse();
  assert.match(r.statusLine, /^HTTP\/1\.1 403 /);
  assert.equal(r.headers.connection, 'close');
  await c.waitForEnd(3000);
  // Give a forwarded request time to arrive before asserting it did not.
  await sleep(150);
  assert.equal(up.connections(), 0, 'Legate opened an upstream connection for the refused upgrade');
  assert.equal(up.requests.length, 0);
  assert.equal(upgrades(), 0);
});

const H2C: [string, string][] = [
  ['Connection: Upgrade', 'Upgrade'],
  ['Connection: Upgrade, HTTP2-Settings', 'Upgrade, HTTP2-Settings'],
];
for (const [name, connection] of H2C) {
  test(`${name} + Upgrade: h2c + HTTP2-Settings: served as HTTP/1.1 without the upgrade headers, then closed`, async () => {
    const { port, up, upgrades } = await legateA();
    const before = up.requests.length;
    const c = await connect(port);
    await c.write(`GET /up/h2c HTTP/1.1\r\nHost: h\r\nConnection: ${connection}\r\nUpgrade: h2c\r\n`
      + 'HTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\nX-Keep: yes\r\n\r\n');
    const r = await c.readResponse();
    assert.equal(r.status, 200, r.body.toString());
    assert.equal(r.body.toString(), 'GET /up/h2c');
    assert.equal(r.headers.connection, 'close', 'an upgrade request never leaves its connection reusable');
    await c.waitForEnd(3000);
    assert.equal(upgrades(), 0, 'the upstream was asked to upgrade');
    assert.equal(up.requests.length, before + 1);
    const seen = up.requests.at(-1)!;
    assert.equal(seen.url, '/up/h2c');
    assert.equal(seen.headers.upgrade, undefined);
    assert.equal(seen.headers['http2-settings'], undefined);
    assert.doesNotMatch(seen.headers.connection ?? '', /upgrade|http2-settings/i);
    assert.equal(seen.headers['x-keep'], 'yes');
  });
}

test('a bare Upgrade: foo without Connection: upgrade is dropped: 200 and the connection stays open', async () => {
  const { port, up, upgrades } = await legateA();
  const c = await connect(port);
  await c.write('GET /up/bare HTTP/1.1\r\nHost: h\r\nUpgrade: foo\r\n\r\n');
  const r = await c.readResponse();
  assert.equal(r.status, 200);
  assert.equal(r.headers.connection, undefined);
  assert.equal(up.requests.at(-1)!.url, '/up/bare');
  assert.equal(up.requests.at(-1)!.headers.upgrade, undefined, 'Upgrade is hop-by-hop');
  assert.equal(upgrades(), 0);
  await c.write('GET /up/bare2 HTTP/1.1\r\nHost: h\r\n\r\n');
  const r2 = await c.readResponse();
  assert.equal(r2.status, 200);
  assert.equal(r2.body.toString(), 'GET /up/bare2');
  assert.equal(c.ended, false);
});

for (const [name, hosts] of [['different values', ['a.example', 'b.example']], ['the same value', ['a.example', 'a.example']]] as const) {
  test(`two Host headers (${name}): 400, connection closed, downstream_cx_protocol_error +1`, async () => {
    const { l, port, up } = await legateA();
    const statName = 'http.ingress.downstream_cx_protocol_error';
    const before = await stat(l, statName);
    const upBefore = up.requests.length;
    const c = await connect(port);
    await c.write(`GET /up/dup HTTP/1.1\r\nHost: ${hosts[0]}\r\nHost: ${hosts[1]}\r\n\r\n`);
    const r = await c.readResponse();
    assert.match(r.statusLine, /^HTTP\/1\.1 400 /);
    assert.equal(r.headers.connection, 'close');
    await c.waitForEnd(3000);
    assert.equal(await pollStat(l, statName, (v) => v === before + 1), before + 1);
    assert.equal(up.requests.length, upBefore, 'the request reached the upstream');
  });
}

test('direct_response 204: no Content-Length, and the connection is reused', async () => {
  const { port } = await legateA();
  const c = await connect(port);
  await c.write('GET /direct204 HTTP/1.1\r\nHost: h\r\n\r\n');
  const r = await c.readResponse();
  assert.equal(r.statusLine, 'HTTP/1.1 204 No Content');
  assert.equal(r.headers['content-length'], undefined, `headers: ${JSON.stringify(r.headers)}`);
  assert.equal(r.headers['transfer-encoding'], undefined);
  await c.write('GET /up/after204 HTTP/1.1\r\nHost: h\r\n\r\n');
  const r2 = await c.readResponse();
  assert.equal(r2.status, 200);
  assert.equal(r2.body.toString(), 'GET /up/after204');
});

for (const [name, path] of [['a direct_response 404', '/direct404'], ['a 404 for no route', '/noroute']] as const) {
  test(`${name} sent before the request body is in: Connection: close, then the connection ends`, async () => {
    const { port } = await legateA();
    const c = await connect(port);
    await c.write(`POST ${path} HTTP/1.1\r\nHost: h\r\nContent-Length: 100000\r\n\r\n${'x'.repeat(1000)}`);
    const r = await c.readResponse({ timeoutMs: 3000 });
    assert.equal(r.status, 404);
    assert.equal(r.headers.connection, 'close', `headers: ${JSON.stringify(r.headers)}`);
    // The rest of the body never comes; Legate must not wait for it.
    await c.waitForEnd(3000);
  });
}

// ---- B: a raw upstream answering by path -----------------------------------------------------

test('an upstream 204 with Content-Length: 0 reaches the client without Content-Length', async () => {
  const up = await rawUp((s) => s.write('HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nX-Up: yes\r\n\r\n'));
  const l = await legateFor(proxyConfig([up.port], { routeTimeout: '2s' }));
  const c = await connect(l.port('proxy'));
  await c.write('GET /nc HTTP/1.1\r\nHost: h\r\n\r\n');
  const r = await c.readResponse();
  assert.equal(r.statusLine, 'HTTP/1.1 204 No Content');
  assert.equal(r.headers['x-up'], 'yes');
  assert.equal(r.headers['content-length'], undefined, `headers: ${JSON.stringify(r.headers)}`);
  assert.equal(r.headers['transfer-encoding'], undefined);
});

test('an upstream response sent before the request body is in: Connection: close, then the connection ends', async () => {
  const up = await rawUp((s) => s.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nearly'));
  const l = await legateFor(proxyConfig([up.port], { routeTimeout: '2s' }));
  const c = await connect(l.port('proxy'));
  await c.write(`POST /early HTTP/1.1\r\nHost: h\r\nContent-Length: 100000\r\n\r\n${'x'.repeat(1000)}`);
  const r = await c.readResponse({ timeoutMs: 3000 });
  assert.equal(r.status, 200);
  assert.equal(r.body.toString(), 'early');
  assert.equal(r.headers.connection, 'close', `headers: ${JSON.stringify(r.headers)}`);
  await c.waitForEnd(3000);
});

// ---- C: header limits while the head streams in ---------------------------------------------

let cLegate: { l: Legate; port: number; up: HttpUpstream } | undefined;
async function legateC(): Promise<NonNullable<typeof cLegate>> {
  if (cLegate !== undefined) return cLegate;
  const up = await httpUp();
  const hcmExtra = `
          max_request_headers_kb: 1
          common_http_protocol_options: { max_headers_count: 5 }`;
  const l = await legateFor(proxyConfig([up.port], { hcmExtra }));
  cLegate = { l, port: l.port('proxy'), up };
  return cLegate;
}

const pad = (n: number, len: number) => `X-Pad-${n}: ${'p'.repeat(len)}\r\n`;
const UNFINISHED_HEADS: [string, string][] = [
  // Four complete header lines of ~300 bytes (five headers with Host, within the count): over
  // 1 KiB, and no blank line.
  ['header lines', `GET /big HTTP/1.1\r\nHost: h\r\n${[1, 2, 3, 4].map((i) => pad(i, 300)).join('')}`],
  // One header value that never ends.
  ['one endless header value', `GET /big HTTP/1.1\r\nHost: h\r\nX-Endless: ${'v'.repeat(2000)}`],
  // A request line that never ends.
  ['an endless request line', `GET /${'u'.repeat(2000)}`],
];

for (const [name, bytes] of UNFINISHED_HEADS) {
  test(`max_request_headers_kb 1, ${name} over 1 KiB, head never finished: 431 at once, connection closed`, async () => {
    const { port, up } = await legateC();
    assert.ok(Buffer.byteLength(bytes) > 1100 && !bytes.endsWith('\r\n\r\n'));
    const upBefore = up.requests.length;
    const c = await connect(port);
    await c.write(bytes);
    // Without a limit enforced while parsing, Legate would wait for the end of the head forever.
    const r = await c.readResponse({ timeoutMs: 2000 });
    assert.match(r.statusLine, /^HTTP\/1\.1 431 /);
    await c.waitForEnd(3000);
    assert.equal(up.requests.length, upBefore);
  });
}

test('max_request_headers_kb 1: a complete head over 1 KiB is a 431, one under it is served', async () => {
  const { port } = await legateC();
  const ok = await rawRequest(port, `GET /small HTTP/1.1\r\nHost: h\r\n${pad(1, 400)}\r\n`);
  assert.equal(ok.status, 200, 'a ~450 byte head is within 1 KiB');
  const big = await rawRequest(port, `GET /big HTTP/1.1\r\nHost: h\r\n${pad(1, 1200)}\r\n`);
  assert.match(big.statusLine, /^HTTP\/1\.1 431 /);
});

test('max_headers_count 5: five headers are served, six get 431 and the connection is closed', async () => {
  const { port, up } = await legateC();
  const five = await rawRequest(port, `GET /five HTTP/1.1\r\nHost: h\r\n${[1, 2, 3, 4].map((i) => `X-H${i}: v\r\n`).join('')}\r\n`);
  assert.equal(five.status, 200);
  const upBefore = up.requests.length;
  const c = await connect(port);
  await c.write(`GET /six HTTP/1.1\r\nHost: h\r\n${[1, 2, 3, 4, 5].map((i) => `X-H${i}: v\r\n`).join('')}\r\n`);
  const r = await c.readResponse();
  assert.match(r.statusLine, /^HTTP\/1\.1 431 /);
  await c.waitForEnd(3000);
  assert.equal(up.requests.length, upBefore);
  // Many more headers than allowed, the head never finished: refused while streaming.
  const c2 = await connect(port);
  await c2.write(`GET /many HTTP/1.1\r\nHost: h\r\n${Array.from({ length: 20 }, (_, i) => `X-H${i}: v\r\n`).join('')}`);
  const r2 = await c2.readResponse({ timeoutMs: 2000 });
  assert.match(r2.statusLine, /^HTTP\/1\.1 431 /);
  await c2.waitForEnd(3000);
});

// ---- Timeouts --------------------------------------------------------------------------------

test('stream_idle_timeout 0.5s, route timeout 0s, upstream never answers: 408 after ~0.5 s, downstream_rq_idle_timeout', async () => {
  const up = await rawUp(() => { /* read the request, never answer */ });
  const l = await legateFor(proxyConfig([up.port], { routeTimeout: '0s', hcmExtra: '\n          stream_idle_timeout: 0.5s' }));
  const c = await connect(l.port('proxy'));
  const t0 = performance.now();
  await c.write('GET /idle HTTP/1.1\r\nHost: h\r\n\r\n');
  const r = await c.readResponse({ timeoutMs: 4000 });
  const ms = performance.now() - t0;
  assert.match(r.statusLine, /^HTTP\/1\.1 408 /);
  assert.equal(r.body.toString(), 'stream timeout');
  assert.ok(ms >= 400 && ms < 2000, `408 after ${ms} ms`);
  assert.equal(await pollStat(l, 'http.ingress.downstream_rq_idle_timeout', (v) => v === 1), 1);
  assert.equal(up.connections(), 1, 'the request went upstream');
});

test('request_timeout 0.5s, body never sent: 408 after ~0.5 s, downstream_rq_timeout', async () => {
  const up = await httpUp();
  const l = await legateFor(proxyConfig([up.port], { hcmExtra: '\n          request_timeout: 0.5s' }));
  const c = await connect(l.port('proxy'));
  const t0 = performance.now();
  await c.write('POST /slow-body HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n');
  const r = await c.readResponse({ timeoutMs: 4000 });
  const ms = performance.now() - t0;
  assert.match(r.statusLine, /^HTTP\/1\.1 408 /);
  assert.equal(r.body.toString(), 'request timeout');
  assert.equal(r.headers.connection, 'close');
  assert.ok(ms >= 400 && ms < 2000, `408 after ${ms} ms`);
  await c.waitForEnd(3000);
  assert.equal(await pollStat(l, 'http.ingress.downstream_rq_timeout', (v) => v === 1), 1);
});

test('idle_timeout 0.5s: a connection busy every 200 ms stays open, once idle it is closed after ~0.5 s', async () => {
  const up = await httpUp();
  const hcmExtra = '\n          common_http_protocol_options: { idle_timeout: 0.5s }';
  const l = await legateFor(proxyConfig([up.port], { hcmExtra }));
  const c = await connect(l.port('proxy'));
  const start = performance.now();
  let n = 0;
  while (performance.now() - start < 1500) {
    await c.write(`GET /busy/${n} HTTP/1.1\r\nHost: h\r\n\r\n`);
    const r = await c.readResponse();
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), `GET /busy/${n}`);
    n++;
    await sleep(200);
    assert.equal(c.ended, false, `closed after ${n} requests though never idle for 0.5 s`);
  }
  assert.ok(n >= 6, `${n} requests`);
  assert.equal(await stat(l, 'http.ingress.downstream_cx_idle_timeout'), 0);
  // The last response came ~200 ms ago; now it stays idle.
  const idleFrom = performance.now() - 200;
  await c.waitForEnd(3000);
  const ms = performance.now() - idleFrom;
  assert.ok(ms >= 400 && ms < 2000, `closed ${ms} ms after its last response`);
  assert.equal(await pollStat(l, 'http.ingress.downstream_cx_idle_timeout', (v) => v === 1), 1);
});

// ---- Flow control after local replies -----------------------------------------------------------

test('POST to a cluster that refuses connections: 503, and a second request on the connection is not wedged', async () => {
  const l = await legateFor(proxyConfig([await deadPort()]));
  const c = await connect(l.port('proxy'));
  await c.write('POST /first HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello world');
  const r = await c.readResponse({ timeoutMs: 3000 });
  assert.equal(r.status, 503);
  const second = await responseOrClose(c, 'POST /second HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello', 3000);
  if (second !== 'closed') assert.equal(second.status, 503);
  // And a third, for good measure, when the connection is still open.
  if (second !== 'closed' && !c.ended) {
    const third = await responseOrClose(c, 'GET /third HTTP/1.1\r\nHost: h\r\n\r\n', 3000);
    if (third !== 'closed') assert.equal(third.status, 503);
  }
});

test('POST to an upstream that never answers: 504 at the route timeout, and a second request on the connection is not wedged', async () => {
  const up = await rawUp(() => {});
  const l = await legateFor(proxyConfig([up.port], { routeTimeout: '0.5s' }));
  const c = await connect(l.port('proxy'));
  await c.write('POST /first HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello world');
  const r = await c.readResponse({ timeoutMs: 3000 });
  assert.equal(r.status, 504);
  const second = await responseOrClose(c, 'POST /second HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello', 3000);
  if (second !== 'closed') assert.equal(second.status, 504);
});

// ---- Pipelining past the buffer limit --------------------------------------------------------

test('--buffer-size 65536: 200 pipelined GETs (~200 KiB in one write) are all answered in order', async () => {
  const up = await httpUp();
  const l = await legateFor(proxyConfig([up.port]), { args: ['--buffer-size', '65536'] });
  const c = await connect(l.port('proxy'));
  const N = 200;
  const reqs = Array.from({ length: N }, (_, i) => `GET /p/${i} HTTP/1.1\r\nHost: h\r\nX-Pad: ${'q'.repeat(1024)}\r\n\r\n`).join('');
  assert.ok(reqs.length > 3 * 65536);
  await c.write(reqs);
  for (let i = 0; i < N; i++) {
    const r = await c.readResponse({ timeoutMs: 5000 });
    assert.equal(r.status, 200, `response ${i}`);
    assert.equal(r.body.toString(), `GET /p/${i}`, `response ${i} out of order`);
  }
  assert.equal(c.ended, false);
});

// ---- Bytes after a complete upstream response -------------------------------------------------

test('upstream sends bytes after a complete response: the client gets it, upstream_cx_protocol_error, next request on a fresh connection', async () => {
  let conns = 0;
  const up = await rawUp((s) => {
    conns++;
    s.write(conns === 1
      ? 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokGARBAGE'
      : 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Conn: 2\r\n\r\nclean');
  });
  const l = await legateFor(proxyConfig([up.port], { routeTimeout: '2s' }));
  const c = await connect(l.port('proxy'));
  await c.write('GET /one HTTP/1.1\r\nHost: h\r\n\r\n');
  const r1 = await c.readResponse();
  assert.equal(r1.status, 200);
  assert.equal(r1.body.toString(), 'ok');
  assert.equal(await pollStat(l, 'cluster.upstream.upstream_cx_protocol_error', (v) => v === 1), 1);
  await c.write('GET /two HTTP/1.1\r\nHost: h\r\n\r\n');
  const r2 = await c.readResponse({ timeoutMs: 4000 });
  assert.equal(r2.statusLine, 'HTTP/1.1 200 OK', `second response: ${r2.statusLine} ${r2.body.toString()}`);
  assert.equal(r2.headers['x-conn'], '2');
  assert.equal(r2.body.toString(), 'clean');
  assert.equal(up.connections(), 2, 'the second request went over a fresh upstream connection');
  assert.equal(c.buf.length, 0, 'nothing after the second response');
});

test('an unsolicited 100 Continue on an idle upstream connection: upstream_cx_protocol_error, next request on a fresh connection', async () => {
  let conns = 0;
  const up = await rawUp((s) => {
    conns++;
    if (conns === 1) {
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      // Once the connection is idle in the pool: a response nobody asked for.
      setTimeout(() => { if (!s.destroyed) s.write('HTTP/1.1 100 Continue\r\n\r\n'); }, 50);
    } else {
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Conn: 2\r\n\r\nclean');
    }
  });
  const l = await legateFor(proxyConfig([up.port], { routeTimeout: '2s' }));
  const c = await connect(l.port('proxy'));
  await c.write('GET /one HTTP/1.1\r\nHost: h\r\n\r\n');
  assert.equal((await c.readResponse()).body.toString(), 'ok');
  assert.equal(await pollStat(l, 'cluster.upstream.upstream_cx_protocol_error', (v) => v === 1), 1);
  await c.write('GET /two HTTP/1.1\r\nHost: h\r\n\r\n');
  const r2 = await c.readResponse({ timeoutMs: 4000 });
  assert.equal(r2.headers['x-conn'], '2');
  assert.equal(up.connections(), 2, 'the second request went over a fresh upstream connection');
});

// ---- Listener and process ----------------------------------------------------------------------

test('enable_reuse_port: false with --concurrency 2 starts and serves 10 requests on fresh connections', async () => {
  const up = await httpUp();
  const l = await legateFor(proxyConfig([up.port], { listenerExtra: '\n    enable_reuse_port: false' }), { concurrency: 2 });
  const port = l.port('proxy');
  for (let i = 0; i < 10; i++) {
    const r = await rawRequest(port, `GET /rp/${i} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n`);
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), `GET /rp/${i}`);
  }
  assert.equal(await pollStat(l, 'http.ingress.downstream_cx_total', (v) => v === 10), 10);
  assert.equal((await l.stats()).get('server.concurrency'), 2);
});

test('SIGTERM with an idle keep-alive connection: Legate closes it and exits 0 well before --drain-time-s 10', async () => {
  const up = await httpUp();
  const l = await legateFor(proxyConfig([up.port]), { args: ['--drain-time-s', '10'] });
  const c = await connect(l.port('proxy'));
  await c.write('GET /before-drain HTTP/1.1\r\nHost: h\r\n\r\n');
  const r = await c.readResponse();
  assert.equal(r.status, 200);
  assert.equal(r.headers.connection, undefined, 'the connection is kept alive');
  const t0 = performance.now();
  const exited = l.stop('SIGTERM');
  await c.waitForEnd(3000);
  assert.equal(await withTimeout(exited, 3000, 'legate to exit'), 0);
  const ms = performance.now() - t0;
  assert.ok(ms < 3000, `exited ${ms} ms after SIGTERM`);
});
