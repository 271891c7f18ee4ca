// legate.filters.http.script, per stream: ScriptFilter stands in the filter chain for a user's filter
// object (legate/filter Filter) and speaks the filter manager's contract (http/filter.ts) for it:
// - a method the user did not write, or one that returns nothing, continues;
// - a status it returns is passed through (after a check of its range);
// - a Promise holds the stream until it settles (headers: StopAllIterationAndWatermark, so the body
//   is held, flow-controlled, and comes to this filter when it continues; data:
//   StopIterationAndWatermark; trailers: StopIteration), then continues; while one is pending no
//   other call reaches the user's filter on that side (later data is held and passed on with the
//   continue);
// - an exception or a rejection fails this stream only: 500 with flag SFE (a reset once the
//   response started), http.<stat_prefix>.script.<name>.error, a rate-limited log line.
// Bodies. Envoy's C++ filters move bytes out of the `data` they are given (a Buffer::Instance); a
// JavaScript Buffer cannot be drained, so the move is recognised instead: addDecodedData(data) with
// the chunk of the current decodeData call takes it into the buffer, and the call's Continue then
// continues from a microtask (the manager would otherwise append the chunk a second time). When the
// user changed a body whose headers this filter still holds, the content-length is fixed as they go
// on (the whole body known) or removed (the rest still to come: the codec then chunks it); once the
// headers have passed this filter a change of the body's length throws (the other side already
// has the length, and a wrong one would desynchronise an HTTP/1 connection).
import { Buffer } from 'node:buffer';
import process from 'node:process';
import type * as api from '../../../../api/filter.js';
import {
  FilterDataStatus, FilterHeadersStatus, FilterTrailersStatus, type BufferedBody, type StreamDecoderFilterCallbacks,
  type StreamEncoderFilterCallbacks, type StreamFilter, type FilterChainFactoryCallbacks,
} from '../../../../http/filter.ts';
import { ResponseFlag, type HeaderMap, type RequestHeaders, type ResponseHeaders } from '../../../../http/types.ts';
import type { StatSink } from '../../../../common/stat-sink.ts';
import { HeaderView, RequestHeaderView, ResponseHeaderView, checkedHeader } from './headers.ts';

/** One script filter config in one worker. */
export class ScriptShared {
  readonly name: string;
  /** The user's per-stream function; null when the module could not be loaded or set up. */
  readonly streamFactory: api.StreamFilterFactory | null;
  /** Why streamFactory is null. */
  readonly setupError: unknown;
  readonly stats: StatSink;
  readonly errorSlot: number;
  #lastLog = 0;
  #suppressed = 0;
  constructor(name: string, streamFactory: api.StreamFilterFactory | null, setupError: unknown, stats: StatSink, errorSlot: number) {
    this.name = name;
    this.streamFactory = streamFactory;
    this.setupError = setupError;
    this.stats = stats;
    this.errorSlot = errorSlot;
  }

  /** Count an error and log it (at most one line a second per filter; the count says how many). */
  error(err: unknown, where: string): void {
    this.stats.v[this.errorSlot]++;
    const now = Date.now();
    if (now - this.#lastLog < 1000) {
      this.#suppressed++;
      return;
    }
    const more = this.#suppressed > 0 ? ` (${this.#suppressed} more since the last line)` : '';
    this.#lastLog = now;
    this.#suppressed = 0;
    const text = err instanceof Error ? (err.stack ?? `${err.name}: ${err.message}`) : String(err);
    process.stderr.write(`legate: script filter "${this.name}" failed in ${where}${more}: ${text}\n`);
  }

