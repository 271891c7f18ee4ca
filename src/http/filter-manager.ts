// The HTTP filter manager (Envoy's Http::FilterManager, source/common/http/filter_manager.cc): runs
// one stream's decoder filters on the request and its encoder filters on the response, codec-neutral.
// Its owner (the HCM's ActiveStream) feeds it the codec's request events and gets back what goes to
// the codec, through FilterManagerCallbacks.
//
// What it owns: the filter chain (one small wrapper per filter, Envoy's ActiveStreamDecoderFilter /
// ActiveStreamEncoderFilter, which is also the filter's callbacks object), each side's iteration
// state, the request and response bodies buffered for stopped filters, the trailers, the response
// head once a filter starts it, and local replies. It does not own the codec, timers, stats or the
// access log: those stay with the owner.
//
// Replay rule. A filter that stops (StopIteration, StopAll*, or a data/trailers stop) keeps the
// later filters from seeing what follows. When it continues (continueDecoding / continueEncoding,
// or Continue returned from a later data/trailers call) the later filters get, exactly once and in
// this order: the headers if they had not passed it yet, the buffered body as one data call, then
// the trailers. endStream is carried by the last of these: the headers when there is neither body
// nor trailers, the body when there are no trailers, else the trailers (a stream with trailers ends
// at its trailers). A filter that stopped with StopIteration still gets the stream's later data and
// trailers itself (that is how it buffers them); one that stopped with StopAll* gets nothing until
// it continues, and then gets the body first.
//
// Buffer rule. The body is buffered only for StopIterationAndBuffer / StopIterationAndWatermark on
// data, for the StopAll* header statuses and for addDecodedData / addEncodedData; buffered chunks
// are retain()ed (network/socket-owner.ts). Past the buffer limit (the connection's
// per_connection_buffer_limit_bytes; 0 = none): the *AndBuffer statuses fail the stream (413 on the
// request, counted by the owner; on the response 500 if its head has not reached the codec, else a
// reset), the *AndWatermark statuses pause the source instead (the owner's readDisable on the
// request side, the downstream watermark callbacks, which pause the upstream, on the response side)
// and resume it when the buffer is replayed (a held body only drains that way, all at once, so
// Envoy's low watermark at half the limit is passed then).
//
// Local replies (sendLocalReply, from any filter or the owner): before a response started, the reply
// goes through the encoder filters like any response (asked for inside a decoder callback, it is
// sent when that callback returns, so no encoder runs nested in a decoder); with a response head
// stopped in the encoder chain it goes straight to the codec (those filters saw another response);
// once a head reached the codec the stream is reset. After a local reply no decoder filter is
// called again, and after destroy() no filter is called at all.
//
// Driving it (the owner): createFilterChain(chain, the route's disabled map) once routed, then
// decodeHeaders(endStream), decodeData(data, endStream), decodeTrailers(trailers) as the codec
// delivers the request; onAboveWriteBufferHighWatermark / onBelowWriteBufferLowWatermark as the
// client's write buffer fills and drains; sendLocalReply for the owner's own answers (timeouts,
// bad requests); destroy() when the stream is over (after endStream(), a reset, or the client
// going away).
//
// Cost. A stream allocates the manager and one wrapper per filter (a singly linked list in each
// direction, no arrays); buffers and trailers only when used; no closure per stream.
import { Buffer } from 'node:buffer';
import { httpDate } from '../common/date.ts';
import { bug } from '../common/errors.ts';
import type { StatSink } from '../common/stat-sink.ts';
import { retain } from '../network/socket-owner.ts';
import {
  FilterDataStatus, FilterHeadersStatus, FilterTrailersStatus, type BufferedBody, type DownstreamWatermarkCallbacks,
  type FilterChainFactoryCallbacks, type FilterFactory, type StreamDecoderFilter, type StreamDecoderFilterCallbacks,
  type StreamEncoderFilter, type StreamEncoderFilterCallbacks, type StreamFilter,
} from './filter.ts';
import type { CompiledRoute } from '../router/route-table.ts';
import type { HcmStats } from './stats.ts';
import type { RequestEncoder } from './codec.ts';
import type { NetworkConnection } from '../network/filter.ts';
import { addResponseFlag, HeaderMap, ResponseHeaders, type RequestHeaders, type StreamInfo } from './types.ts';

/** What the manager needs from its owner (Envoy's FilterManagerCallbacks). */
export interface FilterManagerCallbacks {
  readonly streamInfo: StreamInfo;
  /** The route picked for the request (null: none matched). */
  readonly route: CompiledRoute | null;
  readonly hcmStats: HcmStats;
  readonly stats: StatSink;
  readonly requestHeaders: RequestHeaders;
  /** The downstream connection, null when none. */
  connection(): NetworkConnection | null;
  /** The route's compiled typed_per_filter_config for a filter config name (the most specific of
   *  route, virtual host and route configuration), null when none. */
  perFilterConfig(name: string): object | null;
  /** The response head, after the encoder filters: to the codec. `headers` is also what a local
   *  reply sends; the owner records the status in streamInfo here. */
  encodeHeaders(headers: ResponseHeaders, endStream: boolean): void;
  encodeData(data: Buffer, endStream: boolean): void;
  /** Response trailers (they end the response). */
  encodeTrailers(trailers: HeaderMap): void;
  /** The whole response has gone to the codec (Envoy's endStream()): the owner counts it and ends
   *  the stream (calling destroy()) when it is done with it. */
  endStream(): void;
  /** Pause / resume reading the request (counted: n disables need n enables). The owner undoes
   *  what is outstanding when the stream ends. */
  readDisable(disable: boolean): void;
  /** A local reply's head, built by the manager (status, content-length, content-type text/plain,
   *  date): the owner finishes it (server, local_reply_config ...; it may change the status) and
   *  returns the body to send. */
  onLocalReply(headers: ResponseHeaders, body: string, details: string): string;
  /** The request body outgrew the buffer limit (the HCM counts downstream_rq_too_large); a 413
   *  follows. */
  onRequestDataTooLarge(): void;
  /** The response body outgrew the buffer limit (Envoy's rs_too_large); a 500 or a reset follows. */
  onResponseDataTooLarge(): void;
  /** Abort the stream toward the client (the response started, or a filter asked). The owner does
   *  its accounting and closes the codec stream; destroy() follows (the owner may call it first). */
  resetStream(): void;
  /** See StreamDecoderFilterCallbacks.upgradeToRelay. */
  upgradeToRelay(upstream: RequestEncoder): void;
}

