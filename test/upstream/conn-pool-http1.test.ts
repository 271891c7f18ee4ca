// The HTTP/1 pool's connection lifetimes against real sockets on 127.0.0.1: idle_timeout,
// max_requests_per_connection, max_connection_duration, per_upstream_preconnect_ratio, TCP
// keepalive, and the keep-alive race (a request on a connection the upstream closes unanswered
// goes again, once, on a new connection).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import { Buffer } from 'node:buffer';
import { setTimeout as sleep } from 'node:timers/promises';
import { Http1ConnPool } from '../../src/upstream/conn-pool-http1.ts';
import { ClusterInfo } from '../../src/upstream/cluster-info.ts';
import { Host } from '../../src/upstream/host.ts';
import { DEFAULT_CONNECTION_OPTIONS, type ConnectionOptionsSnap } from '../../src/upstream/connection-options.ts';
import { REPLAY_BODY_LIMIT } from '../../src/http/http1/client-connection.ts';
import { StreamResetReason } from '../../src/upstream/conn-pool.ts';
import { PoolExchange, TestSink, clusterSnap, hostSnap } from './fixtures.ts';

/** One request seen by the upstream. */
interface Seen {
  conn: number;
  /** Requests on its connection so far, this one included. */
  index: number;
  method: string;
  path: string;
  body: string;
}

/** What the upstream does with a request: answer it (keep-alive), or close the connection
 *  without a byte of answer ('destroy'), or answer with the first bytes only then close. */
type Action = 'answer' | 'destroy' | 'partial' | 'hold';

interface RawServer {
  port: number;
  seen: Seen[];
  connections(): number;
  /** Open connections now. */
  open(): number;
  /** Sockets by connection id (from 1). */
  sockets: Map<number, net.Socket>;
}

const servers: net.Server[] = [];
after(() => {
  for (const s of servers) s.close();
});

/** A raw HTTP/1.1 keep-alive upstream: reads requests (content-length or chunked bodies) and does
 *  what `act` says; answers are `200` with the body `<path> conn=<n>`. */
async function rawServer(act: (req: Seen) => Action = () => 'answer'): Promise<RawServer> {
  const seen: Seen[] = [];
  const sockets = new Map<number, net.Socket>();
  let conns = 0;
  const server = net.createServer((s) => {
    const conn = ++conns;
    sockets.set(conn, s);
    s.on('close', () => sockets.delete(conn));
    s.on('error', () => {});
    let buf = Buffer.alloc(0);
    let index = 0;
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end === -1) return;
        const head = buf.subarray(0, end).toString('latin1');
        let rest = buf.subarray(end + 4);
        let body: Buffer;
        const cl = /\r\ncontent-length:\s*(\d+)/i.exec(head);
        if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) {
          const parts: Buffer[] = [];
          let p = 0;
          for (;;) {
            const le = rest.indexOf('\r\n', p);
            if (le === -1) return;
            const n = parseInt(rest.subarray(p, le).toString(), 16);
            if (rest.length < le + 2 + n + 2) return;
            parts.push(rest.subarray(le + 2, le + 2 + n));
            p = le + 2 + n + 2;
            if (n === 0) break;
          }
          body = Buffer.concat(parts);
          rest = rest.subarray(p);
        } else {
          const n = cl === null ? 0 : Number(cl[1]);
          if (rest.length < n) return;
          body = rest.subarray(0, n);
          rest = rest.subarray(n);
        }
        buf = rest;
        const [method, path] = head.split(' ');
        const req: Seen = { conn, index: ++index, method, path, body: body.toString() };
        seen.push(req);
        const a = act(req);
        const out = `${path} conn=${conn}`;
        const response = `HTTP/1.1 200 OK\r\ncontent-length: ${out.length}\r\n\r\n${out}`;
        if (a === 'destroy') {
          s.destroy();
          return;
        }
        if (a === 'partial') {
          s.write(response.slice(0, 5), () => s.destroy());
          return;
        }
        if (a === 'hold') continue;
        s.write(response);
      }
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port, seen, sockets,
    connections: () => conns, open: () => sockets.size,
  };
}

