// The unary gRPC client (src/common/grpc-unary.ts) against a real h2c server answering in the ways
// a service can: a message, a compressed or truncated frame, a trailers-only error with a
// percent-encoded grpc-message, an HTTP error, no answer in time; one session kept for all calls.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { GrpcChannels, GrpcStatus, type GrpcUnaryResult } from '../../src/common/grpc-unary.ts';

function frame(flag: number, msg: Buffer, len = msg.length): Buffer {
  const head = Buffer.alloc(5);
  head[0] = flag;
  head.writeUInt32BE(len, 1);
  return Buffer.concat([head, msg]);
}

const seen: { path: string; timeout: string | undefined; body: Buffer }[] = [];
let sessions = 0;
const server = http2.createServer();
server.on('session', () => { sessions++; });
server.on('stream', (s: http2.ServerHttp2Stream, h: http2.IncomingHttpHeaders) => {
  const chunks: Buffer[] = [];
  s.on('data', (d: Buffer) => chunks.push(d));
  s.on('end', () => {
    // (A call the client cancelled may end here after its reset.)
    if (s.destroyed) return;
    const path = String(h[':path']);
    seen.push({ path, timeout: h['grpc-timeout'] as string | undefined, body: Buffer.concat(chunks) });
    const ok = { ':status': 200, 'content-type': 'application/grpc' };
    if (path === '/s/Echo') {
      s.respond(ok, { waitForTrailers: true });
      s.on('wantTrailers', () => s.sendTrailers({ 'grpc-status': '0' }));
      s.end(frame(0, Buffer.concat(chunks).subarray(5)));
    } else if (path === '/s/Compressed' || path === '/s/Truncated') {
      s.respond(ok, { waitForTrailers: true });
      s.on('wantTrailers', () => s.sendTrailers({ 'grpc-status': '0' }));
      s.end(path === '/s/Compressed' ? frame(1, Buffer.from('x')) : frame(0, Buffer.from('x'), 9));
    } else if (path === '/s/Denied') {
      s.respond({ ...ok, 'grpc-status': '7', 'grpc-message': 'no%20way' }, { endStream: true });
    } else if (path === '/s/Http503') {
      s.respond({ ':status': 503 }, { endStream: true });
    }
    // /s/Slow: no answer.
  });
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const port = (server.address() as AddressInfo).port;
const channels = new GrpcChannels();
after(() => {
  channels.close();
  server.close();
});

function call(path: string, message: Buffer, timeoutMs = 0): Promise<GrpcUnaryResult> {
  return new Promise((resolve) => {
    let returned = false;
    channels.call('127.0.0.1', port, 'svc', path, message, timeoutMs, {
      onGrpcComplete: (r) => {
        assert.ok(returned, 'the callback never runs inside call()');
        resolve(r);
      },
    });
    returned = true;
  });
}

test('a message each way; grpc-timeout in milliseconds; statuses of the failures', async () => {
  const r = await call('/s/Echo', Buffer.from('hello'), 1500.2);
  assert.deepEqual(r, { status: GrpcStatus.Ok, message: '', body: Buffer.from('hello') });
  assert.equal(seen.at(-1)!.timeout, '1501m');
  assert.deepEqual(seen.at(-1)!.body, frame(0, Buffer.from('hello')));
  assert.deepEqual(await call('/s/Compressed', Buffer.alloc(0)), { status: GrpcStatus.Internal, message: 'no response message', body: null });
  assert.deepEqual(await call('/s/Truncated', Buffer.alloc(0)), { status: GrpcStatus.Internal, message: 'no response message', body: null });
  assert.deepEqual(await call('/s/Denied', Buffer.alloc(0)), { status: 7, message: 'no way', body: null });
  assert.deepEqual(await call('/s/Http503', Buffer.alloc(0)), { status: GrpcStatus.Unavailable, message: 'HTTP status 503', body: null });
  assert.equal(seen.find((s) => s.path === '/s/Denied')!.timeout, undefined);
  assert.equal(sessions, 1, 'one session for every call to the host');
});

test('a call with no answer in time is DEADLINE_EXCEEDED; a cancelled one never calls back', async () => {
  const t0 = Date.now();
  assert.deepEqual(await call('/s/Slow', Buffer.alloc(0), 50), { status: GrpcStatus.DeadlineExceeded, message: 'deadline exceeded', body: null });
  assert.ok(Date.now() - t0 < 1000);
  let called = false;
  const c = channels.call('127.0.0.1', port, 'svc', '/s/Echo', Buffer.from('x'), 0, { onGrpcComplete: () => { called = true; } });
  c.cancel();
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.equal(called, false);
});

test('an address with nothing listening is UNAVAILABLE', async () => {
  const dead = http2.createServer();
  await new Promise<void>((resolve) => dead.listen(0, '127.0.0.1', resolve));
  const p = (dead.address() as AddressInfo).port;
  await new Promise((resolve) => dead.close(resolve));
  const r = await new Promise<GrpcUnaryResult>((resolve) => {
    channels.call('127.0.0.1', p, 'svc', '/s/Echo', Buffer.alloc(0), 0, { onGrpcComplete: resolve });
  });
  assert.equal(r.status, GrpcStatus.Unavailable);
});
