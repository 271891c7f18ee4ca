import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { FilterManager, type FilterChainEntry, type FilterManagerCallbacks } from '../../src/http/filter-manager.ts';
import {
  FilterDataStatus, FilterHeadersStatus, FilterTrailersStatus, type DownstreamWatermarkCallbacks, type FilterFactory,
  type StreamDecoderFilterCallbacks, type StreamEncoderFilterCallbacks, type StreamFilter,
} from '../../src/http/filter.ts';
import { HeaderMap, RequestHeaders, ResponseHeaders, newStreamInfo, type StreamInfo } from '../../src/http/types.ts';
import type { CompiledRoute } from '../../src/router/route-table.ts';
import type { HcmStats } from '../../src/http/stats.ts';
import type { StatSink } from '../../src/common/stat-sink.ts';

// An owner that records what reaches the codec; the stream ends (destroy) on endStream and reset,
// as the HCM does.
class Owner implements FilterManagerCallbacks {
  upgradeToRelay(): void {}
  readonly log: string[];
  readonly streamInfo: StreamInfo;
  readonly route: CompiledRoute | null = null;
  readonly hcmStats = {} as HcmStats;
  readonly stats = { v: new Float64Array(1), record() {} } as StatSink;
  readonly requestHeaders: RequestHeaders;
  fm: FilterManager | null = null;
  destroyOnEnd = true;
  codecHeaders: ResponseHeaders | null = null;
  constructor(log: string[], method = 'GET') {
    this.log = log;
    this.requestHeaders = new RequestHeaders(method, '/', 'example.com', 'http', 'HTTP/1.1', ['x-a', '1']);
    this.streamInfo = newStreamInfo(0, '', '', null);
  }
  connection(): null {
    return null;
  }
  perFilterConfig(name: string): object | null {
    return name === 'known' ? { per: 'route' } : null;
  }
  encodeHeaders(h: ResponseHeaders, end: boolean): void {
    this.codecHeaders = h;
    this.log.push(`codec:headers ${h.status}${end ? ' end' : ''}`);
  }
  encodeData(b: Buffer, end: boolean): void {
    this.log.push(`codec:data ${b.toString()}${end ? ' end' : ''}`);
  }
  encodeTrailers(t: HeaderMap): void {
    this.log.push(`codec:trailers ${t.list.join('=')}`);
  }
  endStream(): void {
    this.log.push('codec:endStream');
    if (this.destroyOnEnd) this.fm!.destroy();
  }
  readDisable(disable: boolean): void {
    this.log.push(`readDisable ${disable}`);
  }
  onLocalReply(h: ResponseHeaders, body: string, details: string): string {
    this.log.push(`onLocalReply ${h.status} ${details}`);
    h.set('server', 'legate');
    return body;
  }
  onRequestDataTooLarge(): void {
    this.log.push('requestTooLarge');
  }
  onResponseDataTooLarge(): void {
    this.log.push('responseTooLarge');
  }
  resetStream(): void {
    this.log.push('codec:reset');
    this.fm!.destroy();
  }
}

type Hook<A extends unknown[], R> = ((f: TF, ...args: A) => R) | null;

/** A scripted filter: logs every call; each hook returns the status (default Continue). */
class TF implements StreamFilter {
  readonly name: string;
  readonly log: string[];
  dcb: StreamDecoderFilterCallbacks | null = null;
  ecb: StreamEncoderFilterCallbacks | null = null;
  dh: Hook<[RequestHeaders, boolean], number> = null;
  dd: Hook<[Buffer, boolean], number> = null;
  dt: Hook<[HeaderMap], number> = null;
  eh: Hook<[ResponseHeaders, boolean], number> = null;
  ed: Hook<[Buffer, boolean], number> = null;
  et: Hook<[HeaderMap], number> = null;
  destroyed = 0;
  /** Free for a test's hooks. */
  iterationDone = false;
  constructor(name: string, log: string[]) {
    this.name = name;
    this.log = log;
  }
  setDecoderFilterCallbacks(cb: StreamDecoderFilterCallbacks): void {
    this.dcb = cb;
  }
  setEncoderFilterCallbacks(cb: StreamEncoderFilterCallbacks): void {
    this.ecb = cb;
  }
  decodeHeaders(h: RequestHeaders, end: boolean): any {
    this.log.push(`${this.name}:dh${end ? ' end' : ''}`);
    return this.dh === null ? FilterHeadersStatus.Continue : this.dh(this, h, end);
  }
  decodeData(b: Buffer, end: boolean): any {
    this.log.push(`${this.name}:dd ${b.toString()}${end ? ' end' : ''}`);
    return this.dd === null ? FilterDataStatus.Continue : this.dd(this, b, end);
  }
  decodeTrailers(t: HeaderMap): any {
    this.log.push(`${this.name}:dt ${t.list.join('=')}`);
    return this.dt === null ? FilterTrailersStatus.Continue : this.dt(this, t);
  }
  encodeHeaders(h: ResponseHeaders, end: boolean): any {
    this.log.push(`${this.name}:eh ${h.status}${end ? ' end' : ''}`);
    return this.eh === null ? FilterHeadersStatus.Continue : this.eh(this, h, end);
  }
  encodeData(b: Buffer, end: boolean): any {
    this.log.push(`${this.name}:ed ${b.toString()}${end ? ' end' : ''}`);
    return this.ed === null ? FilterDataStatus.Continue : this.ed(this, b, end);
  }
  encodeTrailers(t: HeaderMap): any {
    this.log.push(`${this.name}:et ${t.list.join('=')}`);
    return this.et === null ? FilterTrailersStatus.Continue : this.et(this, t);
  }
  onDestroy(): void {
    this.destroyed++;
    this.log.push(`${this.name}:destroy`);
  }
}