function setup(port: number, options: Partial<ConnectionOptionsSnap> = {}) {
  const sink = new TestSink();
  const hs = hostSnap(sink, '127.0.0.1', port);
  const snap = clusterSnap(sink, [hs], { connections: { ...DEFAULT_CONNECTION_OPTIONS, ...options } });
  const info = new ClusterInfo(snap, sink);
  const pool = new Http1ConnPool(info, Host.fromSnap(hs));
  const stat = (n: keyof typeof snap.stats) => sink.v[snap.stats[n]];
  return { sink, info, pool, stat };
}

async function run(pool: Http1ConnPool, method: string, path: string, chunks: string[] = []): Promise<PoolExchange> {
  const e = PoolExchange.of(method, path, chunks);
  pool.newStream(e, e);
  await e.done;
  // (The connection goes back to the pool once the read that completed the response is checked.)
  await new Promise((r) => setImmediate(r));
  return e;
}

async function until(ok: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error('timed out');
    await sleep(10);
  }
}

test('idle_timeout: an idle connection closes (upstream_cx_idle_timeout); a busy one does not', async () => {
  let hold = true;
  const srv = await rawServer((r) => (r.path === '/slow' && hold ? 'hold' : 'answer'));
  const { pool, stat } = setup(srv.port, { idleTimeoutMs: 300 });
  assert.equal((await run(pool, 'GET', '/a')).status, 200);
  // Used again before the timeout: the timer runs from when it went idle last.
  await sleep(200);
  assert.equal((await run(pool, 'GET', '/b')).body, '/b conn=1');
  await sleep(200);
  assert.equal(srv.open(), 1);
  await until(() => srv.open() === 0);
  assert.equal(stat('upstream_cx_idle_timeout'), 1);
  assert.equal(stat('upstream_cx_destroy_local'), 1);
  assert.equal(stat('upstream_cx_active'), 0);
  // A request that takes longer than the idle timeout keeps its connection.
  const slow = PoolExchange.of('GET', '/slow');
  pool.newStream(slow, slow);
  await until(() => srv.seen.length === 3);
  await sleep(500);
  assert.equal(srv.open(), 1);
  hold = false;
  srv.sockets.get(2)!.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
  await slow.done;
  assert.equal(slow.body, 'ok');
  assert.equal(stat('upstream_cx_idle_timeout'), 1);
  await until(() => srv.open() === 0);
  assert.equal(stat('upstream_cx_idle_timeout'), 2);
});

test('idle_timeout 0: idle connections stay', async () => {
  const srv = await rawServer();
  const { pool, stat } = setup(srv.port, { idleTimeoutMs: 0 });
  await run(pool, 'GET', '/');
  await sleep(300);
  assert.equal(srv.open(), 1);
  assert.equal(stat('upstream_cx_idle_timeout'), 0);
  pool.closeIdle();
});

test('max_requests_per_connection: the connection closes after its last request (upstream_cx_max_requests)', async () => {
  const srv = await rawServer();
  const { pool, stat } = setup(srv.port, { maxRequestsPerConnection: 2 });
  const bodies: string[] = [];
  for (let i = 0; i < 5; i++) bodies.push((await run(pool, 'GET', `/${i}`)).body);
  assert.deepEqual(bodies, ['/0 conn=1', '/1 conn=1', '/2 conn=2', '/3 conn=2', '/4 conn=3']);
  assert.equal(stat('upstream_cx_max_requests'), 2);
  assert.equal(stat('upstream_cx_total'), 3);
  await until(() => srv.open() === 1);
  pool.closeIdle();
});

test('max_connection_duration: an idle connection closes, a busy one after its response (upstream_cx_max_duration_reached)', async () => {
  let hold = false;
  const srv = await rawServer(() => (hold ? 'hold' : 'answer'));
  const { pool, stat } = setup(srv.port, { maxConnectionDurationMs: 300 });
  await run(pool, 'GET', '/a');
  await until(() => srv.open() === 0);
  assert.equal(stat('upstream_cx_max_duration_reached'), 1);
  // Busy when the duration is reached: it serves the response, then closes; the next request
  // gets a new connection.
  hold = true;
  const e = PoolExchange.of('GET', '/b');
  pool.newStream(e, e);
  await until(() => srv.seen.length === 2);
  await sleep(450);
  assert.equal(stat('upstream_cx_max_duration_reached'), 2);
  assert.equal(srv.open(), 1);
  srv.sockets.get(2)!.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
  await e.done;
  assert.equal(e.body, 'ok');
  await until(() => srv.open() === 0);
  hold = false;
  assert.equal((await run(pool, 'GET', '/c')).body, '/c conn=3');
  pool.closeIdle();
});

