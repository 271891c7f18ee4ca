// envoy.filters.http.fault (Envoy's FaultFilter, source/extensions/filters/http/fault/): on the
// request head, with the route's HTTPFault if it has one (else the filter's), a request that
// matches (upstream_cluster, downstream_nodes, headers) may get
//   - a response rate limit (the response body is sent to the client at `kbps` KiB/s),
//   - a delay (the request is held, then continues or is aborted),
//   - an abort (a local reply with the HTTP status, or a gRPC status),
// each drawn through the runtime with the config's percentage as the default (Envoy's keys
// fault.http.abort.abort_percent ...; with x-envoy-downstream-service-cluster, the
// fault.http.<cluster>.* keys instead). Every fault a stream takes counts once in active_faults,
// a gauge per worker, and in one Int32 shared by every worker (FaultSnap.active), which is what
// max_active_faults is checked against: the limit is the process's, as Envoy's is.
//
// Timers: a delay is a setTimeout (not the 50 ms timer wheel: a fault of a few milliseconds must
// last a few milliseconds, as Envoy's precise timers make it), cleared when the stream ends; the
// rate limiter releases 1/16 s slices on a setTimeout too. Both pass the filter as the timer's
// argument (no closure per stream).
import { Buffer } from 'node:buffer';
import { performance } from 'node:perf_hooks';
import {
  FilterDataStatus, FilterHeadersStatus, FilterTrailersStatus, type StreamDecoderFilterCallbacks,
  type StreamEncoderFilterCallbacks, type StreamFilter,
} from '../../../../http/filter.ts';
import {
  ResponseFlag, ResponseHeaders, addResponseFlag, type HeaderMap, type RequestHeaders,
} from '../../../../http/types.ts';
import { HeaderMatcher, isGrpcContentType } from '../../../../router/matchers.ts';
import { retain } from '../../../../network/socket-owner.ts';
import type { FractionalPercent, Loader, Snapshot } from '../../../../runtime/types.ts';
import {
  AbortKind, HEADER_ABORT, HEADER_ABORT_GRPC, HEADER_ABORT_PERCENTAGE, HEADER_DELAY, HEADER_DELAY_PERCENTAGE,
  HEADER_THROUGHPUT, HEADER_THROUGHPUT_PERCENTAGE, SourceKind, type FaultSettingsSnap, type FaultSnap, type FaultStats,
} from './config.ts';
import { PassThroughFilter } from '../../../../http/pass-through-filter.ts';

const ABORT_BODY = 'fault filter abort';
const ABORT_DETAILS = 'fault_filter_abort';
const EMPTY = Buffer.alloc(0);
/** Envoy's StreamRateLimiter divides a second into 16 slices (16 divides 1024). */
const SECOND_DIVISOR = 16;
const SLICE_MS = 1000 / SECOND_DIVISOR;

/** absl::SimpleAtoi into an unsigned integer (surrounding ASCII space, an optional '+'); -1 when it
 *  is not one. */
function parseUint(v: string | undefined): number {
  if (v === undefined || !/^[ \t\n\v\f\r]*\+?\d{1,15}[ \t\n\v\f\r]*$/.test(v)) return -1;
  return Number(v.trim());
}

/** Envoy's HeaderPercentageProvider: the header's numerator, capped at the configured one. */
function headerPercentage(h: RequestHeaders, name: string, p: FractionalPercent): FractionalPercent {
  const n = parseUint(h.get(name));
  if (n < 0 || n > 0xffffffff) return p;
  return n >= p.numerator ? p : { numerator: n, denominator: p.denominator };
}

/** Envoy's Grpc::Utility::httpToGrpcStatus. */
function httpToGrpcStatus(status: number): number {
  switch (status) {
    case 400: return 13;
    case 401: return 16;
    case 403: return 7;
    case 404: return 12;
    case 429: case 502: case 503: case 504: return 14;
    default: return 2;
  }
}