/** A decoder-only, encoder-only or dual filter, in the order given. */
function setup(spec: string, opts: { limit?: number; method?: string } = {}) {
  const log: string[] = [];
  const owner = new Owner(log, opts.method);
  const fm = new FilterManager(owner, opts.limit ?? 0);
  owner.fm = fm;
  const filters: Record<string, TF> = {};
  const chain: FilterChainEntry[] = [];
  for (const item of spec.split(' ')) {
    const [kind, name] = item.split(':');
    const f = new TF(name, log);
    filters[name] = f;
    let factory: FilterFactory;
    if (kind === 'd') factory = (cb) => cb.addStreamDecoderFilter(f);
    else if (kind === 'e') factory = (cb) => cb.addStreamEncoderFilter(f);
    else factory = (cb) => cb.addStreamFilter(f);
    chain.push({ name, factory, disabled: false });
  }
  fm.createFilterChain(chain);
  return { log, owner, fm, f: filters };
}

const b = (s: string): Buffer => Buffer.from(s);
const trailers = (): HeaderMap => new HeaderMap(['t', 'v']);
const take = (log: string[]): string[] => log.splice(0, log.length);

/** The terminal filter answers once the request is complete (headers, 'ok', end). */
function respondAtEnd(r: TF, withTrailers = false): void {
  const respond = (f: TF): void => {
    f.dcb!.encodeHeaders(new ResponseHeaders(200, []), false);
    if (withTrailers) {
      f.dcb!.encodeData(b('ok'), false);
      f.dcb!.encodeTrailers(new HeaderMap(['rt', '1']));
    } else {
      f.dcb!.encodeData(b('ok'), true);
    }
  };
  r.dh = (f, _h, end) => {
    if (end) respond(f);
    return FilterHeadersStatus.StopIteration;
  };
  r.dd = (f, _b, end) => {
    if (end) respond(f);
    return FilterDataStatus.StopIterationNoBuffer;
  };
  r.dt = (f) => {
    respond(f);
    return FilterTrailersStatus.StopIteration;
  };
}

test('decoders run in order, encoders in reverse; trailers end both directions', () => {
  const { log, fm, f } = setup('d:A s:B e:C s:D d:R');
  respondAtEnd(f.R, true);
  fm.decodeHeaders(false);
  fm.decodeData(b('x'), false);
  fm.decodeTrailers(trailers());
  assert.deepEqual(log, [
    'A:dh', 'B:dh', 'D:dh', 'R:dh',
    'A:dd x', 'B:dd x', 'D:dd x', 'R:dd x',
    'A:dt t=v', 'B:dt t=v', 'D:dt t=v', 'R:dt t=v',
    // encoders: D (added last) first, then C, then B
    'D:eh 200', 'C:eh 200', 'B:eh 200', 'codec:headers 200',
    'D:ed ok', 'C:ed ok', 'B:ed ok', 'codec:data ok',
    'D:et rt=1', 'C:et rt=1', 'B:et rt=1', 'codec:trailers rt=1', 'codec:endStream',
    'A:destroy', 'B:destroy', 'C:destroy', 'D:destroy', 'R:destroy',
  ]);
  for (const n of 'ABCDR') assert.equal(f[n].destroyed, 1);
});

test('a header-only request ends at its headers; a body without trailers ends at its last data', () => {
  const a = setup('d:A d:R');
  respondAtEnd(a.f.R);
  a.fm.decodeHeaders(true);
  assert.deepEqual(a.log.slice(0, 2), ['A:dh end', 'R:dh end']);
  assert.deepEqual(a.log.slice(2, 5), ['codec:headers 200', 'codec:data ok end', 'codec:endStream']);

  const c = setup('d:A d:R');
  respondAtEnd(c.f.R);
  c.fm.decodeHeaders(false);
  c.fm.decodeData(b('1'), false);
  c.fm.decodeData(b('2'), true);
  assert.deepEqual(c.log.slice(0, 6), ['A:dh', 'R:dh', 'A:dd 1', 'R:dd 1', 'A:dd 2 end', 'R:dd 2 end']);
});

