// HTTP filters, Envoy's Http::StreamDecoderFilter / StreamEncoderFilter contract (envoy/http/filter.h).
// A stream runs its decoder filters in the order they were added on the request (headers, data,
// trailers) and its encoder filters in reverse order on the response. Each filter gets its
// callbacks through setDecoderFilterCallbacks / setEncoderFilterCallbacks before its first call;
// http/filter-manager.ts runs the chains.
//
// Data ownership. Body data handed to a filter (decodeData / encodeData) may be a view of the
// thread's shared read buffer (network/socket-owner.ts): it is valid only during the call. A filter
// that keeps it past the call (buffering, queueing) keeps `retain(data)`, which copies only when
// needed. The body the filter manager buffers for a stopped filter is retained the same way.
// Header and trailer maps belong to the stream (Envoy's rule): valid until the filter's onDestroy,
// not after (a raw response head still in the read buffer is emptied when its stream ends; copy
// what you keep longer).
import type { Buffer } from 'node:buffer';
import type { CompiledRoute } from '../router/route-table.ts';
import type { HcmStats } from './stats.ts';
import type { StatSink } from '../common/stat-sink.ts';
import type { RequestEncoder } from './codec.ts';
import type { NetworkConnection } from '../network/filter.ts';
import type { HeaderMap, RequestHeaders, ResponseHeaders, StreamInfo } from './types.ts';

/** What decodeHeaders / encodeHeaders return. */
export const FilterHeadersStatus = {
  /** Pass the headers to the next filter. */
  Continue: 0,
  /** Do not pass the headers on until continueDecoding() / continueEncoding(). Data and trailers
   *  still reach this filter; what it buffers (StopIterationAndBuffer) is passed on with the
   *  headers when it continues. */
  StopIteration: 1,
  /** Stop, and do not call this filter again until it continues either: the manager buffers the
   *  body (bounded by the buffer limit: past it, 413 on the request, 500 or a reset on the
   *  response) and hands it, then the trailers, to this filter and the next ones when it continues. */
  StopAllIterationAndBuffer: 2,
  /** As StopAllIterationAndBuffer, but past the buffer limit the source is paused (the downstream
   *  is read-disabled on the request side, the upstream told through the downstream watermark
   *  callbacks on the response side) instead of failing the stream. */
  StopAllIterationAndWatermark: 3,
} as const;
export type FilterHeadersStatus = (typeof FilterHeadersStatus)[keyof typeof FilterHeadersStatus];

/** What decodeData / encodeData return. */
export const FilterDataStatus = {
  /** Pass the data on. After a StopIteration on headers this continues the stream: the headers,
   *  then what was buffered, then this data go to the next filters. */
  Continue: 0,
  /** Keep the data in the stream's buffer (decodingBuffer() / encodingBuffer()) and stop; a later
   *  continue passes the buffered body on. Past the buffer limit: 413 (request), 500 or a reset
   *  (response). */
  StopIterationAndBuffer: 1,
  /** Stop and drop the data from the chain (the filter took it, or sends its own later). */
  StopIterationNoBuffer: 2,
  /** As StopIterationAndBuffer, but past the buffer limit the source is paused instead of failing
   *  the stream, and resumed when the buffer drains below half the limit. */
  StopIterationAndWatermark: 3,
} as const;
export type FilterDataStatus = (typeof FilterDataStatus)[keyof typeof FilterDataStatus];

/** What decodeTrailers / encodeTrailers return. */
export const FilterTrailersStatus = {
  Continue: 0,
  /** Stop; the trailers are passed on when the filter continues. */
  StopIteration: 1,
} as const;
export type FilterTrailersStatus = (typeof FilterTrailersStatus)[keyof typeof FilterTrailersStatus];

/** Told when the client is (not) keeping up with response data: the producer (the router's
 *  upstream) pauses and resumes. */
export interface DownstreamWatermarkCallbacks {
  onAboveWriteBufferHighWatermark(): void;
  onBelowWriteBufferLowWatermark(): void;
}