/** One compiled settings with its header matchers built (per worker). */
export class FaultSettings {
  readonly snap: FaultSettingsSnap;
  readonly headers: readonly HeaderMatcher[];
  readonly downstreamNodes: ReadonlySet<string>;
  constructor(snap: FaultSettingsSnap) {
    this.snap = snap;
    this.headers = snap.headers.map((h) => new HeaderMatcher(h));
    this.downstreamNodes = new Set(snap.downstreamNodes);
  }
}

/** What every stream of a filter config shares (built once per worker). */
export class FaultConfig {
  readonly settings: FaultSettings;
  readonly filterName: string;
  readonly stats: FaultStats;
  readonly active: Int32Array;
  readonly runtime: Loader;
  /** Per-route settings, built on first use and kept with the route's compiled snapshot. */
  readonly #perRoute: WeakMap<object, FaultSettings>;
  constructor(snap: FaultSnap, runtime: Loader) {
    this.settings = new FaultSettings(snap.settings);
    this.filterName = snap.filterName;
    this.stats = snap.stats;
    this.active = new Int32Array(snap.active);
    this.runtime = runtime;
    this.#perRoute = new WeakMap();
  }
  /** The settings of a route's typed_per_filter_config entry. */
  routeSettings(snap: object): FaultSettings {
    let s = this.#perRoute.get(snap);
    if (s === undefined) this.#perRoute.set(snap, s = new FaultSettings(snap as FaultSettingsSnap));
    return s;
  }
}

/** setTimeout callbacks: the filter is the argument. */
function onDelayTimer(f: FaultFilter): void {
  f.postDelayInjection();
}
function onTokenTimer(f: FaultFilter): void {
  f.onTokenTimer();
}

const NO_DECODER = null as unknown as StreamDecoderFilterCallbacks;
const NO_ENCODER = null as unknown as StreamEncoderFilterCallbacks;

export class FaultFilter extends PassThroughFilter implements StreamFilter {
  readonly config: FaultConfig;
  dcb: StreamDecoderFilterCallbacks;
  ecb: StreamEncoderFilterCallbacks;
  settings: FaultSettings;
  headers: RequestHeaders | null;
  delayTimer: NodeJS.Timeout | null;
  /** This stream counts in active_faults. */
  faultActive: boolean;
  /** x-envoy-downstream-service-cluster ('' when absent): selects the fault.http.<cluster>.* keys. */
  downstreamCluster: string;
  // The response rate limiter (Envoy's StreamRateLimiter); bytesPerSlice 0: none.
  bytesPerSlice: number;
  tokens: number;
  tokensAt: number;
  queue: Buffer[] | null;
  queued: number;
  sawEndStream: boolean;
  sawTrailers: boolean;
  tokenTimer: NodeJS.Timeout | null;
  /** We paused the upstream (the queue outgrew the buffer limit). */
  paused: boolean;
  destroyed: boolean;

  constructor(config: FaultConfig) {
    super();
    this.config = config;
    this.dcb = NO_DECODER;
    this.ecb = NO_ENCODER;
    this.settings = config.settings;
    this.headers = null;
    this.delayTimer = null;
    this.faultActive = false;
    this.downstreamCluster = '';
    this.bytesPerSlice = 0;
    this.tokens = 0;
    this.tokensAt = 0;
    this.queue = null;
    this.queued = 0;
    this.sawEndStream = false;
    this.sawTrailers = false;
    this.tokenTimer = null;
    this.paused = false;
    this.destroyed = false;
  }

  setDecoderFilterCallbacks(cb: StreamDecoderFilterCallbacks): void { this.dcb = cb; }
  setEncoderFilterCallbacks(cb: StreamEncoderFilterCallbacks): void { this.ecb = cb; }

  // ---- request ---------------------------------------------------------------------------------

