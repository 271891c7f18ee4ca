// Writes held to the end of the loop iteration (network/write-batch.ts), on real sockets: nothing
// leaves while the iteration's dispatch runs, then everything leaves in order, and a socket
// destroyed in between gets nothing (and raises nothing).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { queueWrite } from '../../src/network/write-batch.ts';
import { listen, withTimeout } from '../integration/fixtures/upstreams.ts';

test('queued writes leave after the iteration, in order; a destroyed socket gets none', async () => {
  const server = net.createServer();
  const received = new Map<number, Buffer[]>();
  const closed: Promise<void>[] = [];
  server.on('connection', (s) => {
    const bufs: Buffer[] = [];
    received.set(s.remotePort!, bufs);
    s.on('data', (d: Buffer) => bufs.push(d));
    closed.push(new Promise((r) => s.on('close', () => r())));
  });
  const port = await listen(server);
  const connect = (): Promise<net.Socket> => new Promise((r) => {
    const c = net.connect({ port, host: '127.0.0.1' }, () => r(c));
  });
  const a = await withTimeout(connect(), 5000, 'connect a');
  const b = await withTimeout(connect(), 5000, 'connect b');
  const aPort = a.localPort!;
  const bPort = b.localPort!;
  await withTimeout(new Promise<void>((r) => {
    const check = (): void => {
      if (received.has(aPort) && received.has(bPort)) r();
      else setTimeout(check, 5);
    };
    check();
  }), 5000, 'both accepted');
  const errors: Error[] = [];
  b.on('error', (e) => errors.push(e));
  try {
    queueWrite(a, 'GET /1 HTTP/1.1\r\n\r\n');
    queueWrite(b, 'never sent');
    queueWrite(a, Buffer.from('GET /2 HTTP/1.1\r\n\r\n'));
    queueWrite(a, 'GET /3 HTTP/1.1\r\n\r\n');
    b.destroy();
    // Still in this iteration: nothing written yet.
    assert.equal(a.bytesWritten, 0);
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    assert.equal(a.bytesWritten, 3 * 'GET /1 HTTP/1.1\r\n\r\n'.length);
    assert.equal(b.bytesWritten, 0);
    a.end();
    await withTimeout(Promise.all(closed), 5000, 'server side closed');
    assert.equal(Buffer.concat(received.get(aPort)!).toString(),
      'GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\nGET /3 HTTP/1.1\r\n\r\n');
    assert.equal(Buffer.concat(received.get(bPort)!).length, 0);
    assert.deepEqual(errors, []);
  } finally {
    a.destroy();
    b.destroy();
    server.close();
  }
});