test('StopIteration on headers: later filters wait; continueDecoding replays headers, buffered body, trailers once', () => {
  const { log, fm, f } = setup('d:A d:B d:R');
  respondAtEnd(f.R);
  f.R.dt = () => FilterTrailersStatus.Continue;
  f.A.dh = () => FilterHeadersStatus.StopIteration;
  f.A.dd = () => FilterDataStatus.StopIterationAndBuffer;
  f.A.dt = () => FilterTrailersStatus.StopIteration;
  fm.decodeHeaders(false);
  fm.decodeData(b('ab'), false);
  fm.decodeData(b('cd'), false);
  fm.decodeTrailers(trailers());
  // A still sees every frame (that is how it buffers); B and R see nothing.
  assert.deepEqual(take(log), ['A:dh', 'A:dd ab', 'A:dd cd', 'A:dt t=v']);
  assert.equal(f.A.dcb!.decodingBuffer()!.toBuffer().toString(), 'abcd');
  f.A.dcb!.continueDecoding();
  assert.deepEqual(take(log), ['B:dh', 'R:dh', 'B:dd abcd', 'R:dd abcd', 'B:dt t=v', 'R:dt t=v']);
  assert.equal(f.A.dcb!.decodingBuffer(), null);
  f.A.dcb!.continueDecoding(); // a second continue has nothing to replay
  assert.deepEqual(log, []);
});

test('StopIterationAndBuffer on data only: headers pass, body waits for continue, endStream on the replay', () => {
  const { log, fm, f } = setup('d:A d:B d:R');
  f.R.dd = () => FilterDataStatus.StopIterationNoBuffer;
  f.B.dd = () => FilterDataStatus.StopIterationAndBuffer;
  fm.decodeHeaders(false);
  fm.decodeData(b('1'), false);
  fm.decodeData(b('2'), true);
  assert.deepEqual(take(log), ['A:dh', 'B:dh', 'R:dh', 'A:dd 1', 'B:dd 1', 'A:dd 2 end', 'B:dd 2 end']);
  f.B.dcb!.continueDecoding();
  assert.deepEqual(take(log), ['R:dd 12 end']);
});

test('Continue on data after StopIteration on headers continues the stream with this data', () => {
  const { log, fm, f } = setup('d:A d:R');
  f.A.dh = () => FilterHeadersStatus.StopIteration;
  f.A.dd = (_f, data) => (data.toString() === 'go' ? FilterDataStatus.Continue : FilterDataStatus.StopIterationAndBuffer);
  fm.decodeHeaders(false);
  fm.decodeData(b('wait-'), false);
  fm.decodeData(b('go'), true);
  assert.deepEqual(log, ['A:dh', 'A:dd wait-', 'A:dd go end', 'R:dh', 'R:dd wait-go end']);
});

test('StopAllIterationAndBuffer: the filter gets no data or trailers until it continues, then gets them first', () => {
  const { log, fm, f } = setup('d:A d:B d:R');
  f.A.dh = () => FilterHeadersStatus.StopAllIterationAndBuffer;
  f.R.dt = () => FilterTrailersStatus.Continue;
  fm.decodeHeaders(false);
  fm.decodeData(b('x'), false);
  fm.decodeData(b('y'), false);
  fm.decodeTrailers(trailers());
  assert.deepEqual(take(log), ['A:dh']);
  f.A.dcb!.continueDecoding();
  assert.deepEqual(log, ['B:dh', 'R:dh', 'A:dd xy', 'B:dd xy', 'R:dd xy', 'A:dt t=v', 'B:dt t=v', 'R:dt t=v']);
});

test('StopAllIterationAndBuffer on a body-only stream: the replay carries endStream', () => {
  const { log, fm, f } = setup('d:A d:R');
  f.A.dh = () => FilterHeadersStatus.StopAllIterationAndBuffer;
  fm.decodeHeaders(false);
  fm.decodeData(b('x'), true);
  f.A.dcb!.continueDecoding();
  assert.deepEqual(log, ['A:dh', 'R:dh', 'A:dd x end', 'R:dd x end']);
});

test('StopIterationNoBuffer on the last data, then continue: later filters get an empty end of stream', () => {
  const { log, fm, f } = setup('d:A d:R');
  f.A.dh = () => FilterHeadersStatus.StopIteration;
  f.A.dd = () => FilterDataStatus.StopIterationNoBuffer;
  fm.decodeHeaders(false);
  fm.decodeData(b('x'), true);
  f.A.dcb!.continueDecoding();
  assert.deepEqual(log, ['A:dh', 'A:dd x end', 'R:dh', 'R:dd  end']);
});

