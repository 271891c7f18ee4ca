// envoy.filters.http.buffer through a real Legate and a real upstream: the upstream gets the whole
// request at once (a chunked one with the content-length the filter adds); past max_request_bytes
// the client gets 413, http.<prefix>.downstream_rq_too_large counts it, nothing reaches the
// upstream and Legate's memory stays bounded (a 20 MiB body against a 1 MiB limit); a route can
// turn the filter off or give it its own limit (BufferPerRoute through typed_per_filter_config),
// and a filter disabled in the chain runs only where a route enables it (FilterConfig).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { Buffer } from 'node:buffer';
import { setTimeout as sleep } from 'node:timers/promises';
import { proxyConfig, type Legate } from '../helpers/legate.ts';
import { httpUp, legateFor } from './fixtures/tracked.ts';
import { RawClient, pollStat, type RawResponse } from './fixtures/clients.ts';

const MIB = 1024 * 1024;
const BUFFER = 'type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer';
const PER_ROUTE = 'type.googleapis.com/envoy.extensions.filters.http.buffer.v3.BufferPerRoute';
const FILTER_CONFIG = 'type.googleapis.com/envoy.config.route.v3.FilterConfig';

const up = await httpUp();

function config(extraFilters = ''): string {
  return proxyConfig([up.port], {
    httpFilters: `
          - name: buf
            typed_config:
              "@type": ${BUFFER}
              max_request_bytes: ${MIB}${extraFilters}`,
    routes: `
              - match: { prefix: "/off" }
                route: { cluster: upstream }
                typed_per_filter_config:
                  buf: { "@type": ${PER_ROUTE}, disabled: true }
              - match: { prefix: "/small" }
                route: { cluster: upstream }
                typed_per_filter_config:
                  buf: { "@type": ${PER_ROUTE}, buffer: { max_request_bytes: 16 } }
              - match: { prefix: "/lazy-on" }
                route: { cluster: upstream }
                typed_per_filter_config:
                  lazy: { "@type": ${FILTER_CONFIG}, config: { "@type": ${PER_ROUTE}, buffer: { max_request_bytes: 8 } } }
              - match: { prefix: "/" }
                route: { cluster: upstream }`,
  });
}

function rss(l: Legate): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${l.proc.pid}/status`, 'utf8'));
  return Number(m![1]) * 1024;
}

/** A chunked request whose body goes out in `pieces`, 20 ms apart (until Legate closes the
 *  connection after an early answer); its response. */
async function chunked(port: number, path: string, pieces: string[]): Promise<RawResponse> {
  const c = await RawClient.connect(port);
  try {
    await c.write(`POST ${path} HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n`);
    for (const p of [...pieces.map((x) => `${x.length.toString(16)}\r\n${x}\r\n`), '0\r\n\r\n']) {
      await sleep(20);
      if (c.ended) break;
      await c.write(p).catch(() => {});
    }
    return await c.readResponse({ timeoutMs: 5000 });
  } finally {
    c.destroy();
  }
}

/** One Legate for the file: the buffer filter `buf` (1 MiB), and `lazy` (4 bytes), disabled in
 *  the chain. */
const l = await legateFor(config(`
          - name: lazy
            disabled: true
            typed_config:
              "@type": ${BUFFER}
              max_request_bytes: 4`));
const port = l.port('proxy');

async function tooLarge(): Promise<number> {
  return (await l.stats()).get('http.ingress.downstream_rq_too_large') ?? 0;
}

test('a chunked request reaches the upstream whole, with the content-length the filter adds', async () => {
  const r = await chunked(port, '/a', ['hello ', 'buffered ', 'world']);
  assert.equal(r.status, 200);
  assert.equal(r.headers['x-seen-cl'], '20');
  assert.equal(r.headers['x-seen-te'], '');
  assert.equal(r.body.toString(), 'hello buffered world');
});

test('BufferPerRoute: disabled streams the request on (chunked); buffer sets the route\'s own limit', async () => {
  const off = await chunked(port, '/off', ['a', 'b']);
  assert.equal(off.status, 200);
  assert.equal(off.headers['x-seen-te'], 'chunked');
  const before = up.requests.length;
  const counted = await tooLarge();
  const small = await chunked(port, '/small', ['0123456789', '0123456789']);
  assert.equal(small.status, 413);
  assert.equal(small.body.toString(), 'Payload Too Large');
  assert.equal(up.requests.length, before);
  assert.equal(await pollStat(l, 'http.ingress.downstream_rq_too_large', (v) => v === counted + 1), counted + 1);
});

test('a filter disabled in the chain runs only on a route that enables it (FilterConfig)', async () => {
  // Off by default: 10 bytes pass its 4-byte limit unseen.
  const plain = await chunked(port, '/x', ['0123456789']);
  assert.equal(plain.status, 200);
  // Enabled by the route, with the route's 8-byte limit.
  const on = await chunked(port, '/lazy-on', ['0123456789']);
  assert.equal(on.status, 413);
  // admin /explain lists the filters a request runs through.
  const explain = async (path: string): Promise<string> => {
    const r = await fetch(`${l.admin}/explain?listener=proxy&url=${encodeURIComponent(`http://x${path}`)}`, { signal: AbortSignal.timeout(5000) });
    return (/^http filters +(.*) \(stat_prefix/m.exec(await r.text()) ?? [])[1] ?? '';
  };
  assert.equal(await explain('/x'), 'envoy.filters.http.buffer -> envoy.filters.http.router');
  assert.equal(await explain('/lazy-on'), 'envoy.filters.http.buffer -> envoy.filters.http.buffer -> envoy.filters.http.router');
});

test('a 20 MiB body against a 1 MiB limit: 413, nothing upstream, and Legate\'s RSS stays bounded', async () => {
  const before = up.requests.length;
  const counted = await tooLarge();
  const c = await RawClient.connect(port);
  const base = rss(l);
  let peak = base;
  const sampler = setInterval(() => { peak = Math.max(peak, rss(l)); }, 20);
  const total = 20 * MIB;
  await c.write(`POST /big HTTP/1.1\r\nhost: x\r\ncontent-length: ${total}\r\n\r\n`).catch(() => {});
  const block = Buffer.alloc(64 * 1024, 0x61);
  let sent = 0;
  // Write until the whole body is out or Legate closed the connection after its 413.
  while (sent < total && !c.ended) {
    const ok = c.socket.write(block);
    sent += block.length;
    if (!ok) {
      await Promise.race([
        new Promise((r) => c.socket.once('drain', r)),
        c.until(() => (c.ended ? true : undefined), 5000, 'drain or close').catch(() => {}),
      ]);
    }
  }
  const res = await c.readResponse({ timeoutMs: 5000 });
  clearInterval(sampler);
  peak = Math.max(peak, rss(l));
  c.destroy();
  assert.equal(res.status, 413);
  assert.equal(res.headers.connection, 'close');
  assert.equal(up.requests.length, before);
  assert.equal(await pollStat(l, 'http.ingress.downstream_rq_too_large', (v) => v === counted + 1), counted + 1);
  // Buffering it all would cost 20 MiB and more; the limit bounds it to a few MiB over the base.
  const growth = peak - base;
  assert.ok(growth < 8 * MIB, `RSS grew ${(growth / MIB).toFixed(1)} MiB`);
});
