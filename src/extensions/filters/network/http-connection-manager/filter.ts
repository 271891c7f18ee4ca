// envoy.filters.network.http_connection_manager, the network filter (Envoy's ConnectionManagerImpl):
// a read filter that creates its codec on the first bytes, makes an ActiveStream for every
// request the codec begins, and owns what is per connection in HTTP terms: the connection stats,
// the idle timeout (common_http_protocol_options.idle_timeout) and drain. It never sees an
// HTTP/1 detail: the codec (http/codec.ts) keeps those.
import type { Buffer } from 'node:buffer';
import { monotonicNow } from '../../../../common/clock.ts';
import { schedule, cancel, TICK_MS, type Expirable } from '../../../../common/timer-wheel.ts';
import {
  ConnectionCloseType, ConnectionEvent, DEFAULT_FLUSH_STALL_MS, DELAYED_CLOSE_MS, FilterStatus, type ConnectionCallbacks, type DrainCloseCallback,
  type NetworkConnection, type NetworkFilterFactory, type ReadFilter, type ReadFilterCallbacks,
} from '../../../../network/filter.ts';
import type {
  RequestDecoder, ResponseEncoder, ServerCodecFactory, ServerConnection, ServerConnectionCallbacks,
} from '../../../../http/codec.ts';
import { Http1ServerConnection, type Http1ServerSettings } from '../../../../http/http1/server-connection.ts';
import { ActiveStream } from './active-stream.ts';
import type { HcmConfig } from './config.ts';
import type { SslConnectionInfo } from '../../../../network/transport-socket.ts';

/** One factory per filter chain; one HttpConnectionManager per connection. The codec is chosen
 *  here, once (codec_type AUTO and HTTP1 are HTTP/1 today). */
export function createHcmFilterFactory(config: HcmConfig): NetworkFilterFactory {
  const settings: Http1ServerSettings = {
    maxRequestHeadersBytes: config.snap.maxRequestHeadersBytes,
    maxHeadersCount: config.snap.maxHeadersCount,
    stats: config.stats,
    slots: config.s,
  };
  const createCodec: ServerCodecFactory = (conn, callbacks) => new Http1ServerConnection(conn, callbacks, settings);
  return (fm) => fm.addReadFilter(new HttpConnectionManager(config, createCodec));
}