  decodeHeaders(headers: RequestHeaders, _endStream: boolean): FilterHeadersStatus {
    const cb = this.dcb;
    const config = this.config;
    const perRoute = cb.perFilterConfig(config.filterName);
    const settings = perRoute === null ? config.settings : config.routeSettings(perRoute);
    this.settings = settings;
    const s = settings.snap;
    if (s.abort === null && s.delay === null && s.responseRateLimit === null) return FilterHeadersStatus.Continue;
    if (s.upstreamCluster !== '') {
      const action = cb.route?.snap.action;
      if (action === undefined || action.kind !== 'cluster' || action.cluster !== s.upstreamCluster) {
        return FilterHeadersStatus.Continue;
      }
    }
    if (settings.downstreamNodes.size > 0) {
      const node = headers.get('x-envoy-downstream-service-node');
      if (node === undefined || !settings.downstreamNodes.has(node)) return FilterHeadersStatus.Continue;
    }
    const matchers = settings.headers;
    for (let i = 0; i < matchers.length; i++) if (!matchers[i].match(headers)) return FilterHeadersStatus.Continue;
    this.headers = headers;
    const dc = headers.get('x-envoy-downstream-service-cluster');
    if (dc !== undefined) this.downstreamCluster = dc;
    const rt = config.runtime.snapshot();
    this.#maybeSetupResponseRateLimit(rt, headers);
    const delayMs = this.#delayDuration(rt, headers);
    if (delayMs > 0 && this.#tryIncActiveFaults(rt)) {
      this.delayTimer = setTimeout(onDelayTimer, delayMs, this);
      cb.stats.v[config.stats.delays_injected]++;
      addResponseFlag(cb.streamInfo, ResponseFlag.DelayInjected);
      return FilterHeadersStatus.StopIteration;
    }
    if (this.#maybeAbort(rt, headers)) return FilterHeadersStatus.StopIteration;
    return FilterHeadersStatus.Continue;
  }

  decodeData(_data: Buffer, _endStream: boolean): FilterDataStatus {
    // Held while delayed: past the buffer limit the client is paused, not refused (Envoy's).
    return this.delayTimer === null ? FilterDataStatus.Continue : FilterDataStatus.StopIterationAndWatermark;
  }

  decodeTrailers(_trailers: HeaderMap): FilterTrailersStatus {
    return this.delayTimer === null ? FilterTrailersStatus.Continue : FilterTrailersStatus.StopIteration;
  }

  /** The delay is over: abort if an abort is drawn, else the request goes on. */
  postDelayInjection(): void {
    this.delayTimer = null;
    if (this.destroyed) return;
    const rt = this.config.runtime.snapshot();
    if (this.#maybeAbort(rt, this.headers!)) return;
    // A delay that is over is no longer an active fault, unless the response is rate limited.
    if (this.bytesPerSlice === 0 && this.faultActive) this.#decActiveFaults();
    this.dcb.continueDecoding();
  }

  /** Envoy's isEnabled: the percentage through the runtime (the downstream cluster's key instead
   *  when the request names one). */
  #enabled(rt: Snapshot, key: string, what: string, p: FractionalPercent): boolean {
    const dc = this.downstreamCluster;
    if (dc !== '') return rt.featureEnabledFractional(`fault.http.${dc}.${what}`, p);
    return rt.featureEnabledFractional(key, p);
  }

  #delayDuration(rt: Snapshot, h: RequestHeaders): number {
    const d = this.settings.snap.delay;
    if (d === null) return 0;
    const p = d.kind === SourceKind.Header ? headerPercentage(h, HEADER_DELAY_PERCENTAGE, d.percentage) : d.percentage;
    if (!this.#enabled(rt, this.settings.snap.runtime.delayPercent, 'delay.fixed_delay_percent', p)) return 0;
    let ms = d.kind === SourceKind.Fixed ? d.fixedMs : parseUint(h.get(HEADER_DELAY));
    if (ms < 0) return 0;
    ms = rt.getInteger(this.settings.snap.runtime.delayDuration, ms);
    if (this.downstreamCluster !== '') ms = rt.getInteger(`fault.http.${this.downstreamCluster}.delay.fixed_duration_ms`, ms);
    return ms;
  }

  /** Abort now if the abort is drawn (and the active-fault limit allows it). */
  #maybeAbort(rt: Snapshot, h: RequestHeaders): boolean {
    const a = this.settings.snap.abort;
    if (a === null) return false;
    const keys = this.settings.snap.runtime;
    const p = a.kind === AbortKind.Header ? headerPercentage(h, HEADER_ABORT_PERCENTAGE, a.percentage) : a.percentage;
    if (!this.#enabled(rt, keys.abortPercent, 'abort.abort_percent', p)) return false;
    const dc = this.downstreamCluster;
    // An HTTP status wins over a gRPC one (Envoy's abortStatus).
    let http = a.kind === AbortKind.Http ? a.httpStatus : -1;
    if (a.kind === AbortKind.Header) {
      const v = parseUint(h.get(HEADER_ABORT));
      if (v >= 200 && v < 600) http = v;
    }
    let grpc = -1;
    if (http >= 0) {
      const dflt = http;
      http = rt.getInteger(keys.abortHttpStatus, dflt);
      if (dc !== '') http = rt.getInteger(`fault.http.${dc}.abort.http_status`, dflt);
    } else {
      grpc = a.kind === AbortKind.Grpc ? a.grpcStatus : a.kind === AbortKind.Header ? parseUint(h.get(HEADER_ABORT_GRPC)) : -1;
      if (grpc < 0) return false;
      const dflt = grpc;
      grpc = rt.getInteger(keys.abortGrpcStatus, dflt);
      if (dc !== '') grpc = rt.getInteger(`fault.http.${dc}.abort.grpc_status`, dflt);
      http = 200;
    }
    if (!this.#tryIncActiveFaults(rt)) return false;
    this.#abort(http, grpc);
    return true;
  }

  #abort(http: number, grpc: number): void {
    const cb = this.dcb;
    cb.stats.v[this.config.stats.aborts_injected]++;
    addResponseFlag(cb.streamInfo, ResponseFlag.FaultInjected);
    if (isGrpcContentType(this.headers!.get('content-type'))) {
      // Envoy's local reply to a gRPC request: a trailers-only response, HTTP 200, the status in
      // grpc-status (an HTTP status mapped as Envoy maps it) and the body in grpc-message.
      cb.streamInfo.responseCodeDetails = ABORT_DETAILS;
      const status = grpc >= 0 ? grpc : httpToGrpcStatus(http);
      cb.encodeHeaders(new ResponseHeaders(200, [
        'content-type', 'application/grpc', 'grpc-status', String(status), 'grpc-message', ABORT_BODY,
      ]), true);
      return;
    }
    cb.sendLocalReply(http, ABORT_BODY, '', ABORT_DETAILS);
  }

  // ---- active faults ---------------------------------------------------------------------------

  /** Envoy's tryIncActiveFaults: a stream counts once however many faults it takes; past
   *  max_active_faults (the runtime's fault.http.max_active_faults, else the config's) the fault
   *  is not injected and faults_overflow counts it. */
  #tryIncActiveFaults(rt: Snapshot): boolean {
    if (this.faultActive) return true;
    const s = this.settings.snap;
    const max = rt.getInteger(s.runtime.maxActiveFaults, s.maxActiveFaults < 0 ? Infinity : s.maxActiveFaults);
    const stats = this.dcb.stats;
    // Taken first, then checked: two workers racing for the last slot cannot both have it.
    if (Atomics.add(this.config.active, 0, 1) >= max) {
      Atomics.sub(this.config.active, 0, 1);
      stats.v[this.config.stats.faults_overflow]++;
      return false;
    }
    stats.v[this.config.stats.active_faults]++;
    this.faultActive = true;
    return true;
  }

