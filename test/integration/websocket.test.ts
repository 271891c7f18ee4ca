// WebSocket (HTTP/1.1 upgrades) through a real Legate: the `ws` client to a `ws` server, with the
// HCM's and a route's upgrade_configs; refused upgrades (403), an upstream that answers 200
// instead of 101, half-close and the stream idle timeout of the relay, stats and the access log.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { WebSocket, WebSocketServer } from 'ws';
import { fileAccessLog, hcmListener, staticCluster, type Legate } from '../helpers/legate.ts';
import { legateFor, track } from './fixtures/tracked.ts';
import { listen } from './fixtures/upstreams.ts';

const LOG = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'legate-ws-')), 'access.log');

async function echoServer(): Promise<number> {
  const server = http.createServer((_req, res) => res.end('plain'));
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws, req) => {
    ws.on('message', (m, isBinary) => ws.send(m, { binary: isBinary }));
    ws.send(`hello ${req.url}`);
  });
  const port = await listen(server);
  track(async () => {
    for (const c of wss.clients) c.terminate();
    wss.close();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });
  return port;
}

/** An HTTP server that answers every request, upgrade or not, with a plain 200. */
async function refusingServer(): Promise<{ port: number; upgrades: () => number }> {
  let upgrades = 0;
  const server = http.createServer((_req, res) => res.end('no upgrade here'));
  server.on('upgrade', (_req, sock: net.Socket) => {
    upgrades++;
    sock.end('HTTP/1.1 200 OK\r\ncontent-length: 15\r\nconnection: keep-alive\r\n\r\nno upgrade here');
  });
  const port = await listen(server);
  track(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
  return { port, upgrades: () => upgrades };
}

/** `p`, or a rejection after `ms` (the timer does not outlive it). */
async function within<T>(p: Promise<T>, ms: number, what: () => string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => { t = setTimeout(() => reject(new Error(what())), ms); })]);
  } finally {
    clearTimeout(t);
  }
}

/** Opens a client; its first message (the server's hello, which may come in the same read as
 *  the 101) is in `hello`. */
/** A raw upstream for a made-up protocol: reads a request head, answers 101 with a greeting in
 *  the same write, then echoes every byte, and ends after the client's FIN (half-open allowed). */
async function rawProtocolServer(): Promise<{ port: number; seen: () => string }> {
  let seen = '';
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    let buf = '';
    let upgraded = false;
    s.on('data', (d: Buffer) => {
      if (upgraded) {
        seen += d.toString('latin1');
        s.write(d);
        return;
      }
      buf += d.toString('latin1');
      const i = buf.indexOf('\r\n\r\n');
      if (i < 0) return;
      upgraded = true;
      const rest = buf.slice(i + 4);
      s.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo-proto\r\nConnection: Upgrade\r\n\r\ngreeting;');
      if (rest !== '') {
        seen += rest;
        s.write(rest);
      }
    });
    s.on('end', () => s.end('[eof]'));
  });
  const port = await listen(server);
  track(() => new Promise<void>((r) => server.close(() => r())));
  return { port, seen: () => seen };
}

function open(url: string): Promise<WebSocket & { hello: Promise<string> }> {
  const ws = Object.assign(new WebSocket(url), { hello: Promise.resolve('') });
  ws.hello = once(ws, 'message').then(([m]) => String(m));
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('open timed out')), 5000);
    ws.once('open', () => { clearTimeout(t); resolve(ws); });
    ws.once('error', (e) => { clearTimeout(t); reject(e); });
  });
}

/** The status line of an upgrade request's answer, over a raw socket. */
async function rawUpgrade(port: number, target: string, protocol = 'websocket'): Promise<string> {
  const s = net.connect(port, '127.0.0.1');
  await once(s, 'connect');
  s.write(`GET ${target} HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: ${protocol}\r\n`
    + 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
  const chunks: Buffer[] = [];
  s.on('data', (d: Buffer) => chunks.push(d));
  await within(once(s, 'close'), 5000, () => 'no close');
  return Buffer.concat(chunks).toString('latin1');
}

async function statsUntil(l: Legate, ok: (s: Map<string, number>) => boolean): Promise<Map<string, number>> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const s = await l.stats();
    if (ok(s)) return s;
    if (Date.now() > deadline) throw new Error('stats never got there');
    await sleep(50);
  }
}