  /** The chain factory (FilterFactory): the user's per-stream function decides whether, and as
   *  which sides, this stream gets a filter. */
  create(cb: FilterChainFactoryCallbacks): void {
    const f = new ScriptFilter(this, cb);
    const factory = this.streamFactory;
    if (factory === null) {
      f.failLater(this.setupError, 'its setup');
      cb.addStreamDecoderFilter(f);
      return;
    }
    let user: unknown;
    try {
      user = factory(f.callbacks);
    } catch (err) {
      f.failLater(err, 'its per-stream function');
      cb.addStreamDecoderFilter(f);
      return;
    }
    if (user === undefined || user === null) return; // not for this stream
    if (typeof user !== 'object' && typeof user !== 'function') {
      f.failLater(new TypeError(`the per-stream function returned a ${typeof user}, not a filter object`), 'its per-stream function');
      cb.addStreamDecoderFilter(f);
      return;
    }
    const u = user as api.Filter;
    f.user = u;
    const dec = typeof u.decodeHeaders === 'function' || typeof u.decodeData === 'function' || typeof u.decodeTrailers === 'function';
    const enc = typeof u.encodeHeaders === 'function' || typeof u.encodeData === 'function' || typeof u.encodeTrailers === 'function';
    if (dec && enc) cb.addStreamFilter(f);
    else if (enc) cb.addStreamEncoderFilter(f);
    else if (dec || typeof u.onDestroy === 'function') cb.addStreamDecoderFilter(f);
  }
}

const DECODE = true;
const ENCODE = false;

/** A user's decodeHeaders or encodeHeaders as #headers calls it: each with its own side's view,
 *  which the union of the two signatures cannot say. */
type HeadersMethod = (this: api.Filter, headers: api.RequestHeaders | api.ResponseHeaders, endStream: boolean) => unknown;

function isThenable(r: unknown): r is PromiseLike<unknown> {
  return typeof r === 'object' && r !== null && typeof (r as { then?: unknown }).then === 'function';
}

function describe(r: unknown): string {
  return typeof r === 'object' ? (r === null ? 'null' : 'an object') : `${typeof r} ${String(r)}`;
}

function bytesOf(data: unknown): Buffer {
  if (typeof data === 'string') return Buffer.from(data);
  if (Buffer.isBuffer(data)) return data;
  if (data instanceof Uint8Array) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  throw new TypeError(`expected a Buffer, Uint8Array or string, got ${describe(data)}`);
}

function onFulfilled(this: SideToken): void {
  this.filter.settled(this.decode, null, false);
}
function onRejected(this: SideToken, err: unknown): void {
  this.filter.settled(this.decode, err, true);
}
function onResume(this: SideToken): void {
  this.filter.resume(this.decode);
}

/** What a pending promise settles for: the filter and the side (bound, not a closure per call). */
class SideToken {
  readonly filter: ScriptFilter;
  readonly decode: boolean;
  readonly fulfilled: (v: unknown) => void;
  readonly rejected: (e: unknown) => void;
  readonly resumeNow: () => void;
  constructor(filter: ScriptFilter, decode: boolean) {
    this.filter = filter;
    this.decode = decode;
    this.fulfilled = onFulfilled.bind(this);
    this.rejected = onRejected.bind(this);
    this.resumeNow = onResume.bind(this);
  }
}

/** One side's state. */
class Side {
  /** The user's method stopped the headers and has not continued. */
  held = false;
  /** The headers went past this filter. */
  passed = false;
  /** A promise is pending. */
  waiting = false;
  /** The user changed the body. */
  changed = false;
  /** This filter has seen the end of the stream on this side. */
  end = false;
  /** The chunk of the running data call, and whether the user took it into the buffer. */
  current: Buffer | null = null;
  taken = false;
  /** A user method of this side is running (a continue asked for now waits for its return). */
  inCall = false;
  token: SideToken | null = null;
}

export class ScriptFilter implements StreamFilter {
  readonly shared: ScriptShared;
  readonly callbacks: ScriptCallbacks;
  user: api.Filter | null = null;
  dcb: StreamDecoderFilterCallbacks | null = null;
  ecb: StreamEncoderFilterCallbacks | null = null;
  readonly dec = new Side();
  readonly enc = new Side();
  #failed = false;
  #destroyed = false;
  #pendingError: unknown = null;
  #pendingWhere = '';
  #requestView: RequestHeaderView | null = null;
  #responseView: ResponseHeaderView | null = null;

