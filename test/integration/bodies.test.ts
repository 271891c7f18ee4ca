// Request and response bodies through Legate: 3 MiB uploads with Content-Length and chunked, from
// curl and undici, echoed by the upstream and compared by sha256 on both ends; Expect: 100-continue.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { Agent, request } from 'undici';
import { startLegate, proxyConfig, tmpFile, type Legate } from '../helpers/legate.ts';
import { httpUpstream, sha256, type HttpUpstream } from './fixtures/upstreams.ts';
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
