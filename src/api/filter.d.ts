// legate/filter: the API of HTTP filters written in TypeScript or JavaScript and loaded from config
// by legate.filters.http.script (docs/filters.md is the guide). It is the contract Legate's own
// filters implement (src/http/filter.ts, Envoy's StreamDecoderFilter / StreamEncoderFilter), in a
// form for code outside Legate: every method optional, nothing returned meaning Continue, a Promise
// meaning "wait", header names in any case, and the body as one BufferedBody. Self-contained (no
// import of Legate's sources), so it type-checks in a project that only installs the package.
//
//   import type { FilterFactory } from 'legate/filter';
//   const factory: FilterFactory<{ header: string; value: string }> = (config) => () => ({
//     decodeHeaders(headers) { headers.set(config.header, config.value); },
//   });
//   export default factory;
import type { Buffer } from 'node:buffer';

export declare const FilterHeadersStatus: {
  /** Pass the headers on (what returning nothing means). */
  readonly Continue: 0;
  /** Hold the headers until callbacks.continueDecoding() / continueEncoding(); the body still comes
   *  to this filter (decodeData / encodeData), which may buffer it (StopIterationAndBuffer). */
  readonly StopIteration: 1;
  /** Hold the headers and the body (buffered by Legate, up to the buffer limit: past it 413 on a
   *  request, 500 on a response) without calling this filter until it continues; then the body
   *  comes to it. */
  readonly StopAllIterationAndBuffer: 2;
  /** As StopAllIterationAndBuffer, but past the buffer limit the sender is paused instead. */
  readonly StopAllIterationAndWatermark: 3;
};
export type FilterHeadersStatus = 0 | 1 | 2 | 3;

export declare const FilterDataStatus: {
  /** Pass the data on (after a StopIteration on the headers: the headers, what was buffered and
   *  this data go on, in that order). */
  readonly Continue: 0;
  /** Keep the data in the stream's buffer (decodingBuffer() / encodingBuffer()) and stop. */
  readonly StopIterationAndBuffer: 1;
  /** Stop and drop the data (the filter took it). */
  readonly StopIterationNoBuffer: 2;
  /** As StopIterationAndBuffer, but past the buffer limit the sender is paused instead of failing. */
  readonly StopIterationAndWatermark: 3;
};
export type FilterDataStatus = 0 | 1 | 2 | 3;

export declare const FilterTrailersStatus: {
  readonly Continue: 0;
  /** Hold the trailers until the filter continues. */
  readonly StopIteration: 1;
};
export type FilterTrailersStatus = 0 | 1;

/** A header list. Names are matched case-insensitively (stored lowercase); set() and add() refuse
 *  names that are not tokens, values with CR, LF or NUL, and the hop-by-hop headers the codec owns
 *  (connection, transfer-encoding, keep-alive, proxy-connection, upgrade): the method throws, which
 *  fails the stream like any exception. */
export interface HeaderMap {
  /** The first value of `name`, undefined when absent. */
  get(name: string): string | undefined;
  /** Every value of `name`, in order. */
  getAll(name: string): string[];
  has(name: string): boolean;
  /** Replace every line of `name` with one. */
  set(name: string, value: string): void;
  /** Another line `name: value` after any of that name. */
  add(name: string, value: string): void;
  remove(name: string): void;
  /** Each line in order (names lowercase). */
  forEach(fn: (value: string, name: string) => void): void;
}

/** The request head. `host` / `:authority`, `:method`, `:path` and `:scheme` are also readable
 *  and settable through get() / set(). The route was chosen before the filters ran: changing the
 *  path or authority changes what goes upstream, not the route. */
export interface RequestHeaders extends HeaderMap {
  method: string;
  /** Path and query, as sent upstream. */
  path: string;
  authority: string;
  readonly scheme: string;
  /** 'HTTP/1.0' | 'HTTP/1.1' | 'HTTP/2' */
  readonly protocol: string;
}

/** The response head (`:status` through get() / set() too). */
export interface ResponseHeaders extends HeaderMap {
  status: number;
}