  /** What made the stream's chain: the request head and stream info before the callbacks are set
   *  (the user's per-stream function may look at the request). */
  readonly chain: FilterChainFactoryCallbacks;

  constructor(shared: ScriptShared, chain: FilterChainFactoryCallbacks) {
    this.shared = shared;
    this.chain = chain;
    this.callbacks = new ScriptCallbacks(this);
  }

  /** The filter could not be made: its stream fails at its first call. */
  failLater(err: unknown, where: string): void {
    this.#pendingError = err ?? new Error('unknown error');
    this.#pendingWhere = where;
  }

  setDecoderFilterCallbacks(cb: StreamDecoderFilterCallbacks): void { this.dcb = cb; }
  setEncoderFilterCallbacks(cb: StreamEncoderFilterCallbacks): void { this.ecb = cb; }

  requestView(): RequestHeaderView {
    const h = (this.dcb ?? this.ecb ?? this.chain).requestHeaders;
    if (this.#requestView === null || this.#requestView.map !== h) this.#requestView = new RequestHeaderView(h);
    return this.#requestView;
  }

  responseView(): ResponseHeaderView | null {
    const cb = this.ecb ?? this.dcb;
    const h = cb === null ? null : cb.responseHeaders;
    if (h === null) return null;
    if (this.#responseView === null || this.#responseView.map !== h) this.#responseView = new ResponseHeaderView(h);
    return this.#responseView;
  }

  /** Fail the stream (once): count, log, 500 with SFE (the manager resets a started response). */
  fail(err: unknown, where: string): void {
    if (this.#failed || this.#destroyed) return;
    this.#failed = true;
    this.shared.error(err, where);
    const cb = this.dcb ?? this.ecb;
    cb?.sendLocalReply(500, 'Internal Server Error', ResponseFlag.ScriptFilterError, 'script_filter_error');
  }

  #call(decode: boolean): boolean {
    if (this.#pendingError !== null) {
      const e = this.#pendingError;
      this.#pendingError = null;
      this.fail(e, this.#pendingWhere);
    }
    return !this.#failed && !this.#destroyed && this.user !== null;
  }

  // ---- the manager's calls ---------------------------------------------------------------------
  // Both sides run the same code (#headers, #data, #trailers), told apart by `decode`: the user's
  // method of that side, the header view it is handed, and what a failed stream returns (its
  // request stops; its response, the local reply, passes).

  decodeHeaders(_headers: RequestHeaders, endStream: boolean): FilterHeadersStatus {
    return this.#headers(this.dec, DECODE, null, endStream);
  }
  decodeData(data: Buffer, endStream: boolean): FilterDataStatus {
    return this.#data(this.dec, DECODE, data, endStream);
  }
  decodeTrailers(trailers: HeaderMap): FilterTrailersStatus {
    return this.#trailers(this.dec, DECODE, trailers);
  }
  encodeHeaders(headers: ResponseHeaders, endStream: boolean): FilterHeadersStatus {
    return this.#headers(this.enc, ENCODE, headers, endStream);
  }
  encodeData(data: Buffer, endStream: boolean): FilterDataStatus {
    return this.#data(this.enc, ENCODE, data, endStream);
  }
  encodeTrailers(trailers: HeaderMap): FilterTrailersStatus {
    return this.#trailers(this.enc, ENCODE, trailers);
  }

  /** `response`: the response headers of an encodeHeaders call (null for decodeHeaders). */
  #headers(s: Side, decode: boolean, response: ResponseHeaders | null, endStream: boolean): FilterHeadersStatus {
    s.end = endStream;
    if (!this.#call(decode)) return decode && this.#failed ? FilterHeadersStatus.StopIteration : FilterHeadersStatus.Continue;
    const u = this.user!;
    const fn = (decode ? u.decodeHeaders : u.encodeHeaders) as HeadersMethod | undefined;
    if (typeof fn !== 'function') {
      s.passed = true;
      return FilterHeadersStatus.Continue;
    }
    const where = decode ? 'decodeHeaders' : 'encodeHeaders';
    let r: unknown;
    s.inCall = true;
    try {
      r = fn.call(u, decode ? this.requestView() : this.responseView() ?? new ResponseHeaderView(response!), endStream);
    } catch (err) {
      this.fail(err, where);
      return FilterHeadersStatus.StopIteration;
    } finally {
      s.inCall = false;
    }
    return this.#headersResult(s, decode, r, where);
  }

  #data(s: Side, decode: boolean, data: Buffer, endStream: boolean): FilterDataStatus {
    if (endStream) s.end = true;
    if (!this.#call(decode)) return decode && this.#failed ? FilterDataStatus.StopIterationNoBuffer : FilterDataStatus.Continue;
    if (s.waiting) return FilterDataStatus.StopIterationAndWatermark;
    const u = this.user!;
    const fn = decode ? u.decodeData : u.encodeData;
    if (typeof fn !== 'function') {
      // A side the filter stopped stays stopped until it continues: the body waits with it.
      return s.held ? FilterDataStatus.StopIterationAndWatermark : this.#continueWith(s, decode, data.length);
    }
    const where = decode ? 'decodeData' : 'encodeData';
    s.current = data;
    s.taken = false;
    let r: unknown;
    s.inCall = true;
    try {
      r = fn.call(u, data, endStream);
    } catch (err) {
      s.current = null;
      this.fail(err, where);
      return FilterDataStatus.StopIterationNoBuffer;
    } finally {
      s.inCall = false;
    }
    s.current = null;
    return this.#dataResult(s, decode, r, data, where);
  }

  #trailers(s: Side, decode: boolean, trailers: HeaderMap): FilterTrailersStatus {
    s.end = true;
    if (!this.#call(decode)) return decode && this.#failed ? FilterTrailersStatus.StopIteration : FilterTrailersStatus.Continue;
    if (s.waiting) return FilterTrailersStatus.StopIteration;
    const u = this.user!;
    const fn = decode ? u.decodeTrailers : u.encodeTrailers;
    if (typeof fn !== 'function') return s.held ? FilterTrailersStatus.StopIteration : this.#trailersContinue(s, decode);
    const where = decode ? 'decodeTrailers' : 'encodeTrailers';
    let r: unknown;
    s.inCall = true;
    try {
      r = fn.call(u, new HeaderView(trailers));
    } catch (err) {
      this.fail(err, where);
      return FilterTrailersStatus.StopIteration;
    } finally {
      s.inCall = false;
    }
    return this.#trailersResult(s, decode, r, where);
  }

  onDestroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    const fn = this.user?.onDestroy;
    if (typeof fn !== 'function') return;
    try {
      fn.call(this.user);
    } catch (err) {
      // (The stream is over: only counted.)
      this.shared.error(err, 'onDestroy');
    }
  }

  // ---- results ---------------------------------------------------------------------------------

  #wait(s: Side, decode: boolean, p: PromiseLike<unknown>): void {
    s.waiting = true;
    s.held = true;
    const t = s.token ??= new SideToken(this, decode);
    p.then(t.fulfilled, t.rejected);
  }

  #headersResult(s: Side, decode: boolean, r: unknown, where: string): FilterHeadersStatus {
    if (r === undefined || r === null || r === FilterHeadersStatus.Continue) {
      s.passed = true;
      return FilterHeadersStatus.Continue;
    }
    if (r === FilterHeadersStatus.StopIteration || r === FilterHeadersStatus.StopAllIterationAndBuffer
      || r === FilterHeadersStatus.StopAllIterationAndWatermark) {
      s.held = true;
      return r;
    }
    if (isThenable(r)) {
      this.#wait(s, decode, r);
      return FilterHeadersStatus.StopAllIterationAndWatermark;
    }
    this.fail(new TypeError(`${where} returned ${describe(r)}, not a FilterHeadersStatus`), where);
    return FilterHeadersStatus.StopIteration;
  }