/** One configured HTTP filter, as a connection manager's chain holds it (built once per config
 *  and worker): its config name (http_filters[i].name: a route's typed_per_filter_config key),
 *  its factory, and whether it is disabled unless a route enables it (HttpFilter.disabled). */
export interface FilterChainEntry {
  readonly name: string;
  readonly factory: FilterFactory;
  readonly disabled: boolean;
}

// A filter wrapper's iteration state (Envoy's ActiveStreamFilterBase::IterationState).
const CONTINUE = 0;
const STOP_SINGLE = 1;
const STOP_ALL_BUFFER = 2;
const STOP_ALL_WATERMARK = 3;

// Which filter callback is running (Envoy's FilterCallState), saved and restored around each call.
const DECODE_HEADERS = 1;
const DECODE_DATA = 2;
const DECODE_TRAILERS = 4;
const ENCODE_HEADERS = 8;
const ENCODE_DATA = 16;
const ENCODE_TRAILERS = 32;
const END_OF_STREAM = 64;
const DECODING = DECODE_HEADERS | DECODE_DATA | DECODE_TRAILERS;

const EMPTY = Buffer.alloc(0);

/** A body held for stopped filters. */
class BodyBuffer implements BufferedBody {
  chunks: Buffer[];
  length: number;
  /** Past the limit, and not yet back to half of it. */
  above: boolean;
  /** The source was paused for it (a *AndWatermark status): resume when it drains. */
  paused: boolean;
  constructor() {
    this.chunks = [];
    this.length = 0;
    this.above = false;
    this.paused = false;
  }
  add(data: Buffer): void {
    if (data.length === 0) return;
    this.chunks.push(retain(data));
    this.length += data.length;
  }
  toBuffer(): Buffer {
    const c = this.chunks;
    if (c.length === 0) return EMPTY;
    if (c.length === 1) return c[0];
    const b = Buffer.concat(c, this.length);
    this.chunks = [b];
    return b;
  }
  replace(data: Buffer): void {
    this.chunks = data.length === 0 ? [] : [retain(data)];
    this.length = data.length;
  }
}

/** What both wrappers hold (Envoy's ActiveStreamFilterBase): the filter's place and iteration state
 *  in its chain, and the callbacks both sides share. */
abstract class ActiveStreamFilterBase {
  readonly parent: FilterManager;
  /** Its config name (http_filters[i].name; '' when built without one). */
  readonly filterConfigName: string;
  /** The next filter to destroy (order of addition; a dual filter is listed once). */
  nextToDestroy: ActiveStreamDecoderFilter | ActiveStreamEncoderFilter | null;
  iterationState: number;
  /** Its headers call returned Continue (or it continued since). */
  headersContinued: boolean;
  /** It has been given endStream (or trailers): nothing more goes to it. */
  endStream: boolean;
  /** Continuing from StopAll*: the resumed body and trailers start with this filter. */
  iterateFromCurrent: boolean;
  // The stream's, fixed for its life: fields, not getters (the router reads them per request).
  readonly streamInfo: StreamInfo;
  readonly hcmStats: HcmStats;
  readonly stats: StatSink;
  constructor(parent: FilterManager) {
    this.parent = parent;
    this.filterConfigName = parent.creatingName;
    this.nextToDestroy = null;
    this.iterationState = CONTINUE;
    this.headersContinued = false;
    this.endStream = false;
    this.iterateFromCurrent = false;
    this.streamInfo = parent.owner.streamInfo;
    this.hcmStats = parent.owner.hcmStats;
    this.stats = parent.owner.stats;
  }
  get route(): CompiledRoute | null { return this.parent.owner.route; }
  get requestHeaders(): RequestHeaders { return this.parent.owner.requestHeaders; }
  get requestTrailers(): HeaderMap | null { return this.parent.requestTrailers; }
  get responseHeaders(): ResponseHeaders | null { return this.parent.responseHeaders; }
  get responseTrailers(): HeaderMap | null { return this.parent.responseTrailers; }
  connection(): NetworkConnection | null { return this.parent.owner.connection(); }
  perFilterConfig(name: string = this.filterConfigName): object | null { return this.parent.owner.perFilterConfig(name); }
  sendLocalReply(status: number, body: string, flag: string, details: string, headers: readonly string[] | null = null): void {
    this.parent.sendLocalReply(status, body, flag, details, headers);
  }
  resetStream(): void { this.parent.resetStream(); }
}

