// envoy.filters.http.compressor and envoy.filters.http.decompressor through a real Legate and real
// clients: gzip, brotli and zstd responses decoded by curl --compressed (and by node:zlib), with
// content-encoding and vary as Envoy sets them; the cases left uncompressed (below
// min_content_length, a content type not listed, no Accept-Encoding, an ETag with
// disable_on_etag_header, a route that disables it); a gzip upload decoded before the upstream;
// and a 10 MiB response compressed as it streams, in bounded memory, while the worker keeps
// answering another connection.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import zlib from 'node:zlib';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { staticCluster, hcmListener, routeAll } from '../helpers/legate.ts';
import { httpUp, legateFor } from './fixtures/tracked.ts';
import { curl, pollStat } from './fixtures/clients.ts';

const C = 'type.googleapis.com/envoy.extensions.filters.http.compressor.v3.Compressor';
const D = 'type.googleapis.com/envoy.extensions.filters.http.decompressor.v3.Decompressor';
const LIB = 'type.googleapis.com/envoy.extensions.compression';

const JSON_BODY = JSON.stringify(Array.from({ length: 400 }, (_, i) => ({ id: i, name: `user-${i}`, tags: ['a', 'b'] })));
const BIG = 10 * 1024 * 1024;
const BIG_CHUNK = randomBytes(64 * 1024);
/** Bytes of /big the upstream has written so far. */
let bigSent = 0;

/** The upstream: /json?ct=...&etag=...&cc=... answers JSON_BODY with those headers; /small a 10-byte
 *  body; /big 10 MiB of text in 64 KiB writes; /upload echoes what it received in x-seen-*. */
function handler(req: http.IncomingMessage, res: http.ServerResponse, body: Buffer): void {
  const u = new URL(req.url!, 'http://x');
  if (u.pathname === '/big') {
    // Random bytes (labelled text, so compressed): they do not shrink, so the client's pace, not
    // the compression ratio, bounds how much can be in flight.
    res.writeHead(200, { 'content-type': 'text/plain' });
    bigSent = 0;
    const pump = (): void => {
      while (bigSent < BIG) {
        bigSent += BIG_CHUNK.length;
        if (!res.write(BIG_CHUNK)) {
          res.once('drain', pump);
          return;
        }
      }
      res.end();
    };
    pump();
    return;
  }
  if (u.pathname === '/upload') {
    res.writeHead(200, {
      'content-type': 'text/plain', 'x-seen-length': body.length, 'x-seen-ce': req.headers['content-encoding'] ?? '',
      'x-seen-ae': req.headers['accept-encoding'] ?? '', 'content-length': 2,
    });
    res.end('ok');
    return;
  }
  const text = u.pathname === '/small' ? 'tiny body!' : JSON_BODY;
  const headers: Record<string, string | number> = {
    'content-type': u.searchParams.get('ct') ?? 'application/json', 'content-length': Buffer.byteLength(text),
  };
  if (u.searchParams.has('etag')) headers.etag = u.searchParams.get('etag')!;
  if (u.searchParams.has('cc')) headers['cache-control'] = u.searchParams.get('cc')!;
  if (u.searchParams.has('vary')) headers.vary = u.searchParams.get('vary')!;
  res.writeHead(200, headers);
  res.end(text);
}

function compressorFilter(name: string, lib: string, extra = ''): string {
  return `
          - name: ${name}
            typed_config:
              "@type": ${C}
              compressor_library:
                name: ${lib}
                typed_config:
                  "@type": ${LIB}.${lib}.compressor.v3.${lib === 'gzip' ? 'Gzip' : lib === 'brotli' ? 'Brotli' : 'Zstd'}${extra}`;
}

async function setup() {
  const up = await httpUp(handler);
  const routes = `
              - match: { prefix: "/off" }
                route: { cluster: upstream, prefix_rewrite: "/json" }
                typed_per_filter_config:
                  comp-gzip:
                    "@type": type.googleapis.com/envoy.extensions.filters.http.compressor.v3.CompressorPerRoute
                    disabled: true${routeAll('upstream')}`;
  const yaml = `
static_resources:
  listeners:${hcmListener('multi', 'multi', routes, {
    httpFilters: compressorFilter('comp-gzip', 'gzip', `
              response_direction_config:
                disable_on_etag_header: false`) + compressorFilter('comp-br', 'brotli') + compressorFilter('comp-zstd', 'zstd'),
  })}${hcmListener('etag', 'etag', routeAll('upstream'), {
    httpFilters: compressorFilter('comp-gzip', 'gzip', `
              response_direction_config:
                disable_on_etag_header: true`),
  })}${hcmListener('dec', 'dec', routeAll('upstream'), {
    httpFilters: `
          - name: dec
            typed_config:
              "@type": ${D}
              decompressor_library:
                name: up
                typed_config:
                  "@type": ${LIB}.gzip.decompressor.v3.Gzip`,
  })}
  clusters:${staticCluster('upstream', [up.port])}
`;
  const l = await legateFor(yaml);
  return { l, up, multi: `http://127.0.0.1:${l.port('multi')}`, etag: `http://127.0.0.1:${l.port('etag')}`, dec: l.port('dec') };
}