/** The body the manager holds for a stopped filter (Envoy's decodingBuffer() / encodingBuffer()).
 *  Its chunks are retained (safe to keep until the stream ends). */
export interface BufferedBody {
  /** Bytes held. */
  readonly length: number;
  /** The bytes, in order. */
  readonly chunks: readonly Buffer[];
  /** The bytes as one Buffer (concatenated at most once; the chunks become that one Buffer). */
  toBuffer(): Buffer;
  /** Replace the contents (a filter rewriting the body it buffered: Envoy's modifyDecodingBuffer).
   *  `data` is retained. The buffer limit is checked when data is added, not here. */
  replace(data: Buffer): void;
}

/** What every filter's callbacks offer (Envoy's StreamFilterCallbacks). */
export interface StreamFilterCallbacks {
  readonly streamInfo: StreamInfo;
  /** The route picked when the request headers arrived (null: no route matched). */
  readonly route: CompiledRoute | null;
  /** The connection manager's stats (http.<stat_prefix>.*): filters such as the router count there. */
  readonly hcmStats: HcmStats;
  readonly stats: StatSink;
  readonly requestHeaders: RequestHeaders;
  /** Request trailers, once they arrived (or a filter added them). */
  readonly requestTrailers: HeaderMap | null;
  /** The response head, once a filter started the response. */
  readonly responseHeaders: ResponseHeaders | null;
  readonly responseTrailers: HeaderMap | null;
  /** The downstream connection (Envoy's connection()); null when the stream has none. */
  connection(): NetworkConnection | null;
  /** This filter's config name (its http_filters entry's `name`). */
  readonly filterConfigName: string;
  /** The compiled typed_per_filter_config entry for `name` (default: this filter's config name)
   *  of the route, else its virtual host, else its route configuration (Envoy's
   *  mostSpecificPerFilterConfig); null when none has one (or no route matched). */
  perFilterConfig(name?: string): object | null;
  /** Answer the request from here (Envoy's sendLocalReply): status, a text/plain body, the
   *  response flag to log (ResponseFlag, '' for none) and the response code details. Before the
   *  response started the reply goes through the encoder filters; once a response head is in the
   *  encoder chain but not yet sent it goes straight to the client; after that the stream is
   *  reset. No decoder filter is called after a local reply. `headers` ([name, value, ...]) are
   *  added to the reply's head, replacing its own lines of those names (Envoy's modify_headers: a
   *  redirect's Location, a denying ext_authz service's headers). */
  sendLocalReply(status: number, body: string, flag: string, details: string, headers?: readonly string[] | null): void;
  /** Abort the stream (the response already started, or nothing more can be done). */
  resetStream(): void;
}

export interface StreamDecoderFilterCallbacks extends StreamFilterCallbacks {
  /** Resume a decode chain this filter stopped: the headers (if this filter stopped them), the
   *  buffered body, then the trailers go to the next filters, once and in that order. */
  continueDecoding(): void;
  /** Start the response: through the encoder filters to the client. */
  encodeHeaders(headers: ResponseHeaders, endStream: boolean): void;
  encodeData(data: Buffer, endStream: boolean): void;
  /** Ends the response. */
  encodeTrailers(trailers: HeaderMap): void;
  /** Add body to the request. From inside decodeHeaders / decodeData (or with no callback
   *  running) it goes into the buffer (passed on when iteration continues; a header-only
   *  request gets a body this way); from inside decodeTrailers it goes to the next filters at
   *  once. `streaming`: past the buffer limit, pause the client instead of answering 413. */
  addDecodedData(data: Buffer, streaming: boolean): void;
  /** The request body buffered so far (null: none). */
  decodingBuffer(): BufferedBody | null;
  /** Hand `data` to the filters after this one now, whatever this filter returned (a filter that
   *  buffers with StopIterationNoBuffer and sends on its own schedule). */
  injectDecodedDataToFilterChain(data: Buffer, endStream: boolean): void;
  /** Add trailers to a request that has none; only during the last decodeData (endStream). The
   *  later filters see the data without endStream, then these trailers. */
  addDecodedTrailers(): HeaderMap;
  /** Stop / restart reading the request body (flow control). Counted: n disables need n enables. */
  readDisable(disable: boolean): void;
  /** Register to hear when the client is (not) keeping up with response data (null: stop). A
   *  client already behind is reported at once. */
  setDownstreamWatermarkCallbacks(cb: DownstreamWatermarkCallbacks | null): void;
  /** The stream's buffer limit (bytes; 0: none). */
  readonly decoderBufferLimit: number;
  setDecoderBufferLimit(limit: number): void;
  /** The upstream answered an upgrade request with 101 (already encoded downstream): join the
   *  downstream and `upstream`'s connections in a byte relay for the rest of the stream (the
   *  router's stream is over). */
  upgradeToRelay(upstream: RequestEncoder): void;
}

