// Upstream response heads through Legate, checked byte for byte on the client side: a head that
// arrives in one read is forwarded from its raw bytes (src/http/raw-headers.ts), one that spans
// reads goes through strings; both must give the client the same header lines.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileAccessLog, proxyConfig } from '../helpers/legate.ts';
import { pollLog, RawClient } from './fixtures/clients.ts';
import { listen } from './fixtures/upstreams.ts';
import { legateFor, rawUp, track } from './fixtures/tracked.ts';

const HEAD = 'HTTP/1.1 200 OK\r\n'
  + 'Server: upstream/1.0\r\n'
  + 'Content-Type: text/plain\r\n'
  + 'X-Empty:\r\n'
  + 'Set-Cookie: a=1\r\n'
  + 'Connection: keep-alive, X-Hop\r\n'
  + 'X-Hop: gone\r\n'
  + 'Keep-Alive: timeout=5\r\n'
  + 'Set-Cookie: b=2\r\n'
  + 'X-Spaced:   v  w\r\n'
  + 'Content-Length: 5\r\n'
  + '\r\n';
const BODY = 'hello';

/** The header lines the client got as "name: value" (value trimmed: the raw path keeps the
 *  sender's spacing, the string path writes one space), sorted (the two paths may order added
 *  headers differently), minus the one whose value varies. */
function lines(head: string): string[] {
  return head.split('\r\n').slice(1)
    .filter((l) => l !== '' && !l.startsWith('x-envoy-upstream-service-time:'))
    .map((l) => `${l.slice(0, l.indexOf(':'))}: ${l.slice(l.indexOf(':') + 1).trim()}`)
    .sort();
}

const EXPECTED = [
  'connection: close', 'content-length: 5', 'content-type: text/plain', 'server: legate', 'set-cookie: a=1',
  'set-cookie: b=2', 'x-empty: ', 'x-spaced: v  w',
].sort();

/** An upstream answering every GET on a connection with HEAD+BODY, written in pieces: `cuts`
 *  are offsets, with a pause at each so that each piece is a read of its own. */
async function upstreamWithCuts(cuts: () => number[], message = HEAD + BODY): Promise<{ port: number }> {
  const msg = Buffer.from(message, 'latin1');
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    let pending = '';
    s.on('data', (d: Buffer) => {
      pending += d.toString('latin1');
      while (pending.includes('\r\n\r\n')) {
        pending = pending.slice(pending.indexOf('\r\n\r\n') + 4);
        void (async () => {
          let at = 0;
          for (const c of [...cuts(), msg.length]) {
            if (c <= at) continue;
            s.write(msg.subarray(at, c));
            at = c;
            await sleep(3);
          }
        })();
      }
    });
  });
  const port = await listen(server);
  track(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });
  return { port };
}

/** One request on a fresh connection; the response's head as text and its body. */
async function fetchHead(port: number): Promise<{ head: string; body: string }> {
  const s = net.connect({ port, host: '127.0.0.1' });
  const chunks: Buffer[] = [];
  s.on('data', (d: Buffer) => chunks.push(d));
  s.write('GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n');
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => { s.destroy(); reject(new Error('no response in 5 s')); }, 5000);
    s.on('close', () => { clearTimeout(t); resolve(); });
    s.on('error', () => {});
  });
  const raw = Buffer.concat(chunks).toString('latin1');
  const at = raw.indexOf('\r\n\r\n');
  return { head: raw.slice(0, at), body: raw.slice(at + 4) };
}

test('a head in one read: lines forwarded as sent, names lowercased, hop-by-hop gone, server replaced', async () => {
  const up = await upstreamWithCuts(() => []);
  const l = await legateFor(proxyConfig([up.port]));
  const { head, body } = await fetchHead(l.port('proxy'));
  assert.equal(body, BODY);
  assert.match(head, /^HTTP\/1\.1 200 OK\r\n/);
  assert.deepEqual(lines(head), EXPECTED);
  // Raw lines keep their bytes: the spacing inside a value, and runs of lines in their order.
  assert.ok(head.includes('\r\ncontent-type: text/plain\r\nx-empty:\r\nset-cookie: a=1\r\n'), head);
  assert.ok(head.includes('\r\nset-cookie: b=2\r\nx-spaced:   v  w\r\ncontent-length: 5\r\n'), head);
  assert.match(head, /\r\nx-envoy-upstream-service-time: \d+/);
  assert.match(head, /\r\nconnection: close(\r\n|$)/, 'this hop\'s own Connection header');
});

