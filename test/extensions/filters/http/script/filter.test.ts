// ScriptFilter (legate.filters.http.script's per-stream wrapper) in a real FilterManager, with a
// recording filter after it: what the user's methods return becomes the manager's statuses, the
// body passes exactly once and in order (a taken last chunk included), content-length follows a
// replaced body while the headers are held, header views refuse what would break the wire, and an
// exception fails only its own stream.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { FilterManager, type FilterManagerCallbacks } from '../../../../../src/http/filter-manager.ts';
import {
  FilterDataStatus, FilterHeadersStatus, FilterTrailersStatus, type StreamDecoderFilter,
} from '../../../../../src/http/filter.ts';
import { RequestHeaders, ResponseHeaders, newStreamInfo, type StreamInfo } from '../../../../../src/http/types.ts';
import type { HcmStats } from '../../../../../src/http/stats.ts';
import type { StatSink } from '../../../../../src/common/stat-sink.ts';
import { ScriptShared } from '../../../../../src/extensions/filters/http/script/filter.ts';
import type * as api from '../../../../../src/api/filter.js';

class Owner implements FilterManagerCallbacks {
  readonly log: string[] = [];
  readonly streamInfo: StreamInfo = newStreamInfo(0, '10.0.0.1:5', '10.0.0.1:5', null);
  readonly route = null;
  readonly hcmStats = {} as HcmStats;
  readonly stats = { v: new Float64Array(4), record() {} } as StatSink;
  readonly requestHeaders: RequestHeaders;
  fm: FilterManager | null = null;
  constructor(headers: string[] = ['content-length', '5']) {
    this.requestHeaders = new RequestHeaders('POST', '/p', 'example.com', 'http', 'HTTP/1.1', headers);
  }
  connection(): null { return null; }
  perFilterConfig(): null { return null; }
  encodeHeaders(h: ResponseHeaders, end: boolean): void { this.log.push(`codec:headers ${h.status}${end ? ' end' : ''}`); }
  encodeData(b: Buffer, end: boolean): void { this.log.push(`codec:data ${b.toString()}${end ? ' end' : ''}`); }
  encodeTrailers(): void { this.log.push('codec:trailers'); }
  endStream(): void { this.fm!.destroy(); }
  readDisable(d: boolean): void { this.log.push(`readDisable ${d}`); }
  onLocalReply(h: ResponseHeaders, body: string, details: string): string { this.log.push(`localReply ${h.status} ${details}`); return body; }
  onRequestDataTooLarge(): void {}
  onResponseDataTooLarge(): void {}
  resetStream(): void { this.log.push('codec:reset'); this.fm!.destroy(); }
  upgradeToRelay(): void {}
}

/** Records what passes the script filter on the request side. */
class Next implements StreamDecoderFilter {
  readonly log: string[];
  constructor(log: string[]) { this.log = log; }
  setDecoderFilterCallbacks(): void {}
  decodeHeaders(h: RequestHeaders, end: boolean): FilterHeadersStatus {
    this.log.push(`next:headers cl=${h.get('content-length') ?? '-'} x=${h.get('x-s') ?? '-'}${end ? ' end' : ''}`);
    return FilterHeadersStatus.Continue;
  }
  decodeData(d: Buffer, end: boolean): FilterDataStatus { this.log.push(`next:data ${d.toString()}${end ? ' end' : ''}`); return FilterDataStatus.Continue; }
  decodeTrailers(): FilterTrailersStatus { this.log.push('next:trailers'); return FilterTrailersStatus.Continue; }
  onDestroy(): void { this.log.push('next:destroy'); }
}

