// HTTP/1.1 connection pool: one per worker per upstream host (Envoy's HTTP/1 ConnPoolImpl behind
// the generic HttpConnPool). Idle connections are reused LIFO (the most recently used socket is
// the warmest); requests wait in a ring-buffer queue when every connection is busy and the
// cluster's max_connections is reached, up to max_pending_requests. The circuit breakers are the
// cluster's ResourceManager (per worker today, see docs/differences.md); max_requests is taken
// when the stream is asked for and held until it ends.
// A connection drains (serves its stream, then closes) after max_requests_per_connection requests
// or at max_connection_duration, and closes after idle_timeout idle (client-connection.ts keeps
// the timers). With per_upstream_preconnect_ratio above 1, connections are opened ahead of demand
// (Envoy's ConnPoolImplBase::tryCreateNewConnections).
import { RingQueue } from '../common/ring-queue.ts';
import { Http1ClientConnection, type Http1ConnectionOwner } from '../http/http1/client-connection.ts';
import { countConnectionClosed, countConnectionOpened, type ClusterInfo } from './cluster-info.ts';
import { Health, type Host } from './host.ts';
import {
  Protocol, type Cancellable, type HttpConnPool, type PoolCallbacks, type ResponseDecoder, type StreamCallbacks,
} from './conn-pool.ts';

/** A request waiting for a connection (allocated only when one has to wait). */
class PendingStream implements Cancellable {
  readonly pool: Http1ConnPool;
  readonly decoder: ResponseDecoder;
  readonly callbacks: PoolCallbacks;
  constructor(pool: Http1ConnPool, decoder: ResponseDecoder, callbacks: PoolCallbacks) {
    this.pool = pool;
    this.decoder = decoder;
    this.callbacks = callbacks;
  }
  cancel(): void {
    this.pool.cancelPending(this);
  }
}

export class Http1ConnPool implements HttpConnPool, Http1ConnectionOwner {
  readonly host: Host;
  readonly protocol: Protocol;
  readonly info: ClusterInfo;
  readonly idle: Http1ClientConnection[];
  readonly pending: RingQueue<PendingStream>;
  connecting: number;
  total: number;
  /** Streams on connections now. */
  activeStreams: number;
  /** Connections close when their stream ends instead of going idle (worker drain, host gone). */
  draining: boolean;

  constructor(info: ClusterInfo, host: Host) {
    this.host = host;
    this.protocol = Protocol.Http11;
    this.info = info;
    this.idle = [];
    this.pending = new RingQueue();
    this.connecting = 0;
    this.total = 0;
    this.activeStreams = 0;
    this.draining = false;
  }

  newStream(decoder: ResponseDecoder, callbacks: PoolCallbacks): Cancellable | null {
    const info = this.info;
    const v = info.stats.v;
    const rm = info.resourceManager;
    if (!rm.requests.canCreate()) {
      // Envoy's max_requests circuit breaker: upstream_rq_pending_overflow counts it too.
      v[info.s.upstream_rq_pending_overflow]++;
      callbacks.onPoolFailure('overflow', this.host, '');
      return null;
    }
    // The max_requests slot is taken now, not when a connection is ready, so a burst that queues
    // behind connection setup cannot overshoot the breaker.
    rm.requests.inc();
    const idle = this.idle;
    while (idle.length > 0) {
      const conn = idle.pop()!;
      if (!conn.reusable) continue;
      this.#attach(conn, decoder, callbacks);
      if (info.preconnectRatio > 1) this.#preconnect();
      return null;
    }
    if (rm.connections.canCreate()) {
      this.#connect();
    } else {
      v[info.s.upstream_cx_overflow]++;
      if (this.connecting === 0 && this.total === 0) {
        // Nothing of ours will ever serve this request.
        rm.requests.dec();
        callbacks.onPoolFailure('overflow', this.host, '');
        return null;
      }
    }
    if (!rm.pendingRequests.canCreate()) {
      v[info.s.upstream_rq_pending_overflow]++;
      rm.requests.dec();
      callbacks.onPoolFailure('overflow', this.host, '');
      return null;
    }
    rm.pendingRequests.inc();
    v[info.s.upstream_rq_pending_total]++;
    v[info.s.upstream_rq_pending_active]++;
    const p = new PendingStream(this, decoder, callbacks);
    this.pending.push(p);
    if (info.preconnectRatio > 1) this.#preconnect();
    return p;
  }