test('encoder return values are honoured: StopIteration + buffering hold the response until continueEncoding', () => {
  const { log, fm, f } = setup('e:E1 e:E2 d:R');
  // E2 runs first on the response.
  f.E2.eh = () => FilterHeadersStatus.StopIteration;
  f.E2.ed = () => FilterDataStatus.StopIterationAndBuffer;
  f.E2.et = () => FilterTrailersStatus.StopIteration;
  fm.decodeHeaders(true);
  const cb = f.R.dcb!;
  cb.encodeHeaders(new ResponseHeaders(201, []), false);
  cb.encodeData(b('a'), false);
  cb.encodeData(b('b'), false);
  cb.encodeTrailers(new HeaderMap(['rt', '1']));
  assert.deepEqual(take(log), ['R:dh end', 'E2:eh 201', 'E2:ed a', 'E2:ed b', 'E2:et rt=1']);
  assert.equal(f.E2.ecb!.encodingBuffer()!.length, 2);
  f.E2.ecb!.continueEncoding();
  assert.deepEqual(log, [
    'E1:eh 201', 'codec:headers 201', 'E1:ed ab', 'codec:data ab', 'E1:et rt=1', 'codec:trailers rt=1',
    'codec:endStream', 'E1:destroy', 'E2:destroy', 'R:destroy',
  ]);
});

test('encoder StopAllIterationAndBuffer, and an encoder that stops a header-only response', () => {
  const a = setup('e:E1 e:E2 d:R');
  a.f.E2.eh = () => FilterHeadersStatus.StopAllIterationAndBuffer;
  a.fm.decodeHeaders(true);
  a.f.R.dcb!.encodeHeaders(new ResponseHeaders(200, []), false);
  a.f.R.dcb!.encodeData(b('z'), true);
  assert.deepEqual(take(a.log), ['R:dh end', 'E2:eh 200']);
  a.f.E2.ecb!.continueEncoding();
  assert.deepEqual(a.log.slice(0, 6), ['E1:eh 200', 'codec:headers 200', 'E2:ed z end', 'E1:ed z end', 'codec:data z end', 'codec:endStream']);

  const c = setup('e:E1 d:R');
  c.f.E1.eh = () => FilterHeadersStatus.StopIteration;
  c.fm.decodeHeaders(true);
  c.f.R.dcb!.encodeHeaders(new ResponseHeaders(204, []), true);
  assert.deepEqual(take(c.log), ['R:dh end', 'E1:eh 204 end']);
  c.f.E1.ecb!.continueEncoding();
  assert.deepEqual(c.log.slice(0, 2), ['codec:headers 204 end', 'codec:endStream']);
});

test('local reply mid decode chain: sent after the filter returns, through the encoders; later decoders never called', () => {
  const { log, owner, fm, f } = setup('d:A s:B d:C e:E');
  f.B.dh = (self) => {
    self.dcb!.sendLocalReply(403, 'denied', 'UAEX', 'ext_authz_denied');
    log.push('B:after-sendLocalReply');
    return FilterHeadersStatus.StopIteration;
  };
  fm.decodeHeaders(false);
  fm.decodeData(b('late'), true);
  assert.deepEqual(log, [
    'A:dh', 'B:dh', 'B:after-sendLocalReply', 'onLocalReply 403 ext_authz_denied',
    'E:eh 403', 'B:eh 403', 'codec:headers 403', 'E:ed denied end', 'B:ed denied end', 'codec:data denied end',
    'codec:endStream', 'A:destroy', 'B:destroy', 'C:destroy', 'E:destroy',
  ]);
  assert.equal(owner.streamInfo.responseFlags, 'UAEX');
  const h = owner.codecHeaders!;
  assert.equal(h.get('content-length'), '6');
  assert.equal(h.get('content-type'), 'text/plain');
  assert.match(h.get('date')!, /GMT$/);
  assert.equal(h.get('server'), 'legate');
});

test('local reply to HEAD is head-only; an empty body has content-length 0', () => {
  const a = setup('d:R', { method: 'HEAD' });
  a.f.R.dh = (self) => {
    self.dcb!.sendLocalReply(404, 'nope', '', 'x');
    return FilterHeadersStatus.StopIteration;
  };
  a.fm.decodeHeaders(true);
  assert.deepEqual(a.log.slice(1, 4), ['onLocalReply 404 x', 'codec:headers 404 end', 'codec:endStream']);
  assert.equal(a.owner.codecHeaders!.get('content-length'), '4');

  const c = setup('d:R');
  c.fm.sendLocalReply(503, '', '', 'owner');
  assert.deepEqual(c.log.slice(0, 3), ['onLocalReply 503 owner', 'codec:headers 503 end', 'codec:endStream']);
  assert.equal(c.owner.codecHeaders!.get('content-length'), '0');
});