test('per_upstream_preconnect_ratio: connections opened ahead of demand', async () => {
  const srv = await rawServer();
  const { pool, stat } = setup(srv.port, { preconnectRatio: 2 });
  // One stream, ratio 2: two connections (one for it, one for a presumed next).
  assert.equal((await run(pool, 'GET', '/a')).status, 200);
  await until(() => stat('upstream_cx_total') === 2);
  // Steady state: one request at a time is served from the idle ones; no more are opened.
  for (let i = 0; i < 5; i++) await run(pool, 'GET', `/${i}`);
  await sleep(50);
  assert.equal(stat('upstream_cx_total'), 2);
  assert.equal(srv.connections(), 2);
  // Three at once: (0 pending + 3 active) * 2 > idle + connecting + 3 active asks for more.
  const es = [PoolExchange.of('GET', '/x'), PoolExchange.of('GET', '/y'), PoolExchange.of('GET', '/z')];
  for (const e of es) pool.newStream(e, e);
  await Promise.all(es.map((e) => e.done));
  await until(() => stat('upstream_cx_total') >= 5);
  pool.closeIdle();
});

test('ratio 1 (the default): one connection per request in flight, none ahead', async () => {
  const srv = await rawServer();
  const { pool, stat } = setup(srv.port);
  await run(pool, 'GET', '/a');
  await run(pool, 'GET', '/b');
  await sleep(50);
  assert.equal(stat('upstream_cx_total'), 1);
  assert.equal(srv.connections(), 1);
  pool.closeIdle();
});

/** TCP keepalive as the kernel has it for the established socket with this local port and remote
 *  port: /proc/net/tcp's timer of an idle established socket is 2 (keepalive) when it is on. (An
 *  earlier connection that used the same ephemeral port may still be listed, in TIME_WAIT.) */
function keepaliveTimer(localPort: number, remotePort: number): { active: number; whenMs: number } | null {
  const hex = (n: number) => n.toString(16).toUpperCase().padStart(4, '0');
  for (const line of fs.readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    // f[3]: the state, 01 ESTABLISHED.
    if (f.length < 6 || !f[1].endsWith(`:${hex(localPort)}`) || !f[2].endsWith(`:${hex(remotePort)}`) || f[3] !== '01') continue;
    const [active, when] = f[5].split(':');
    return { active: Number(active), whenMs: parseInt(when, 16) * 10 };
  }
  return null;
}

test('tcp_keepalive: keepalive on with keepalive_time as the idle time', { skip: process.platform !== 'linux' }, async () => {
  const srv = await rawServer();
  const { pool } = setup(srv.port, { tcpKeepaliveMs: 30_000 });
  const off = setup(srv.port);
  try {
    await run(pool, 'GET', '/');
    const conn = (pool as any).idle[0];
    const t = keepaliveTimer(conn.connection.socket.localPort, srv.port);
    assert.ok(t !== null);
    assert.equal(t.active, 2, 'keepalive timer');
    assert.ok(t.whenMs > 20_000 && t.whenMs <= 30_000, `${t.whenMs} ms to the first probe`);
    // Off by default.
    await run(off.pool, 'GET', '/');
    const t2 = keepaliveTimer((off.pool as any).idle[0].connection.socket.localPort, srv.port);
    assert.equal(t2?.active, 0);
  } finally {
    // (An idle connection left open would keep this file's process from exiting.)
    pool.closeIdle();
    off.pool.closeIdle();
  }
});