  /** Open connections ahead of demand: while the streams in flight and waiting, times the
   *  preconnect ratio, are more than the streams the connections open or opening could take, at
   *  most 3 at a time (Envoy's shouldConnect and tryCreateNewConnections, with idle connections
   *  counted as capacity as Envoy does since envoyproxy/envoy#38708). As Envoy, not for a host
   *  that is not healthy. */
  #preconnect(): void {
    if (this.draining || this.host.health() !== Health.Healthy) return;
    const info = this.info;
    const ratio = info.preconnectRatio;
    for (let i = 0; i < 3; i++) {
      const active = this.activeStreams;
      if ((this.pending.length + active) * ratio <= this.connecting + this.idle.length + active) return;
      if (!info.resourceManager.connections.canCreate()) {
        info.stats.v[info.s.upstream_cx_overflow]++;
        return;
      }
      this.#connect();
    }
  }

  cancelPending(p: PendingStream): void {
    if (this.pending.remove(p)) {
      const info = this.info;
      info.resourceManager.pendingRequests.dec();
      info.resourceManager.requests.dec();
      info.stats.v[info.s.upstream_rq_pending_active]--;
      info.stats.v[info.s.upstream_rq_cancelled]++;
    }
  }

  #attach(conn: Http1ClientConnection, decoder: ResponseDecoder, callbacks: PoolCallbacks): void {
    const info = this.info;
    const v = info.stats.v;
    const hs = this.host.hs;
    v[info.s.upstream_rq_total]++;
    v[info.s.upstream_rq_active]++;
    v[hs.rq_total]++;
    v[hs.rq_active]++;
    this.activeStreams++;
    this.#countRequest(conn);
    callbacks.onPoolReady(conn.newStream(decoder), this.host);
  }

  /** A request goes on `conn`: the last one max_requests_per_connection allows drains it. */
  #countRequest(conn: Http1ClientConnection): void {
    if (--conn.remainingRequests === 0) {
      this.info.stats.v[this.info.s.upstream_cx_max_requests]++;
      conn.draining = true;
    }
  }

  onStreamDone(_conn: Http1ClientConnection): void {
    this.activeStreams--;
    const info = this.info;
    info.resourceManager.requests.dec();
    info.stats.v[info.s.upstream_rq_active]--;
    info.stats.v[this.host.hs.rq_active]--;
  }

  #connect(): Http1ClientConnection {
    const info = this.info;
    countConnectionOpened(info, this.host);
    info.stats.v[info.s.upstream_cx_http1_total]++;
    this.total++;
    this.connecting++;
    // The connection registers its own socket handlers; the pool hears back via onConnected/onClosed.
    return new Http1ClientConnection(this, info, this.host);
  }

  replayOnNewConnection(conn: Http1ClientConnection, decoder: ResponseDecoder, callbacks: StreamCallbacks | null): boolean {
    // (The closed connection's slot is free again: onClosed ran.)
    if (!this.info.resourceManager.connections.canCreate()) return false;
    const next = this.#connect();
    next.adoptStream(conn, decoder, callbacks);
    this.#countRequest(next);
    return true;
  }

  #takePending(): PendingStream | undefined {
    const p = this.pending.shift();
    if (p !== undefined) {
      this.info.resourceManager.pendingRequests.dec();
      this.info.stats.v[this.info.s.upstream_rq_pending_active]--;
    }
    return p;
  }

  onConnected(conn: Http1ClientConnection): void {
    this.connecting--;
    // (One opened for a request sent again has it already.)
    if (!conn.streamActive) this.release(conn);
  }

  /** A connection finished a request (or just connected) and can take another. */
  release(conn: Http1ClientConnection): void {
    if (!conn.reusable) {
      // Half-closed by the upstream while serving: its close will reconnect for the queue.
      conn.destroy();
      return;
    }
    const p = this.#takePending();
    if (p !== undefined) this.#attach(conn, p.decoder, p.callbacks);
    else if (this.draining) conn.destroy();
    else {
      this.idle.push(conn);
      conn.armIdleTimer();
    }
  }

  onClosed(conn: Http1ClientConnection, hadRequest: boolean): void {
    const info = this.info;
    const v = info.stats.v;
    countConnectionClosed(info, this.host, conn.createdAt, conn.connected);
    this.total--;
    if (hadRequest) v[info.s.upstream_cx_destroy_with_active_rq]++;
    this.removeIdle(conn);
    if (!conn.connected) {
      this.connecting--;
      const why = conn.connection.transportFailureReason;
      // Envoy purges pending requests that no remaining connection attempt can serve.
      while (this.pending.length > this.connecting + this.idle.length) {
        const p = this.#takePending()!;
        info.resourceManager.requests.dec();
        v[info.s.upstream_rq_pending_failure_eject]++;
        p.callbacks.onPoolFailure('connection_failure', this.host, why);
      }
    } else if (this.pending.length > 0 && info.resourceManager.connections.canCreate()) {
      // A slot opened up: connect for the waiting requests.
      this.#connect();
    }
  }

  /** Take a connection out of the idle list (it is going away). */
  removeIdle(conn: Http1ClientConnection): void {
    const i = this.idle.indexOf(conn);
    if (i !== -1) this.idle.splice(i, 1);
  }

  drainConnections(): void {
    this.draining = true;
    this.closeIdle();
  }

  /** Close idle connections (test and shutdown cleanup; busy ones keep serving). */
  closeIdle(): void {
    for (const conn of this.idle.splice(0)) conn.destroy();
  }

  hasActiveConnections(): boolean {
    return this.total > 0;
  }
}
