// The shared read buffer (network/socket-owner.ts) on real sockets: accepted and client sockets
// both read into it on this Node (the fast path is in use, not the 'data' fallback), and retain()
// copies exactly the views of it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import {
  attachSocket, clientReadOptions, giveReadBuffer, inReadBuffer, retain, setReadBufferSource, takeReadBuffer, usesReadBuffer,
  type SocketOwner,
} from '../../src/network/socket-owner.ts';
import { listen, withTimeout } from '../integration/fixtures/upstreams.ts';

class Collector implements SocketOwner {
  got: Buffer[] = [];
  onData(chunk: Buffer): void {
    this.got.push(retain(chunk));
  }
  onDrain(): void {}
  onClose(): void {}
}

test('accepted and client sockets read into the shared buffer; what is kept survives later reads', async () => {
  const server = net.createServer();
  const accepted = new Promise<net.Socket>((r) => server.once('connection', r));
  const port = await listen(server);
  const clientOwner = new Collector();
  const client = net.connect({ port, host: '127.0.0.1', ...clientReadOptions });
  attachSocket(client, clientOwner);
  const s = await withTimeout(accepted, 5000, 'accept');
  const serverOwner = new Collector();
  attachSocket(s, serverOwner);
  try {
    assert.ok(usesReadBuffer(client), 'the client socket reads into the shared buffer');
    assert.ok(usesReadBuffer(s), 'the accepted socket reads into the shared buffer');
    // Several separate reads each way: every kept chunk must still hold its own bytes.
    for (let i = 0; i < 5; i++) {
      client.write(`c${i};`);
      s.write(`s${i};`);
      await withTimeout(new Promise<void>((r) => {
        const check = (): void => {
          if (Buffer.concat(serverOwner.got).toString().endsWith(`c${i};`) && Buffer.concat(clientOwner.got).toString().endsWith(`s${i};`)) r();
          else setTimeout(check, 5);
        };
        check();
      }), 5000, `round ${i}`);
    }
    assert.equal(Buffer.concat(serverOwner.got).toString(), 'c0;c1;c2;c3;c4;');
    assert.equal(Buffer.concat(clientOwner.got).toString(), 's0;s1;s2;s3;s4;');
  } finally {
    client.destroy();
    s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  }
});

test('retain() copies a view of the shared buffer and nothing else', async () => {
  const server = net.createServer();
  const accepted = new Promise<net.Socket>((r) => server.once('connection', r));
  const port = await listen(server);
  const client = net.connect({ port, host: '127.0.0.1' });
  const s = await withTimeout(accepted, 5000, 'accept');
  let view: Buffer | null = null;
  let kept: Buffer | null = null;
  const got = new Promise<void>((r) => {
    attachSocket(s, {
      onData(chunk: Buffer) {
        view = chunk;
        kept = retain(chunk);
        r();
      },
      onDrain() {},
      onClose() {},
    });
  });
  try {
    client.write('abc');
    await withTimeout(got, 5000, 'read');
    assert.notEqual(kept, view, 'a view of the read buffer is copied');
    assert.equal(kept!.toString(), 'abc');
    const own = Buffer.from('xyz');
    assert.equal(retain(own), own, 'any other buffer is returned as it is');
  } finally {
    client.destroy();
    s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  }
});

test('setReadBufferSource: reads land in the socket\'s own buffers, retain() copies views of them, null goes back to the shared one', async () => {
  const server = net.createServer();
  const accepted = new Promise<net.Socket>((r) => server.once('connection', r));
  const port = await listen(server);
  const client = net.connect({ port, host: '127.0.0.1' });
  const s = await withTimeout(accepted, 5000, 'accept');
  const mine = takeReadBuffer();
  const reads: { text: string; buffer: ArrayBufferLike; shared: boolean; copied: boolean }[] = [];
  let next: () => void = () => {};
  attachSocket(s, {
    onData(chunk: Buffer) {
      reads.push({ text: chunk.toString(), buffer: chunk.buffer, shared: inReadBuffer(chunk),
        copied: retain(chunk) !== chunk });
      // After the first read: own buffers from the next one; after the second: shared again.
      if (reads.length === 1) assert.ok(setReadBufferSource(s, () => mine));
      else if (reads.length === 2) setReadBufferSource(s, null);
      next();
    },
    onDrain() {},
    onClose() {},
  });
  const read = async (text: string): Promise<void> => {
    const got = new Promise<void>((r) => { next = r; });
    client.write(text);
    await withTimeout(got, 5000, `read of ${text}`);
  };
  try {
    for (const t of ['one', 'two', 'three', 'four']) await read(t);
    assert.deepEqual(reads.map((r) => r.text), ['one', 'two', 'three', 'four']);
    assert.notEqual(reads[0].buffer, mine.buffer);
    assert.equal(reads[1].buffer, mine.buffer, 'the read after the switch lands in the own buffer');
    assert.ok(reads[1].shared && reads[1].copied, 'a view of an own buffer is read memory: retain() copies it');
    for (const r of reads.slice(2)) {
      assert.notEqual(r.buffer, mine.buffer, 'back on the shared buffer');
      assert.ok(r.shared && r.copied);
    }
    giveReadBuffer(mine);
  } finally {
    client.destroy();
    s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  }
});
