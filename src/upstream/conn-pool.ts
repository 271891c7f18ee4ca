// The codec-neutral upstream interface (Envoy's ConnectionPool::Instance; the stream interfaces,
// RequestEncoder, ResponseDecoder and StreamCallbacks, are http/codec.ts's client side). The router speaks only this: an HTTP/1 pool
// (conn-pool-http1.ts) implements it today, an HTTP/2 one would too. A pool takes the
// circuit-breaker slots (ResourceManager) and keeps the upstream_rq_*/upstream_cx_* stats of what
// it does; the router keeps the ones about responses.
import type { Host } from './host.ts';
import { Protocol, type RequestEncoder, type ResponseDecoder } from '../http/codec.ts';

// The codec interfaces live in http/codec.ts (client side); re-exported for the pool's users.
export { Protocol, StreamResetReason } from '../http/codec.ts';
export type { RequestEncoder, ResponseDecoder, Stream, StreamCallbacks } from '../http/codec.ts';

/** Why a pool could not give a stream: a circuit breaker ('overflow'), or the connection it was
 *  waiting for failed ('connection_failure') or did not connect in time ('timeout'). */
export type PoolFailureReason = 'overflow' | 'connection_failure' | 'timeout';

/** A request waiting in a pool's queue. */
export interface Cancellable {
  cancel(): void;
}

export interface PoolCallbacks {
  /** A stream is ready; call encodeHeaders on it now. */
  onPoolReady(encoder: RequestEncoder, host: Host): void;
  /** `transportFailureReason`: why the connection's transport failed (a TLS handshake or
   *  certificate verification), '' otherwise. */
  onPoolFailure(reason: PoolFailureReason, host: Host, transportFailureReason: string): void;
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