/** Wraps one decoder filter: its place in the chain, its iteration state, and its callbacks. */
class ActiveStreamDecoderFilter extends ActiveStreamFilterBase implements StreamDecoderFilterCallbacks {
  readonly filter: StreamDecoderFilter;
  /** The next decoder filter (in order of addition). */
  next: ActiveStreamDecoderFilter | null;
  constructor(parent: FilterManager, filter: StreamDecoderFilter) {
    super(parent);
    this.filter = filter;
    this.next = null;
  }
  get decoderBufferLimit(): number { return this.parent.bufferLimit; }
  continueDecoding(): void { this.parent.continueDecodingFrom(this); }
  encodeHeaders(headers: ResponseHeaders, endStream: boolean): void { this.parent.encodeHeadersFromFilter(headers, endStream); }
  encodeData(data: Buffer, endStream: boolean): void { this.parent.encodeDataFromFilter(data, endStream); }
  encodeTrailers(trailers: HeaderMap): void { this.parent.encodeTrailersFromFilter(trailers); }
  addDecodedData(data: Buffer, streaming: boolean): void { this.parent.addDecodedDataFrom(this, data, streaming); }
  decodingBuffer(): BufferedBody | null { return this.parent.decodingBuffer(); }
  injectDecodedDataToFilterChain(data: Buffer, endStream: boolean): void {
    this.parent.injectDecodedDataFrom(this, data, endStream);
  }
  addDecodedTrailers(): HeaderMap { return this.parent.addDecodedTrailers(); }
  readDisable(disable: boolean): void { this.parent.readDisableFromFilter(disable); }
  setDownstreamWatermarkCallbacks(cb: DownstreamWatermarkCallbacks | null): void {
    this.parent.setDownstreamWatermarkCallbacks(cb);
  }
  setDecoderBufferLimit(limit: number): void { this.parent.bufferLimit = limit; }
  upgradeToRelay(upstream: RequestEncoder): void { this.parent.owner.upgradeToRelay(upstream); }
}

/** Wraps one encoder filter (the encoder list runs in reverse order of addition). */
class ActiveStreamEncoderFilter extends ActiveStreamFilterBase implements StreamEncoderFilterCallbacks {
  readonly filter: StreamEncoderFilter;
  /** The next encoder filter (reverse order of addition). */
  next: ActiveStreamEncoderFilter | null;
  constructor(parent: FilterManager, filter: StreamEncoderFilter) {
    super(parent);
    this.filter = filter;
    this.next = null;
  }
  get encoderBufferLimit(): number { return this.parent.bufferLimit; }
  continueEncoding(): void { this.parent.continueEncodingFrom(this); }
  addEncodedData(data: Buffer, streaming: boolean): void { this.parent.addEncodedDataFrom(this, data, streaming); }
  encodingBuffer(): BufferedBody | null { return this.parent.encodingBuffer(); }
  injectEncodedDataToFilterChain(data: Buffer, endStream: boolean): void {
    this.parent.injectEncodedDataFrom(this, data, endStream);
  }
  addEncodedTrailers(): HeaderMap { return this.parent.addEncodedTrailers(); }
  setEncoderBufferLimit(limit: number): void { this.parent.bufferLimit = limit; }
  onEncoderFilterAboveWriteBufferHighWatermark(): void {
    if (!this.parent.destroyed) this.parent.onAboveWriteBufferHighWatermark();
  }
  onEncoderFilterBelowWriteBufferLowWatermark(): void {
    if (!this.parent.destroyed) this.parent.onBelowWriteBufferLowWatermark();
  }
}

export class FilterManager implements FilterChainFactoryCallbacks {
  readonly owner: FilterManagerCallbacks;
  /** Bytes a side may buffer for stopped filters (0: no limit). */
  bufferLimit: number;
  /** The config name of the filter whose factory runs (its wrappers take it). */
  creatingName = '';
  #firstDecoder: ActiveStreamDecoderFilter | null = null;
  #lastDecoder: ActiveStreamDecoderFilter | null = null;
  #firstEncoder: ActiveStreamEncoderFilter | null = null;
  #firstToDestroy: ActiveStreamDecoderFilter | ActiveStreamEncoderFilter | null = null;
  #lastToDestroy: ActiveStreamDecoderFilter | ActiveStreamEncoderFilter | null = null;
  #chainCreated = false;
  #callState = 0;
  #requestBuffer: BodyBuffer | null = null;
  #responseBuffer: BodyBuffer | null = null;
  #requestTrailers: HeaderMap | null = null;
  #responseHeaders: ResponseHeaders | null = null;
  #responseTrailers: HeaderMap | null = null;
  /** The codec delivered the end of the request. */
  #remoteDecodeComplete = false;
  /** The end of the response entered the encoder chain (Envoy's local_complete_). */
  #localComplete = false;
  /** The end of the response went to the codec (Envoy's remote_encode_complete_). */
  #encodeComplete = false;
  /** A response head went to the codec. */
  #headersEncoded = false;
  /** A local reply was sent or is pending: no decoder filter is called again. */
  #decoderAborted = false;
  #destroyed = false;
  /** The last buffering (status or addXData) asked for watermarks rather than a failure. */
  #decoderStreaming = false;
  #encoderStreaming = false;
  // A local reply asked for during a decoder callback, sent when that callback returns (Envoy's
  // prepareLocalReplyViaFilterChain: the encoder filters are not entered from inside a decoder).
  #pendingStatus = 0;
  #pendingBody = '';
  #pendingDetails = '';
  #pendingHeaders: readonly string[] | null = null;
  #watermarkCallbacks: DownstreamWatermarkCallbacks | null = null;
  /** Outstanding above-high-watermark events (codec and response buffer), for late registrants. */
  #highWatermarks = 0;

  constructor(owner: FilterManagerCallbacks, bufferLimit: number) {
    this.owner = owner;
    this.bufferLimit = bufferLimit;
  }

  // ---- for the owner --------------------------------------------------------------------------

