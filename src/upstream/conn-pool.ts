// The codec-neutral upstream interface (Envoy's ConnectionPool::Instance, RequestEncoder,
// ResponseDecoder and StreamCallbacks). The router speaks only this: an HTTP/1 pool
// (conn-pool-http1.ts) implements it today, an HTTP/2 one would too. A pool takes the
// circuit-breaker slots (ResourceManager) and keeps the upstream_rq_*/upstream_cx_* stats of what
// it does; the router keeps the ones about responses.
import type { Buffer } from 'node:buffer';
import type { RequestHeaders, ResponseHeaders } from '../http/types.ts';
import type { Host } from './host.ts';

/** Upstream protocols, the index of Host.httpPools. */
export const Protocol = { Http10: 0, Http11: 1, Http2: 2, Http3: 3 } as const;
export type Protocol = (typeof Protocol)[keyof typeof Protocol];

/** Why a pool could not give a stream: a circuit breaker ('overflow'), or the connection it was
 *  waiting for failed ('connection_failure') or did not connect in time ('timeout'). */
export type PoolFailureReason = 'overflow' | 'connection_failure' | 'timeout';

/** Why a stream ended early: the upstream closed ('remote') or broke the protocol ('protocol'). */
export type StreamResetReason = 'remote' | 'protocol';

/** A request waiting in a pool's queue. */
export interface Cancellable {
  cancel(): void;
}

/** The receiving side of an upstream response. */
export interface ResponseDecoder {
  decodeHeaders(headers: ResponseHeaders, endStream: boolean): void;
  decodeData(data: Buffer, endStream: boolean): void;
  decodeTrailers?(trailers: readonly string[]): void;
}

/** Events of an upstream stream other than its response. */
export interface StreamCallbacks {
  /** The stream ended before its response did (not called for resetStream()). */
  onResetStream(reason: StreamResetReason): void;
  /** The connection's write buffer passed the cluster's buffer limit: stop sending body. */
  onAboveWriteBufferHighWatermark(): void;
  onBelowWriteBufferLowWatermark(): void;
}

/** One upstream request/response exchange. */
export interface Stream {
  /** Receive onResetStream and the watermark events (one listener per stream). */
  addCallbacks(cb: StreamCallbacks): void;
  /** Abandon the stream (timeout, downstream gone). No callbacks follow. A stream that cannot
   *  be finished cleanly takes its connection down with it (HTTP/1). */
  resetStream(): void;
  /** Flow control from the downstream side: stop/start reading the response. */
  readDisable(disable: boolean): void;
}

/** The sending side of an upstream request. The codec frames the body from the headers:
 *  content-length when present, else chunked when a body follows (HTTP/1). */
export interface RequestEncoder {
  encodeHeaders(headers: RequestHeaders, endStream: boolean): void;
  encodeData(data: Buffer, endStream: boolean): void;
  encodeTrailers?(trailers: readonly string[]): void;
  getStream(): Stream;
}

export interface PoolCallbacks {
  /** A stream is ready; call encodeHeaders on it now. */
  onPoolReady(encoder: RequestEncoder, host: Host): void;
  onPoolFailure(reason: PoolFailureReason, host: Host): void;
}

/** Connections to one host for one protocol (per worker). */
export interface HttpConnPool {
  readonly host: Host;
  readonly protocol: Protocol;
  /** Ask for a stream. The callbacks run now (the return value is then null) or later (the
   *  return value cancels the wait). The cluster's max_requests slot is taken here and held
   *  until the stream ends. */
  newStream(decoder: ResponseDecoder, callbacks: PoolCallbacks): Cancellable | null;
  /** Close idle connections now and busy ones when their stream ends; new streams still work. */
  drainConnections(): void;
  /** Connections open or opening. */
  hasActiveConnections(): boolean;
}