/** The body Legate holds for a filter that stopped (StopIterationAndBuffer, StopAll*, addDecodedData). */
export interface BufferedBody {
  readonly length: number;
  /** The bytes, as one Buffer. */
  toBuffer(): Buffer;
  /** The bytes as UTF-8 text. */
  text(): string;
  /** Replace the contents. While this filter holds the headers, Legate fixes their content-length
   *  when it passes them on; once the headers have passed this filter a change of length throws
   *  (the other side already has the length). */
  replace(data: Buffer | Uint8Array | string): void;
}

/** What the stream tells a filter and lets it do, until onDestroy. Inside the per-stream function
 *  (before the filter exists) only requestHeaders and streamInfo may be used: enough to decide
 *  whether the stream needs the filter. */
export interface FilterCallbacks {
  readonly requestHeaders: RequestHeaders;
  /** The response head once a response started, else null. */
  readonly responseHeaders: ResponseHeaders | null;
  readonly streamInfo: {
    /** The client's address (`ip:port`, after x-forwarded-for when the connection manager trusts it). */
    readonly downstreamRemoteAddress: string;
    /** The matched route's name ('' when unnamed or none). */
    readonly routeName: string;
  };
  /** Answer the request from here: `status` (200-599), a text/plain `body`, extra response
   *  headers (checked as set() checks them), `details` for %RESPONSE_CODE_DETAILS%. Before a
   *  response started it goes through the encoder filters as any response (local_reply_config
   *  applies); once the response started the stream is reset. Nothing is passed on after it. */
  sendLocalReply(status: number, body?: string, options?: { headers?: Record<string, string>; details?: string }): void;
  /** Resume a request this filter stopped (with a Stop status): the held headers, body and trailers
   *  go on, once and in order. Returning from a Promise does it for you. */
  continueDecoding(): void;
  /** Resume a response this filter stopped. */
  continueEncoding(): void;
  /** The request body held so far (null: none). */
  decodingBuffer(): BufferedBody | null;
  /** The response body held so far (null: none). */
  encodingBuffer(): BufferedBody | null;
  /** Add bytes to the held request body. Called with the `data` of the current decodeData call,
   *  the chunk moves into the buffer (Envoy's idiom for acting on the whole body at its end:
   *  addDecodedData(data), then decodingBuffer() is all of it). */
  addDecodedData(data: Buffer | Uint8Array | string): void;
  /** As addDecodedData, on the response (encodeData). */
  addEncodedData(data: Buffer | Uint8Array | string): void;
}

type Awaitable<T> = T | Promise<T>;

/** One stream's filter: any of these methods (each optional). Returning nothing continues; a
 *  Promise holds the stream until it settles, then continues (a rejection fails the stream); a
 *  thrown exception fails the stream (500, or a reset once the response started). */
export interface Filter {
  decodeHeaders?(headers: RequestHeaders, endStream: boolean): Awaitable<FilterHeadersStatus | void>;
  decodeData?(data: Buffer, endStream: boolean): Awaitable<FilterDataStatus | void>;
  /** The request ends with these when it has trailers. */
  decodeTrailers?(trailers: HeaderMap): Awaitable<FilterTrailersStatus | void>;
  encodeHeaders?(headers: ResponseHeaders, endStream: boolean): Awaitable<FilterHeadersStatus | void>;
  encodeData?(data: Buffer, endStream: boolean): Awaitable<FilterDataStatus | void>;
  encodeTrailers?(trailers: HeaderMap): Awaitable<FilterTrailersStatus | void>;
  /** The stream ended (completed or reset): called once; release what the filter holds. */
  onDestroy?(): void;
}

/** What the factory gets besides its config. */
export interface FilterContext {
  /** The filter's `name` in the HTTP connection manager's http_filters. */
  readonly name: string;
  /** The worker thread it runs in (0-based); -1 while Legate checks the module at config time. */
  readonly workerId: number;
}

/** Called per stream: the stream's filter, or nothing to stay out of this stream (it then costs the
 *  stream nothing more). */
export type StreamFilterFactory = (callbacks: FilterCallbacks) => Filter | null | undefined | void;

/** The module's default export: called once per config in each worker with the typed_config's
 *  `config` (a plain object; {} when absent). A throw fails the config at `config`. */
export type FilterFactory<C = Record<string, unknown>> = (config: C, ctx: FilterContext) => StreamFilterFactory;
