// Request and response bodies through Legate: 3 MiB uploads with Content-Length and chunked, from
// curl and undici, echoed by the upstream and compared by sha256 on both ends; Expect: 100-continue.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { Agent, request } from 'undici';
import { startLegate, proxyConfig, tmpFile, type Legate } from '../helpers/legate.ts';
import { httpUpstream, listen, rawUpstream, sha256, withTimeout, type HttpUpstream } from './fixtures/upstreams.ts';
import { RawClient, curl } from './fixtures/clients.ts';

const SIZE = 3 * 1024 * 1024;
const payload = randomBytes(SIZE);
const payloadSha = sha256(payload);
let payloadFile: string;

let up: HttpUpstream;
let legate: Legate;
let port: number;
const agent = new Agent();

before(async () => {
  payloadFile = tmpFile('payload.bin', '');
  fs.writeFileSync(payloadFile, payload);
  up = await httpUpstream();
  legate = await startLegate(proxyConfig([up.port]));
  port = legate.port('proxy');
});

after(async () => {
  await agent.close();
  await legate?.stop();
  await up?.close();
});

function pieces(b: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < b.length; i += size) out.push(b.subarray(i, i + size));
  return out;
}

test('undici POST 3 MiB with content-length: echoed intact', async () => {
  const r = await request(`http://127.0.0.1:${port}/upload-cl`, { method: 'POST', body: payload, dispatcher: agent });
  const body = Buffer.from(await r.body.arrayBuffer());
  assert.equal(r.statusCode, 200);
  assert.equal(r.headers['x-seen-cl'], String(SIZE), 'the upstream saw the content-length');
  assert.equal(r.headers['x-seen-te'], '', 'and no transfer-encoding');
  assert.equal(r.headers['x-seen-sha256'], payloadSha, 'the upstream got the bytes');
  assert.equal(body.length, SIZE);
  assert.equal(sha256(body), payloadSha, 'the client got them back');
});

test('undici POST 3 MiB chunked (stream body of unknown length): echoed intact', async () => {
  const r = await request(`http://127.0.0.1:${port}/upload-chunked`, {
    method: 'POST', body: Readable.from(pieces(payload, 64 * 1024)), dispatcher: agent,
  });
  const body = Buffer.from(await r.body.arrayBuffer());
  assert.equal(r.statusCode, 200);
  assert.equal(r.headers['x-seen-te'], 'chunked', 'chunked framing is kept upstream');
  assert.equal(r.headers['x-seen-length'], String(SIZE));
  assert.equal(r.headers['x-seen-sha256'], payloadSha);
  assert.equal(sha256(body), payloadSha);
});

test('curl POST 3 MiB with content-length (curl sends Expect: 100-continue): echoed intact', async () => {
  // A long expect timeout: had Legate not answered 100 Continue, curl would sit for 10 s.
  const r = await curl(['-v', '--expect100-timeout', '10', '--data-binary', `@${payloadFile}`,
    '-H', 'Content-Type: application/octet-stream', `http://127.0.0.1:${port}/curl-cl`]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /> Expect: 100-continue/i, 'curl asked for 100-continue');
  assert.match(r.stderr, /< HTTP\/1\.1 100 Continue/, 'Legate answered it');
  assert.ok(r.ms < 5000, `took ${r.ms} ms: curl waited for its expect timeout`);
  // -v shows the final response head on stderr, the body is on stdout.
  assert.match(r.stderr, /< HTTP\/1\.1 200 OK/);
  assert.match(r.stderr, new RegExp(`< x-seen-sha256: ${payloadSha}`, 'i'));
  assert.match(r.stderr, new RegExp(`< x-seen-cl: ${SIZE}`, 'i'));
  assert.equal(r.stdout.length, SIZE);
  assert.equal(sha256(r.stdout), payloadSha);
  const seen = up.requests.at(-1)!;
  assert.equal(seen.headers.expect, undefined, 'Expect is not forwarded upstream');
});

test('curl POST 3 MiB chunked: echoed intact', async () => {
  // (-v, not -D /dev/stderr: curl 7.88 crashes writing the head to a piped /dev/stderr.)
  const r = await curl(['-v', '--expect100-timeout', '10', '-H', 'Transfer-Encoding: chunked', '--data-binary', `@${payloadFile}`,
    `http://127.0.0.1:${port}/curl-chunked`]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /> Transfer-Encoding: chunked/i);
  assert.match(r.stderr, /< HTTP\/1\.1 200 OK/);
  assert.match(r.stderr, /< x-seen-te: chunked/i);
  assert.match(r.stderr, new RegExp(`< x-seen-sha256: ${payloadSha}`, 'i'));
  assert.ok(r.ms < 5000, `took ${r.ms} ms`);
  assert.equal(r.stdout.length, SIZE);
  assert.equal(sha256(r.stdout), payloadSha);
});

test('raw Expect: 100-continue: Legate sends 100 Continue before the body is sent', async () => {
  const c = await RawClient.connect(port);
  try {
    await c.write('POST /expect HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n');
    const interim = await c.readResponse({ timeoutMs: 3000 });
    assert.equal(interim.statusLine, 'HTTP/1.1 100 Continue');
    assert.deepEqual(interim.headers, {});
    await c.write('hello world');
    const r = await c.readResponse();
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), 'hello world');
    const seen = up.requests.at(-1)!;
    assert.equal(seen.url, '/expect');
    assert.equal(seen.headers.expect, undefined, 'Expect is not forwarded upstream');
    assert.equal(seen.body.toString(), 'hello world');
    // Only one 100 for the request: nothing else is buffered.
    assert.equal(c.buf.length, 0);
  } finally {
    c.destroy();
  }
});