  #decActiveFaults(): void {
    this.faultActive = false;
    Atomics.sub(this.config.active, 0, 1);
    this.dcb.stats.v[this.config.stats.active_faults]--;
  }

  // ---- response rate limit ---------------------------------------------------------------------

  #maybeSetupResponseRateLimit(rt: Snapshot, h: RequestHeaders): void {
    const r = this.settings.snap.responseRateLimit;
    if (r === null) return;
    const p = r.kind === SourceKind.Header ? headerPercentage(h, HEADER_THROUGHPUT_PERCENTAGE, r.percentage) : r.percentage;
    if (!rt.featureEnabledFractional(this.settings.snap.runtime.responseRateLimitPercent, p)) return;
    const kbps = r.kind === SourceKind.Fixed ? r.kbps : parseUint(h.get(HEADER_THROUGHPUT));
    if (kbps <= 0) return;
    if (!this.#tryIncActiveFaults(rt)) return;
    this.dcb.stats.v[this.config.stats.response_rl_injected]++;
    this.bytesPerSlice = Math.max(1, Math.floor((kbps * 1024) / SECOND_DIVISOR));
    // Envoy's token bucket: one second's worth of slices to start with, refilled 16 a second.
    this.tokens = SECOND_DIVISOR;
    this.tokensAt = performance.now();
    this.queue = [];
  }

  encodeData(data: Buffer, endStream: boolean): FilterDataStatus {
    const q = this.queue;
    if (q === null) return FilterDataStatus.Continue;
    if (data.length > 0) {
      q.push(retain(data));
      this.queued += data.length;
    }
    if (endStream) this.sawEndStream = true;
    const limit = this.ecb.encoderBufferLimit;
    if (!this.paused && limit > 0 && this.queued > limit) {
      this.paused = true;
      this.ecb.onEncoderFilterAboveWriteBufferHighWatermark();
    }
    if (this.tokenTimer === null) this.tokenTimer = setTimeout(onTokenTimer, 0, this);
    return FilterDataStatus.StopIterationNoBuffer;
  }

  encodeTrailers(_trailers: HeaderMap): FilterTrailersStatus {
    if (this.queue === null) return FilterTrailersStatus.Continue;
    this.sawTrailers = true;
    // Held until the body has gone.
    return this.queued > 0 || this.tokenTimer !== null ? FilterTrailersStatus.StopIteration : FilterTrailersStatus.Continue;
  }

  /** Release what the tokens allow; come back when the next token is due. */
  onTokenTimer(): void {
    this.tokenTimer = null;
    if (this.destroyed) return;
    const now = performance.now();
    this.tokens = Math.min(SECOND_DIVISOR, this.tokens + ((now - this.tokensAt) * SECOND_DIVISOR) / 1000);
    this.tokensAt = now;
    const whole = Math.floor(this.tokens);
    let budget = whole * this.bytesPerSlice;
    this.tokens -= whole;
    const q = this.queue!;
    let out: Buffer = EMPTY;
    if (budget > 0 && this.queued > 0) {
      const parts: Buffer[] = [];
      let n = 0;
      while (q.length > 0 && budget > 0) {
        const b = q[0];
        if (b.length <= budget) {
          parts.push(b);
          q.shift();
          budget -= b.length;
          n += b.length;
        } else {
          parts.push(b.subarray(0, budget));
          q[0] = b.subarray(budget);
          n += budget;
          budget = 0;
        }
      }
      this.queued -= n;
      out = parts.length === 1 ? parts[0] : Buffer.concat(parts, n);
      // Unused whole tokens are not kept past a drained queue (a burst waits for the bucket).
      if (budget > 0) this.tokens += Math.floor(budget / this.bytesPerSlice);
    }
    const done = this.queued === 0;
    if (this.paused && this.queued <= this.ecb.encoderBufferLimit / 2) {
      this.paused = false;
      this.ecb.onEncoderFilterBelowWriteBufferLowWatermark();
      if (this.destroyed) return;
    }
    if (out.length > 0 || (done && this.sawEndStream && !this.sawTrailers)) {
      this.ecb.injectEncodedDataToFilterChain(out, done && this.sawEndStream && !this.sawTrailers);
      if (this.destroyed) return;
    }
    if (!done) {
      this.tokenTimer = setTimeout(onTokenTimer, SLICE_MS, this);
    } else if (this.sawTrailers) {
      this.ecb.continueEncoding();
    }
  }

  onDestroy(): void {
    this.destroyed = true;
    if (this.delayTimer !== null) {
      clearTimeout(this.delayTimer);
      this.delayTimer = null;
    }
    if (this.tokenTimer !== null) {
      clearTimeout(this.tokenTimer);
      this.tokenTimer = null;
    }
    this.queue = null;
    if (this.faultActive) this.#decActiveFaults();
  }
}

/** For tests: the shared count's current value. */
export function activeFaults(config: FaultConfig): number {
  return Atomics.load(config.active, 0);
}
