// Connection-close and timeout edges found in review: a closing connection still delivers a large
// response to a slow reader (the delayed close starts after the flush), a stalled request head
// times out (408), and the connection idle timeout runs from the end of the last response even
// when the stream's own deadline is far later.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { proxyConfig } from '../helpers/legate.ts';
import { legateFor, httpUp, track } from './fixtures/tracked.ts';

function hcm(extra: string): string {
  return extra.split('\n').map((l) => (l === '' ? l : `\n          ${l}`)).join('');
}

/** Connect, write, and collect everything until the server closes (bounded). */
function exchange(port: number, bytes: string, opts: { slowRead?: boolean; timeoutMs: number }): Promise<{ data: Buffer; closedAfterMs: number }> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    track(async () => s.destroy());
    const chunks: Buffer[] = [];
    const start = performance.now();
    let pump: NodeJS.Timeout | null = null;
    const t = setTimeout(() => { s.destroy(); reject(new Error('timed out')); }, opts.timeoutMs);
    s.on('connect', () => {
      s.write(bytes);
      if (opts.slowRead) {
        // Read about 512 KiB every 100 ms: a 6 MiB body takes over a second to drain.
        pump = setInterval(() => {
          let n = 0;
          for (let c = s.read(); c !== null; c = s.read()) {
            chunks.push(c);
            n += c.length;
            if (n > 512 * 1024) break;
          }
        }, 100);
      }
    });
    // read() also emits 'data': collect through one of the two only.
    if (!opts.slowRead) s.on('data', (c: Buffer) => chunks.push(c));
    s.on('error', () => {});
    s.on('close', () => {
      clearTimeout(t);
      if (pump !== null) clearInterval(pump);
      resolve({ data: Buffer.concat(chunks), closedAfterMs: performance.now() - start });
    });
    s.on('end', () => {
      if (pump !== null) {
        for (let c = s.read(); c !== null; c = s.read()) chunks.push(c);
      }
    });
  });
}

test('a response that ends the connection reaches a slow reader whole', async () => {
  const body = Buffer.alloc(6 * 1024 * 1024, 0x61);
  const up = await httpUp((_req, res) => {
    res.setHeader('content-length', body.length);
    res.end(body);
  });
  const l = await legateFor(proxyConfig([up.port]));
  const r = await exchange(l.port('proxy'), 'GET /big HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n',
    { slowRead: true, timeoutMs: 20_000 });
  const text = r.data.toString('latin1');
  const headEnd = text.indexOf('\r\n\r\n');
  assert.ok(text.startsWith('HTTP/1.1 200 '), text.slice(0, 100));
  assert.match(text.slice(0, headEnd), /\r\nconnection: close/i);
  assert.equal(r.data.length - headEnd - 4, body.length, 'the whole body arrived before the close');
  assert.ok(r.closedAfterMs > 1000, `the slow read should take over a second (took ${r.closedAfterMs} ms)`);
});

test('a request head that stalls gets 408 at stream_idle_timeout, then the connection closes', async () => {
  const up = await httpUp();
  const l = await legateFor(proxyConfig([up.port], { hcmExtra: hcm('stream_idle_timeout: 0.5s') }));
  const r = await exchange(l.port('proxy'), 'GET /stalled HTTP/1.1\r\nHost: h\r\n', { timeoutMs: 5000 });
  assert.match(r.data.toString('latin1'), /^HTTP\/1\.1 408 /);
  assert.ok(r.closedAfterMs >= 400 && r.closedAfterMs < 2500, `closed after ${r.closedAfterMs} ms`);
  assert.equal((await l.stats()).get('http.ingress.downstream_rq_idle_timeout'), 1);
  assert.equal(up.requests.length, 0);
});

test('a request head that trickles in gets 408 at request_timeout', async () => {
  const up = await httpUp();
  const l = await legateFor(proxyConfig([up.port], { hcmExtra: hcm('request_timeout: 0.6s') }));
  const s = net.connect(l.port('proxy'), '127.0.0.1');
  track(async () => s.destroy());
  let got = '';
  s.on('data', (d) => { got += d.toString('latin1'); });
  s.on('error', () => {});
  const closed = new Promise<number>((r) => s.on('close', () => r(performance.now())));
  await new Promise((r) => s.on('connect', r));
  const start = performance.now();
  // One header line every 100 ms: never idle, never complete.
  for (let i = 0; i < 20 && !s.destroyed && got === ''; i++) {
    s.write(i === 0 ? 'GET /slow HTTP/1.1\r\nHost: h\r\n' : `x-${i}: y\r\n`);
    await sleep(100);
  }
  const end = await Promise.race([closed, sleep(3000).then(() => -1)]);
  assert.notEqual(end, -1, 'the connection was closed');
  assert.match(got, /^HTTP\/1\.1 408 /);
  assert.ok(end - start >= 500 && end - start < 2500, `closed after ${end - start} ms`);
  assert.equal((await l.stats()).get('http.ingress.downstream_rq_timeout'), 1);
});

test('the connection idle timeout runs from the end of the last response', async () => {
  const up = await httpUp((_req, res) => { setTimeout(() => res.end('late'), 800); });
  const l = await legateFor(proxyConfig([up.port], {
    hcmExtra: hcm('stream_idle_timeout: 6s\ncommon_http_protocol_options: { idle_timeout: 0.5s }'),
  }));
  const s = net.connect(l.port('proxy'), '127.0.0.1');
  track(async () => s.destroy());
  let got = '';
  let answeredAt = 0;
  s.on('data', (d) => {
    got += d.toString('latin1');
    if (answeredAt === 0 && got.endsWith('late')) answeredAt = performance.now();
  });
  s.on('error', () => {});
  const closed = new Promise<number>((r) => s.on('close', () => r(performance.now())));
  await new Promise((r) => s.on('connect', r));
  s.write('GET /late HTTP/1.1\r\nHost: h\r\n\r\n');
  const end = await Promise.race([closed, sleep(5000).then(() => -1)]);
  assert.notEqual(end, -1, 'the idle connection was closed');
  assert.ok(answeredAt > 0, got);
  const idleFor = end - answeredAt;
  assert.ok(idleFor >= 400 && idleFor < 1500, `closed ${idleFor} ms after the response`);
  assert.equal((await l.stats()).get('http.ingress.downstream_cx_idle_timeout'), 1);
});
