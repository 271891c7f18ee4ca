// TCP connection pool for one host (Envoy's Tcp::ConnectionPool, as tcp_proxy uses it): each
// request gets a fresh connection of its own, subject to the cluster's max_connections (beyond it a
// request waits, up to max_pending_requests, for one of this pool's connections to close). Each is
// a network/connection.ts Connection (Connection.client), the same type as a downstream
// connection: the caller owns it from onPoolReady on, adds its read filters and calls
// startClient() (bytes that arrive before that wait for it); the pool keeps the upstream_cx_*
// stats to its close.
import type { Socket } from 'node:net';
import { monotonicNow } from '../common/clock.ts';
import { Connection } from '../network/connection.ts';
import { ConnectionCloseType, ConnectionEvent, type ConnectionCallbacks } from '../network/filter.ts';
import { RingQueue } from '../common/ring-queue.ts';
import { countConnectionClosed, countConnectionOpened, type ClusterInfo } from './cluster-info.ts';
import type { Host } from './host.ts';
import type { Cancellable, PoolFailureReason } from './conn-pool.ts';

export interface TcpPoolCallbacks {
  /** Connected: the connection is the caller's now (conn.connection: add read filters, then
   *  startClient()). */
  onPoolReady(conn: TcpConnection, host: Host): void;
  /** `transportFailureReason`: why the connection's transport failed (TLS), '' otherwise. */
  onPoolFailure(reason: PoolFailureReason, host: Host, transportFailureReason: string): void;
}

/** One upstream TCP connection. Its Cancellable side cancels the attempt before it connects. */
export class TcpConnection implements Cancellable, ConnectionCallbacks {
  readonly pool: TcpConnPool;
  readonly connection: Connection;
  callbacks: TcpPoolCallbacks | null;
  connected: boolean;
  closed: boolean;
  timedOut: boolean;
  localClose: boolean;
  connectTimer: NodeJS.Timeout | null;
  readonly createdAt: number;

  constructor(pool: TcpConnPool, callbacks: TcpPoolCallbacks) {
    this.pool = pool;
    this.callbacks = callbacks;
    this.connected = false;
    this.closed = false;
    this.timedOut = false;
    this.localClose = false;
    this.createdAt = monotonicNow();
    const info = pool.info;
    const c = Connection.client(pool.host.address, pool.host.port, info.bufferLimit, info.stats, this.createdAt,
      info.transportSocket, info.tcpKeepaliveMs);
    c.setConnectionStats({ rxBytes: info.s.upstream_cx_rx_bytes_total, txBytes: info.s.upstream_cx_tx_bytes_total });
    c.addConnectionCallbacks(this);
    this.connection = c;
    this.connectTimer = setTimeout(onConnectTimeout, info.connectTimeoutMs, this);
  }

  get socket(): Socket {
    return this.connection.socket;
  }

  onEvent(event: ConnectionEvent): void {
    if (event === ConnectionEvent.Connected) this.#onConnect();
    else this.#onClose();
  }

  // The caller registers its own callbacks for the write side's watermarks.
  onAboveWriteBufferHighWatermark(): void {}
  onBelowWriteBufferLowWatermark(): void {}

  #onConnect(): void {
    this.connected = true;
    if (this.connectTimer !== null) {
      clearTimeout(this.connectTimer);
      this.connectTimer = null;
    }
    this.pool.onConnected(this);
  }

  #onClose(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.connectTimer !== null) {
      clearTimeout(this.connectTimer);
      this.connectTimer = null;
    }
    this.pool.onClosed(this);
  }

  /** Give up on a connection attempt (the request went away). */
  cancel(): void {
    if (this.connected || this.closed) return;
    this.callbacks = null;
    this.pool.info.stats.v[this.pool.info.s.upstream_rq_cancelled]++;
    this.close();
  }

  /** Close the connection now (ours: destroy_local). */
  close(): void {
    if (this.closed || this.localClose) return;
    this.localClose = true;
    this.connection.close(ConnectionCloseType.NoFlush);
  }
}

