// The TCP connection pool against real sockets on 127.0.0.1: connect, refused, connect timeout,
// max_connections with a wait for a free slot, cancel.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { Worker } from 'node:worker_threads';
import { Buffer } from 'node:buffer';
import { TcpConnPool, type TcpConnection, type TcpPoolCallbacks } from '../../src/upstream/tcp-conn-pool.ts';
import { ClusterInfo } from '../../src/upstream/cluster-info.ts';
import { Host } from '../../src/upstream/host.ts';
import type { PoolFailureReason } from '../../src/upstream/conn-pool.ts';
import { TestSink, clusterSnap, hostSnap, readUntil } from './fixtures.ts';

const servers: net.Server[] = [];
after(() => {
  for (const s of servers) s.close();
});

async function echoServer(): Promise<number> {
  const s = net.createServer((sock) => sock.pipe(sock));
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return (s.address() as net.AddressInfo).port;
}

function setup(port: number, extra = {}) {
  const sink = new TestSink();
  const hs = hostSnap(sink, '127.0.0.1', port);
  const snap = clusterSnap(sink, [hs], extra);
  const info = new ClusterInfo(snap, sink);
  const pool = new TcpConnPool(info, Host.fromSnap(hs));
  const stat = (n: keyof typeof snap.stats) => sink.v[snap.stats[n]];
  return { sink, info, pool, stat, hs };
}

type Outcome = { ready: TcpConnection } | { failure: PoolFailureReason };
function request(pool: TcpConnPool): { result: Promise<Outcome>; handle: ReturnType<TcpConnPool['newConnection']> } {
  let resolve!: (o: Outcome) => void;
  const result = new Promise<Outcome>((r) => (resolve = r));
  const cb: TcpPoolCallbacks = {
    onPoolReady: (conn) => resolve({ ready: conn }),
    onPoolFailure: (reason) => resolve({ failure: reason }),
  };
  return { result, handle: pool.newConnection(cb) };
}

const closed = (c: TcpConnection) => new Promise<void>((r) => (c.closed ? r() : c.socket.once('close', () => r())));

test('connects to a real server; the caller owns the connection (its read filters); close is counted', async () => {
  const { pool, stat, sink, hs } = setup(await echoServer());
  const o = await request(pool).result;
  assert.ok('ready' in o);
  const conn = o.ready;
  assert.equal(stat('upstream_cx_total'), 1);
  assert.equal(stat('upstream_cx_active'), 1);
  assert.equal(sink.v[hs.stats.cx_active], 1);
  // The caller's read filter on the connection (as tcp_proxy's is), then the start.
  const echo = readUntil(conn.connection, (reads) => reads.length > 0);
  conn.connection.startClient();
  conn.connection.write(Buffer.from('ping'), false);
  assert.deepEqual(await echo, ['ping']);
  conn.close();
  await closed(conn);
  assert.equal(stat('upstream_cx_active'), 0);
  assert.equal(stat('upstream_cx_destroy'), 1);
  assert.equal(stat('upstream_cx_destroy_local'), 1);
  assert.equal(stat('upstream_cx_tx_bytes_total'), 4);
  assert.equal(stat('upstream_cx_rx_bytes_total'), 4);
  assert.equal(sink.samples.get(pool.info.s.upstream_cx_connect_ms)?.length, 1);
  assert.equal(pool.info.resourceManager.connections.count, 0);
});

test('a closed port: onPoolFailure(connection_failure) and upstream_cx_connect_fail', async () => {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  const { pool, stat, sink, hs } = setup(port);
  const o = await request(pool).result;
  assert.deepEqual(o, { failure: 'connection_failure' });
  assert.equal(stat('upstream_cx_connect_fail'), 1);
  assert.equal(sink.v[hs.stats.cx_connect_fail], 1);
  assert.equal(stat('upstream_cx_active'), 0);
  assert.equal(pool.info.resourceManager.connections.count, 0);
});