  #dataResult(s: Side, decode: boolean, r: unknown, data: Buffer, where: string): FilterDataStatus {
    if (this.#failed || this.#destroyed) return FilterDataStatus.StopIterationNoBuffer;
    if (r === undefined || r === null || r === FilterDataStatus.Continue) {
      if (!s.taken) return this.#continueWith(s, decode, data.length);
      // The chunk is in the buffer already: continue once this call has returned.
      queueMicrotask((s.token ??= new SideToken(this, decode)).resumeNow);
      return FilterDataStatus.StopIterationNoBuffer;
    }
    if (r === FilterDataStatus.StopIterationAndBuffer || r === FilterDataStatus.StopIterationAndWatermark) {
      return s.taken ? FilterDataStatus.StopIterationNoBuffer : r;
    }
    if (r === FilterDataStatus.StopIterationNoBuffer) return r;
    if (isThenable(r)) {
      this.#wait(s, decode, r);
      return s.taken ? FilterDataStatus.StopIterationNoBuffer : FilterDataStatus.StopIterationAndWatermark;
    }
    this.fail(new TypeError(`${where} returned ${describe(r)}, not a FilterDataStatus`), where);
    return FilterDataStatus.StopIterationNoBuffer;
  }

  #trailersResult(s: Side, decode: boolean, r: unknown, where: string): FilterTrailersStatus {
    if (this.#failed || this.#destroyed) return FilterTrailersStatus.StopIteration;
    if (r === undefined || r === null || r === FilterTrailersStatus.Continue) return this.#trailersContinue(s, decode);
    if (r === FilterTrailersStatus.StopIteration) return r;
    if (isThenable(r)) {
      this.#wait(s, decode, r);
      return FilterTrailersStatus.StopIteration;
    }
    this.fail(new TypeError(`${where} returned ${describe(r)}, not a FilterTrailersStatus`), where);
    return FilterTrailersStatus.StopIteration;
  }

