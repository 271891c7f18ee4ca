// The compressor and decompressor filters through the real FilterManager (a recording owner in
// place of the HCM): the Accept-Encoding decision table, the order of compressed data and
// trailers, request compression, the upstream paused while the coder is behind, and the
// decompressor undoing what the compressor did.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import zlib from 'node:zlib';
import { FilterManager, type FilterManagerCallbacks } from '../../../../src/http/filter-manager.ts';
import type { DownstreamWatermarkCallbacks, FilterFactory, StreamDecoderFilter, StreamDecoderFilterCallbacks } from '../../../../src/http/filter.ts';
import { FilterDataStatus, FilterHeadersStatus, FilterTrailersStatus } from '../../../../src/http/filter.ts';
import { HeaderMap, RequestHeaders, ResponseHeaders, newStreamInfo, type StreamInfo } from '../../../../src/http/types.ts';
import type { HcmStats } from '../../../../src/http/stats.ts';
import type { StatSink } from '../../../../src/common/stat-sink.ts';
import { NULL_LOADER } from '../../../../src/runtime/snapshot.ts';
import { StatsLayout } from '../../../../src/stats/layout.ts';
import compressorModule from '../../../../src/extensions/filters/http/compressor/index.ts';
import decompressorModule from '../../../../src/extensions/filters/http/decompressor/index.ts';
import { CompressorConfig, chooseEncoding } from '../../../../src/extensions/filters/http/compressor/filter.ts';
import type { CompileContext, WorkerContext } from '../../../../src/extensions/types.ts';
import { extensionModule } from '../../../../src/extensions/registry.ts';

const LIB = 'type.googleapis.com/envoy.extensions.compression';

function compileCtx(layout: StatsLayout): CompileContext {
  const ctx: CompileContext = {
    layout, path: 'f', scope: 'http.t.', configName: 'comp', bufferLimit: 1 << 20, clusters: new Set(),
    clustersWithTransportSocket: new Set(),
    fail(path, message) { throw new Error(`${path}: ${message}`); },
    compileNested(_category, entry, path) {
      const type = String(entry.typed_config['@type']).split('/').pop()!;
      const name = type.includes('gzip') ? 'gzip' : type.includes('brotli') ? 'brotli' : 'zstd';
      const side = type.includes('decompressor') ? 'decompressor' : 'compressor';
      const m = extensionModule(`envoy.compression.${name}.${side}`)!;
      const { '@type': _t, ...fields } = entry.typed_config;
      return { name: m.name, config: m.compile(fields, { ...ctx, path }) };
    },
  };
  return ctx;
}

function lib(name: 'gzip' | 'brotli' | 'zstd', side = 'compressor'): Record<string, unknown> {
  const msg = name === 'gzip' ? 'Gzip' : name === 'brotli' ? 'Brotli' : 'Zstd';
  return { name, typed_config: { '@type': `${LIB}.${name}.${side}.v3.${msg}` } };
}

interface Built { factory: FilterFactory; layout: StatsLayout; stats: StatSink }

function build(tc: Record<string, any>, kind: 'compressor' | 'decompressor' = 'compressor', layout = new StatsLayout()): Built {
  const m = kind === 'compressor' ? compressorModule : decompressorModule;
  const snap = m.compile(tc, compileCtx(layout));
  const stats: StatSink = { v: new Float64Array(256), record() {} };
  const wctx = { stats, runtime: NULL_LOADER } as unknown as WorkerContext;
  return { factory: (m as any).createFilterFactory(snap, wctx), layout, stats };
}

const stat = (b: Built, name: string): number => b.stats.v[b.layout.find(name)] ?? NaN;

