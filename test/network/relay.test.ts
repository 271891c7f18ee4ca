// network/relay.ts over real sockets, in-process: a client -> [Connection | ByteRelay | Connection]
// -> upstream server. Half-close both ways, backpressure with a stalled reader on either side
// (what the relay buffers stays near the buffer limit), the idle timeout, and a reset.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { Buffer } from 'node:buffer';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { Connection } from '../../src/network/connection.ts';
import { ByteRelay, RelayEnd, type RelayCallbacks } from '../../src/network/relay.ts';
import { monotonicNow } from '../../src/common/clock.ts';

const LIMIT = 64 * 1024;
const servers: net.Server[] = [];
after(() => { for (const s of servers) s.close(); });

function listen(s: net.Server): Promise<number> {
  servers.push(s);
  return new Promise((r) => s.listen(0, '127.0.0.1', () => r((s.address() as net.AddressInfo).port)));
}

class Recorder implements RelayCallbacks {
  paused = 0;
  resumed = 0;
  ends: RelayEnd[] = [];
  late: boolean[] = [];
  resolve: (e: RelayEnd) => void = () => {};
  ended = new Promise<RelayEnd>((r) => { this.resolve = r; });
  onDownstreamReadPaused(p: boolean): void { if (p) this.paused++; else this.resumed++; }
  onRelayEnd(why: RelayEnd): void { this.ends.push(why); this.resolve(why); }
  onClosedAfterEnd(downstream: boolean): void { this.late.push(downstream); }
}

interface Setup {
  client: net.Socket;
  upstream: net.Socket;
  relay: ByteRelay;
  rec: Recorder;
  down: Connection;
  up: Connection;
}

/** A client connected through a relay to an upstream server socket (both allow half-open). */
async function setup(idleMs = 0): Promise<Setup> {
  const stats = { v: new Float64Array(4), record(): void {} };
  const upServer = net.createServer({ allowHalfOpen: true });
  const upPort = await listen(upServer);
  const front = net.createServer({ pauseOnConnect: true });
  const frontPort = await listen(front);
  const rec = new Recorder();
  const relay = new ByteRelay(idleMs, rec);
  const accepted = once(front, 'connection');
  const client = net.connect({ port: frontPort, host: '127.0.0.1', allowHalfOpen: true });
  const [sock] = await accepted as [net.Socket];
  const down = new Connection(sock, null, LIMIT, stats, monotonicNow());
  down.addReadFilter(relay.downstream);
  down.addConnectionCallbacks(relay.downstream);
  const upAccepted = once(upServer, 'connection');
  const up = Connection.client('127.0.0.1', upPort, LIMIT, stats, monotonicNow());
  up.addReadFilter(relay.upstream);
  up.addConnectionCallbacks(relay.upstream);
  relay.start(down, up);
  down.start();
  up.startClient();
  const [upstream] = await upAccepted as [net.Socket];
  return { client, upstream, relay, rec, down, up };
}

function collect(s: net.Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  s.on('data', (d: Buffer) => chunks.push(d));
  return once(s, 'end').then(() => Buffer.concat(chunks));
}

test('half-close: each FIN ends the other side\'s writing while the other direction flows', async () => {
  const { client, upstream, rec } = await setup();
  const atUpstream = collect(upstream);
  client.end('from client');
  assert.equal((await atUpstream).toString(), 'from client');
  // The client's write side is done; the upstream still answers, then ends too.
  const atClient = collect(client);
  upstream.write('reply 1 ');
  await sleep(20);
  upstream.end('reply 2');
  assert.equal((await atClient).toString(), 'reply 1 reply 2');
  const why = await rec.ended;
  assert.ok(why === RelayEnd.DownstreamClose || why === RelayEnd.UpstreamClose);
  assert.equal(rec.ends.length, 1);
});

test('backpressure: a stalled upstream reader pauses the client\'s side; nothing is lost', async () => {
  const { client, upstream, rec, up } = await setup();
  upstream.pause();
  const total = 8 << 20;
  const data = Buffer.alloc(total);
  for (let i = 0; i < total; i++) data[i] = (i * 13 + (i >> 12)) & 0xff;
  client.write(data);
  client.end();
  // The upstream reads nothing: the relay stops reading the client near its limit.
  let maxBuffered = 0;
  for (let i = 0; i < 20; i++) {
    await sleep(10);
    maxBuffered = Math.max(maxBuffered, up.bufferedWriteBytes);
  }
  assert.ok(rec.paused >= 1, 'reading from the client was never paused');
  assert.ok(maxBuffered < LIMIT + 2 * 65536, `the upstream connection buffered ${maxBuffered} bytes`);
  const got = collect(upstream);
  upstream.resume();
  assert.ok((await got).equals(data));
  assert.equal(rec.resumed, rec.paused);
  const end = once(client, 'end');
  client.resume();
  upstream.end();
  await end;
  await rec.ended;
});