test('the keep-alive race: a reused connection closed with no answer; the request goes again on a new one', async () => {
  // The second request on each connection meets a close (as if the upstream's idle timeout had
  // fired as it was sent).
  const srv = await rawServer((r) => (r.index === 2 ? 'destroy' : 'answer'));
  const { pool, stat } = setup(srv.port);
  assert.equal((await run(pool, 'GET', '/a')).body, '/a conn=1');
  const e = await run(pool, 'GET', '/b');
  assert.equal(e.reset, null);
  assert.equal(e.body, '/b conn=2');
  // A small body goes again as it was, content-length and chunked.
  const p = await run(pool, 'POST', '/p', ['hello', ' world']);
  assert.equal(p.body, '/p conn=3');
  assert.deepEqual(srv.seen.filter((s) => s.path === '/p').map((s) => [s.conn, s.body]),
    [[2, 'hello world'], [3, 'hello world']]);
  const c = PoolExchange.of('POST', '/c', ['ab', 'cd']);
  c.req.headers.length = 0; // no content-length: chunked
  pool.newStream(c, c);
  await c.done;
  assert.equal(c.body, '/c conn=4');
  assert.deepEqual(srv.seen.filter((s) => s.path === '/c').map((s) => [s.conn, s.body]), [[3, 'abcd'], [4, 'abcd']]);
  assert.equal(stat('upstream_rq_total'), 4);
  assert.equal(stat('upstream_rq_active'), 0);
  assert.equal(stat('upstream_cx_destroy_with_active_rq'), 3);
  assert.equal(stat('upstream_cx_total'), 4);
  await sleep(20);
  assert.equal(stat('upstream_cx_active'), 1);
  assert.equal(pool.info.resourceManager.requests.count, 0);
  assert.equal(pool.info.resourceManager.connections.count, 1);
  pool.closeIdle();
});

test('the keep-alive race: only once, only before the response, only for a request held in full', async () => {
  // Every request after the first on a connection meets a close: the one sent again (first on
  // its new connection) is answered.
  const srv = await rawServer((r) => (r.index >= 2 ? 'destroy' : 'answer'));
  const { pool } = setup(srv.port);
  await run(pool, 'GET', '/warm');
  // Sent again once only: when its new connection closes unanswered too, the stream is reset.
  let total = 0;
  const always = await rawServer(() => (++total > 1 ? 'destroy' : 'answer'));
  const a = setup(always.port);
  await run(a.pool, 'GET', '/a');
  assert.equal((await run(a.pool, 'GET', '/b')).reset, StreamResetReason.ConnectionTermination);
  assert.deepEqual(always.seen.map((s) => [s.conn, s.path]), [[1, '/a'], [1, '/b'], [2, '/b']]);
  // A first request on a fresh connection is not sent again.
  const fresh = await rawServer(() => 'destroy');
  const f = setup(fresh.port);
  assert.equal((await run(f.pool, 'GET', '/x')).reset, StreamResetReason.ConnectionTermination);
  assert.equal(fresh.seen.length, 1);
  // Part of the response came: not sent again.
  const partial = await rawServer((r) => (r.index === 2 ? 'partial' : 'answer'));
  const pp = setup(partial.port);
  await run(pp.pool, 'GET', '/a');
  const e = await run(pp.pool, 'GET', '/b');
  assert.notEqual(e.reset, null);
  assert.equal(partial.seen.length, 2);
  // A body bigger than what is kept: not sent again.
  const big = 'x'.repeat(REPLAY_BODY_LIMIT + 1);
  const b = await run(pool, 'POST', '/big', [big.slice(0, 100), big.slice(100)]);
  assert.equal(b.reset, StreamResetReason.ConnectionTermination);
  assert.equal(srv.seen.filter((s) => s.path === '/big').length, 1);
  pool.closeIdle();
});

test('the keep-alive race: the stream keeps working through the move (reset, flow control)', async () => {
  let n = 0;
  const srv = await rawServer((r) => (r.index === 2 ? 'destroy' : ++n >= 2 ? 'hold' : 'answer'));
  const { pool, stat } = setup(srv.port);
  await run(pool, 'GET', '/a');
  const e = PoolExchange.of('GET', '/b');
  pool.newStream(e, e);
  await until(() => srv.seen.length === 3);
  // The router's calls reach the new connection through the stream it holds.
  const stream = e.encoder!.getStream();
  stream.readDisable(true);
  stream.readDisable(false);
  stream.resetStream(StreamResetReason.LocalReset);
  await until(() => srv.open() === 0);
  assert.equal(stat('upstream_rq_active'), 0);
  assert.equal(pool.info.resourceManager.requests.count, 0);
  assert.equal(stat('upstream_cx_active'), 0);
});
