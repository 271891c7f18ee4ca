// envoy.filters.network.tcp_proxy, the network filter (Envoy's TcpProxy::Filter): on a new
// connection it picks a cluster (`cluster`, or one of `weighted_clusters` by weight), a host from
// the cluster's load balancer and asks the host's TCP pool for a connection, with the downstream
// not read until it is up (Envoy does the same: nothing is buffered meanwhile). A connect failure
// or timeout tries again, up to max_connect_attempts in all. Once connected the two connections
// are a network/relay.ts ByteRelay (half-close both ways, backpressure, idle_timeout).
//
// Failures close the downstream connection at once, with Envoy's response flag for the access
// log: no such cluster NC (downstream_cx_no_route), no host UH (the cluster's
// upstream_cx_none_healthy), circuit breaker UO, connect failure UF (after the last attempt the
// cluster's upstream_cx_connect_attempts_exceeded). The access log line is written when the
// connection is over; its formatter commands mean what Envoy's do for TCP: %BYTES_RECEIVED% from
// the downstream, %BYTES_SENT% to it, %DURATION% of the downstream connection, %UPSTREAM_HOST%,
// %UPSTREAM_CLUSTER%, %RESPONSE_FLAGS%, and %RESPONSE_CODE% 0.
import { Buffer } from 'node:buffer';
import { monotonicNow } from '../../../../common/clock.ts';
import type { StatSink } from '../../../../common/stat-sink.ts';
import {
  ConnectionCloseType, ConnectionEvent, FilterStatus, type ConnectionCallbacks, type NetworkConnection, type ReadFilter,
  type ReadFilterCallbacks,
} from '../../../../network/filter.ts';
import { ByteRelay, RelayEnd, type RelayCallbacks } from '../../../../network/relay.ts';
import { retain } from '../../../../network/socket-owner.ts';
import type { ClusterManager, ThreadLocalCluster } from '../../../../upstream/cluster-manager.ts';
import type { TcpConnection, TcpPoolCallbacks } from '../../../../upstream/tcp-conn-pool.ts';
import type { Cancellable, PoolFailureReason } from '../../../../upstream/conn-pool.ts';
import type { Host } from '../../../../upstream/host.ts';
import { ResponseFlag, newStreamInfo, type StreamInfo } from '../../../../http/types.ts';
import type { AccessLogInstance, WorkerContext } from '../../../types.ts';
import { accessLogger } from '../../../registry.ts';
import type { TcpProxySnap } from './index.ts';
import type { TcpProxyStats } from './stats.ts';

/** The per-worker config, built once from the snapshot. */
export class TcpProxyConfig {
  readonly snap: TcpProxySnap;
  readonly s: TcpProxyStats;
  readonly stats: StatSink;
  readonly cm: ClusterManager;
  readonly totalWeight: number;
  /** null when there are none. */
  readonly accessLoggers: AccessLogInstance[] | null;

  constructor(snap: TcpProxySnap, ctx: WorkerContext) {
    this.snap = snap;
    this.s = snap.stats;
    this.stats = ctx.stats;
    this.cm = ctx.clusterManager;
    let w = 0;
    for (const c of snap.clusters) w += c.weight;
    this.totalWeight = w;
    this.accessLoggers = snap.accessLogs.length > 0 ? snap.accessLogs.map((a) => accessLogger(a, ctx)) : null;
  }

  /** The cluster name for a new connection: by weight, as Envoy picks a weighted cluster. */
  pickCluster(): string {
    const list = this.snap.clusters;
    if (list.length === 1) return list[0].name;
    let r = Math.floor(Math.random() * this.totalWeight);
    for (const c of list) {
      if (r < c.weight) return c.name;
      r -= c.weight;
    }
    return list[list.length - 1].name;
  }
}