test('backpressure the other way: a stalled client pauses the upstream', async () => {
  const { client, upstream, rec, down } = await setup();
  client.pause();
  const data = Buffer.alloc(4 << 20, 7);
  upstream.end(data);
  let maxBuffered = 0;
  for (let i = 0; i < 20; i++) {
    await sleep(10);
    maxBuffered = Math.max(maxBuffered, down.bufferedWriteBytes);
  }
  assert.ok(maxBuffered < LIMIT + 2 * 65536, `the client connection buffered ${maxBuffered} bytes`);
  assert.equal(rec.paused, 0, 'the downstream is not the one paused');
  const got = collect(client);
  client.resume();
  assert.ok((await got).equals(data));
  client.end();
  await rec.ended;
});

test('idle timeout closes both connections', async () => {
  const { client, upstream, rec } = await setup(200);
  client.write('x');
  await once(upstream, 'data');
  const start = Date.now();
  assert.equal(await rec.ended, RelayEnd.IdleTimeout);
  assert.ok(Date.now() - start >= 150);
  // (Both peers allow half-open connections: each sees its FIN.)
  const ends = Promise.all([once(client, 'end'), once(upstream, 'end')]);
  client.resume();
  upstream.resume();
  await ends;
});

test('a reset on one side closes the other', async () => {
  const { client, upstream, rec } = await setup();
  const end = once(client, 'end');
  client.resume();
  upstream.resetAndDestroy();
  assert.equal(await rec.ended, RelayEnd.UpstreamClose);
  await end;
  client.destroy();
});

test('large reads go through buffers of the side\'s own, reused only once written: both ways intact under a reader that stalls', async () => {
  const { client, upstream, relay, rec } = await setup();
  const pattern = (n: number, seed: number): Buffer => {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = (i * seed + (i >> 10)) & 0xff;
    return b;
  };
  const up = pattern(24 << 20, 31);
  const down = pattern(24 << 20, 17);
  let own = 0;
  let maxHeld = 0;
  const watch = setInterval(() => {
    for (const side of [relay.downstream, relay.upstream]) {
      if (side.own !== null) own++;
      maxHeld = Math.max(maxHeld, side.heldCount);
    }
  }, 1);
  // Both readers stall now and then, so writes are left pending with the kernel buffers full.
  const stall = setInterval(() => {
    for (const s of [client, upstream]) {
      s.pause();
      setTimeout(() => s.resume(), 3);
    }
  }, 10);
  const atUpstream = collect(upstream);
  const atClient = collect(client);
  client.end(up);
  upstream.end(down);
  const [gotUp, gotDown] = await Promise.all([atUpstream, atClient]);
  clearInterval(watch);
  clearInterval(stall);
  assert.ok(own > 0, 'no side ever read into its own buffers');
  assert.ok(maxHeld > 0, 'no own buffer was ever held for a pending write');
  assert.equal(gotUp.length, up.length);
  assert.ok(gotUp.equals(up), 'the client -> upstream bytes changed on the way');
  assert.equal(gotDown.length, down.length);
  assert.ok(gotDown.equals(down), 'the upstream -> client bytes changed on the way');
  await rec.ended;
});

test('a small read after large ones switches the side back to the shared read buffer', async () => {
  const { client, upstream, relay } = await setup();
  const got: Buffer[] = [];
  upstream.on('data', (d: Buffer) => got.push(d));
  // Count the side's moves to its own buffers (the connection is told where reads go).
  let ownSeen = 0;
  const conn = relay.downstream.connection;
  const set = conn.setReadBufferSource.bind(conn);
  conn.setReadBufferSource = (next) => {
    if (next !== null) ownSeen++;
    return set(next);
  };
  const until = async (cond: () => boolean, what: string): Promise<void> => {
    for (let i = 0; i < 500 && !cond(); i++) await sleep(5);
    assert.ok(cond(), what);
  };
  const received = (): number => got.reduce((n, b) => n + b.length, 0);
  try {
    const big = Buffer.alloc(4 << 20, 3);
    client.write(big);
    await until(() => received() === big.length, 'the large write did not arrive');
    assert.ok(ownSeen > 0, 'large reads did not move the side to its own buffers');
    got.length = 0;
    client.write('small');
    await until(() => Buffer.concat(got).toString() === 'small', 'the small write did not arrive');
    assert.equal(relay.downstream.own, null, 'a small read leaves the own buffers');
    // Reads land in the shared buffer again and arrive intact; large ones move over again.
    got.length = 0;
    client.write('again');
    await until(() => Buffer.concat(got).toString() === 'again', 'the next small write did not arrive');
    got.length = 0;
    ownSeen = 0;
    const big2 = Buffer.alloc(4 << 20, 9);
    client.write(big2);
    await until(() => received() === big2.length, 'the second large write did not arrive');
    assert.ok(Buffer.concat(got).equals(big2));
    assert.ok(ownSeen > 0, 'large reads after the switch back did not move over again');
  } finally {
    client.destroy();
    upstream.destroy();
  }
});