const env = setup();

let heads = 0;

/** curl with --compressed: [status, headers (lowercased names), decoded body]. */
async function get(url: string, args: string[] = []): Promise<{ status: number; h: Map<string, string>; body: Buffer }> {
  const headFile = path.join(os.tmpdir(), `legate-curl-head-${process.pid}-${++heads}`);
  const r = await curl(['-D', headFile, '--compressed', ...args, url]);
  assert.equal(r.code, 0, r.stderr);
  const lines = fs.readFileSync(headFile, 'latin1').split('\r\n');
  fs.rmSync(headFile, { force: true });
  const h = new Map<string, string>();
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    if (i > 0) h.set(l.slice(0, i).toLowerCase(), l.slice(i + 1).trim());
  }
  return { status: Number(lines[0].split(' ')[1]), h, body: r.stdout };
}

/** A raw request (node:http, no decoding): status, headers, body bytes. */
function raw(url: string, headers: Record<string, string>): Promise<{ h: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers, agent: false }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => resolve({ h: res.headers, body: Buffer.concat(parts) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
  });
}

for (const [enc, lib] of [['gzip', 'gzip'], ['br', 'brotli'], ['zstd', 'zstd']] as const) {
  test(`${enc}: curl --compressed decodes the response; content-encoding, vary, no content-length`, async () => {
    const { l, multi } = await env;
    const r = await get(`${multi}/json`, ['-H', `accept-encoding: ${enc}`]);
    assert.equal(r.status, 200);
    assert.equal(r.h.get('content-encoding'), enc);
    assert.equal(r.h.get('vary'), 'accept-encoding');
    assert.equal(r.h.get('content-length'), undefined);
    assert.equal(r.h.get('transfer-encoding'), 'chunked');
    assert.equal(r.body.toString(), JSON_BODY);
    // node:zlib agrees with curl on the bytes sent.
    const { h, body } = await raw(`${multi}/json`, { 'accept-encoding': enc });
    assert.equal(h['content-encoding'], enc);
    const decoded = enc === 'gzip' ? zlib.gunzipSync(body) : enc === 'br' ? zlib.brotliDecompressSync(body) : zlib.zstdDecompressSync(body);
    assert.equal(decoded.toString(), JSON_BODY);
    assert.ok(body.length < JSON_BODY.length / 3, `compressed to ${body.length}`);
    const s = await l.stats();
    // gzip's filter has response_direction_config (stats under .response.); the others use the
    // legacy tree, as in Envoy; the Accept-Encoding stats are never under a direction.
    const root = `http.multi.compressor.${lib}.${lib}.`;
    const dir = lib === 'gzip' ? `${root}response.` : root;
    assert.ok(s.get(`${dir}compressed`)! >= 2);
    assert.ok(s.get(`${root}header_compressor_used`)! >= 2);
    assert.ok(s.get(`${dir}total_uncompressed_bytes`)! >= 2 * JSON_BODY.length);
    assert.ok(s.get(`${dir}total_compressed_bytes`)! < s.get(`${dir}total_uncompressed_bytes`)! / 3);
  });
}

test('Accept-Encoding negotiation across the chain: q-values, *, q=0, identity, choose order', async () => {
  const { multi } = await env;
  const enc = async (ae: string) => (await raw(`${multi}/json`, { 'accept-encoding': ae })).h['content-encoding'];
  assert.equal(await enc('gzip;q=0.5, br;q=0.9, zstd;q=0.1'), 'br');
  assert.equal(await enc('zstd, gzip;q=0.8'), 'zstd');
  assert.equal(await enc('*'), 'gzip'); // the first registered
  assert.equal(await enc('gzip;q=0, *'), 'br');
  assert.equal(await enc('identity'), undefined);
  assert.equal(await enc('gzip;q=0'), undefined);
  assert.equal(await enc('deflate'), undefined);
  // curl's own list (deflate, gzip, br, zstd: all q=1): the first of them Legate has.
  const r = await get(`${multi}/json`);
  assert.equal(r.h.get('content-encoding'), 'gzip');
});