  /** A data call continues (the manager passes on the held headers, the buffer, then `extra`
   *  bytes of this chunk). */
  #continueWith(s: Side, decode: boolean, extra: number): FilterDataStatus {
    this.#fixLength(s, decode, extra);
    s.held = false;
    s.passed = true;
    return FilterDataStatus.Continue;
  }

  #trailersContinue(s: Side, decode: boolean): FilterTrailersStatus {
    this.#fixLength(s, decode, 0);
    s.held = false;
    s.passed = true;
    return FilterTrailersStatus.Continue;
  }

  /** A promise of the user's settled. */
  settled(decode: boolean, err: unknown, rejected: boolean): void {
    const s = decode ? this.dec : this.enc;
    s.waiting = false;
    if (this.#failed || this.#destroyed) return;
    if (rejected) {
      this.fail(err ?? new Error('rejected'), decode ? 'a decode promise' : 'an encode promise');
      return;
    }
    this.resume(decode);
  }

  /** Continue a side this filter stopped (the user's continueDecoding / continueEncoding, a
   *  settled promise, a taken chunk). */
  resume(decode: boolean): void {
    if (this.#failed || this.#destroyed) return;
    const s = decode ? this.dec : this.enc;
    if (s.inCall) {
      // (The manager is inside this filter's call: continue once it has returned.)
      queueMicrotask((s.token ??= new SideToken(this, decode)).resumeNow);
      return;
    }
    this.#fixLength(s, decode, 0);
    s.held = false;
    s.passed = true;
    if (decode) this.dcb?.continueDecoding();
    else this.ecb?.continueEncoding();
  }

  /** The body changed while this filter held the headers: make their content-length say what
   *  goes. */
  #fixLength(s: Side, decode: boolean, extra: number): void {
    if (!s.held || !s.changed || s.passed) return;
    const h = decode ? this.dcb?.requestHeaders ?? null : this.ecb?.responseHeaders ?? null;
    if (h === null || h.get('content-length') === undefined) return;
    if (!s.end) {
      h.remove('content-length');
      return;
    }
    const buf = decode ? this.dcb!.decodingBuffer() : this.ecb!.encodingBuffer();
    h.set('content-length', String((buf === null ? 0 : buf.length) + extra));
  }

  bodyView(decode: boolean): BodyView | null {
    const b = decode ? this.dcb?.decodingBuffer() ?? null : this.ecb?.encodingBuffer() ?? null;
    return b === null ? null : new BodyView(this, decode, b);
  }

  addData(decode: boolean, data: unknown): void {
    const s = decode ? this.dec : this.enc;
    const b = bytesOf(data);
    if (b === s.current && s.current !== null) {
      s.taken = true;
    } else {
      if (s.passed) throw new TypeError('the headers have passed this filter: the body\'s length cannot change');
      s.changed = true;
    }
    if (decode) this.dcb?.addDecodedData(b, false);
    else this.ecb?.addEncodedData(b, false);
  }
}