function onConnectTimeout(c: TcpConnection): void {
  c.connectTimer = null;
  if (c.connected || c.closed) return;
  c.timedOut = true;
  c.pool.info.stats.v[c.pool.info.s.upstream_cx_connect_timeout]++;
  c.close();
}

/** A request waiting for a connection slot. */
class PendingTcp implements Cancellable {
  readonly pool: TcpConnPool;
  readonly callbacks: TcpPoolCallbacks;
  /** The attempt made for it once a slot opened. */
  conn: TcpConnection | null;
  constructor(pool: TcpConnPool, callbacks: TcpPoolCallbacks) {
    this.pool = pool;
    this.callbacks = callbacks;
    this.conn = null;
  }
  cancel(): void {
    if (this.conn !== null) this.conn.cancel();
    else this.pool.cancelPending(this);
  }
}

export class TcpConnPool {
  readonly info: ClusterInfo;
  readonly host: Host;
  readonly pending: RingQueue<PendingTcp>;
  /** Connections open or opening. */
  total: number;
  draining: boolean;

  constructor(info: ClusterInfo, host: Host) {
    this.info = info;
    this.host = host;
    this.pending = new RingQueue();
    this.total = 0;
    this.draining = false;
  }

  /** Ask for a connection: the callbacks run later; the return value cancels (null when the
   *  request failed at once, onPoolFailure('overflow') having run). */
  newConnection(callbacks: TcpPoolCallbacks): Cancellable | null {
    const info = this.info;
    const rm = info.resourceManager;
    if (rm.connections.canCreate()) return this.#connect(callbacks);
    info.stats.v[info.s.upstream_cx_overflow]++;
    if (this.total === 0 || !rm.pendingRequests.canCreate()) {
      // Nothing of ours will free a slot, or the queue is full.
      info.stats.v[info.s.upstream_rq_pending_overflow]++;
      callbacks.onPoolFailure('overflow', this.host, '');
      return null;
    }
    rm.pendingRequests.inc();
    info.stats.v[info.s.upstream_rq_pending_total]++;
    info.stats.v[info.s.upstream_rq_pending_active]++;
    const p = new PendingTcp(this, callbacks);
    this.pending.push(p);
    return p;
  }

  cancelPending(p: PendingTcp): void {
    if (this.pending.remove(p)) {
      this.#pendingGone();
      this.info.stats.v[this.info.s.upstream_rq_cancelled]++;
    }
  }

  #pendingGone(): void {
    this.info.resourceManager.pendingRequests.dec();
    this.info.stats.v[this.info.s.upstream_rq_pending_active]--;
  }

  #connect(callbacks: TcpPoolCallbacks): TcpConnection {
    countConnectionOpened(this.info, this.host);
    this.total++;
    return new TcpConnection(this, callbacks);
  }

  onConnected(c: TcpConnection): void {
    const info = this.info;
    info.stats.record(info.s.upstream_cx_connect_ms, monotonicNow() - c.createdAt);
    const cb = c.callbacks;
    c.callbacks = null;
    if (cb === null) c.close();
    else cb.onPoolReady(c, this.host);
  }

  onClosed(c: TcpConnection): void {
    const info = this.info;
    const v = info.stats.v;
    countConnectionClosed(info, this.host, c.createdAt, c.connected);
    this.total--;
    v[c.localClose ? info.s.upstream_cx_destroy_local : info.s.upstream_cx_destroy_remote]++;
    if (!c.connected) {
      const cb = c.callbacks;
      c.callbacks = null;
      if (cb !== null) {
        cb.onPoolFailure(c.timedOut ? 'timeout' : 'connection_failure', this.host, c.connection.transportFailureReason);
      }
    }
    // A slot opened up: the next waiting request gets it.
    if (this.pending.length > 0 && info.resourceManager.connections.canCreate()) {
      const p = this.pending.shift()!;
      this.#pendingGone();
      p.conn = this.#connect(p.callbacks);
    }
  }

  /** Nothing idle to close (connections belong to their callers); marks the pool. */
  drainConnections(): void {
    this.draining = true;
  }
}
