// One request/response exchange in the HTTP connection manager (Envoy's ActiveStream): runs the
// decoder filter chain on the request, the encoder filter chain on the response, sends local
// replies, keeps stats and writes the access log. Codec-neutral: the codec implements ServerCodecStream.
import { Buffer } from 'node:buffer';
import process from 'node:process';
import { monotonicNow } from '../../../../common/clock.ts';
import type { HcmConfig } from './config.ts';
import { httpDate } from '../../../../common/date.ts';
import { uuidV4 } from '../../../../common/uuid.ts';
import {
  FilterHeadersStatus, ResponseHeaders, type DecoderFilterCallbacks, type DownstreamWatermarkCallbacks,
  type RequestHeaders, type StreamDecoderFilter, type StreamEncoderFilter, type StreamInfo,
} from '../../../../http/types.ts';
import type { CompiledRoute } from '../../../../http/route-table.ts';
import type { HcmStats } from '../../../../http/stats.ts';
import type { StatSink } from '../../../../common/stat-sink.ts';

/** What the HCM needs from a codec stream (HTTP/1 connection today, an HTTP/2 stream later). */
export interface ServerCodecStream {
  encodeHeaders(h: ResponseHeaders, endStream: boolean): void;
  encodeData(b: Buffer, endStream: boolean): void;
  readDisable(disable: boolean): void;
  /** Abort: for HTTP/1 the connection is closed without finishing the response. */
  resetStream(): void;
  /** The stream is done (both sides complete, or reset): the codec may move to the next one. */
  onStreamComplete(closeConnection: boolean): void;
  /** "ip:port" ("[ip]:port" for IPv6), '' when nothing in the config reads it. */
  readonly remoteAddress: string;
  /** The bare client IP (x-forwarded-for), '' when nothing in the config reads it. */
  readonly remoteIp: string;
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request', 404: 'Not Found', 408: 'Request Timeout', 413: 'Payload Too Large',
  431: 'Request Header Fields Too Large', 500: 'Internal Server Error', 501: 'Not Implemented', 502: 'Bad Gateway',
  503: 'Service Unavailable', 504: 'Gateway Timeout',
};

const EMPTY = Buffer.alloc(0);
// LEGATE_TEST_HOOKS=1: tag responses with the worker that served them (tests of balancing).
const TEST_HOOKS = process.env.LEGATE_TEST_HOOKS === '1';

export class ActiveStream implements DecoderFilterCallbacks {
  readonly config: HcmConfig;
  readonly codec: ServerCodecStream;
  readonly requestHeaders: RequestHeaders;
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
  /** Close the connection after this response (Connection: close, a protocol error ...). */
  closeConnection: boolean;
  watermarkCallbacks: DownstreamWatermarkCallbacks | null;
  /** Stream idle timeout (stream_idle_timeout, or the route's idle_timeout), 0 = off. */
  idleTimeoutMs: number;
  /** request_timeout deadline (monotonic ms) until the request is complete, 0 = none. */
  requestDeadline: number;
  lastActivity: number;
  /** readDisable(true) calls of this stream not yet undone: undone when the stream ends, so a
   *  stream that dies while holding reads off cannot leave its connection paused. */
  readDisables: number;

  constructor(config: HcmConfig, codec: ServerCodecStream, headers: RequestHeaders) {
    this.config = config;
    this.codec = codec;
    this.requestHeaders = headers;
    this.streamInfo = {
      startHr: monotonicNow(),
      responseCode: 0,
      responseFlags: '',
      bytesReceived: 0,
      bytesSent: 0,
      upstreamHost: '',
      upstreamCluster: '',
      upstreamServiceTimeMs: -1,
      downstreamRemoteAddress: codec.remoteAddress,
      routeName: '',
    };
    this.hcmStats = config.s;
    this.stats = config.stats;
    this.responseHeaders = null;
    this.route = null;
    this.decoders = [];
    this.encoders = [];
    this.remoteComplete = false;
    this.localComplete = false;
    this.responseStarted = false;
    this.destroyed = false;
    this.closeConnection = false;
    this.watermarkCallbacks = null;
    const now = monotonicNow();
    this.idleTimeoutMs = config.snap.streamIdleTimeoutMs;
    this.requestDeadline = config.snap.requestTimeoutMs > 0 ? now + config.snap.requestTimeoutMs : 0;
    this.lastActivity = now;
    this.readDisables = 0;
    const v = config.stats.v;
    const s = config.s;
    v[s.downstream_rq_total]++;
    v[s.downstream_rq_http1_total]++;
    v[s.downstream_rq_active]++;
  }

  // ---- request path -------------------------------------------------------------------------