test('a head split at every byte boundary gives the client the same lines', async () => {
  let cut = 0;
  const up = await upstreamWithCuts(() => [cut]);
  const l = await legateFor(proxyConfig([up.port]));
  for (cut = 1; cut < HEAD.length + 2; cut++) {
    const { head, body } = await fetchHead(l.port('proxy'));
    assert.equal(body, BODY, `split at ${cut}`);
    assert.deepEqual(lines(head), EXPECTED, `split at ${cut}`);
  }
});

test('a head written one byte at a time gives the client the same lines', async () => {
  const up = await upstreamWithCuts(() => Array.from({ length: HEAD.length }, (_, i) => i + 1));
  const l = await legateFor(proxyConfig([up.port]));
  const { head, body } = await fetchHead(l.port('proxy'));
  assert.equal(body, BODY);
  assert.deepEqual(lines(head), EXPECTED);
});

test('a response with no headers at all gets its framing from Legate', async () => {
  const up = await rawUp((s) => { s.end('HTTP/1.1 200 OK\r\n\r\nclose-delimited'); });
  const l = await legateFor(proxyConfig([up.port]));
  const c = await RawClient.connect(l.port('proxy'));
  try {
    await c.write('GET / HTTP/1.1\r\nHost: h\r\n\r\n');
    const r = await c.readResponse({ timeoutMs: 5000 });
    assert.equal(r.status, 200);
    assert.equal(r.headers['transfer-encoding'], 'chunked');
    assert.equal(r.body.toString(), 'close-delimited');
  } finally {
    c.destroy();
  }
});


test('more than max_headers_count (100) response headers: 502 whether the head comes in one read or two', async () => {
  const head = (n: number): string => `HTTP/1.1 200 OK\r\n${Array.from({ length: n - 1 }, (_, i) => `X-H${i}: v\r\n`).join('')}Content-Length: 5\r\n\r\nhello`;
  for (const [n, status] of [[100, 200], [101, 502]] as const) {
    for (const cut of [0, 20]) {
      const up = await upstreamWithCuts(() => (cut === 0 ? [] : [cut]), head(n));
      const l = await legateFor(proxyConfig([up.port]));
      const { head: got } = await fetchHead(l.port('proxy'));
      assert.match(got, new RegExp(`^HTTP/1\\.1 ${status} `), `${n} headers, ${cut === 0 ? 'one read' : 'split'}`);
    }
  }
});

test('several Connection headers: the headers every one of them names are dropped', async () => {
  const msg = 'HTTP/1.1 200 OK\r\nConnection: x-a\r\nX-A: 1\r\nConnection: X-B, keep-alive\r\nX-B: 2\r\nX-C: 3\r\nContent-Length: 5\r\n\r\nhello';
  for (const cut of [0, 30]) {
    const up = await upstreamWithCuts(() => (cut === 0 ? [] : [cut]), msg);
    const l = await legateFor(proxyConfig([up.port]));
    const { head, body } = await fetchHead(l.port('proxy'));
    assert.equal(body, 'hello');
    const names = head.split('\r\n').slice(1).map((x) => x.slice(0, x.indexOf(':')));
    assert.ok(names.includes('x-c'), head);
    assert.ok(!names.includes('x-a') && !names.includes('x-b'), `${cut === 0 ? 'one read' : 'split'}: ${head}`);
  }
});

test('a raw head outlives its read when the body comes later: the access log still reads it', async () => {
  // The head is kept where it was read until that read is dispatched; the stream still lives
  // then (the body comes in later reads, which reuse the read buffer), so it must be copied out.
  const body = 'z'.repeat(3000);
  const msg = `HTTP/1.1 200 OK\r\nX-Tag: tagged-${'t'.repeat(40)}\r\nContent-Type: text/x-kept\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
  const headEnd = msg.indexOf('\r\n\r\n') + 4;
  const up = await upstreamWithCuts(() => [headEnd, headEnd + 1000, headEnd + 2000], msg);
  const logPath = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'legate-rawlog-')), 'access.log');
  const l = await legateFor(proxyConfig([up.port], {
    hcmExtra: fileAccessLog(logPath, '%RESP(X-TAG)% %RESP(CONTENT-TYPE)% %RESP(CONTENT-LENGTH)%\\n'),
  }));
  for (let i = 0; i < 3; i++) {
    const { head, body: got } = await fetchHead(l.port('proxy'));
    assert.equal(got, body);
    assert.ok(head.includes(`\r\nx-tag: tagged-${'t'.repeat(40)}\r\n`), head);
  }
  const text = await pollLog(logPath, (t) => t.split('\n').length >= 4);
  assert.deepEqual(text.trim().split('\n'), Array(3).fill(`tagged-${'t'.repeat(40)} text/x-kept 3000`));
});