test('not compressed: below min_content_length, content type not listed, no accept-encoding, no-transform, route disabled', async () => {
  const { l, multi } = await env;
  const small = await raw(`${multi}/small`, { 'accept-encoding': 'gzip' });
  assert.equal(small.h['content-encoding'], undefined);
  assert.equal(small.h['content-length'], '10');
  assert.equal(small.body.toString(), 'tiny body!');
  const png = await raw(`${multi}/json?ct=image/png`, { 'accept-encoding': 'gzip' });
  assert.equal(png.h['content-encoding'], undefined);
  assert.equal(png.h.vary, undefined);
  assert.equal(png.body.toString(), JSON_BODY);
  const none = await raw(`${multi}/json`, {});
  assert.equal(none.h['content-encoding'], undefined);
  assert.equal(none.h['content-length'], String(JSON_BODY.length));
  // Compressible, so a cache must know it varies, even when this client gets it plain.
  assert.equal(none.h.vary, 'accept-encoding');
  // HEAD: the response has no body, so nothing is compressed (its content-length stays).
  const head = await new Promise<http.IncomingMessage>((resolve, reject) => {
    const req = http.request(`${multi}/json`, { method: 'HEAD', headers: { 'accept-encoding': 'gzip' }, agent: false }, resolve);
    req.on('error', reject);
    req.end();
  });
  head.resume();
  assert.equal(head.headers['content-encoding'], undefined);
  assert.equal(head.headers['content-length'], String(JSON_BODY.length));
  const nt = await raw(`${multi}/json?cc=no-transform`, { 'accept-encoding': 'gzip' });
  assert.equal(nt.h['content-encoding'], undefined);
  const off = await raw(`${multi}/off`, { 'accept-encoding': 'gzip' });
  assert.equal(off.h['content-encoding'], undefined);
  assert.equal(off.body.toString(), JSON_BODY);
  const s = await l.stats();
  assert.ok(s.get('http.multi.compressor.gzip.gzip.response.content_length_too_small')! >= 1);
  assert.ok(s.get('http.multi.compressor.gzip.gzip.no_accept_header')! >= 1);
  assert.ok(s.get('http.multi.compressor.gzip.gzip.response.not_compressed')! >= 5);
});

test('ETag: strong removed and weak kept when compressing; with disable_on_etag_header not compressed', async () => {
  const { l, multi, etag } = await env;
  const strong = await raw(`${multi}/json?etag="abc"`, { 'accept-encoding': 'gzip' });
  assert.equal(strong.h['content-encoding'], 'gzip');
  assert.equal(strong.h.etag, undefined);
  const weak = await raw(`${multi}/json?etag=W/"abc"&vary=Origin`, { 'accept-encoding': 'gzip' });
  assert.equal(weak.h['content-encoding'], 'gzip');
  assert.equal(weak.h.etag, 'W/"abc"');
  assert.equal(weak.h.vary, 'Origin, accept-encoding');
  const off = await raw(`${etag}/json?etag="abc"`, { 'accept-encoding': 'gzip' });
  assert.equal(off.h['content-encoding'], undefined);
  assert.equal(off.h.etag, '"abc"');
  assert.equal(off.body.toString(), JSON_BODY);
  assert.equal(await pollStat(l, 'http.etag.compressor.gzip.gzip.not_compressed_etag', (v) => v >= 1), 1);
  // Without an ETag the same listener compresses.
  assert.equal((await raw(`${etag}/json`, { 'accept-encoding': 'gzip' })).h['content-encoding'], 'gzip');
});

