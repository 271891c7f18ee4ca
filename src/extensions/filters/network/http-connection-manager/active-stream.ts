// One request/response exchange in the HTTP connection manager (Envoy's ActiveStream): the
// codec's RequestDecoder for one stream (http/codec.ts). Runs the decoder filter chain on the
// request, the encoder filter chain on the response, sends local replies, keeps its own timeouts
// (stream idle, request) on the timer wheel, keeps stats and writes the access log.
// Codec-neutral: it writes through the codec's ResponseEncoder and hears of resets and
// watermarks through StreamCallbacks.
import { Buffer } from 'node:buffer';
import process from 'node:process';
import { monotonicNow } from '../../../../common/clock.ts';
import type { HcmConfig } from './config.ts';
import type { HttpConnectionManager } from './filter.ts';
import { schedule, cancel, type Expirable } from '../../../../common/timer-wheel.ts';
import { statusClass } from '../../../../http/status.ts';
import {
  StreamResetReason, type RequestDecoder, type ResponseEncoder, type StreamCallbacks,
} from '../../../../http/codec.ts';
import { httpDate } from '../../../../common/date.ts';
import { uuidV4 } from '../../../../common/uuid.ts';
import {
  FilterHeadersStatus, RequestHeaders, ResponseHeaders, type DecoderFilterCallbacks, type DownstreamWatermarkCallbacks,
  type HeaderMap, type StreamDecoderFilter, type StreamEncoderFilter, type StreamInfo,
} from '../../../../http/types.ts';
import type { CompiledRoute } from '../../../../http/route-table.ts';
import type { HcmStats } from '../../../../http/stats.ts';
import type { StatSink } from '../../../../common/stat-sink.ts';

const EMPTY = Buffer.alloc(0);
// LEGATE_TEST_HOOKS=1: tag responses with the worker that served them (tests of balancing).
const TEST_HOOKS = process.env.LEGATE_TEST_HOOKS === '1';

export class ActiveStream implements RequestDecoder, DecoderFilterCallbacks, StreamCallbacks, Expirable {
  readonly config: HcmConfig;
  readonly hcm: HttpConnectionManager;
  readonly encoder: ResponseEncoder;
  /** Set when the codec decodes the head (null for a request refused before it). */
  requestHeaders: RequestHeaders;
  readonly streamInfo: StreamInfo;
  readonly hcmStats: HcmStats;
  readonly stats: StatSink;
  responseHeaders: ResponseHeaders | null;
  route: CompiledRoute | null;
  decoders: StreamDecoderFilter[];
  encoders: StreamEncoderFilter[];
  remoteComplete: boolean;
  localComplete: boolean;
  responseStarted: boolean;
  destroyed: boolean;
  watermarkCallbacks: DownstreamWatermarkCallbacks | null;
  /** Stream idle timeout (stream_idle_timeout, or the route's idle_timeout), 0 = off. */
  idleTimeoutMs: number;
  /** request_timeout deadline (monotonic ms) until the request is complete, 0 = none. */
  requestDeadline: number;
  lastActivity: number;
  /** readDisable(true) calls of this stream not yet undone: undone when the stream ends, so a
   *  stream that dies while holding reads off cannot leave its connection paused. */
  readDisables: number;
  timerTick: number;
  timerIndex: number;
  #passedHeaders: number;