test('local reply mid encode chain: straight to the codec (the encoders saw another response); the rest never see it', () => {
  const { log, fm, f } = setup('e:E1 e:E2 d:R');
  f.E2.eh = (self) => {
    self.ecb!.sendLocalReply(502, 'bad', '', 'encoder_said_no');
    return FilterHeadersStatus.StopIteration;
  };
  fm.decodeHeaders(true);
  f.R.dcb!.encodeHeaders(new ResponseHeaders(200, []), false);
  f.R.dcb!.encodeData(b('never'), true);
  assert.deepEqual(log, [
    'R:dh end', 'E2:eh 200', 'onLocalReply 502 encoder_said_no', 'codec:headers 502', 'codec:data bad end',
    'codec:endStream', 'E1:destroy', 'E2:destroy', 'R:destroy',
  ]);
});

test('local reply once the response head reached the codec: the stream is reset, filters destroyed once', () => {
  const { log, fm, f } = setup('s:A d:R');
  fm.decodeHeaders(true);
  f.R.dcb!.encodeHeaders(new ResponseHeaders(200, []), false);
  f.R.dcb!.sendLocalReply(504, 'timeout', 'UT', 'upstream_response_timeout');
  f.R.dcb!.encodeData(b('x'), true);
  f.R.dcb!.resetStream();
  assert.deepEqual(log, ['A:dh end', 'R:dh end', 'A:eh 200', 'codec:headers 200', 'codec:reset', 'A:destroy', 'R:destroy']);
  assert.equal(f.A.destroyed, 1);
  fm.destroy();
  assert.equal(f.A.destroyed, 1);
});

test('request buffer limit: StopIterationAndBuffer past it is a 413 (counted by the owner); nothing goes further', () => {
  const { log, fm, f } = setup('d:A d:R e:E', { limit: 10 });
  f.A.dd = () => FilterDataStatus.StopIterationAndBuffer;
  fm.decodeHeaders(false);
  fm.decodeData(b('123456'), false);
  fm.decodeData(b('789012'), false);
  fm.decodeData(b('more'), true);
  assert.deepEqual(log, [
    'A:dh', 'R:dh', 'A:dd 123456', 'A:dd 789012', 'requestTooLarge', 'onLocalReply 413 request_payload_too_large',
    'E:eh 413', 'codec:headers 413', 'E:ed Payload Too Large end', 'codec:data Payload Too Large end', 'codec:endStream',
    'A:destroy', 'R:destroy', 'E:destroy',
  ]);
});

test('StopAllIterationAndBuffer past the limit is a 413 too', () => {
  const { log, fm, f } = setup('d:A d:R', { limit: 4 });
  f.A.dh = () => FilterHeadersStatus.StopAllIterationAndBuffer;
  fm.decodeHeaders(false);
  fm.decodeData(b('12345'), false);
  assert.deepEqual(log.slice(0, 4), ['A:dh', 'requestTooLarge', 'onLocalReply 413 request_payload_too_large', 'codec:headers 413']);
});

test('response buffer limit: 500 while the head has not reached the codec, a reset once it has', () => {
  const a = setup('e:E d:R', { limit: 3 });
  a.f.E.eh = () => FilterHeadersStatus.StopIteration;
  a.f.E.ed = () => FilterDataStatus.StopIterationAndBuffer;
  a.fm.decodeHeaders(true);
  a.f.R.dcb!.encodeHeaders(new ResponseHeaders(200, []), false);
  a.f.R.dcb!.encodeData(b('abcd'), false);
  assert.deepEqual(a.log, [
    'R:dh end', 'E:eh 200', 'E:ed abcd', 'responseTooLarge', 'onLocalReply 500 response_payload_too_large',
    'codec:headers 500', 'codec:data Internal Server Error end', 'codec:endStream', 'E:destroy', 'R:destroy',
  ]);

  const c = setup('e:E d:R', { limit: 3 });
  c.f.E.ed = () => FilterDataStatus.StopIterationAndBuffer;
  c.fm.decodeHeaders(true);
  c.f.R.dcb!.encodeHeaders(new ResponseHeaders(200, []), false);
  c.f.R.dcb!.encodeData(b('abcd'), false);
  assert.deepEqual(c.log, [
    'R:dh end', 'E:eh 200', 'codec:headers 200', 'E:ed abcd', 'responseTooLarge', 'codec:reset', 'E:destroy', 'R:destroy',
  ]);
});