export class TcpProxyFilter implements ReadFilter, ConnectionCallbacks, TcpPoolCallbacks, RelayCallbacks {
  readonly config: TcpProxyConfig;
  connection: NetworkConnection | null;
  cluster: ThreadLocalCluster | null;
  /** The pool request in progress. */
  pending: Cancellable | null;
  upstream: TcpConnection | null;
  relay: ByteRelay | null;
  connectAttempts: number;
  /** Read before the relay existed (reading is disabled until then; this only holds what a read
   *  already under way delivered). */
  early: Buffer[] | null;
  earlyEnd: boolean;
  /** Reading is disabled until the upstream connects. */
  waiting: boolean;
  /** Connections whose upstream is still flushing after the downstream closed (upstream_flush_active). */
  flushing: boolean;
  logged: boolean;
  readonly info: StreamInfo;

  constructor(config: TcpProxyConfig) {
    this.config = config;
    this.connection = null;
    this.cluster = null;
    this.pending = null;
    this.upstream = null;
    this.relay = null;
    this.connectAttempts = 0;
    this.early = null;
    this.earlyEnd = false;
    this.waiting = false;
    this.flushing = false;
    this.logged = false;
    this.info = newStreamInfo(monotonicNow(), '', '', null);
  }

  initializeReadFilterCallbacks(cb: ReadFilterCallbacks): void {
    const conn = cb.connection;
    this.connection = conn;
    const s = this.config.s;
    // Envoy's tcp_proxy runs its connections with half-close.
    conn.enableHalfClose(true);
    conn.setConnectionStats({ rxBytes: s.downstream_cx_rx_bytes_total, txBytes: s.downstream_cx_tx_bytes_total });
    conn.addConnectionCallbacks(this);
  }

  onNewConnection(): FilterStatus {
    const c = this.config;
    c.stats.v[c.s.downstream_cx_total]++;
    this.info.startHr = monotonicNow();
    if (c.accessLoggers !== null) {
      const conn = this.connection!;
      this.info.downstreamRemoteAddress = conn.remoteAddress;
      this.info.downstreamDirectRemoteAddress = conn.directRemoteAddress;
      this.info.downstreamSsl = conn.ssl();
      this.info.requestedServerName = conn.requestedServerName;
    }
    const name = c.pickCluster();
    this.info.upstreamCluster = name;
    const cluster = c.cm.getThreadLocalCluster(name);
    if (cluster === undefined) {
      c.stats.v[c.s.downstream_cx_no_route]++;
      this.#fail(ResponseFlag.NoClusterFound);
      return FilterStatus.StopIteration;
    }
    this.cluster = cluster;
    // Nothing is read from the downstream until the upstream is connected.
    this.waiting = true;
    this.connection!.readDisable(true);
    this.#connect();
    return FilterStatus.StopIteration;
  }