  constructor(hcm: HttpConnectionManager, encoder: ResponseEncoder) {
    const config = hcm.config;
    this.config = config;
    this.hcm = hcm;
    this.encoder = encoder;
    this.requestHeaders = NO_HEADERS;
    const now = monotonicNow();
    this.streamInfo = {
      startHr: now,
      responseCode: 0,
      responseFlags: '',
      bytesReceived: 0,
      bytesSent: 0,
      upstreamHost: '',
      upstreamCluster: '',
      upstreamServiceTimeMs: -1,
      // getpeername(2) only when something reads the address (x-forwarded-for, access logs).
      downstreamRemoteAddress: config.needsRemoteAddress ? hcm.connection!.remoteAddress : '',
      routeName: '',
    };
    this.hcmStats = config.s;
    this.stats = config.stats;
    this.responseHeaders = null;
    this.route = null;
    this.decoders = EMPTY_DECODERS;
    this.encoders = EMPTY_ENCODERS;
    this.remoteComplete = false;
    this.localComplete = false;
    this.responseStarted = false;
    this.destroyed = false;
    this.watermarkCallbacks = null;
    this.idleTimeoutMs = config.snap.streamIdleTimeoutMs;
    this.requestDeadline = config.snap.requestTimeoutMs > 0 ? now + config.snap.requestTimeoutMs : 0;
    this.lastActivity = now;
    this.readDisables = 0;
    this.timerTick = -1;
    this.timerIndex = -1;
    this.#passedHeaders = 0;
    const at = this.nextDeadline();
    if (at !== Infinity) schedule(this, at - now);
    encoder.stream.setCallbacks(this);
    const v = config.stats.v;
    const s = config.s;
    v[s.downstream_rq_total]++;
    v[s.downstream_rq_active]++;
  }

  // ---- request path (RequestDecoder) --------------------------------------------------------

  /** Headers arrived from the codec. Envoy's request mutations, routing, then the filter chain. */
  decodeHeaders(h: RequestHeaders, endStream: boolean): void {
    if (this.destroyed) return;
    const cfg = this.config;
    const snap = cfg.snap;
    this.requestHeaders = h;
    this.lastActivity = monotonicNow();
    if (endStream) {
      this.remoteComplete = true;
      this.requestDeadline = 0;
    }
    // x-forwarded-for / x-forwarded-proto (Envoy: use_remote_address appends the peer address).
    if (snap.useRemoteAddress) {
      const peer = this.hcm.connection!.remoteIp;
      const xff = h.get('x-forwarded-for');
      h.set('x-forwarded-for', xff === undefined ? peer : `${xff},${peer}`);
      h.set('x-forwarded-proto', h.scheme);
    } else if (h.get('x-forwarded-proto') === undefined) {
      h.set('x-forwarded-proto', h.scheme);
    }
    if (snap.generateRequestId && h.get('x-request-id') === undefined) h.set('x-request-id', uuidV4());
    if (h.path.charCodeAt(0) !== 47 /* '/' */) {
      // Only origin-form paths are served (`*`, of OPTIONS * or anything else, included), as
      // Envoy answers them: 404 and downstream_rq_non_relative_path.
      this.stats.v[this.hcmStats.downstream_rq_non_relative_path]++;
      this.sendLocalReply(404, '', '', 'absolute_path');
      return;
    }

    this.route = cfg.routes.route(h);
    if (this.route !== null) {
      this.streamInfo.routeName = this.route.snap.name;
      const a = this.route.snap.action;
      if (a.kind === 'cluster' && a.idleTimeoutMs > 0) {
        this.idleTimeoutMs = a.idleTimeoutMs;
        this.#armTimer();
      }
    }

    const factories = cfg.filterFactories;
    for (let i = 0; i < factories.length; i++) {
      const f = factories[i](this);
      if (f.decoder !== null) (this.decoders === EMPTY_DECODERS ? (this.decoders = []) : this.decoders).push(f.decoder);
      if (f.encoder !== null) (this.encoders === EMPTY_ENCODERS ? (this.encoders = []) : this.encoders).push(f.encoder);
    }
    this.#runDecodeHeaders(0);
  }

