// TCP connection pool for one host (Envoy's Tcp::ConnectionPool, as tcp_proxy uses it): each
// request gets a fresh connection of its own, subject to the cluster's max_connections (beyond it a
// request waits, up to max_pending_requests, for one of this pool's connections to close). The
// caller owns the socket from onPoolReady on; the pool keeps the upstream_cx_* stats to its close.
// Socket handlers are module-level functions; the connection hangs off a symbol slot.
import net, { type Socket } from 'node:net';
import { monotonicNow } from '../common/clock.ts';
import { RingQueue } from '../common/ring-queue.ts';
import type { ClusterInfo } from './cluster-info.ts';
import type { Host } from './host.ts';
import type { Cancellable, PoolFailureReason } from './conn-pool.ts';

export interface TcpPoolCallbacks {
  /** Connected: the connection (and its socket) is the caller's now. */
  onPoolReady(conn: TcpConnection, host: Host): void;
  onPoolFailure(reason: PoolFailureReason, host: Host): void;
}

const kConn = Symbol('legate.tcpConn');

/** One upstream TCP connection. Its Cancellable side cancels the attempt before it connects. */
export class TcpConnection implements Cancellable {
  readonly pool: TcpConnPool;
  readonly socket: Socket;
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
    const s = net.connect({ host: pool.host.address, port: pool.host.port, noDelay: true });
    (s as any)[kConn] = this;
    s.on('connect', onSocketConnect);
    s.on('error', onSocketError);
    s.on('close', onSocketClose);
    this.socket = s;
    this.connectTimer = setTimeout(onConnectTimeout, pool.info.connectTimeoutMs, this);
  }

  /** Give up on a connection attempt (the request went away). */
  cancel(): void {
    if (this.connected || this.closed) return;
    this.callbacks = null;
    this.pool.info.stats.v[this.pool.info.s.upstream_rq_cancelled]++;
    this.close();
  }

  /** Close the connection (ours: destroy_local). */
  close(): void {
    if (this.closed || this.localClose) return;
    this.localClose = true;
    this.socket.destroy();
  }
}

function onSocketConnect(this: Socket): void {
  const c = (this as any)[kConn] as TcpConnection;
  c.connected = true;
  if (c.connectTimer !== null) {
    clearTimeout(c.connectTimer);
    c.connectTimer = null;
  }
  c.pool.onConnected(c);
}

function onSocketError(this: Socket): void {
  // 'close' follows and says what it means for the pool.
}

function onSocketClose(this: Socket): void {
  const c = (this as any)[kConn] as TcpConnection;
  if (c.closed) return;
  c.closed = true;
  if (c.connectTimer !== null) {
    clearTimeout(c.connectTimer);
    c.connectTimer = null;
  }
  c.pool.onClosed(c);
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
      callbacks.onPoolFailure('overflow', this.host);
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
    const info = this.info;
    const v = info.stats.v;
    info.resourceManager.connections.inc();
    this.total++;
    v[info.s.upstream_cx_total]++;
    v[info.s.upstream_cx_active]++;
    v[this.host.hs.cx_total]++;
    v[this.host.hs.cx_active]++;
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
    const hs = this.host.hs;
    info.resourceManager.connections.dec();
    this.total--;
    v[info.s.upstream_cx_active]--;
    v[hs.cx_active]--;
    v[info.s.upstream_cx_destroy]++;
    v[c.localClose ? info.s.upstream_cx_destroy_local : info.s.upstream_cx_destroy_remote]++;
    v[info.s.upstream_cx_rx_bytes_total] += c.socket.bytesRead;
    v[info.s.upstream_cx_tx_bytes_total] += c.socket.bytesWritten;
    info.stats.record(info.s.upstream_cx_length_ms, monotonicNow() - c.createdAt);
    if (!c.connected) {
      v[info.s.upstream_cx_connect_fail]++;
      v[hs.cx_connect_fail]++;
      const cb = c.callbacks;
      c.callbacks = null;
      if (cb !== null) cb.onPoolFailure(c.timedOut ? 'timeout' : 'connection_failure', this.host);
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