test('a large response streamed from the upstream reaches a slow reader intact', async () => {
  // The upstream echoes 3 MiB; the client reads slowly so Legate's write buffer fills (watermarks).
  const r = await request(`http://127.0.0.1:${port}/slow-reader`, { method: 'POST', body: payload, dispatcher: agent });
  assert.equal(r.statusCode, 200);
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of r.body) {
    chunks.push(c as Buffer);
    if (++n % 2 === 0) await new Promise((res) => setTimeout(res, 10));
  }
  assert.equal(sha256(Buffer.concat(chunks)), payloadSha);
});

// Reads land in one buffer shared by every socket of a worker (network/socket-owner.ts). When a
// peer stops reading, Legate's writes queue in Node instead of going straight to the kernel;
// those queued bytes must be copies, or the next read into the shared buffer would overwrite
// them. Large enough to overflow loopback's socket buffers, so the writes really do queue.
const BIG = 24 * 1024 * 1024;
const big = randomBytes(BIG);
const bigSha = sha256(big);

test('a big response to a client that stops reading for a while arrives intact', async () => {
  const upstream = await rawUpstream((s) => {
    s.write(`HTTP/1.1 200 OK\r\ncontent-length: ${BIG}\r\n\r\n`);
    s.write(big);
  });
  const l = await startLegate(proxyConfig([upstream.port]));
  const c = net.connect({ port: l.port('proxy'), host: '127.0.0.1' });
  try {
    await new Promise<void>((r) => c.once('connect', r));
    c.pause();
    c.write('GET /big HTTP/1.1\r\nHost: h\r\n\r\n');
    await new Promise((r) => setTimeout(r, 500));
    const chunks: Buffer[] = [];
    let total = 0;
    const done = new Promise<void>((resolve, reject) => {
      c.on('data', (d: Buffer) => {
        chunks.push(d);
        total += d.length;
        const all = total > BIG ? Buffer.concat(chunks) : null;
        if (all !== null) {
          const at = all.indexOf('\r\n\r\n');
          if (at >= 0 && all.length - at - 4 >= BIG) resolve();
        }
      });
      c.on('close', () => reject(new Error('closed early')));
    });
    c.resume();
    await withTimeout(done, 20_000, 'the whole body');
    const all = Buffer.concat(chunks);
    const at = all.indexOf('\r\n\r\n');
    assert.match(all.subarray(0, at).toString('latin1'), /^HTTP\/1\.1 200 OK\r\n/);
    const body = all.subarray(at + 4);
    assert.equal(body.length, BIG);
    assert.equal(sha256(body), bigSha);
  } finally {
    c.destroy();
    await l.stop();
    await upstream.close();
  }
});

test('a big upload to an upstream that stops reading for a while arrives intact', async () => {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    s.pause();
    const chunks: Buffer[] = [];
    let total = 0;
    s.on('data', (d: Buffer) => {
      chunks.push(d);
      total += d.length;
      if (total < BIG) return;
      const all = Buffer.concat(chunks);
      const at = all.indexOf('\r\n\r\n');
      if (at < 0 || all.length - at - 4 < BIG) return;
      const sha = sha256(all.subarray(at + 4, at + 4 + BIG));
      s.write(`HTTP/1.1 200 OK\r\ncontent-length: 0\r\nx-sha: ${sha}\r\n\r\n`);
    });
    setTimeout(() => s.resume(), 500);
  });
  const upPort = await listen(server);
  const l = await startLegate(proxyConfig([upPort]));
  try {
    const r = await request(`http://127.0.0.1:${l.port('proxy')}/big-upload`, { method: 'POST', body: big, dispatcher: agent });
    await r.body.dump();
    assert.equal(r.statusCode, 200);
    assert.equal(r.headers['x-sha'], bigSha);
  } finally {
    await l.stop();
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  }
});

test('a request body held while the request queues for a connection arrives intact', async () => {
  // One upstream connection: the second POST waits for the first to finish, and the router holds
  // its body meanwhile, across later reads (the first response) into the shared read buffer.
  const slow = await httpUpstream((_req, res, body) => {
    setTimeout(() => {
      res.setHeader('x-sha', sha256(body));
      res.end();
    }, 100);
  });
  const l = await startLegate(proxyConfig([slow.port], { clusterExtra: `
    circuit_breakers: { thresholds: [{ max_connections: 1 }] }` }));
  try {
    const bodies = [randomBytes(48 * 1024), randomBytes(48 * 1024), randomBytes(48 * 1024)];
    const rs = await Promise.all(bodies.map(async (b) => {
      const r = await request(`http://127.0.0.1:${l.port('proxy')}/queued`, { method: 'POST', body: b, dispatcher: agent });
      await r.body.dump();
      return r;
    }));
    for (let i = 0; i < bodies.length; i++) {
      assert.equal(rs[i].statusCode, 200);
      assert.equal(rs[i].headers['x-sha'], sha256(bodies[i]), `body ${i}`);
    }
    assert.equal(slow.connections(), 1, 'all three went over one upstream connection');
  } finally {
    await l.stop();
    await slow.close();
  }
});