  #runDecodeHeaders(from: number): void {
    const d = this.decoders;
    for (let i = from; i < d.length; i++) {
      const st = d[i].decodeHeaders(this.requestHeaders, this.remoteComplete);
      if (this.destroyed || this.localComplete) return;
      if (st === FilterHeadersStatus.StopIteration) {
        // The filter at i has seen the headers; data goes to it from now on, and
        // continueDecoding() resumes after it.
        this.#passedHeaders = i + 1;
        return;
      }
    }
    this.#passedHeaders = d.length;
  }

  decodeData(data: Buffer, endStream: boolean): void {
    this.streamInfo.bytesReceived += data.length;
    this.lastActivity = monotonicNow();
    if (endStream) {
      this.remoteComplete = true;
      this.requestDeadline = 0;
    }
    if (this.destroyed || this.localComplete) return;
    const d = this.decoders;
    for (let i = 0; i < this.#passedHeaders; i++) {
      const st = d[i].decodeData(data, endStream);
      if (this.destroyed || this.localComplete) return;
      if (st !== 0 && i < this.#passedHeaders - 1) return;
    }
  }

  /** Request trailers: no filter reads them yet; the request ends with them. */
  decodeTrailers(_trailers: HeaderMap): void {
    this.decodeData(EMPTY, true);
  }

  /** Resume after a filter's StopIteration on headers. Body data that arrived meanwhile went only
   *  to the filters that had seen the headers: Envoy's buffering of it for the later filters comes
   *  with the first non-terminal decoder filter (today the router is the only one). */
  continueDecoding(): void {
    if (this.destroyed) return;
    this.#runDecodeHeaders(this.#passedHeaders);
  }

  // ---- response path ------------------------------------------------------------------------

  encodeHeaders(headers: ResponseHeaders, endStream: boolean): void {
    if (this.destroyed || this.localComplete) return;
    this.lastActivity = monotonicNow();
    this.responseHeaders = headers;
    this.responseStarted = true;
    this.streamInfo.responseCode = headers.status;
    const e = this.encoders;
    for (let i = e.length - 1; i >= 0; i--) e[i].encodeHeaders(headers, endStream);
    headers.set('server', this.config.snap.serverName);
    if (TEST_HOOKS) headers.set('x-legate-worker', String(this.config.ctx.workerId));
    // Marked before the codec may call back (its write can fail and reset the stream).
    if (endStream) this.localComplete = true;
    this.encoder.encodeHeaders(headers, endStream);
    if (endStream) this.#localDone();
  }

  encodeData(data: Buffer, endStream: boolean): void {
    if (this.destroyed || this.localComplete) return;
    this.streamInfo.bytesSent += data.length;
    this.lastActivity = monotonicNow();
    const e = this.encoders;
    for (let i = e.length - 1; i >= 0; i--) e[i].encodeData(data, endStream);
    if (endStream) this.localComplete = true;
    this.encoder.encodeData(data, endStream);
    if (endStream) this.#localDone();
  }

  sendLocalReply(status: number, body: string, flag: string, _details: string): void {
    if (this.destroyed) return;
    if (flag !== '') this.streamInfo.responseFlags = flag;
    if (this.responseStarted) {
      // Too late for a reply: the client has part of a response. Abort it (Envoy resets).
      this.resetStream();
      return;
    }
    const b = body === '' ? EMPTY : Buffer.from(body);
    const h = new ResponseHeaders(status, [
      'content-length', String(b.length), 'content-type', 'text/plain', 'date', httpDate(),
    ]);
    if (this.requestHeaders.method === 'HEAD' || b.length === 0) {
      this.encodeHeaders(h, true);
    } else {
      this.encodeHeaders(h, false);
      this.encodeData(b, true);
    }
  }

  readDisable(disable: boolean): void {
    if (this.destroyed) return;
    if (disable) {
      this.readDisables++;
      this.encoder.stream.readDisable(true);
    } else if (this.readDisables > 0) {
      this.readDisables--;
      this.encoder.stream.readDisable(false);
    }
  }

  // ---- timeouts -----------------------------------------------------------------------------

  /** When this stream's next timeout is due (monotonic ms), Infinity when none is set. Activity
   *  only moves `lastActivity`; the timer re-arms when it fires early. */
  nextDeadline(): number {
    let at = this.idleTimeoutMs > 0 ? this.lastActivity + this.idleTimeoutMs : Infinity;
    const dl = this.requestDeadline;
    if (dl !== 0 && dl < at) at = dl;
    return at;
  }

  #armTimer(): void {
    const at = this.nextDeadline();
    if (at !== Infinity) schedule(this, Math.max(0, at - monotonicNow()));
  }

  onExpire(): void {
    if (this.destroyed) return;
    this.checkTimeouts(monotonicNow());
    if (!this.destroyed) this.#armTimer();
  }

  /** Fire request_timeout or the stream idle timeout if due at `now`. */
  checkTimeouts(now: number): void {
    const c = this.config;
    if (this.requestDeadline !== 0 && now >= this.requestDeadline) {
      c.stats.v[c.s.downstream_rq_timeout]++;
      if (this.responseStarted) this.resetStream();
      else this.sendLocalReply(408, 'request timeout', '', 'request_overall_timeout');
      return;
    }
    if (this.idleTimeoutMs > 0 && now - this.lastActivity >= this.idleTimeoutMs) {
      c.stats.v[c.s.downstream_rq_idle_timeout]++;
      if (this.responseStarted) {
        this.streamInfo.responseFlags = 'SI';
        this.resetStream();
      } else {
        this.sendLocalReply(408, 'stream timeout', 'SI', 'stream_idle_timeout');
      }
    }
  }

  // ---- watermarks and resets (StreamCallbacks) ----------------------------------------------

  setDownstreamWatermarkCallbacks(cb: DownstreamWatermarkCallbacks | null): void {
    this.watermarkCallbacks = cb;
  }

  onAboveWriteBufferHighWatermark(): void {
    this.watermarkCallbacks?.onAboveWriteBufferHighWatermark();
  }
  onBelowWriteBufferLowWatermark(): void {
    this.watermarkCallbacks?.onBelowWriteBufferLowWatermark();
  }

  /** Abort the response in flight (upstream died mid-body, ...). */
  resetStream(): void {
    if (this.destroyed) return;
    const v = this.config.stats.v;
    v[this.config.s.downstream_rq_tx_reset]++;
    this.#finish();
    this.encoder.stream.resetStream(StreamResetReason.LocalReset);
  }

  /** The codec lost the stream (the client went away, or a protocol error after the response
   *  started). */
  onResetStream(_reason: number): void {
    if (this.destroyed) return;
    if (this.streamInfo.responseFlags === '') this.streamInfo.responseFlags = 'DC';
    this.config.stats.v[this.config.s.downstream_rq_rx_reset]++;
    this.#finish();
  }

  #localDone(): void {
    const c = this.config;
    const v = c.stats.v;
    const s = c.s;
    switch (statusClass(this.streamInfo.responseCode)) {
      case 1: v[s.downstream_rq_1xx]++; break;
      case 2: v[s.downstream_rq_2xx]++; break;
      case 3: v[s.downstream_rq_3xx]++; break;
      case 4: v[s.downstream_rq_4xx]++; break;
      case 5: v[s.downstream_rq_5xx]++; break;
    }
    v[s.downstream_rq_completed]++;
    this.#finish();
  }

  #finish(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    cancel(this);
    this.encoder.stream.setCallbacks(null);
    while (this.readDisables > 0) {
      this.readDisables--;
      this.encoder.stream.readDisable(false);
    }
    const c = this.config;
    const v = c.stats.v;
    v[c.s.downstream_rq_active]--;
    const dur = monotonicNow() - this.streamInfo.startHr;
    c.stats.record(c.s.downstream_rq_time, dur);
    for (const d of this.decoders) d.onDestroy();
    for (const e of this.encoders) e.onDestroy();
    if (c.accessLoggers !== null) {
      // The wall-clock start is derived here, only when something logs it.
      const ctx = {
        req: this.requestHeaders === NO_HEADERS ? null : this.requestHeaders, resp: this.responseHeaders,
        info: this.streamInfo, durationMs: dur, startTime: Date.now() - dur,
      };
      for (const l of c.accessLoggers) l.log(ctx);
    }
    this.responseHeaders?.release();
    this.hcm.onStreamDestroyed();
  }
}

/** A stream's request headers before the codec decodes them (never mutated). */
const NO_HEADERS = new RequestHeaders('', '', '', 'http', '', []);
const EMPTY_DECODERS: StreamDecoderFilter[] = [];
const EMPTY_ENCODERS: StreamEncoderFilter[] = [];