test('WebSocket through Legate', async (t) => {
  const echo = await echoServer();
  const refusing = await refusingServer();
  const routes = `
              - match: { prefix: "/no-ws" }
                route:
                  cluster: echo
                  upgrade_configs: [{ upgrade_type: websocket, enabled: false }]
              - match: { prefix: "/refusing" }
                route: { cluster: refusing }
              - match: { prefix: "/" }
                route: { cluster: echo }`;
  const routesOptIn = `
              - match: { prefix: "/ws" }
                route:
                  cluster: echo
                  upgrade_configs: [{ upgrade_type: WebSocket }]
              - match: { prefix: "/" }
                route: { cluster: echo }`;
  const raw = await rawProtocolServer();
  const legate = await legateFor(`
static_resources:
  listeners:${hcmListener('ws', 'ws', routes, {
    hcmExtra: `
          stream_idle_timeout: 1s
          upgrade_configs: [{ upgrade_type: websocket }]${fileAccessLog(LOG, '%REQ(:PATH)% %RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT%\\n')}`,
  })}${hcmListener('plain', 'plain', routesOptIn)}${hcmListener('raw', 'raw', `
              - match: { prefix: "/" }
                route: { cluster: raw }`, { hcmExtra: `
          upgrade_configs: [{ upgrade_type: echo-proto }]` })}
  clusters:${staticCluster('echo', [echo])}${staticCluster('refusing', [refusing.port])}${staticCluster('raw', [raw.port])}
`);
  const port = legate.port('ws');

  await t.test('10k messages echo intact and in order', async () => {
    const ws = await open(`ws://127.0.0.1:${port}/chat`);
    const got: string[] = [];
    assert.equal(await ws.hello, 'hello /chat');
    const all = new Promise<void>((resolve) => ws.on('message', (m) => {
      got.push(String(m));
      if (got.length === 10_000) resolve();
    }));
    for (let i = 0; i < 10_000; i++) ws.send(`message ${i} ${'x'.repeat(i % 300)}`);
    await within(all, 30_000, () => `only ${got.length} came back`);
    for (let i = 0; i < 10_000; i++) assert.equal(got[i], `message ${i} ${'x'.repeat(i % 300)}`);
    // A binary message of 1 MiB, both ways.
    const big = Buffer.alloc(1 << 20);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
    const back = once(ws, 'message');
    ws.send(big);
    assert.deepEqual((await back)[0], big);
    const s = await statsUntil(legate, (m) => m.get('http.ws.downstream_cx_upgrades_active') === 1);
    assert.equal(s.get('http.ws.downstream_cx_upgrades_total'), 1);
    ws.close(1000, 'bye');
    const [code] = await once(ws, 'close');
    assert.equal(code, 1000);
    await statsUntil(legate, (m) => m.get('http.ws.downstream_cx_upgrades_active') === 0
      && m.get('cluster.echo.upstream_cx_active') === 0 && m.get('http.ws.downstream_rq_1xx') === 1);
    // The access log is written asynchronously: wait (bounded) for the line.
    let line: string | undefined;
    for (const deadline = Date.now() + 5000; line === undefined && Date.now() < deadline; await sleep(20)) {
      line = fs.readFileSync(LOG, 'utf8').split('\n').find((l) => l.startsWith('/chat '));
    }
    assert.match(line ?? '', /^\/chat 101 - \d+ \d+$/);
    const [, , , rx, tx] = line!.split(' ');
    assert.ok(Number(rx) > 10_000 * 150 + (1 << 20), `received ${rx}`);
    assert.ok(Number(tx) > 10_000 * 150 + (1 << 20), `sent ${tx}`);
  });

  await t.test('a route that disables websocket answers 403', async () => {
    const r = await rawUpgrade(port, '/no-ws');
    assert.match(r, /^HTTP\/1\.1 403 /);
    await statsUntil(legate, (m) => m.get('http.ws.downstream_rq_ws_on_non_ws_route') === 1);
  });

  await t.test('an upgrade type the config does not list answers 403', async () => {
    const r = await rawUpgrade(port, '/chat', 'foo');
    assert.match(r, /^HTTP\/1\.1 403 /);
    const plain = await rawUpgrade(legate.port('plain'), '/chat');
    assert.match(plain, /^HTTP\/1\.1 403 /);
  });

  await t.test('a route can allow what the HCM does not list', async () => {
    const ws = await open(`ws://127.0.0.1:${legate.port('plain')}/ws`);
    assert.equal(await ws.hello, 'hello /ws');
    ws.close();
    await once(ws, 'close');
  });

  await t.test('an upstream that answers 200 instead of 101: an ordinary response, then closed', async () => {
    const r = await rawUpgrade(port, '/refusing');
    assert.match(r, /^HTTP\/1\.1 200 /);
    assert.ok(r.endsWith('no upgrade here'));
    assert.match(r, /\r\nconnection: close\r\n/);
    assert.equal(refusing.upgrades(), 1);
    // The upstream connection is not reused.
    await statsUntil(legate, (m) => m.get('cluster.refusing.upstream_cx_active') === 0);
    const ws = new WebSocket(`ws://127.0.0.1:${port}/refusing`);
    const [err] = await once(ws, 'error');
    assert.match(String(err), /Unexpected server response: 200/);
    assert.equal(refusing.upgrades(), 2);
  });

  await t.test('the relay closes after the stream idle timeout', async () => {
    const ws = await open(`ws://127.0.0.1:${port}/idle`);
    const start = Date.now();
    await once(ws, 'close');
    const took = Date.now() - start;
    assert.ok(took >= 900 && took < 5000, `closed after ${took} ms`);
    await statsUntil(legate, (m) => (m.get('http.ws.downstream_rq_idle_timeout') ?? 0) >= 1);
  });

  await t.test('raw upgrade: bytes sent before the 101 and after it in one read both get through; half-close', async () => {
    const s = net.connect(legate.port('raw'), '127.0.0.1');
    s.setNoDelay(true);
    await once(s, 'connect');
    const chunks: Buffer[] = [];
    s.on('data', (d: Buffer) => chunks.push(d));
    const ended = once(s, 'end');
    // The request and the first bytes of the new protocol in one write.
    s.write('GET /raw HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: echo-proto\r\n\r\nearly;');
    await sleep(100);
    s.end('late');
    await within(ended, 5000, () => `no end; got ${Buffer.concat(chunks).toString('latin1')}`);
    const text = Buffer.concat(chunks).toString('latin1');
    const [head, body] = text.split('\r\n\r\n');
    assert.match(head, /^HTTP\/1\.1 101 Switching Protocols\r\n/);
    assert.match(head, /\r\nupgrade: echo-proto\r\n/i);
    assert.match(head, /\r\nconnection: upgrade$/);
    // The upstream's greeting came in the same write as its 101; then the echo, then its FIN
    // once the client's came.
    assert.equal(body, 'greeting;early;late[eof]');
    assert.equal(raw.seen(), 'early;late');
  });

  await t.test('an upgrade request with a body (chunked or Content-Length) is refused 400: nothing reaches the upstream', async () => {
    const before = raw.seen();
    for (const framing of ['Transfer-Encoding: chunked\r\n\r\n2a\r\nGET /admin HTTP/1.1\r\nHost: internal\r\n\r\n\r\n0\r\n\r\n',
      'Content-Length: 41\r\n\r\nGET /admin HTTP/1.1\r\nHost: internal\r\n\r\n']) {
      const s = net.connect(legate.port('raw'), '127.0.0.1');
      await once(s, 'connect');
      const chunks: Buffer[] = [];
      s.on('data', (d: Buffer) => chunks.push(d));
      const closed = once(s, 'close');
      s.write(`GET /raw HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: echo-proto\r\n${framing}`);
      await within(closed, 5000, () => 'not closed');
      assert.match(Buffer.concat(chunks).toString('latin1'), /^HTTP\/1\.1 400 /);
    }
    assert.equal(raw.seen(), before);
  });

  await t.test('plain requests still work on the same listener', async () => {
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port, path: '/plain', agent: false }, resolve).on('error', reject);
    });
    assert.equal(res.statusCode, 200);
    let body = '';
    for await (const c of res) body += c;
    assert.equal(body, 'plain');
  });
});