test('watermark variants pause the client (request) past the limit and resume on continue', () => {
  const { log, fm, f } = setup('d:A d:R', { limit: 4 });
  f.A.dd = () => FilterDataStatus.StopIterationAndWatermark;
  fm.decodeHeaders(false);
  fm.decodeData(b('123'), false);
  fm.decodeData(b('456'), false);
  fm.decodeData(b('789'), false);
  assert.deepEqual(take(log), ['A:dh', 'R:dh', 'A:dd 123', 'A:dd 456', 'readDisable true', 'A:dd 789']);
  f.A.dcb!.continueDecoding();
  assert.deepEqual(take(log), ['readDisable false', 'R:dd 123456789']);

  const s = setup('d:A d:R', { limit: 2 });
  s.f.A.dh = () => FilterHeadersStatus.StopAllIterationAndWatermark;
  s.fm.decodeHeaders(false);
  s.fm.decodeData(b('abc'), true);
  assert.deepEqual(take(s.log), ['A:dh', 'readDisable true']);
  s.f.A.dcb!.continueDecoding();
  assert.deepEqual(take(s.log), ['R:dh', 'readDisable false', 'A:dd abc end', 'R:dd abc end']);
});

test('watermark variants on the response tell the downstream watermark callbacks (the upstream pauses)', () => {
  const { log, fm, f } = setup('e:E d:R', { limit: 2 });
  const wm: DownstreamWatermarkCallbacks = {
    onAboveWriteBufferHighWatermark: () => log.push('upstream:pause'),
    onBelowWriteBufferLowWatermark: () => log.push('upstream:resume'),
  };
  f.E.ed = () => FilterDataStatus.StopIterationAndWatermark;
  fm.decodeHeaders(true);
  f.R.dcb!.setDownstreamWatermarkCallbacks(wm);
  f.R.dcb!.encodeHeaders(new ResponseHeaders(200, []), false);
  f.R.dcb!.encodeData(b('abc'), false);
  assert.deepEqual(take(log), ['R:dh end', 'E:eh 200', 'codec:headers 200', 'E:ed abc', 'upstream:pause']);
  f.E.ecb!.continueEncoding();
  assert.deepEqual(take(log), ['upstream:resume', 'codec:data abc']);
  // The codec's own watermark events go the same way; a late registrant hears of one in force.
  fm.onAboveWriteBufferHighWatermark();
  assert.deepEqual(take(log), ['upstream:pause']);
  f.R.dcb!.setDownstreamWatermarkCallbacks(null);
  f.R.dcb!.setDownstreamWatermarkCallbacks(wm);
  fm.onBelowWriteBufferLowWatermark();
  assert.deepEqual(log, ['upstream:pause', 'upstream:resume']);
});

test('addDecodedData to a header-only request: later filters get headers without endStream, then the body', () => {
  const { log, fm, f } = setup('d:A d:B d:R');
  f.A.dh = (self) => {
    self.dcb!.addDecodedData(b('added'), false);
    return FilterHeadersStatus.Continue;
  };
  fm.decodeHeaders(true);
  assert.deepEqual(log, ['A:dh end', 'B:dh', 'R:dh', 'B:dd added end', 'R:dd added end']);
});

test('addDecodedData from decodeData goes into the buffer for the stopped filter', () => {
  const { log, fm, f } = setup('d:A d:R');
  f.A.dd = (self, data, end) => {
    self.dcb!.addDecodedData(Buffer.from(data.toString().toUpperCase()), false);
    if (!end) return FilterDataStatus.StopIterationNoBuffer;
    self.dcb!.continueDecoding();
    return FilterDataStatus.StopIterationNoBuffer;
  };
  f.A.dh = () => FilterHeadersStatus.StopIteration;
  fm.decodeHeaders(false);
  fm.decodeData(b('ab'), false);
  fm.decodeData(b('cd'), true);
  assert.deepEqual(log, ['A:dh', 'A:dd ab', 'A:dd cd end', 'R:dh', 'R:dd ABCD end']);
});

test('injectDecodedDataToFilterChain sends data on past a filter that keeps its own', () => {
  const { log, fm, f } = setup('d:A d:B d:R');
  const held: Buffer[] = [];
  f.A.dd = (_self, data) => {
    held.push(Buffer.from(data));
    return FilterDataStatus.StopIterationNoBuffer;
  };
  fm.decodeHeaders(false);
  fm.decodeData(b('one'), false);
  assert.deepEqual(take(log), ['A:dh', 'B:dh', 'R:dh', 'A:dd one']);
  f.A.dcb!.injectDecodedDataToFilterChain(Buffer.concat([held[0], b('+')]), false);
  f.A.dcb!.injectDecodedDataToFilterChain(b('two'), true);
  assert.deepEqual(log, ['B:dd one+', 'R:dd one+', 'B:dd two end', 'R:dd two end']);
});

test('injectDecodedDataToFilterChain before headers passed sends the headers first', () => {
  const { log, fm, f } = setup('d:A d:R');
  f.A.dh = () => FilterHeadersStatus.StopIteration;
  fm.decodeHeaders(true);
  f.A.dcb!.injectDecodedDataToFilterChain(b('body'), true);
  assert.deepEqual(log, ['A:dh end', 'R:dh', 'R:dd body end']);
});