test('connect timeout: a listener that never accepts, with its accept queue full', async (t) => {
  // A listening socket in a worker whose event loop is blocked: the kernel completes a handshake
  // or two into the accept queue (backlog 1), then drops SYNs, so the next connect hangs.
  const w = new Worker(`
    const net = require('node:net');
    const { parentPort } = require('node:worker_threads');
    const s = net.createServer();
    s.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
      parentPort.postMessage(s.address().port);
      setTimeout(() => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 30000), 20);
    });
  `, { eval: true });
  t.after(() => w.terminate());
  const port = await new Promise<number>((r) => w.once('message', r));
  await new Promise((r) => setTimeout(r, 100));
  const fillers: net.Socket[] = [];
  t.after(() => { for (const f of fillers) f.destroy(); });
  for (let i = 0; i < 4; i++) {
    const f = net.connect(port, '127.0.0.1');
    f.on('error', () => {});
    fillers.push(f);
  }
  await new Promise((r) => setTimeout(r, 200));
  const { pool, stat } = setup(port, { connectTimeoutMs: 300 });
  const started = Date.now();
  const o = await request(pool).result;
  assert.deepEqual(o, { failure: 'timeout' });
  assert.ok(Date.now() - started >= 250, `timed out after ${Date.now() - started} ms`);
  assert.equal(stat('upstream_cx_connect_timeout'), 1);
  assert.equal(stat('upstream_cx_connect_fail'), 1);
  assert.equal(stat('upstream_cx_active'), 0);
});

test('max_connections: the next request waits for a slot; max_pending_requests overflows; cancel', async () => {
  const { pool, stat } = setup(await echoServer(), { maxConnections: 1, maxPendingRequests: 1 });
  const first = await request(pool).result;
  assert.ok('ready' in first);
  const second = request(pool);
  assert.notEqual(second.handle, null);
  assert.equal(stat('upstream_cx_overflow'), 1);
  assert.equal(stat('upstream_rq_pending_active'), 1);
  const third = await request(pool).result;
  assert.deepEqual(third, { failure: 'overflow' });
  assert.equal(stat('upstream_rq_pending_overflow'), 1);
  first.ready.close();
  const o = await second.result;
  assert.ok('ready' in o);
  assert.equal(stat('upstream_rq_pending_active'), 0);
  assert.equal(stat('upstream_cx_total'), 2);
  // A waiting request cancelled: counted, never served.
  const fourth = request(pool);
  fourth.handle!.cancel();
  assert.equal(stat('upstream_rq_cancelled'), 1);
  assert.equal(stat('upstream_rq_pending_active'), 0);
  o.ready.close();
  await closed(o.ready);
  assert.equal(pool.info.resourceManager.connections.count, 0);
  assert.equal(pool.info.resourceManager.pendingRequests.count, 0);
});

test('an attempt cancelled before it connects is closed, and no callback comes', async () => {
  const { pool, stat } = setup(await echoServer());
  let called = false;
  const h = pool.newConnection({ onPoolReady: () => { called = true; }, onPoolFailure: () => { called = true; } });
  h!.cancel();
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(called, false);
  assert.equal(stat('upstream_rq_cancelled'), 1);
  assert.equal(stat('upstream_cx_active'), 0);
});

test('bytes the upstream sends before the caller starts the connection wait for its filters', async () => {
  const s = net.createServer((sock) => sock.end('hello first'));
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { pool } = setup((s.address() as net.AddressInfo).port);
  const o = await request(pool).result;
  assert.ok('ready' in o);
  const conn = o.ready;
  // Let the greeting (and the FIN) arrive before any filter exists.
  await new Promise((r) => setTimeout(r, 100));
  const ended = readUntil(conn.connection, (_reads, end) => end);
  conn.connection.startClient();
  assert.deepEqual(await ended, ['hello first']);
  conn.close();
  await closed(conn);
});