test('decompressor: a gzip upload reaches the upstream decoded; Accept-Encoding advertised', async () => {
  const { l, dec } = await env;
  const plain = Buffer.from(JSON_BODY.repeat(20));
  const gz = zlib.gzipSync(plain);
  const r = await new Promise<http.IncomingMessage>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: dec, path: '/upload', method: 'POST', agent: false,
      headers: { 'content-encoding': 'gzip', 'content-type': 'text/plain', 'accept-encoding': 'br' } }, resolve);
    req.on('error', reject);
    // In pieces, as a client streams it.
    for (let i = 0; i < gz.length; i += 1000) req.write(gz.subarray(i, i + 1000));
    req.end();
  });
  r.resume();
  assert.equal(r.statusCode, 200);
  assert.equal(r.headers['x-seen-length'], String(plain.length));
  assert.equal(r.headers['x-seen-ce'], '');
  assert.equal(r.headers['x-seen-ae'], 'br,gzip');
  const s = await l.stats();
  assert.equal(s.get('http.dec.decompressor.up.gzip.request.decompressed'), 1);
  assert.equal(s.get('http.dec.decompressor.up.gzip.request.total_uncompressed_bytes'), plain.length);
  assert.equal(s.get('http.dec.decompressor.up.gzip.request.total_compressed_bytes'), gz.length);

  // A decompression bomb (more than max_inflate_ratio, 100, times its input): the stream is reset
  // and counted, nothing past the ratio is produced.
  const bomb = zlib.gzipSync(Buffer.alloc(4 * 1024 * 1024));
  const err = await new Promise<unknown>((resolve) => {
    const req = http.request({ host: '127.0.0.1', port: dec, path: '/upload', method: 'POST', agent: false,
      headers: { 'content-encoding': 'gzip' } }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode)); });
    req.on('error', resolve);
    req.end(bomb);
  });
  assert.ok(err instanceof Error, `expected a reset, got ${String(err)}`);
  assert.equal(await pollStat(l, 'http.dec.decompressor.up.gzip.decompressor_library.zlib_data_error', (v) => v >= 1), 1);
});

test('a 10 MiB response is compressed as it streams, in bounded memory, while the worker answers others', async () => {
  const { l, multi } = await env;
  const rss = (): number => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${l.proc.pid}/status`, 'latin1'))![1]) * 1024;
  const small = async (): Promise<number[]> => {
    const lat: number[] = [];
    for (let i = 0; i < 10; i++) {
      const t = performance.now();
      assert.equal((await raw(`${multi}/small`, {})).body.toString(), 'tiny body!');
      lat.push(performance.now() - t);
    }
    return lat.sort((a, b) => a - b);
  };
  const idle = await small();
  const IN = 'http.multi.compressor.gzip.gzip.response.total_uncompressed_bytes';
  const inBefore = (await l.stats()).get(IN)!;
  const rssBefore = rss();
  let rssHeld = 0;
  let inHeld = 0;
  const gunzip = zlib.createGunzip();
  let decoded = 0;
  gunzip.on('data', (d: Buffer) => { decoded += d.length; });
  let resumed!: () => void;
  const resumedP = new Promise<void>((r) => { resumed = r; });
  const done = new Promise<{ h: http.IncomingHttpHeaders; wire: number }>((resolve, reject) => {
    const req = http.get(`${multi}/big`, { headers: { 'accept-encoding': 'gzip' }, agent: false }, (res) => {
      let wire = 0;
      res.on('data', (d: Buffer) => {
        wire += d.length;
        gunzip.write(d);
      });
      res.on('end', () => { gunzip.end(); gunzip.on('end', () => resolve({ h: res.headers, wire })); });
      res.on('error', reject);
    });
    req.on('error', reject);
    // The client reads nothing for its first second: Legate must hold the upstream back rather
    // than take (and compress) the whole body ahead of the client.
    req.on('socket', (sock) => {
      sock.pause();
      setTimeout(() => {
        rssHeld = rss();
        void l.stats().then((st) => {
          inHeld = st.get(IN)! - inBefore;
          sock.resume();
          resumed();
        });
      }, 1000);
    });
  });
  await resumedP;
  // While the rest is compressed and sent, requests on other connections to the same worker are
  // answered at once.
  const lat = await small();
  const { h, wire } = await done;
  assert.equal(h['content-encoding'], 'gzip');
  assert.equal(decoded, BIG);
  assert.ok(wire > 0);
  // While the client read nothing, Legate compressed only what the socket buffers between it and
  // the client could take plus its own watermark (the upstream's writes beyond that wait in the
  // kernel), not the whole body; and its memory grew by far less than the body and its
  // compressed form (20 MiB), garbage not yet collected included.
  assert.ok(inHeld < 8 * 1024 * 1024, `${inHeld} of ${BIG} bytes compressed while the client read nothing`);
  assert.ok(rssHeld - rssBefore < 24 * 1024 * 1024,
    `Legate's RSS grew ${((rssHeld - rssBefore) / 1048576).toFixed(1)} MiB while the client held a 10 MiB response`);
  // The median while 10 MiB are compressed is close to the idle one (a loaded test box only
  // scales both).
  assert.ok(lat[5] < idle[5] * 4 + 50, `another connection's requests took ${lat.map((x) => x.toFixed(1)).join(', ')} ms `
    + `(idle: ${idle.map((x) => x.toFixed(1)).join(', ')})`);
});