test('addDecodedTrailers in the last decodeData: later filters get the data without endStream, then the trailers', () => {
  const { log, fm, f } = setup('d:A d:B d:R');
  f.A.dd = (self, _data, end) => {
    if (end) self.dcb!.addDecodedTrailers().set('x-added', 'yes');
    return FilterDataStatus.Continue;
  };
  fm.decodeHeaders(false);
  fm.decodeData(b('d'), true);
  assert.deepEqual(log, ['A:dh', 'B:dh', 'R:dh', 'A:dd d end', 'B:dd d', 'R:dd d', 'B:dt x-added=yes', 'R:dt x-added=yes']);
  assert.equal(f.R.dcb!.requestTrailers!.get('x-added'), 'yes');
});

test('addEncodedData to a header-only response and addEncodedTrailers in the last encodeData', () => {
  const a = setup('e:E1 e:E2 d:R');
  a.f.E2.eh = (self) => {
    self.ecb!.addEncodedData(b('body'), false);
    return FilterHeadersStatus.Continue;
  };
  a.fm.decodeHeaders(true);
  a.f.R.dcb!.encodeHeaders(new ResponseHeaders(200, []), true);
  assert.deepEqual(a.log.slice(0, 6), ['R:dh end', 'E2:eh 200 end', 'E1:eh 200', 'codec:headers 200', 'E1:ed body end', 'codec:data body end']);

  const c = setup('e:E1 e:E2 d:R');
  c.f.E2.ed = (self, _d, end) => {
    if (end) self.ecb!.addEncodedTrailers().set('grpc-status', '0');
    return FilterDataStatus.Continue;
  };
  c.fm.decodeHeaders(true);
  c.f.R.dcb!.encodeHeaders(new ResponseHeaders(200, []), false);
  c.f.R.dcb!.encodeData(b('x'), true);
  assert.deepEqual(c.log.slice(0, 9), [
    'R:dh end', 'E2:eh 200', 'E1:eh 200', 'codec:headers 200', 'E2:ed x end', 'E1:ed x', 'codec:data x',
    'E1:et grpc-status=0', 'codec:trailers grpc-status=0',
  ]);
  assert.equal(c.log[9], 'codec:endStream');
});

test('onDestroy: once per filter, dual filters once, in order of addition; nothing is called after', () => {
  const { log, owner, fm, f } = setup('e:E s:S d:D');
  owner.destroyOnEnd = false;
  fm.decodeHeaders(false);
  fm.destroy();
  fm.destroy();
  fm.decodeData(b('x'), true);
  fm.decodeTrailers(trailers());
  f.D.dcb!.encodeHeaders(new ResponseHeaders(200, []), true);
  f.D.dcb!.continueDecoding();
  f.D.dcb!.sendLocalReply(500, '', '', 'x');
  assert.deepEqual(log, ['S:dh', 'D:dh', 'E:destroy', 'S:destroy', 'D:destroy']);
  for (const n of 'ESD') assert.equal(f[n].destroyed, 1);
});

test('a router-only chain buffers nothing', () => {
  const { log, fm, f } = setup('d:R');
  f.R.dh = () => FilterHeadersStatus.StopIteration;
  f.R.dd = () => FilterDataStatus.StopIterationNoBuffer;
  fm.decodeHeaders(false);
  fm.decodeData(b('a'), false);
  fm.decodeData(b('b'), true);
  assert.equal(f.R.dcb!.decodingBuffer(), null);
  f.R.dcb!.encodeHeaders(new ResponseHeaders(200, []), true);
  assert.deepEqual(log, ['R:dh', 'R:dd a', 'R:dd b end', 'codec:headers 200 end', 'codec:endStream', 'R:destroy']);
});

test('callbacks expose the stream: per-filter config, headers, limits', () => {
  const { fm, owner, f } = setup('s:A', { limit: 64 });
  fm.decodeHeaders(true);
  const cb = f.A.dcb!;
  assert.deepEqual(cb.perFilterConfig('known'), { per: 'route' });
  assert.equal(cb.perFilterConfig('other'), null);
  assert.equal(cb.requestHeaders, owner.requestHeaders);
  assert.equal(cb.streamInfo, owner.streamInfo);
  assert.equal(cb.decoderBufferLimit, 64);
  f.A.ecb!.setEncoderBufferLimit(128);
  assert.equal(cb.decoderBufferLimit, 128);
  assert.equal(cb.responseHeaders, null);
  const h = new ResponseHeaders(200, []);
  cb.encodeHeaders(h, false);
  assert.equal(f.A.ecb!.responseHeaders, h);
});

