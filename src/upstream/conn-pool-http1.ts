// HTTP/1.1 connection pool: one per worker per upstream host. Idle connections are reused LIFO
// (the most recently used socket is the warmest); requests wait in a ring-buffer queue when every
// connection is busy and the cluster's max_connections is reached, up to max_pending_requests
// (Envoy's circuit breakers; here per worker, see docs/differences.md).
import { monotonicNow } from '../common/clock.ts';
import { RingQueue } from '../common/ring-queue.ts';
import { Http1ClientConnection } from './codec-client-http1.ts';
import type { ClusterRuntime } from './cluster-manager.ts';
import type { HostSnap } from '../config/snapshot.ts';
import type { HostStats } from './stats.ts';

export interface PoolCallbacks {
  onPoolReady(conn: Http1ClientConnection, host: HostPool): void;
  onPoolFailure(reason: 'overflow' | 'connection_failure', host: HostPool): void;
}

export class HostPool {
  readonly cluster: ClusterRuntime;
  readonly address: string;
  readonly port: number;
  readonly hostString: string;
  readonly hs: HostStats;
  readonly idle: Http1ClientConnection[];
  readonly pending: RingQueue<PoolCallbacks>;
  connecting: number;
  total: number;

  constructor(cluster: ClusterRuntime, host: HostSnap) {
    this.cluster = cluster;
    this.address = host.address;
    this.port = host.port;
    this.hostString = `${host.address}:${host.port}`;
    this.hs = host.stats;
    this.idle = [];
    this.pending = new RingQueue();
    this.connecting = 0;
    this.total = 0;
  }

  /** Get a connection for a request: now (onPoolReady), later, or never (onPoolFailure).
   *  Returns true when the request is queued (cancel with cancel()). */
  newStream(cb: PoolCallbacks): boolean {
    const c = this.cluster;
    const v = c.stats.v;
    const idle = this.idle;
    while (idle.length > 0) {
      const conn = idle.pop()!;
      if (!conn.reusable) continue;
      cb.onPoolReady(conn, this);
      return false;
    }
    if (c.cxCount < c.maxConnections) {
      this.#connect();
    } else {
      v[c.s.upstream_cx_overflow]++;
      if (this.connecting === 0 && this.total === 0) {
        // Nothing of ours will ever serve this request.
        cb.onPoolFailure('overflow', this);
        return false;
      }
    }
    if (c.pendingCount >= c.maxPendingRequests) {
      v[c.s.upstream_rq_pending_overflow]++;
      cb.onPoolFailure('overflow', this);
      return false;
    }
    c.pendingCount++;
    v[c.s.upstream_rq_pending_total]++;
    v[c.s.upstream_rq_pending_active]++;
    this.pending.push(cb);
    return true;
  }

  cancel(cb: PoolCallbacks): void {
    if (this.pending.remove(cb)) {
      const c = this.cluster;
      c.pendingCount--;
      c.stats.v[c.s.upstream_rq_pending_active]--;
      c.stats.v[c.s.upstream_rq_cancelled]++;
    }
  }

  #connect(): void {
    const c = this.cluster;
    const v = c.stats.v;
    c.cxCount++;
    this.total++;
    this.connecting++;
    v[c.s.upstream_cx_total]++;
    v[c.s.upstream_cx_http1_total]++;
    v[c.s.upstream_cx_active]++;
    v[this.hs.cx_total]++;
    v[this.hs.cx_active]++;
    // The connection registers its own socket handlers; the pool hears back via onConnected/onClosed.
    new Http1ClientConnection(this);
  }

  #takePending(): PoolCallbacks | undefined {
    const cb = this.pending.shift();
    if (cb !== undefined) {
      const c = this.cluster;
      c.pendingCount--;
      c.stats.v[c.s.upstream_rq_pending_active]--;
    }
    return cb;
  }

  onConnected(conn: Http1ClientConnection): void {
    this.connecting--;
    this.release(conn);
  }

  /** A connection finished a request (or just connected) and can take another. */
  release(conn: Http1ClientConnection): void {
    if (!conn.reusable) {
      // Half-closed by the upstream while serving: its close will reconnect for the queue.
      conn.destroy();
      return;
    }
    const cb = this.#takePending();
    if (cb !== undefined) cb.onPoolReady(conn, this);
    else if (this.cluster.draining) conn.destroy();
    else this.idle.push(conn);
  }

  onClosed(conn: Http1ClientConnection, hadRequest: boolean): void {
    const c = this.cluster;
    const v = c.stats.v;
    c.cxCount--;
    this.total--;
    v[c.s.upstream_cx_active]--;
    v[this.hs.cx_active]--;
    v[c.s.upstream_cx_destroy]++;
    if (hadRequest) v[c.s.upstream_cx_destroy_with_active_rq]++;
    c.stats.record(c.s.upstream_cx_length_ms, monotonicNow() - conn.createdAt);
    const i = this.idle.indexOf(conn);
    if (i !== -1) this.idle.splice(i, 1);
    if (!conn.connected) {
      this.connecting--;
      v[c.s.upstream_cx_connect_fail]++;
      v[this.hs.cx_connect_fail]++;
      // Envoy purges pending requests that no remaining connection attempt can serve.
      while (this.pending.length > this.connecting + this.idle.length) {
        const cb = this.#takePending()!;
        v[c.s.upstream_rq_pending_failure_eject]++;
        cb.onPoolFailure('connection_failure', this);
      }
    } else if (this.pending.length > 0 && c.cxCount < c.maxConnections) {
      // A slot opened up: connect for the waiting requests.
      this.#connect();
    }
  }

  /** Take a connection out of the idle list (it is going away). */
  removeIdle(conn: Http1ClientConnection): void {
    const i = this.idle.indexOf(conn);
    if (i !== -1) this.idle.splice(i, 1);
  }

  /** Close idle connections (shutdown). */
  drain(): void {
    for (const conn of this.idle.splice(0)) conn.destroy();
  }
}