function stream(perStream: api.StreamFilterFactory, headers?: string[]): { owner: Owner; fm: FilterManager; shared: ScriptShared } {
  const owner = new Owner(headers);
  const fm = new FilterManager(owner, 1 << 20);
  owner.fm = fm;
  const shared = new ScriptShared('t', perStream, null, owner.stats, 2);
  shared.error = function (this: ScriptShared) { this.stats.v[this.errorSlot]++; }; // (no log lines in tests)
  fm.createFilterChain([(cb) => shared.create(cb), (cb) => cb.addStreamDecoderFilter(new Next(owner.log))]);
  return { owner, fm, shared };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

test('nothing returned continues; headers set through the view (any case) reach the next filter', () => {
  const { owner, fm } = stream(() => ({ decodeHeaders(h) { h.set('X-S', 'v'); } }));
  fm.decodeHeaders(false);
  fm.decodeData(Buffer.from('hello'), true);
  assert.deepEqual(owner.log, ['next:headers cl=5 x=v', 'next:data hello end']);
});

test('a per-stream function that returns nothing adds no filter', () => {
  let made = 0;
  const { owner, fm } = stream((cb) => { made++; assert.equal(cb.requestHeaders.path, '/p'); return null; });
  fm.decodeHeaders(true);
  assert.equal(made, 1);
  assert.deepEqual(owner.log, ['next:headers cl=5 x=- end']);
});

test('buffer every chunk, take the last one, replace the body: passed once, in order, content-length fixed', async () => {
  const { owner, fm } = stream((cb) => ({
    decodeHeaders() { return FilterHeadersStatus.StopIteration; },
    decodeData(data, end) {
      if (!end) return FilterDataStatus.StopIterationAndBuffer;
      cb.addDecodedData(data);
      const b = cb.decodingBuffer()!;
      assert.equal(b.text(), 'he' + 'llo');
      b.replace('HELLO, WORLD');
    },
  }));
  fm.decodeHeaders(false);
  fm.decodeData(Buffer.from('he'), false);
  fm.decodeData(Buffer.from('llo'), true);
  assert.deepEqual(owner.log, []);
  await tick();
  assert.deepEqual(owner.log, ['next:headers cl=12 x=-', 'next:data HELLO, WORLD end']);
});

test('held headers with a changed body and more to come: content-length removed (the codec chunks)', () => {
  const { owner, fm } = stream((cb) => ({
    decodeHeaders() { return FilterHeadersStatus.StopIteration; },
    decodeData(data) {
      cb.addDecodedData('prefix:');
      void data;
    },
  }), ['content-length', '10']);
  fm.decodeHeaders(false);
  fm.decodeData(Buffer.from('abc'), false);
  assert.deepEqual(owner.log, ['next:headers cl=- x=-', 'next:data prefix:abc']);
});

test('a length change after the headers passed fails the stream (not the framing)', () => {
  const { owner, fm, shared } = stream((cb) => ({
    decodeData(data, end) {
      if (!end) return FilterDataStatus.StopIterationAndBuffer;
      cb.addDecodedData(data);
      cb.decodingBuffer()!.replace('much longer than before');
    },
  }));
  fm.decodeHeaders(false);
  fm.decodeData(Buffer.from('ab'), false);
  fm.decodeData(Buffer.from('cde'), true);
  assert.equal(owner.stats.v[shared.errorSlot], 1);
  assert.ok(owner.log.includes('localReply 500 script_filter_error'), owner.log.join('\n'));
  assert.equal(owner.streamInfo.responseFlags, 'SFE');
});

test('a promise holds the stream (body held for the filter), then continues; a rejection fails it', async () => {
  let release!: () => void;
  const { owner, fm } = stream(() => ({
    decodeHeaders(h) { return new Promise<void>((r) => { release = () => { h.set('x-s', 'late'); r(); }; }); },
    decodeData(d) { owner.log.push(`script:data ${d.toString()}`); },
  }));
  fm.decodeHeaders(false);
  fm.decodeData(Buffer.from('hello'), true);
  assert.deepEqual(owner.log, []);
  release();
  await tick();
  assert.deepEqual(owner.log, ['next:headers cl=5 x=late', 'script:data hello', 'next:data hello end']);

  const r = stream(() => ({ decodeHeaders() { return Promise.reject(new Error('no')); } }));
  r.fm.decodeHeaders(true);
  await tick();
  assert.deepEqual(r.owner.log, ['localReply 500 script_filter_error', 'codec:headers 500', 'codec:data Internal Server Error end', 'next:destroy']);
});

test('header views refuse what would break the message: the exception fails the stream', () => {
  const bad: [string, (h: api.RequestHeaders) => void][] = [
    ['CRLF in a value', (h) => h.set('x-a', 'v\r\nx-injected: 1')],
    ['a bad name', (h) => h.set('bad name', 'v')],
    ['a hop-by-hop header', (h) => h.set('Transfer-Encoding', 'chunked')],
    ['a path with a space', (h) => { h.path = '/a b'; }],
    ['a non-numeric content-length', (h) => h.set('content-length', '1, 2')],
  ];
  for (const [what, fn] of bad) {
    const { owner, shared } = stream(() => ({ decodeHeaders(h) { fn(h); } }));
    owner.fm!.decodeHeaders(true);
    assert.equal(owner.stats.v[shared.errorSlot], 1, what);
    assert.ok(owner.log.includes('localReply 500 script_filter_error'), what);
  }
  // What is fine: pseudo-headers, host, mixed case, getAll.
  const { owner, fm } = stream(() => ({
    decodeHeaders(h) {
      assert.equal(h.get('Host'), 'example.com');
      assert.equal(h.get(':method'), 'POST');
      h.add('X-S', 'one');
      h.add('x-s', 'two');
      assert.deepEqual(h.getAll('X-s'), ['one', 'two']);
      h.set(':path', '/new?q=1');
      h.authority = 'other.example';
      return undefined;
    },
  }));
  fm.decodeHeaders(true);
  assert.equal(owner.requestHeaders.path, '/new?q=1');
  assert.equal(owner.requestHeaders.authority, 'other.example');
  assert.deepEqual(owner.log, ['next:headers cl=5 x=one end']);
});

test('a status out of range and a thrown per-stream function fail the stream; onDestroy is called once', () => {
  const a = stream(() => ({ decodeHeaders() { return 7 as unknown as api.FilterHeadersStatus; } }));
  a.fm.decodeHeaders(true);
  assert.ok(a.owner.log.includes('localReply 500 script_filter_error'));
  const b = stream(() => { throw new Error('per-stream'); });
  b.fm.decodeHeaders(true);
  assert.ok(b.owner.log.includes('localReply 500 script_filter_error'));
  let destroyed = 0;
  const c = stream(() => ({ onDestroy() { destroyed++; } }));
  c.fm.decodeHeaders(true);
  c.fm.destroy();
  c.fm.destroy();
  assert.equal(destroyed, 1);
});

test('a filter with only decodeHeaders that stops keeps the body waiting until it continues', () => {
  let cbs: api.FilterCallbacks | null = null;
  const { owner, fm } = stream((cb) => {
    cbs = cb;
    return { decodeHeaders() { return FilterHeadersStatus.StopIteration; } };
  });
  fm.decodeHeaders(false);
  fm.decodeData(Buffer.from('he'), false);
  fm.decodeData(Buffer.from('llo'), true);
  assert.deepEqual(owner.log, []);
  cbs!.continueDecoding();
  assert.deepEqual(owner.log, ['next:headers cl=5 x=-', 'next:data hello end']);
});

test('continueDecoding() called inside the filter\'s own call takes effect when the call returns', async () => {
  const { owner, fm } = stream((cb) => ({
    decodeHeaders() {
      cb.continueDecoding();
      return FilterHeadersStatus.StopIteration;
    },
  }));
  fm.decodeHeaders(true);
  assert.deepEqual(owner.log, []);
  await tick();
  assert.deepEqual(owner.log, ['next:headers cl=5 x=- end']);
});
