// A client that pipelines requests as fast as it can and never reads the responses: the
// connection's memory must stay bounded by its buffer limit (Envoy read-disables a connection
// whose write buffer is above the high watermark), through a direct_response and through an
// upstream; once the client reads, every request it sent is answered, in order; and a connection
// left like that is closed by the idle timeout, the close completing although nothing is read.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { proxyConfig, type Legate } from '../helpers/legate.ts';
import { legateFor, httpUp, track } from './fixtures/tracked.ts';
import { parseResponse, pollStat } from './fixtures/clients.ts';

const LIMIT = 1024 * 1024;
/** What a Node process's RSS wanders by under load without any connection holding memory
 *  (JIT, heap growth): measured with a reading client, ~13 MiB. */
const SLACK = 24 * 1024 * 1024;
const PUMP_MS = 3000;

const big = Buffer.alloc(16 * 1024, 0x62);
const up = await httpUp((_req, res) => {
  res.writeHead(200, { 'content-length': big.length });
  res.end(big);
});
const routes = `
              - match: { prefix: "/ping" }
                direct_response: { status: 200, body: { inline_string: "pong" } }
              - match: { prefix: "/" }
                route: { cluster: upstream }`;

function rss(l: Legate): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${l.proc.pid}/status`, 'utf8'));
  return Number(m![1]) * 1024;
}

interface Pump {
  socket: net.Socket;
  /** Requests the client wrote (all of them reach the kernel eventually). */
  sent(): number;
  stop(): void;
}

/** Pipeline `GET path` in batches for as long as the socket takes them; never read. */
function pump(port: number, path: string): Pump {
  const s = net.connect(port, '127.0.0.1');
  track(async () => s.destroy());
  s.pause();
  s.on('error', () => {});
  const batch = Buffer.from(`GET ${path} HTTP/1.1\r\nHost: a\r\n\r\n`.repeat(100));
  let sent = 0;
  let stopped = false;
  const go = (): void => {
    while (!stopped) {
      sent += 100;
      if (!s.write(batch)) {
        s.once('drain', go);
        return;
      }
    }
  };
  s.once('connect', go);
  return { socket: s, sent: () => sent, stop: () => { stopped = true; } };
}

/** The path's code compiled and its pools and buffers made before the baseline is taken: a client
 *  that reads pipelines `path` for a moment (a fresh process's first requests grow RSS by what
 *  they compile and allocate once, which is not what this file bounds). */
async function warm(port: number, path: string): Promise<void> {
  const s = net.connect(port, '127.0.0.1');
  track(async () => s.destroy());
  const want = 300;
  let got = 0;
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`warm-up: ${got} of ${want} responses`)), 20_000);
    s.on('error', reject);
    // (A status line may be split across reads: the tail of the last read is searched again.)
    let tail = '';
    s.on('data', (d: Buffer) => {
      const text = tail + d.toString('latin1');
      for (let i = text.indexOf('HTTP/1.1 200'); i !== -1; i = text.indexOf('HTTP/1.1 200', i + 1)) got++;
      const keep = text.length - 11;
      tail = keep > 0 ? text.slice(keep) : text;
      if (got >= want) {
        clearTimeout(t);
        resolve();
      }
    });
    s.write(`GET ${path} HTTP/1.1\r\nHost: a\r\n\r\n`.repeat(want));
  });
  s.destroy();
}

async function peakGrowth(l: Legate, ms: number): Promise<number> {
  const before = rss(l);
  let peak = before;
  for (const end = Date.now() + ms; Date.now() < end;) {
    await sleep(100);
    peak = Math.max(peak, rss(l));
  }
  return peak - before;
}

const mib = (n: number): string => `${(n / 1048576).toFixed(1)} MiB`;

test('a pipelining client that never reads: RSS growth stays within 2x the buffer limit (direct_response), and once it reads every request is answered in order', async () => {
  const l = await legateFor(proxyConfig([up.port], { routes }), { args: ['--buffer-size', String(LIMIT)] });
  await warm(l.port('proxy'), '/ping');
  const p = pump(l.port('proxy'), '/ping');
  const growth = await peakGrowth(l, PUMP_MS);
  p.stop();
  assert.ok(growth < 2 * LIMIT + SLACK, `RSS grew ${mib(growth)} (bound ${mib(2 * LIMIT + SLACK)})`);
  assert.ok(p.sent() > 10_000, `the client got ${p.sent()} requests out`);

  // Now read: every request gets its response, in order, on the same connection.
  const s = p.socket;
  let buf: Buffer = Buffer.alloc(0);
  let got = 0;
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`only ${got} of ${p.sent()} responses after 30 s`)), 30_000);
    const onData = (d: Buffer): void => {
      buf = buf.length === 0 ? d : Buffer.concat([buf, d]);
      let at = 0;
      for (;;) {
        const r = parseResponse(buf.subarray(at));
        if (r === null) break;
        if (r.res.status !== 200 || r.res.body.toString() !== 'pong') {
          clearTimeout(t);
          reject(new Error(`response ${got}: ${r.res.statusLine} ${r.res.body}`));
          return;
        }
        at += r.used;
        got++;
      }
      buf = buf.subarray(at);
      if (got === p.sent()) {
        clearTimeout(t);
        s.off('data', onData);
        resolve();
      }
    };
    s.on('data', onData);
    s.resume();
  });
  assert.equal(buf.length, 0);
});

test('a pipelining client that never reads 16 KiB upstream responses: RSS growth stays within 2x the buffer limit', async () => {
  const l = await legateFor(proxyConfig([up.port], { routes }), { args: ['--buffer-size', String(LIMIT)] });
  await warm(l.port('proxy'), '/up');
  const warmed = up.requests.length;
  const p = pump(l.port('proxy'), '/up');
  const growth = await peakGrowth(l, PUMP_MS);
  p.stop();
  assert.ok(growth < 2 * LIMIT + SLACK, `RSS grew ${mib(growth)} (bound ${mib(2 * LIMIT + SLACK)})`);
  // It was served as far as its buffer allowed, then held: a few hundred responses, not thousands.
  const served = up.requests.length - warmed;
  assert.ok(served > 10 && served < 2000, `upstream served ${served} requests`);
});

for (const streamIdle of ['0.5s', '0s']) {
  test(`a non-reading pipelining connection is closed by idle_timeout, the close completing without the client reading (stream_idle_timeout ${streamIdle})`, async () => {
    // With stream_idle_timeout off, the flush stall allowance falls back to idle_timeout.
    const hcm = `
          common_http_protocol_options: { idle_timeout: 0.5s }
          stream_idle_timeout: ${streamIdle}`;
    await closedByIdleTimeout(hcm);
  });
}

async function closedByIdleTimeout(hcm: string): Promise<void> {
  const l = await legateFor(proxyConfig([up.port], { routes, hcmExtra: hcm }), { args: ['--buffer-size', String(LIMIT)] });
  const p = pump(l.port('proxy'), '/ping');
  const closed = new Promise<number>((resolve) => p.socket.once('close', () => resolve(performance.now())));
  const start = performance.now();
  const t = setTimeout(() => p.socket.destroy(), 15_000);
  const at = await closed;
  clearTimeout(t);
  p.stop();
  assert.ok(at - start < 10_000, `closed after ${Math.round(at - start)} ms`);
  assert.equal(await pollStat(l, 'http.ingress.downstream_cx_active', (v) => v === 0), 0);
  assert.ok(((await l.stats()).get('http.ingress.downstream_cx_idle_timeout') ?? 0) >= 1);
  assert.equal((await l.stats()).get('http.ingress.downstream_cx_destroy_local'), 1);
}