export class HttpConnectionManager
  implements ReadFilter, ServerConnectionCallbacks, ConnectionCallbacks, DrainCloseCallback, Expirable {
  readonly config: HcmConfig;
  readonly createCodec: ServerCodecFactory;
  connection: NetworkConnection | null;
  /** The connection's TLS (null: raw), read once. */
  ssl: SslConnectionInfo | null;
  codec: ServerConnection | null;
  activeStreams: number;
  /** The streams in progress (one at a time for HTTP/1), whose timeouts this entry wakes. */
  readonly streams: ActiveStream[];
  /** A drain came before the first bytes (see onDrainClose). */
  drainPending: boolean;
  /** drainClose() started the connection's drain (counted once). */
  drainClosing: boolean;
  /** When the last stream ended (monotonic ms); 0 while a stream is active. */
  idleSince: number;
  startHr: number;
  timerTick: number;
  timerIndex: number;

  constructor(config: HcmConfig, createCodec: ServerCodecFactory) {
    this.config = config;
    this.createCodec = createCodec;
    this.connection = null;
    this.ssl = null;
    this.codec = null;
    this.activeStreams = 0;
    this.streams = [];
    this.drainPending = false;
    this.drainClosing = false;
    this.idleSince = 0;
    this.startHr = 0;
    this.timerTick = -1;
    this.timerIndex = -1;
  }

  initializeReadFilterCallbacks(cb: ReadFilterCallbacks): void {
    const conn = cb.connection;
    this.connection = conn;
    this.ssl = conn.ssl();
    const s = this.config.s;
    conn.setConnectionStats({ rxBytes: s.downstream_cx_rx_bytes_total, txBytes: s.downstream_cx_tx_bytes_total });
    conn.addConnectionCallbacks(this);
    conn.addOnDrainCloseCb(this);
    // A closing connection's flush may stall for the stream idle timeout, or with that off the
    // idle timeout, or with both off Envoy's default stream idle timeout (5 min).
    const snap = this.config.snap;
    const stall = snap.streamIdleTimeoutMs > 0 ? snap.streamIdleTimeoutMs
      : snap.idleTimeoutMs > 0 ? snap.idleTimeoutMs : DEFAULT_FLUSH_STALL_MS;
    conn.setDelayedCloseTimeout(DELAYED_CLOSE_MS, stall);
  }

  onNewConnection(): FilterStatus {
    const c = this.config;
    const v = c.stats.v;
    v[c.s.downstream_cx_total]++;
    v[c.s.downstream_cx_active]++;
    const now = monotonicNow();
    this.startHr = now;
    this.idleSince = now;
    // HCM idle_timeout (common_http_protocol_options.idle_timeout, Envoy default 1 h).
    if (c.snap.idleTimeoutMs > 0) schedule(this, c.snap.idleTimeoutMs);
    return FilterStatus.Continue;
  }

  onData(data: Buffer, endStream: boolean): FilterStatus {
    let codec = this.codec;
    if (codec === null) codec = this.codec = this.createCodec(this.connection!, this);
    if (data.length > 0) codec.dispatch(data);
    if (endStream) codec.onRemoteEnd();
    if (this.drainPending) {
      // Drained before its first bytes: this request's response closes the connection.
      this.drainPending = false;
      codec.shutdownNotice(this.config.snap.drainTimeoutMs);
    }
    return FilterStatus.StopIteration;
  }

  newStream(encoder: ResponseEncoder): RequestDecoder {
    this.activeStreams++;
    this.idleSince = 0;
    const s = new ActiveStream(this, encoder);
    s.index = this.streams.length;
    this.streams.push(s);
    this.armBy(s.nextDeadline());
    return s;
  }

  /** Make sure the wheel entry fires by `at` (monotonic ms): moved earlier only, never per
   *  request otherwise (onExpire re-arms for what is really due). */
  armBy(at: number): void {
    if (at === Infinity) return;
    if (this.timerTick === -1 || this.timerTick * TICK_MS > at + TICK_MS) schedule(this, Math.max(0, at - monotonicNow()));
  }

  /** An ActiveStream ended (completed or reset). */
  onStreamDestroyed(s: ActiveStream): void {
    const list = this.streams;
    const last = list.pop()!;
    if (last !== s) {
      list[s.index] = last;
      last.index = s.index;
    }
    // (A stream reset by the connection's close must not put a closed connection back on the
    // timer wheel: that would keep it reachable for the idle timeout.)
    if (--this.activeStreams > 0 || this.connection!.closing) return;
    const now = monotonicNow();
    this.idleSince = now;
    const t = this.config.snap.idleTimeoutMs;
    // The wheel entry is only moved earlier, never cancelled per request (onExpire re-arms).
    if (t > 0 && (this.timerTick === -1 || this.timerTick * TICK_MS > now + t + TICK_MS)) schedule(this, t);
  }

  onExpire(): void {
    const conn = this.connection!;
    if (conn.closing) return;
    const t = this.config.snap.idleTimeoutMs;
    const now = monotonicNow();
    const list = this.streams;
    if (list.length > 0) {
      // Each stream fires its own timeouts (a local reply or a reset may end it: from the end).
      for (let i = list.length - 1; i >= 0; i--) if (i < list.length) list[i].checkTimeouts(now);
      if (conn.closing) return;
      let at = Infinity;
      for (let i = 0; i < list.length; i++) at = Math.min(at, list[i].nextDeadline());
      if (list.length > 0) {
        if (at === Infinity && t > 0) at = now + t;
        if (at !== Infinity) schedule(this, Math.max(0, at - now));
        return;
      }
    }
    if (t <= 0) return;
    if (this.activeStreams === 0 && this.idleSince > 0) {
      const left = this.idleSince + t - now;
      if (left <= 0) {
        this.config.stats.v[this.config.s.downstream_cx_idle_timeout]++;
        conn.close(ConnectionCloseType.FlushWrite);
        return;
      }
      schedule(this, left);
      return;
    }
    // Busy: look again a timeout from now (the stream's end re-arms it earlier if need be).
    schedule(this, t);
  }

  onEvent(event: number): void {
    if (event === ConnectionEvent.Connected) return;
    // The streams first (they may end on it), then the timer.
    this.codec?.onConnectionClose(event);
    cancel(this);
    if (this.startHr === 0) return; // never started (a filter before it held the chain)
    const c = this.config;
    const v = c.stats.v;
    v[c.s.downstream_cx_active]--;
    v[c.s.downstream_cx_destroy]++;
    v[event === ConnectionEvent.LocalClose ? c.s.downstream_cx_destroy_local : c.s.downstream_cx_destroy_remote]++;
    c.stats.record(c.s.downstream_cx_length_ms, monotonicNow() - this.startHr);
  }

  onAboveWriteBufferHighWatermark(): void {
    this.codec?.onUnderlyingConnectionAboveWriteBufferHighWatermark();
  }

  onBelowWriteBufferLowWatermark(): void {
    this.codec?.onUnderlyingConnectionBelowWriteBufferLowWatermark();
  }

  /** The listener drains: busy connections close after their response; idle ones now on a
   *  shutdown, after drain_timeout when a config update drains them (Envoy's grace between the
   *  shutdown notice and the close, for a request that races with it). */
  onDrainClose(immediate: boolean): void {
    const codec = this.codec;
    if (codec !== null) {
      codec.shutdownNotice(immediate ? 0 : this.config.snap.drainTimeoutMs);
      return;
    }
    // Nothing read yet.
    const grace = this.config.snap.drainTimeoutMs;
    if (immediate || grace <= 0) {
      this.connection!.close(ConnectionCloseType.FlushWrite);
      return;
    }
    this.drainPending = true;
    setTimeout(closeIfSilent, grace, this).unref();
  }

  /** A response goes out while the server should shed this connection (Envoy's
   *  startDrainSequence on drainClose(): the server fails health checks): it closes after the
   *  current response, which says `connection: close`; downstream_cx_drain_close counts it. */
  drainClose(): void {
    if (this.drainClosing || this.codec === null) return;
    this.drainClosing = true;
    this.config.stats.v[this.config.s.downstream_cx_drain_close]++;
    this.codec.shutdownNotice(0);
  }

  /** The connection closes after the current response, which says `connection: close`: a
   *  request refused for what it says (a path normalization refusal) ends its connection as a
   *  framing error does, so nothing the client pipelined after it is read. */
  closeAfterResponse(): void {
    this.codec?.shutdownNotice(0);
  }

  /** The drain grace ended: a connection that never sent a byte is closed. */
  onDrainGraceEnd(): void {
    if (this.codec === null && !this.connection!.closing) this.connection!.close(ConnectionCloseType.FlushWrite);
  }
}

function closeIfSilent(hcm: HttpConnectionManager): void {
  hcm.onDrainGraceEnd();
}