export interface StreamEncoderFilterCallbacks extends StreamFilterCallbacks {
  /** Resume an encode chain this filter stopped (as continueDecoding). */
  continueEncoding(): void;
  /** As addDecodedData, on the response. `streaming`: past the limit, pause the upstream instead
   *  of failing the response. */
  addEncodedData(data: Buffer, streaming: boolean): void;
  encodingBuffer(): BufferedBody | null;
  injectEncodedDataToFilterChain(data: Buffer, endStream: boolean): void;
  /** Add trailers to a response that has none; only during the last encodeData (endStream). */
  addEncodedTrailers(): HeaderMap;
  readonly encoderBufferLimit: number;
  setEncoderBufferLimit(limit: number): void;
  /** This filter holds more response data than it wants to (Envoy's
   *  onEncoderFilterAboveWriteBufferHighWatermark): the producer (the router's upstream) is paused
   *  as when the client falls behind, until the matching onEncoderFilterBelowWriteBufferLowWatermark.
   *  Counted: n aboves need n belows. */
  onEncoderFilterAboveWriteBufferHighWatermark(): void;
  onEncoderFilterBelowWriteBufferLowWatermark(): void;
}

/** A request-side filter. The return values are FilterHeadersStatus / FilterDataStatus /
 *  FilterTrailersStatus values. */
export interface StreamDecoderFilter {
  setDecoderFilterCallbacks(cb: StreamDecoderFilterCallbacks): void;
  decodeHeaders(headers: RequestHeaders, endStream: boolean): FilterHeadersStatus;
  decodeData(data: Buffer, endStream: boolean): FilterDataStatus;
  /** The request ends with these (a request with trailers ends here, not at its last data). */
  decodeTrailers(trailers: HeaderMap): FilterTrailersStatus;
  /** The stream ended (completed or reset): release everything. Called once. */
  onDestroy(): void;
}

/** A response-side filter. */
export interface StreamEncoderFilter {
  setEncoderFilterCallbacks(cb: StreamEncoderFilterCallbacks): void;
  encodeHeaders(headers: ResponseHeaders, endStream: boolean): FilterHeadersStatus;
  encodeData(data: Buffer, endStream: boolean): FilterDataStatus;
  encodeTrailers(trailers: HeaderMap): FilterTrailersStatus;
  /** Called once, even for a filter that is both a decoder and an encoder. */
  onDestroy(): void;
}

/** Both (added with addStreamFilter: one object in both chains, destroyed once). */
export interface StreamFilter extends StreamDecoderFilter, StreamEncoderFilter {}

/** What a filter factory adds its filters to (Envoy's FilterChainFactoryCallbacks). The chain is
 *  made once the request is routed, so a factory may look at the request to decide whether the
 *  stream needs its filter at all. */
export interface FilterChainFactoryCallbacks {
  readonly requestHeaders: RequestHeaders;
  readonly streamInfo: StreamInfo;
  addStreamDecoderFilter(filter: StreamDecoderFilter): void;
  addStreamEncoderFilter(filter: StreamEncoderFilter): void;
  addStreamFilter(filter: StreamFilter): void;
}

/** Built once per config from the compiled filter config; called once per stream (Envoy's
 *  FilterFactoryCb). It only does `cb.addStreamDecoderFilter(new Filter(shared))`. */
export type FilterFactory = (cb: FilterChainFactoryCallbacks) => void;