test('a data view passed in is retained when buffered (the read buffer is reused after the call)', () => {
  const { fm, f } = setup('d:A d:R');
  f.A.dd = () => FilterDataStatus.StopIterationAndBuffer;
  fm.decodeHeaders(false);
  const chunk = Buffer.from('abc');
  fm.decodeData(chunk, false);
  // Not the shared read buffer: retain() keeps the same bytes (no copy needed); the manager keeps it.
  assert.equal(f.A.dcb!.decodingBuffer()!.chunks[0].toString(), 'abc');
  f.A.dcb!.decodingBuffer()!.replace(b('xyz'));
  assert.equal(f.A.dcb!.decodingBuffer()!.toBuffer().toString(), 'xyz');
});

test('a continue nested in a replay passes the trailers once', () => {
  const { log, fm, f } = setup('d:A d:B d:C');
  f.A.dh = () => FilterHeadersStatus.StopIteration;
  f.A.dd = () => FilterDataStatus.StopIterationAndBuffer;
  f.A.dt = () => FilterTrailersStatus.StopIteration;
  // B stops its headers, then lets go on the (replayed) data: it continues from inside A's replay.
  f.B.dh = () => FilterHeadersStatus.StopIteration;
  fm.decodeHeaders(false);
  fm.decodeData(b('x'), false);
  fm.decodeData(b('y'), false);
  fm.decodeTrailers(trailers());
  take(log);
  f.A.dcb!.continueDecoding();
  assert.deepEqual(log, ['B:dh', 'B:dd xy', 'C:dh', 'C:dd xy', 'C:dt t=v', 'B:dt t=v']);
});

test('a local reply from decodeData stops the chain there', () => {
  const { log, fm, f } = setup('d:A d:B');
  f.A.dd = (self) => {
    self.dcb!.sendLocalReply(400, 'bad body', '', 'bad_body');
    return FilterDataStatus.StopIterationNoBuffer;
  };
  fm.decodeHeaders(false);
  fm.decodeData(b('x'), false);
  fm.decodeData(b('y'), true);
  fm.decodeTrailers(trailers());
  assert.deepEqual(log, [
    'A:dh', 'B:dh', 'A:dd x', 'onLocalReply 400 bad_body', 'codec:headers 400', 'codec:data bad body end',
    'codec:endStream', 'A:destroy', 'B:destroy',
  ]);
});

test('StopIteration, then continueDecoding mid-body: the body so far goes on once, then the rest as it comes, in order', async () => {
  const { log, fm, f } = setup('d:A d:B d:R');
  f.R.dd = () => FilterDataStatus.StopIterationNoBuffer;
  f.A.dh = () => FilterHeadersStatus.StopIteration;
  f.A.dd = (a) => (a.iterationDone ? FilterDataStatus.Continue : FilterDataStatus.StopIterationAndBuffer);
  fm.decodeHeaders(false);
  fm.decodeData(b('a'), false);
  fm.decodeData(b('b'), false);
  // The filter resumes on a later turn (an external check came back).
  await new Promise((r) => setImmediate(r));
  f.A.iterationDone = true;
  f.A.dcb!.continueDecoding();
  fm.decodeData(b('c'), false);
  fm.decodeData(b('d'), true);
  const seenByR = log.filter((x) => x.startsWith('R:'));
  assert.deepEqual(seenByR, ['R:dh', 'R:dd ab', 'R:dd c', 'R:dd d end']);
  // Every byte once, in order, at each later filter.
  assert.deepEqual(log.filter((x) => x.startsWith('B:')), ['B:dh', 'B:dd ab', 'B:dd c', 'B:dd d end']);
});

test('the chain: a disabled filter is left out unless the route enables it; the route may disable any; each filter knows its config name', () => {
  /** Run a stream through known, lazy (disabled by default) and router; what each filter saw. */
  const run = (routeDisabled: Record<string, boolean> | null): string[] => {
    const log: string[] = [];
    const owner = new Owner(log);
    const fm = new FilterManager(owner, 0);
    owner.fm = fm;
    const seen: string[] = [];
    const add = (label: string): FilterFactory => (cb) => {
      const t = new TF(label, log);
      t.dh = (self) => {
        // The config name, and the route's per-filter config asked with no name (its own).
        seen.push(`${label}=${self.dcb!.filterConfigName} ${JSON.stringify(self.dcb!.perFilterConfig())}`);
        return FilterHeadersStatus.Continue;
      };
      cb.addStreamDecoderFilter(t);
    };
    fm.createFilterChain([
      { name: 'known', factory: add('K'), disabled: false },
      { name: 'lazy', factory: add('L'), disabled: true },
      { name: 'router', factory: add('R'), disabled: false },
    ], routeDisabled);
    fm.decodeHeaders(true);
    return seen;
  };
  assert.deepEqual(run(null), ['K=known {"per":"route"}', 'R=router null']);
  assert.deepEqual(run({ lazy: false }), ['K=known {"per":"route"}', 'L=lazy null', 'R=router null']);
  assert.deepEqual(run({ known: true, lazy: false }), ['L=lazy null', 'R=router null']);
});