/** Records what reaches the codec; the router's place is taken by `upstream`, which answers. */
class Owner implements FilterManagerCallbacks {
  readonly log: string[] = [];
  readonly streamInfo: StreamInfo = newStreamInfo(0, '', '', null);
  readonly route = null;
  readonly hcmStats = {} as HcmStats;
  readonly stats: StatSink;
  readonly requestHeaders: RequestHeaders;
  fm!: FilterManager;
  head: ResponseHeaders | null = null;
  body: Buffer[] = [];
  trailers: HeaderMap | null = null;
  ended: Promise<void>;
  #end!: () => void;
  constructor(stats: StatSink, headers: string[], method = 'GET') {
    this.stats = stats;
    this.requestHeaders = new RequestHeaders(method, '/', 'x', 'http', 'HTTP/1.1', headers);
    this.ended = new Promise((r) => { this.#end = r; });
  }
  upgradeToRelay(): void {}
  connection(): null { return null; }
  perFilterConfig(): null { return null; }
  encodeHeaders(h: ResponseHeaders, end: boolean): void { this.head = h; this.log.push(`headers${end ? ' end' : ''}`); }
  encodeData(b: Buffer, end: boolean): void { this.body.push(Buffer.from(b)); this.log.push(`data${end ? ' end' : ''}`); }
  encodeTrailers(t: HeaderMap): void { this.trailers = t; this.log.push('trailers'); }
  endStream(): void { this.#end(); this.fm.destroy(); }
  readDisable(d: boolean): void { this.log.push(`readDisable ${d}`); }
  onLocalReply(_h: ResponseHeaders, body: string): string { return body; }
  onRequestDataTooLarge(): void {}
  onResponseDataTooLarge(): void {}
  resetStream(): void { this.log.push('reset'); this.#end(); this.fm.destroy(); }
}

/** The router's stand-in: records the request, and is the stream's watermark listener. */
class Upstream implements StreamDecoderFilter, DownstreamWatermarkCallbacks {
  cb!: StreamDecoderFilterCallbacks;
  body: Buffer[] = [];
  requestEnded: Promise<void>;
  paused = 0;
  headers: RequestHeaders | null = null;
  #end!: () => void;
  constructor() { this.requestEnded = new Promise((r) => { this.#end = r; }); }
  setDecoderFilterCallbacks(cb: StreamDecoderFilterCallbacks): void { this.cb = cb; cb.setDownstreamWatermarkCallbacks(this); }
  decodeHeaders(h: RequestHeaders, end: boolean): FilterHeadersStatus { this.headers = h; if (end) this.#end(); return FilterHeadersStatus.StopIteration; }
  decodeData(d: Buffer, end: boolean): FilterDataStatus { this.body.push(Buffer.from(d)); if (end) this.#end(); return FilterDataStatus.StopIterationNoBuffer; }
  decodeTrailers(): FilterTrailersStatus { this.#end(); return FilterTrailersStatus.StopIteration; }
  onDestroy(): void {}
  onAboveWriteBufferHighWatermark(): void { this.paused++; }
  onBelowWriteBufferLowWatermark(): void { this.paused--; }
}

function stream(b: Built, headers: string[], method = 'GET', limit = 1 << 20): { owner: Owner; up: Upstream; fm: FilterManager } {
  const owner = new Owner(b.stats, headers, method);
  const fm = new FilterManager(owner, limit);
  owner.fm = fm;
  const up = new Upstream();
  fm.createFilterChain([b.factory, (cb) => cb.addStreamDecoderFilter(up)]);
  return { owner, up, fm };
}

const TEXT = Buffer.from(JSON.stringify(Array.from({ length: 2000 }, (_, i) => ({ i, v: `value-${i}` }))));

test('chooseEncoding: Envoy\'s q-value rules across the chain', () => {
  const layout = new StatsLayout();
  const ctx = compileCtx(layout);
  const cfg = (name: 'gzip' | 'brotli' | 'zstd', chooseFirst = false, types?: string[]) => new CompressorConfig(
    compressorModule.compile({ compressor_library: lib(name), choose_first: chooseFirst,
      ...(types ? { response_direction_config: { common_config: { content_type: types } } } : {}) }, ctx),
    { create: () => { throw new Error('unused'); } }, NULL_LOADER);
  const chain = [cfg('gzip'), cfg('brotli'), cfg('zstd')];
  const pick = (ae: string, ct = 'application/json', configs = chain) => {
    const d = chooseEncoding(configs, ae, ct);
    return `${d.encoding}/${['not_valid', 'identity', 'wildcard', 'used'][d.stat]}`;
  };
  assert.equal(pick('gzip'), 'gzip/used');
  assert.equal(pick('br;q=0.5, zstd;q=0.6, gzip;q=0.4'), 'zstd/used');
  assert.equal(pick('gzip, br'), 'gzip/used'); // equal q: the first listed by the client
  assert.equal(pick('*'), 'gzip/wildcard');
  assert.equal(pick('gzip;q=0, *'), 'br/wildcard');
  assert.equal(pick('*;q=0, gzip'), 'gzip/used');
  assert.equal(pick('identity'), 'identity/identity');
  assert.equal(pick('identity;q=0.5, br;q=0.4'), 'identity/identity');
  assert.equal(pick('deflate'), 'identity/not_valid');
  assert.equal(pick('gzip;q=0'), 'identity/not_valid');
  assert.equal(pick(''), 'identity/not_valid');
  assert.equal(pick('gzip;q=abc, br'), 'br/used'); // an unparseable q skips its token
  assert.equal(pick('gzip;level=1'), 'gzip/used'); // a parameter other than q is ignored
  // choose_first wins a tie.
  assert.equal(pick('gzip, br', 'text/html', [cfg('gzip'), cfg('brotli', true)]), 'br/used');
  // A compressor not configured for the content type is not a candidate.
  assert.equal(pick('gzip, br', 'text/css', [cfg('gzip', false, ['text/html']), cfg('brotli')]), 'br/used');
});

test('compressed response: headers first, data compressed in order, trailers after the last compressed byte', async () => {
  const b = build({ compressor_library: lib('gzip') });
  const { owner, fm } = stream(b, ['accept-encoding', 'gzip']);
  fm.decodeHeaders(true);
  const head = new ResponseHeaders(200, ['content-type', 'application/json', 'content-length', String(TEXT.length), 'etag', '"x"']);
  fm.encodeHeadersFromFilter(head, false);
  for (let i = 0; i < TEXT.length; i += 5000) fm.encodeDataFromFilter(TEXT.subarray(i, i + 5000), false);
  fm.encodeTrailersFromFilter(new HeaderMap(['grpc-status', '0']));
  await owner.ended;
  assert.equal(owner.head!.get('content-encoding'), 'gzip');
  assert.equal(owner.head!.get('content-length'), undefined);
  assert.equal(owner.head!.get('etag'), undefined);
  assert.equal(owner.head!.get('vary'), 'accept-encoding');
  assert.equal(owner.log[0], 'headers');
  assert.equal(owner.log.at(-1), 'trailers');
  assert.deepEqual(owner.trailers!.list, ['grpc-status', '0']);
  assert.deepEqual(zlib.gunzipSync(Buffer.concat(owner.body)), TEXT);
  assert.equal(stat(b, 'http.t.compressor.gzip.gzip.compressed'), 1);
  assert.equal(stat(b, 'http.t.compressor.gzip.gzip.total_uncompressed_bytes'), TEXT.length);
  assert.equal(stat(b, 'http.t.compressor.gzip.gzip.total_compressed_bytes'), Buffer.concat(owner.body).length);
});

test('HEAD, 204 and 304 (no body) are not compressed; Accept-Encoding removed when asked', async () => {
  const b = build({ compressor_library: lib('brotli'), response_direction_config: { remove_accept_encoding_header: true } });
  const { owner, up, fm } = stream(b, ['accept-encoding', 'br'], 'HEAD');
  fm.decodeHeaders(true);
  assert.equal(up.headers!.get('accept-encoding'), undefined);
  fm.encodeHeadersFromFilter(new ResponseHeaders(200, ['content-type', 'text/html', 'content-length', '5000']), true);
  await owner.ended;
  assert.equal(owner.head!.get('content-encoding'), undefined);
  assert.equal(owner.head!.get('content-length'), '5000');
  assert.equal(owner.head!.get('vary'), 'accept-encoding');
  for (const status of [204, 304]) {
    const s = stream(b, ['accept-encoding', 'br']);
    s.fm.decodeHeaders(true);
    s.fm.encodeHeadersFromFilter(new ResponseHeaders(status, ['content-type', 'text/html']), true);
    await s.owner.ended;
    assert.equal(s.owner.head!.get('content-encoding'), undefined);
  }
  assert.equal(stat(b, 'http.t.compressor.brotli.brotli.response.not_compressed'), 3);
});

test('request compression (request_direction_config) and the decompressor undoing it', async () => {
  const layout = new StatsLayout();
  const c = build({ compressor_library: lib('zstd'), request_direction_config: {} }, 'compressor', layout);
  const d = build({ decompressor_library: lib('zstd', 'decompressor') }, 'decompressor', layout);
  // compressor then decompressor: the upstream sees the original bytes, and advertised zstd.
  const owner = new Owner(c.stats, ['content-type', 'text/plain', 'content-length', String(TEXT.length)], 'POST');
  const fm = new FilterManager(owner, 1 << 20);
  owner.fm = fm;
  const up = new Upstream();
  const seen: string[] = [];
  fm.createFilterChain([c.factory, (cb) => cb.addStreamDecoderFilter({
    setDecoderFilterCallbacks() {}, onDestroy() {}, decodeTrailers: () => FilterTrailersStatus.Continue,
    decodeHeaders(h) { seen.push(`ce=${h.get('content-encoding')} cl=${h.get('content-length')}`); return FilterHeadersStatus.Continue; },
    decodeData(data) { seen.push(`z${data.length}`); return FilterDataStatus.Continue; },
  }), d.factory, (cb) => cb.addStreamDecoderFilter(up)]);
  fm.decodeHeaders(false);
  for (let i = 0; i < TEXT.length; i += 7000) fm.decodeData(TEXT.subarray(i, i + 7000), i + 7000 >= TEXT.length);
  await up.requestEnded;
  assert.equal(seen[0], 'ce=zstd cl=undefined');
  assert.deepEqual(Buffer.concat(up.body), TEXT);
  assert.equal(up.headers!.get('content-encoding'), undefined);
  assert.equal(up.headers!.get('accept-encoding'), 'zstd');
  assert.equal(stat(c, 'http.t.compressor.zstd.zstd.request.compressed'), 1);
  // (The stream counts into its owner's sink, c's.)
  assert.equal(stat({ ...d, stats: c.stats }, 'http.t.decompressor.zstd.zstd.request.decompressed'), 1);
  assert.equal(stat({ ...d, stats: c.stats }, 'http.t.decompressor.zstd.zstd.request.total_uncompressed_bytes'), TEXT.length);
});

test('trailers behind a frame still being coded wait for its last compressed byte', async () => {
  const b = build({ compressor_library: lib('gzip') });
  const { owner, fm } = stream(b, ['accept-encoding', 'gzip']);
  fm.decodeHeaders(true);
  fm.encodeHeadersFromFilter(new ResponseHeaders(200, ['content-type', 'application/json']), false);
  const big = Buffer.concat(Array.from({ length: 40 }, () => TEXT));
  fm.encodeDataFromFilter(big, false);
  fm.encodeTrailersFromFilter(new HeaderMap(['grpc-status', '0']));
  assert.notEqual(owner.log.at(-1), 'trailers');
  await owner.ended;
  assert.equal(owner.log.at(-1), 'trailers');
  assert.ok(owner.log.filter((e) => e === 'data').length > 1, owner.log.join(' '));
  assert.deepEqual(zlib.gunzipSync(Buffer.concat(owner.body)), big);
});

test('a frame the coder takes in slices pauses the upstream past the buffer limit, and resumes it', async () => {
  const b = build({ compressor_library: lib('brotli') });
  const { owner, up, fm } = stream(b, ['accept-encoding', 'br'], 'GET', 64 * 1024);
  fm.decodeHeaders(true);
  fm.encodeHeadersFromFilter(new ResponseHeaders(200, ['content-type', 'text/plain']), false);
  // The first frame is coded a slice at a time (64 KiB before the config's speed is measured): the
  // rest waits in the coder, far past the 64 KiB limit.
  const big = Buffer.alloc(1024 * 1024, 'abcdefgh');
  fm.encodeDataFromFilter(big, false);
  assert.equal(up.paused, 1);
  fm.encodeDataFromFilter(Buffer.from('tail'), true);
  await owner.ended;
  assert.equal(up.paused, 0);
  assert.equal(zlib.brotliDecompressSync(Buffer.concat(owner.body)).toString(), `${big.toString()}tail`);
});

test('corrupt compressed input resets the stream and counts the library error', async () => {
  const d = build({ decompressor_library: lib('gzip', 'decompressor') }, 'decompressor');
  const { owner, fm } = stream(d, []);
  fm.decodeHeaders(true);
  fm.encodeHeadersFromFilter(new ResponseHeaders(200, ['content-encoding', 'gzip', 'content-length', '40']), false);
  fm.encodeDataFromFilter(Buffer.from('this is not gzip at all, not even close!'), true);
  await owner.ended;
  assert.equal(owner.log.at(-1), 'reset');
  assert.equal(stat(d, 'http.t.decompressor.gzip.gzip.decompressor_library.zlib_errno')
    + stat(d, 'http.t.decompressor.gzip.gzip.decompressor_library.zlib_data_error'), 1);
});