  /** Headers arrived from the codec. Envoy's request mutations, routing, then the filter chain. */
  decodeHeaders(endStream: boolean): void {
    const cfg = this.config;
    const snap = cfg.snap;
    const h = this.requestHeaders;
    if (endStream) this.remoteComplete = true;
    // x-forwarded-for / x-forwarded-proto (Envoy: use_remote_address appends the peer address).
    if (snap.useRemoteAddress) {
      const peer = this.codec.remoteIp;
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
      if (a.kind === 'cluster' && a.idleTimeoutMs > 0) this.idleTimeoutMs = a.idleTimeoutMs;
    }
    if (endStream) this.requestDeadline = 0;

    const factories = cfg.filterFactories;
    for (let i = 0; i < factories.length; i++) {
      const f = factories[i](this);
      if (f.decoder !== null) this.decoders.push(f.decoder);
      if (f.encoder !== null) this.encoders.push(f.encoder);
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

  #passedHeaders = 0;

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
    // HTTP/1: answering before the request is all in means the rest of it will not be read, so
    // the connection closes after this response; say so in it.
    if (!this.remoteComplete) this.closeConnection = true;
    this.responseHeaders = headers;
    this.responseStarted = true;
    this.streamInfo.responseCode = headers.status;
    const e = this.encoders;
    for (let i = e.length - 1; i >= 0; i--) e[i].encodeHeaders(headers, endStream);
    headers.set('server', this.config.snap.serverName);
    if (TEST_HOOKS) headers.set('x-legate-worker', String(this.config.ctx.workerId));
    if (this.closeConnection) headers.set('connection', 'close');
    this.codec.encodeHeaders(headers, endStream);
    if (endStream) this.#localDone();
  }

  encodeData(data: Buffer, endStream: boolean): void {
    if (this.destroyed || this.localComplete) return;
    this.streamInfo.bytesSent += data.length;
    this.lastActivity = monotonicNow();
    const e = this.encoders;
    for (let i = e.length - 1; i >= 0; i--) e[i].encodeData(data, endStream);
    this.codec.encodeData(data, endStream);
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
      this.codec.readDisable(true);
    } else if (this.readDisables > 0) {
      this.readDisables--;
      this.codec.readDisable(false);
    }
  }

  /** When this stream's next timeout is due (monotonic ms), Infinity when none is set. The
   *  codec's connection timer (one per connection) asks, so a request costs no timer of its own;
   *  activity only moves `lastActivity`. */
  nextDeadline(): number {
    let at = this.idleTimeoutMs > 0 ? this.lastActivity + this.idleTimeoutMs : Infinity;
    const dl = this.requestDeadline;
    if (dl !== 0 && dl < at) at = dl;
    return at;
  }

  /** Fire request_timeout or the stream idle timeout if due at `now`. */
  checkTimeouts(now: number): void {
    if (this.destroyed) return;
    const c = this.config;
    if (this.requestDeadline !== 0 && now >= this.requestDeadline) {
      c.stats.v[c.s.downstream_rq_timeout]++;
      this.closeConnection = true;
      if (this.responseStarted) this.resetStream();
      else this.sendLocalReply(408, 'request timeout', '', 'request_overall_timeout');
      return;
    }
    if (this.idleTimeoutMs > 0 && now - this.lastActivity >= this.idleTimeoutMs) {
      c.stats.v[c.s.downstream_rq_idle_timeout]++;
      this.closeConnection = true;
      if (this.responseStarted) {
        this.streamInfo.responseFlags = 'SI';
        this.resetStream();
      } else {
        this.sendLocalReply(408, 'stream timeout', 'SI', 'stream_idle_timeout');
      }
    }
  }

  setDownstreamWatermarkCallbacks(cb: DownstreamWatermarkCallbacks | null): void {
    this.watermarkCallbacks = cb;
  }

  /** Called by the codec when the client stops/starts keeping up with response bytes. */
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
    this.closeConnection = true;
    this.#finish();
    this.codec.resetStream();
  }

  /** The client went away (connection closed or codec error) with this stream open. */
  onDownstreamReset(): void {
    if (this.destroyed) return;
    if (this.streamInfo.responseFlags === '') this.streamInfo.responseFlags = 'DC';
    this.config.stats.v[this.config.s.downstream_rq_rx_reset]++;
    this.closeConnection = true;
    this.#finish();
  }

  /** Request fully received after the response was already complete (early reply). */
  onRemoteCompleteAfterLocal(): void {
    this.remoteComplete = true;
  }

  #localDone(): void {
    this.localComplete = true;
    const c = this.config;
    const v = c.stats.v;
    const code = this.streamInfo.responseCode;
    const cls = (code / 100) | 0;
    const s = c.s;
    if (cls === 2) v[s.downstream_rq_2xx]++;
    else if (cls === 5) v[s.downstream_rq_5xx]++;
    else if (cls === 4) v[s.downstream_rq_4xx]++;
    else if (cls === 3) v[s.downstream_rq_3xx]++;
    else if (cls === 1) v[s.downstream_rq_1xx]++;
    v[s.downstream_rq_completed]++;
    this.#finish();
  }

  #finish(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    while (this.readDisables > 0) {
      this.readDisables--;
      this.codec.readDisable(false);
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
        req: this.requestHeaders, resp: this.responseHeaders, info: this.streamInfo, durationMs: dur,
        startTime: Date.now() - dur,
      };
      for (const l of c.accessLoggers) l.log(ctx);
    }
    this.responseHeaders?.release();
    this.codec.onStreamComplete(this.closeConnection);
  }
}

export function statusText(code: number): string {
  return STATUS_TEXT[code] ?? '';
}