  #connect(): void {
    const cluster = this.cluster!;
    const info = cluster.info;
    const v = info.stats.v;
    if (this.connectAttempts >= this.config.snap.maxConnectAttempts) {
      v[info.s.upstream_cx_connect_attempts_exceeded]++;
      this.#fail(ResponseFlag.UpstreamConnectionFailure);
      return;
    }
    const host = cluster.loadBalancer.chooseHost(null);
    if (host === null) {
      v[info.s.upstream_cx_none_healthy]++;
      this.#fail(ResponseFlag.NoHealthyUpstream);
      return;
    }
    this.connectAttempts++;
    this.info.upstreamHost = host.hostString;
    // (The pool may answer at once: a circuit breaker's overflow.)
    this.pending = cluster.tcpConnPool(host).newConnection(this);
  }

  /** Give up on the connection: close it at once, with `flag` for the access log. */
  #fail(flag: string): void {
    this.info.responseFlags = flag;
    this.connection!.close(ConnectionCloseType.NoFlush);
  }

  // ---- TcpPoolCallbacks ---------------------------------------------------------------------

  onPoolReady(conn: TcpConnection, _host: Host): void {
    this.pending = null;
    const down = this.connection!;
    if (down.closing) {
      conn.close();
      return;
    }
    this.upstream = conn;
    const up = conn.connection;
    const relay = new ByteRelay(this.config.snap.idleTimeoutMs, this);
    relay.start(down, up);
    this.relay = relay;
    relay.downstream.gauge = { v: this.config.stats.v, slot: this.config.s.downstream_cx_tx_bytes_buffered };
    up.addReadFilter(relay.upstream);
    up.addConnectionCallbacks(relay.upstream);
    up.startClient();
    const early = this.early;
    if (early !== null || this.earlyEnd) {
      this.early = null;
      const end = this.earlyEnd;
      if (early !== null) for (let i = 0; i < early.length; i++) relay.downstream.onData(early[i], false);
      if (end) relay.downstream.onData(Buffer.alloc(0), true);
    }
    if (this.waiting) {
      this.waiting = false;
      down.readDisable(false);
    }
  }

  onPoolFailure(reason: PoolFailureReason, _host: Host, transportFailureReason: string): void {
    this.pending = null;
    this.info.upstreamTransportFailureReason = transportFailureReason;
    if (this.connection!.closing) return;
    if (reason === 'overflow') {
      this.#fail(ResponseFlag.UpstreamOverflow);
      return;
    }
    // Connect failure or timeout: another attempt, if any are left (#connect checks).
    this.info.responseFlags = ResponseFlag.UpstreamConnectionFailure;
    this.#connect();
  }

  // ---- downstream reads and events ----------------------------------------------------------

  onData(data: Buffer, endStream: boolean): FilterStatus {
    const relay = this.relay;
    if (relay !== null) return relay.downstream.onData(data, endStream);
    if (data.length > 0) (this.early ??= []).push(retain(data));
    if (endStream) this.earlyEnd = true;
    return FilterStatus.StopIteration;
  }

  onEvent(event: ConnectionEvent): void {
    if (event === ConnectionEvent.Connected) return;
    const relay = this.relay;
    if (relay !== null) {
      relay.downstream.onEvent(event);
      return;
    }
    // Closed before the upstream was up: the attempt in progress is given up.
    const p = this.pending;
    if (p !== null) {
      this.pending = null;
      p.cancel();
    }
    this.#log();
  }

  onAboveWriteBufferHighWatermark(): void {
    this.relay?.downstream.onAboveWriteBufferHighWatermark();
  }

  onBelowWriteBufferLowWatermark(): void {
    this.relay?.downstream.onBelowWriteBufferLowWatermark();
  }

  // ---- RelayCallbacks -----------------------------------------------------------------------

  onDownstreamReadPaused(paused: boolean): void {
    const c = this.config;
    c.stats.v[paused ? c.s.downstream_flow_control_paused_reading_total : c.s.downstream_flow_control_resumed_reading_total]++;
  }

  onRelayEnd(why: RelayEnd): void {
    const c = this.config;
    const v = c.stats.v;
    if (why === RelayEnd.IdleTimeout) v[c.s.idle_timeout]++;
    else if (why === RelayEnd.DownstreamClose && this.upstream !== null && !this.upstream.closed
      && this.upstream.connection.bufferedWriteBytes > 0) {
      // The upstream is given what the downstream sent before it went away.
      this.flushing = true;
      v[c.s.upstream_flush_total]++;
      v[c.s.upstream_flush_active]++;
    }
    this.#log();
  }

  onClosedAfterEnd(downstream: boolean): void {
    if (!downstream && this.flushing) {
      this.flushing = false;
      const c = this.config;
      c.stats.v[c.s.upstream_flush_active]--;
    }
  }

  /** The access log line, once, when the connection is over. */
  #log(): void {
    if (this.logged) return;
    this.logged = true;
    const loggers = this.config.accessLoggers;
    if (loggers === null) return;
    const info = this.info;
    const relay = this.relay;
    if (relay !== null) {
      info.bytesReceived = relay.downstream.bytesRead;
      info.bytesSent = relay.upstream.bytesRead;
    }
    const dur = monotonicNow() - info.startHr;
    const ctx = { req: null, resp: null, info, durationMs: dur, startTime: Date.now() - dur };
    for (const l of loggers) l.log(ctx);
  }
}