/** legate/filter BufferedBody over the manager's. */
class BodyView implements api.BufferedBody {
  readonly #f: ScriptFilter;
  readonly #decode: boolean;
  readonly #b: BufferedBody;
  constructor(f: ScriptFilter, decode: boolean, b: BufferedBody) {
    this.#f = f;
    this.#decode = decode;
    this.#b = b;
  }
  get length(): number { return this.#b.length; }
  toBuffer(): Buffer { return this.#b.toBuffer(); }
  text(): string { return this.#b.toBuffer().toString('utf8'); }
  replace(data: Buffer | Uint8Array | string): void {
    const b = bytesOf(data);
    const s = this.#decode ? this.#f.dec : this.#f.enc;
    if (s.passed && b.length !== this.#b.length) {
      throw new TypeError('the headers have passed this filter: the body\'s length cannot change '
        + '(return StopIteration from the headers call to rewrite the body)');
    }
    s.changed = true;
    this.#b.replace(b);
  }
}

/** legate/filter FilterCallbacks: what the user's filter is handed. */
export class ScriptCallbacks implements api.FilterCallbacks {
  readonly #f: ScriptFilter;
  constructor(f: ScriptFilter) {
    this.#f = f;
  }
  get requestHeaders(): api.RequestHeaders { return this.#f.requestView(); }
  get responseHeaders(): api.ResponseHeaders | null { return this.#f.responseView(); }
  get streamInfo(): api.FilterCallbacks['streamInfo'] { return this.#f.chain.streamInfo; }
  sendLocalReply(status: number, body = '', options?: { headers?: Record<string, string>; details?: string }): void {
    if (!Number.isInteger(status) || status < 200 || status > 599) throw new TypeError(`invalid status ${status}`);
    if (typeof body !== 'string') throw new TypeError('the body must be a string');
    let headers: string[] | null = null;
    if (options?.headers !== undefined) {
      headers = [];
      for (const [k, v] of Object.entries(options.headers)) headers.push(checkedHeader(k, v), v);
    }
    const cb = this.#f.dcb ?? this.#f.ecb;
    if (cb === null) throw new Error('the callbacks are usable from the filter\'s first method call on');
    cb.sendLocalReply(status, body, '', options?.details ?? 'script_filter_local_reply', headers);
  }
  continueDecoding(): void { this.#f.resume(DECODE); }
  continueEncoding(): void { this.#f.resume(ENCODE); }
  decodingBuffer(): api.BufferedBody | null { return this.#f.bodyView(DECODE); }
  encodingBuffer(): api.BufferedBody | null { return this.#f.bodyView(ENCODE); }
  addDecodedData(data: Buffer | Uint8Array | string): void { this.#f.addData(DECODE, data); }
  addEncodedData(data: Buffer | Uint8Array | string): void { this.#f.addData(ENCODE, data); }
}