  /** Run the configured factories once (after routing: factories may read the route). A filter
   *  disabled by default is left out unless the route enables it, and the route may disable any
   *  (`routeDisabled`: config name -> disabled, from the most specific typed_per_filter_config
   *  entry of route, virtual host and route configuration: Envoy's filterDisabled()). */
  createFilterChain(chain: readonly (FilterChainEntry | FilterFactory)[],
    routeDisabled: Readonly<Record<string, boolean>> | null = null): void {
    if (this.#chainCreated) return;
    this.#chainCreated = true;
    for (let i = 0; i < chain.length; i++) {
      const e = chain[i];
      // (A bare factory: a filter with no config name, never disabled; tests build chains so.)
      if (typeof e === 'function') {
        e(this);
        continue;
      }
      let off = e.disabled;
      if (routeDisabled !== null) {
        const d = routeDisabled[e.name];
        if (d !== undefined) off = d;
      }
      if (off) continue;
      this.creatingName = e.name;
      e.factory(this);
    }
    this.creatingName = '';
  }

  addStreamDecoderFilter(filter: StreamDecoderFilter): void {
    const w = new ActiveStreamDecoderFilter(this, filter);
    this.#appendDecoder(w);
    this.#appendToDestroy(w);
    filter.setDecoderFilterCallbacks(w);
  }

  addStreamEncoderFilter(filter: StreamEncoderFilter): void {
    const w = new ActiveStreamEncoderFilter(this, filter);
    w.next = this.#firstEncoder;
    this.#firstEncoder = w;
    this.#appendToDestroy(w);
    filter.setEncoderFilterCallbacks(w);
  }

  addStreamFilter(filter: StreamFilter): void {
    const d = new ActiveStreamDecoderFilter(this, filter);
    this.#appendDecoder(d);
    this.#appendToDestroy(d);
    const e = new ActiveStreamEncoderFilter(this, filter);
    e.next = this.#firstEncoder;
    this.#firstEncoder = e;
    filter.setDecoderFilterCallbacks(d);
    filter.setEncoderFilterCallbacks(e);
  }

  /** The codec delivered the request head (the owner's requestHeaders). */
  decodeHeaders(endStream: boolean): void {
    if (this.#destroyed || this.#decoderAborted || this.#localComplete) return;
    if (endStream) this.#remoteDecodeComplete = true;
    this.#decodeHeaders(null, endStream);
  }

  decodeData(data: Buffer, endStream: boolean): void {
    if (endStream) this.#remoteDecodeComplete = true;
    this.#decodeData(null, data, endStream, false);
  }

  /** Request trailers: they end the request. */
  decodeTrailers(trailers: HeaderMap): void {
    if (this.#destroyed) return;
    this.#remoteDecodeComplete = true;
    this.#requestTrailers = trailers;
    this.#decodeTrailers(null, trailers);
  }

  /** The client is not keeping up with the response (or is again): the registered downstream
   *  watermark callbacks pause (resume) the producer. */
  onAboveWriteBufferHighWatermark(): void {
    this.#highWatermarks++;
    this.#watermarkCallbacks?.onAboveWriteBufferHighWatermark();
  }
  onBelowWriteBufferLowWatermark(): void {
    if (this.#highWatermarks === 0) return;
    this.#highWatermarks--;
    this.#watermarkCallbacks?.onBelowWriteBufferLowWatermark();
  }

  /** Answer from here (the owner's own replies, and every filter's). Before a response started it
   *  goes through the encoder filters; with a response head in the encoder chain but not yet at
   *  the codec it goes straight to the codec; after that the stream is reset. Asked for during a
   *  decoder callback, it is sent when that callback returns. No decoder filter is called after. */
  sendLocalReply(status: number, body: string, flag: string, details: string, headers: readonly string[] | null = null): void {
    if (this.#destroyed) return;
    if (flag !== '') addResponseFlag(this.owner.streamInfo, flag);
    this.#decoderAborted = true;
    if (this.#responseHeaders === null && (this.#callState & DECODING) !== 0) {
      if (this.#pendingStatus === 0) {
        this.#pendingStatus = status;
        this.#pendingBody = body;
        this.#pendingDetails = details;
        this.#pendingHeaders = headers;
      }
      return;
    }
    this.#localReply(status, body, details, headers);
  }

  /** Abort the stream: the owner resets the codec stream, then the filters are destroyed. */
  resetStream(): void {
    if (this.#destroyed) return;
    this.owner.resetStream();
    this.destroy();
  }

  /** The stream is over (completed, reset, or the client went away): every filter's onDestroy,
   *  once, in order of addition; nothing reaches a filter after this. Idempotent. */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#requestBuffer = null;
    this.#responseBuffer = null;
    this.#pendingBody = '';
    this.#watermarkCallbacks = null;
    for (let w = this.#firstToDestroy; w !== null; w = w.nextToDestroy) w.filter.onDestroy();
  }

  get destroyed(): boolean { return this.#destroyed; }
  get requestHeaders(): RequestHeaders { return this.owner.requestHeaders; }
  get streamInfo(): StreamInfo { return this.owner.streamInfo; }
  /** The response head a filter (or a local reply) started, null before. */
  get responseHeaders(): ResponseHeaders | null { return this.#responseHeaders; }
  get requestTrailers(): HeaderMap | null { return this.#requestTrailers; }
  get responseTrailers(): HeaderMap | null { return this.#responseTrailers; }
  /** A response head has gone to the codec (too late for a local reply). */
  get responseStarted(): boolean { return this.#headersEncoded; }
  /** The whole response has gone to the codec. */
  get encodeComplete(): boolean { return this.#encodeComplete; }

  // ---- for the filters' callbacks (the wrappers above); not for the owner ----------------------

  decodingBuffer(): BufferedBody | null { return this.#requestBuffer; }
  encodingBuffer(): BufferedBody | null { return this.#responseBuffer; }

  /** Envoy's commonContinue, decode side. */
  continueDecodingFrom(w: ActiveStreamDecoderFilter): void {
    if (this.#localComplete || this.#decoderAborted || this.#destroyed) return;
    if (w.iterationState === CONTINUE) return; // not stopped: nothing to resume
    if (w.iterationState !== STOP_SINGLE) w.iterateFromCurrent = true;
    w.iterationState = CONTINUE;
    if (!w.headersContinued) {
      w.headersContinued = true;
      this.#decodeHeaders(w, this.#remoteDecodeComplete && this.#requestBuffer === null && this.#requestTrailers === null);
    }
    // Trailers added while the body is replayed are passed on by that replay; only trailers that
    // were here before are this continue's to pass.
    const trailers = this.#requestTrailers;
    if (this.#requestBuffer !== null) {
      this.#decodeData(w, this.#takeBuffer(true), this.#remoteDecodeComplete && trailers === null, true);
    }
    if (trailers !== null) this.#decodeTrailers(w, trailers);
    w.iterateFromCurrent = false;
  }

  /** Envoy's commonContinue, encode side. */
  continueEncodingFrom(w: ActiveStreamEncoderFilter): void {
    if (this.#encodeComplete || this.#destroyed) return;
    if (w.iterationState === CONTINUE) return;
    if (w.iterationState !== STOP_SINGLE) w.iterateFromCurrent = true;
    w.iterationState = CONTINUE;
    if (!w.headersContinued) {
      w.headersContinued = true;
      this.#encodeHeaders(w, this.#localComplete && this.#responseBuffer === null && this.#responseTrailers === null);
    }
    const trailers = this.#responseTrailers;
    if (this.#responseBuffer !== null) {
      this.#encodeData(w, this.#takeBuffer(false), this.#localComplete && trailers === null, true);
    }
    if (trailers !== null) this.#encodeTrailers(w, trailers);
    w.iterateFromCurrent = false;
  }

  addDecodedDataFrom(w: ActiveStreamDecoderFilter, data: Buffer, streaming: boolean): void {
    if (this.#destroyed) return;
    const cs = this.#callState;
    if (cs === 0 || (cs & (DECODE_HEADERS | DECODE_DATA)) !== 0 ||
        ((cs & DECODE_TRAILERS) !== 0 && w.iterationState !== CONTINUE)) {
      // Buffered: passed on when iteration continues (inline after decodeHeaders when the
      // request had no body).
      this.#decoderStreaming = streaming;
      this.#bufferData(true, data);
    } else if ((cs & DECODE_TRAILERS) !== 0) {
      // From decodeTrailers of a filter that continues: straight to the next filters.
      this.#decodeData(w, data, false, false);
    } else {
      bug('addDecodedData during an encoder callback');
      this.sendLocalReply(502, 'Filter error', '', 'filter_added_invalid_request_data');
    }
  }

  addEncodedDataFrom(w: ActiveStreamEncoderFilter, data: Buffer, streaming: boolean): void {
    if (this.#destroyed) return;
    const cs = this.#callState;
    if (cs === 0 || (cs & (ENCODE_HEADERS | ENCODE_DATA)) !== 0 ||
        ((cs & ENCODE_TRAILERS) !== 0 && w.iterationState !== CONTINUE)) {
      this.#encoderStreaming = streaming;
      this.#bufferData(false, data);
    } else if ((cs & ENCODE_TRAILERS) !== 0) {
      this.#encodeData(w, data, false, false);
    } else {
      bug('addEncodedData during a decoder callback');
      this.sendLocalReply(502, 'Filter error', '', 'filter_added_invalid_response_data');
    }
  }

  injectDecodedDataFrom(w: ActiveStreamDecoderFilter, data: Buffer, endStream: boolean): void {
    if (this.#localComplete || this.#decoderAborted || this.#destroyed) return;
    if (!w.headersContinued) {
      w.headersContinued = true;
      this.#decodeHeaders(w, false);
    }
    this.#decodeData(w, data, endStream, true);
  }

  injectEncodedDataFrom(w: ActiveStreamEncoderFilter, data: Buffer, endStream: boolean): void {
    if (this.#encodeComplete || this.#destroyed) return;
    if (!w.headersContinued) {
      w.headersContinued = true;
      this.#encodeHeaders(w, false);
    }
    this.#encodeData(w, data, endStream, true);
  }

  addDecodedTrailers(): HeaderMap {
    if ((this.#callState & (DECODE_DATA | END_OF_STREAM)) !== (DECODE_DATA | END_OF_STREAM)) {
      bug('addDecodedTrailers outside the last decodeData');
    }
    if (this.#requestTrailers === null) this.#requestTrailers = new HeaderMap([]);
    return this.#requestTrailers;
  }

  addEncodedTrailers(): HeaderMap {
    if ((this.#callState & (ENCODE_DATA | END_OF_STREAM)) !== (ENCODE_DATA | END_OF_STREAM)) {
      bug('addEncodedTrailers outside the last encodeData');
    }
    if (this.#responseTrailers === null) this.#responseTrailers = new HeaderMap([]);
    return this.#responseTrailers;
  }

  /** A decoder filter starts the response. */
  encodeHeadersFromFilter(headers: ResponseHeaders, endStream: boolean): void {
    if (this.#localComplete || this.#encodeComplete || this.#destroyed) return;
    if (this.#responseHeaders !== null) {
      bug('a second response head');
      return;
    }
    this.#responseHeaders = headers;
    this.#encodeHeaders(null, endStream);
  }

  encodeDataFromFilter(data: Buffer, endStream: boolean): void {
    if (this.#localComplete || this.#encodeComplete || this.#destroyed) return;
    this.#encodeData(null, data, endStream, false);
  }

  encodeTrailersFromFilter(trailers: HeaderMap): void {
    if (this.#localComplete || this.#encodeComplete || this.#destroyed) return;
    this.#responseTrailers = trailers;
    this.#encodeTrailers(null, trailers);
  }

  readDisableFromFilter(disable: boolean): void {
    if (!this.#destroyed) this.owner.readDisable(disable);
  }

  setDownstreamWatermarkCallbacks(cb: DownstreamWatermarkCallbacks | null): void {
    if (this.#destroyed) return;
    this.#watermarkCallbacks = cb;
    // Envoy's addDownstreamWatermarkCallbacks: a client already behind is reported at once.
    if (cb !== null) for (let i = 0; i < this.#highWatermarks; i++) cb.onAboveWriteBufferHighWatermark();
  }

  // ---- the chains -----------------------------------------------------------------------------

  #appendDecoder(w: ActiveStreamDecoderFilter): void {
    if (this.#lastDecoder === null) this.#firstDecoder = w;
    else this.#lastDecoder.next = w;
    this.#lastDecoder = w;
  }

  #appendToDestroy(w: ActiveStreamDecoderFilter | ActiveStreamEncoderFilter): void {
    if (this.#lastToDestroy === null) this.#firstToDestroy = w;
    else this.#lastToDestroy.nextToDestroy = w;
    this.#lastToDestroy = w;
  }

  /** Headers to the decoder filters after `from` (all of them when null). */
  #decodeHeaders(from: ActiveStreamDecoderFilter | null, endStream: boolean): void {
    const headers = this.owner.requestHeaders;
    // The filter after which a body that filters added to a header-only request is passed on
    // (the later filters then see the headers without endStream).
    let bodyFrom: ActiveStreamDecoderFilter | null = null;
    for (let e = from === null ? this.#firstDecoder : from.next; e !== null; e = e.next) {
      const end = endStream && bodyFrom === null;
      e.endStream = end;
      const saved = this.#callState;
      this.#callState = saved | (end ? DECODE_HEADERS | END_OF_STREAM : DECODE_HEADERS);
      const status = e.filter.decodeHeaders(headers, end);
      this.#callState = saved;
      if (this.#decoderAborted || this.#localComplete || this.#destroyed) {
        this.#sendPendingLocalReply();
        return;
      }
      if (!this.#afterHeaders(e, status) && e.next !== null) {
        this.#continueBodyFrom(bodyFrom);
        return;
      }
      if (endStream && this.#requestBuffer !== null && bodyFrom === null) bodyFrom = e;
    }
    this.#continueBodyFrom(bodyFrom);
  }

  /** Envoy's maybeContinueDecoding: pass on the body added to a header-only request. */
  #continueBodyFrom(e: ActiveStreamDecoderFilter | null): void {
    if (e === null) return;
    e.iterationState = STOP_SINGLE;
    this.continueDecodingFrom(e);
  }

  #decodeData(from: ActiveStreamDecoderFilter | null, data: Buffer, endStream: boolean, fromCurrent: boolean): void {
    if (this.#localComplete || this.#decoderAborted || this.#destroyed) return;
    const trailersAtStart = this.#requestTrailers !== null;
    let trailersAddedBy: ActiveStreamDecoderFilter | null = null;
    let e = from === null ? this.#firstDecoder : fromCurrent && from.iterateFromCurrent ? from : from.next;
    for (; e !== null; e = e.next) {
      if (e.iterationState >= STOP_ALL_BUFFER) {
        // Stopped for everything: the body waits for it.
        this.#decoderStreaming = e.iterationState === STOP_ALL_WATERMARK;
        this.#bufferData(true, data);
        return;
      }
      // It has had the end of the stream: this data is not for it or those after it.
      if (e.endStream) return;
      const end = endStream && this.#requestTrailers === null;
      e.endStream = end;
      const saved = this.#callState;
      this.#callState = saved | (endStream ? DECODE_DATA | END_OF_STREAM : DECODE_DATA);
      const status = e.filter.decodeData(data, end);
      this.#callState = saved;
      if (this.#decoderAborted || this.#localComplete || this.#destroyed) {
        this.#sendPendingLocalReply();
        return;
      }
      if (!trailersAtStart && trailersAddedBy === null && this.#requestTrailers !== null) {
        // addDecodedTrailers: the stream now ends at the trailers.
        endStream = false;
        trailersAddedBy = e;
      }
      if (!this.#afterDecodeData(e, status, data) && e.next !== null) break;
    }
    if (trailersAddedBy !== null) this.#decodeTrailers(trailersAddedBy, this.#requestTrailers!);
  }

  #decodeTrailers(from: ActiveStreamDecoderFilter | null, trailers: HeaderMap): void {
    if (this.#localComplete || this.#decoderAborted || this.#destroyed) return;
    let e = from === null ? this.#firstDecoder : from.iterateFromCurrent ? from : from.next;
    for (; e !== null; e = e.next) {
      if (e.iterationState >= STOP_ALL_BUFFER) return;
      // It has had the end of the stream (a nested continue passed the trailers already).
      if (e.endStream) return;
      const saved = this.#callState;
      this.#callState = saved | DECODE_TRAILERS;
      const status = e.filter.decodeTrailers(trailers);
      this.#callState = saved;
      e.endStream = true;
      if (this.#decoderAborted || this.#localComplete || this.#destroyed) {
        this.#sendPendingLocalReply();
        return;
      }
      if (status === FilterTrailersStatus.Continue) {
        if (e.iterationState === STOP_SINGLE) {
          this.continueDecodingFrom(e);
          return;
        }
      } else {
        if (e.iterationState === CONTINUE) e.iterationState = STOP_SINGLE;
        return;
      }
    }
  }

  /** Headers to the encoder filters after `from` (all of them when null), then to the codec. */
  #encodeHeaders(from: ActiveStreamEncoderFilter | null, endStream: boolean): void {
    const headers = this.#responseHeaders!;
    if (from === null) this.#localComplete = endStream;
    let bodyFrom: ActiveStreamEncoderFilter | null = null;
    for (let e = from === null ? this.#firstEncoder : from.next; e !== null; e = e.next) {
      const end = endStream && bodyFrom === null;
      e.endStream = end;
      const saved = this.#callState;
      this.#callState = saved | (end ? ENCODE_HEADERS | END_OF_STREAM : ENCODE_HEADERS);
      const status = e.filter.encodeHeaders(headers, end);
      this.#callState = saved;
      if (this.#encodeComplete || this.#destroyed) return;
      if (!this.#afterHeaders(e, status)) {
        if (!e.endStream) this.#continueResponseBodyFrom(bodyFrom);
        return;
      }
      if (endStream && this.#responseBuffer !== null && bodyFrom === null) bodyFrom = e;
    }
    const end = endStream && bodyFrom === null;
    this.#headersEncoded = true;
    this.owner.encodeHeaders(headers, end);
    if (this.#destroyed) return;
    if (end) this.#endEncode();
    else this.#continueResponseBodyFrom(bodyFrom);
  }

  #continueResponseBodyFrom(e: ActiveStreamEncoderFilter | null): void {
    if (e === null) return;
    e.iterationState = STOP_SINGLE;
    this.continueEncodingFrom(e);
  }

  #encodeData(from: ActiveStreamEncoderFilter | null, data: Buffer, endStream: boolean, fromCurrent: boolean): void {
    if (this.#encodeComplete || this.#destroyed) return;
    let e: ActiveStreamEncoderFilter | null;
    if (from === null) {
      this.#localComplete = endStream;
      e = this.#firstEncoder;
    } else {
      e = fromCurrent && from.iterateFromCurrent ? from : from.next;
    }
    const trailersAtStart = this.#responseTrailers !== null;
    let trailersAddedBy: ActiveStreamEncoderFilter | null = null;
    for (; e !== null; e = e.next) {
      if (e.iterationState >= STOP_ALL_BUFFER) {
        this.#encoderStreaming = e.iterationState === STOP_ALL_WATERMARK;
        this.#bufferData(false, data);
        return;
      }
      if (e.endStream) return;
      const end = endStream && this.#responseTrailers === null;
      e.endStream = end;
      const saved = this.#callState;
      this.#callState = saved | (endStream ? ENCODE_DATA | END_OF_STREAM : ENCODE_DATA);
      const status = e.filter.encodeData(data, end);
      this.#callState = saved;
      if (this.#encodeComplete || this.#destroyed) return;
      if (!trailersAtStart && trailersAddedBy === null && this.#responseTrailers !== null) trailersAddedBy = e;
      if (!this.#afterEncodeData(e, status, data)) return;
    }
    const end = endStream && trailersAddedBy === null;
    this.owner.encodeData(data, end);
    if (this.#destroyed) return;
    if (end) this.#endEncode();
    if (trailersAddedBy !== null) this.#encodeTrailers(trailersAddedBy, this.#responseTrailers!);
  }

  #encodeTrailers(from: ActiveStreamEncoderFilter | null, trailers: HeaderMap): void {
    if (this.#encodeComplete || this.#destroyed) return;
    let e: ActiveStreamEncoderFilter | null;
    if (from === null) {
      this.#localComplete = true;
      e = this.#firstEncoder;
    } else {
      e = from.iterateFromCurrent ? from : from.next;
    }
    for (; e !== null; e = e.next) {
      if (e.iterationState >= STOP_ALL_BUFFER) return;
      if (e.endStream) return;
      const saved = this.#callState;
      this.#callState = saved | ENCODE_TRAILERS;
      const status = e.filter.encodeTrailers(trailers);
      this.#callState = saved;
      e.endStream = true;
      if (this.#encodeComplete || this.#destroyed) return;
      if (status === FilterTrailersStatus.Continue) {
        if (e.iterationState === STOP_SINGLE) {
          this.continueEncodingFrom(e);
          return;
        }
      } else {
        if (e.iterationState === CONTINUE) e.iterationState = STOP_SINGLE;
        return;
      }
    }
    this.owner.encodeTrailers(trailers);
    if (!this.#destroyed) this.#endEncode();
  }

  #endEncode(): void {
    this.#encodeComplete = true;
    this.owner.endStream();
  }

  /** A headers status: false when iteration stops at this filter. */
  #afterHeaders(e: ActiveStreamDecoderFilter | ActiveStreamEncoderFilter, status: FilterHeadersStatus): boolean {
    switch (status) {
      case FilterHeadersStatus.Continue:
        e.headersContinued = true;
        return true;
      case FilterHeadersStatus.StopIteration:
        e.iterationState = STOP_SINGLE;
        return false;
      case FilterHeadersStatus.StopAllIterationAndBuffer:
        e.iterationState = STOP_ALL_BUFFER;
        return false;
      case FilterHeadersStatus.StopAllIterationAndWatermark:
        e.iterationState = STOP_ALL_WATERMARK;
        return false;
      default:
        bug(`unknown FilterHeadersStatus ${status}`);
        e.iterationState = STOP_SINGLE;
        return false;
    }
  }

  /** Envoy's commonHandleAfterDataCallback, decode side: false when iteration stops here. */
  #afterDecodeData(e: ActiveStreamDecoderFilter, status: FilterDataStatus, data: Buffer): boolean {
    if (status === FilterDataStatus.Continue) {
      if (e.iterationState !== STOP_SINGLE) return true;
      // It had stopped (headers or earlier data) and now lets go: its headers, what it
      // buffered and this data go on.
      this.#bufferData(true, data);
      this.continueDecodingFrom(e);
      return false;
    }
    e.iterationState = STOP_SINGLE;
    if (status === FilterDataStatus.StopIterationAndBuffer || status === FilterDataStatus.StopIterationAndWatermark) {
      this.#decoderStreaming = status === FilterDataStatus.StopIterationAndWatermark;
      this.#bufferData(true, data);
    } else if (this.#remoteDecodeComplete && this.#requestTrailers === null && this.#requestBuffer === null &&
               e.next !== null && !this.#destroyed) {
      // StopIterationNoBuffer on the last data: an empty buffer remembers that a continue must
      // still end the stream for the later filters (an empty data call with endStream).
      this.#requestBuffer = new BodyBuffer();
    }
    return false;
  }

  #afterEncodeData(e: ActiveStreamEncoderFilter, status: FilterDataStatus, data: Buffer): boolean {
    if (status === FilterDataStatus.Continue) {
      if (e.iterationState !== STOP_SINGLE) return true;
      this.#bufferData(false, data);
      this.continueEncodingFrom(e);
      return false;
    }
    e.iterationState = STOP_SINGLE;
    if (status === FilterDataStatus.StopIterationAndBuffer || status === FilterDataStatus.StopIterationAndWatermark) {
      this.#encoderStreaming = status === FilterDataStatus.StopIterationAndWatermark;
      this.#bufferData(false, data);
    } else if (this.#localComplete && this.#responseTrailers === null && this.#responseBuffer === null &&
               !this.#destroyed) {
      this.#responseBuffer = new BodyBuffer();
    }
    return false;
  }

  // ---- buffers --------------------------------------------------------------------------------

  #bufferData(request: boolean, data: Buffer): void {
    let buf = request ? this.#requestBuffer : this.#responseBuffer;
    if (buf === null) {
      buf = new BodyBuffer();
      if (request) this.#requestBuffer = buf;
      else this.#responseBuffer = buf;
    }
    buf.add(data);
    const limit = this.bufferLimit;
    if (buf.above || limit <= 0 || buf.length <= limit) return;
    buf.above = true;
    if (request) {
      if (this.#decoderStreaming) {
        buf.paused = true;
        this.owner.readDisable(true);
      } else {
        this.owner.onRequestDataTooLarge();
        this.sendLocalReply(413, 'Payload Too Large', '', 'request_payload_too_large');
      }
    } else if (this.#encoderStreaming) {
      buf.paused = true;
      this.onAboveWriteBufferHighWatermark();
    } else {
      this.owner.onResponseDataTooLarge();
      this.sendLocalReply(500, 'Internal Server Error', '', 'response_payload_too_large');
    }
  }

  /** The buffered body, for its replay: the buffer is emptied (and its source resumed). */
  #takeBuffer(request: boolean): Buffer {
    const buf = request ? this.#requestBuffer! : this.#responseBuffer!;
    if (request) this.#requestBuffer = null;
    else this.#responseBuffer = null;
    this.#resume(request, buf);
    return buf.toBuffer();
  }

  #resume(request: boolean, buf: BodyBuffer): void {
    if (!buf.paused) return;
    buf.paused = false;
    if (request) this.owner.readDisable(false);
    else this.onBelowWriteBufferLowWatermark();
  }

  // ---- local replies --------------------------------------------------------------------------

  #sendPendingLocalReply(): void {
    const status = this.#pendingStatus;
    if (status === 0 || this.#destroyed) return;
    this.#pendingStatus = 0;
    const body = this.#pendingBody;
    this.#pendingBody = '';
    const headers = this.#pendingHeaders;
    this.#pendingHeaders = null;
    this.#localReply(status, body, this.#pendingDetails, headers);
  }

  #localReply(status: number, body: string, details: string, headers: readonly string[] | null = null): void {
    if (this.#headersEncoded) {
      // The client has part of a response: all that is left is to abort it.
      this.resetStream();
      return;
    }
    const h = new ResponseHeaders(status, ['content-length', '0', 'content-type', 'text/plain', 'date', httpDate()]);
    if (headers !== null) {
      // They replace the reply's own lines of the same name (a denying ext_authz service's
      // content-type), and may repeat a name (set-cookie): Envoy's ext_authz removes, then adds.
      for (let i = 0; i < headers.length; i += 2) h.remove(headers[i]);
      for (let i = 0; i < headers.length; i += 2) h.add(headers[i], headers[i + 1]);
    }
    const text = this.owner.onLocalReply(h, body, details);
    const b = text === '' ? EMPTY : Buffer.from(text);
    if (b.length !== 0) h.set('content-length', String(b.length));
    const headOnly = b.length === 0 || this.owner.requestHeaders.method === 'HEAD';
    if (this.#responseHeaders === null) {
      // Envoy's sendLocalReplyViaFilterChain: the encoder filters see it as any response.
      this.#responseHeaders = h;
      this.#encodeHeaders(null, headOnly);
      if (!headOnly) this.#encodeData(null, b, true, false);
      return;
    }
    // A response head is in the encoder chain (stopped there) but not at the codec: the filters
    // have seen another response, so this one goes straight to the codec (sendDirectLocalReply).
    this.#responseHeaders = h;
    this.#localComplete = true;
    const buffered = this.#responseBuffer;
    if (buffered !== null) {
      this.#responseBuffer = null;
      this.#resume(false, buffered);
    }
    this.#headersEncoded = true;
    this.owner.encodeHeaders(h, headOnly);
    if (this.#destroyed) return;
    if (!headOnly) {
      this.owner.encodeData(b, true);
      if (this.#destroyed) return;
    }
    this.#endEncode();
  }
}
