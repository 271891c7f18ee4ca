// A byte relay between two connections (Envoy's tcp_proxy data path; an upgraded HTTP/1
// connection, WebSocket and the like, uses the same one after its 101).
//
// Design note
// - Two RelaySides, one per connection. Each is told what its connection reads (as its read
//   filter, or by whoever owns the connection's reads: the HCM after an upgrade) and about its
//   connection's events (as its ConnectionCallbacks); it writes what it reads to the other one.
// - Backpressure: a connection whose write buffer passes its buffer limit (the high watermark)
//   stops reading on the other connection, until its write buffer drains (the low watermark).
//   What either side buffers is so bounded by about its buffer limit plus one read, whatever the
//   speeds of the two peers.
// - Half-close: both connections run with half-close enabled (Connection.enableHalfClose). A
//   FIN read on one side shuts down the write side of the other after what is queued for it; the
//   other direction goes on. Once both directions have ended both sockets close by themselves;
//   the relay ends at the first close (a reset, or the close that follows both FINs), closing
//   the other connection: after a flush when the peer closed (RemoteClose), at once when we did.
// - Large reads: a side whose peer sends more than QUEUE_MAX_BYTES at once moves to read buffers
//   of its own (Connection.setReadBufferSource), written on without a copy (writeHeld). A buffer
//   whose write the other socket has not completed is held, and the next read goes to another
//   one; once the other socket's write buffer is empty the held ones go back to the thread's
//   pool. Backpressure bounds them: about the buffer limit over 64 KiB, plus one. A small read
//   switches back to the shared buffer (its own buffer is dropped, not pooled: a read that was
//   not a socket's, such as bytes a listener filter held, may come before the switch is made).
// - Idle timeout: no byte either way for `idleTimeoutMs` closes both connections. One timer-wheel
//   entry per relay, re-armed only when it fires (a read only moves `lastActivity`).
import { Buffer } from 'node:buffer';
import { monotonicNow } from '../common/clock.ts';
import { cancel, schedule, type Expirable } from '../common/timer-wheel.ts';
import { giveReadBuffer, retain, takeReadBuffer } from './socket-owner.ts';
import {
  ConnectionCloseType, ConnectionEvent, FilterStatus, type ConnectionCallbacks, type NetworkConnection,
  type ReadFilter, type ReadFilterCallbacks,
} from './filter.ts';

const EMPTY = Buffer.alloc(0);
/** Reads up to this size are queued for the end of the loop iteration (see onData). */
const QUEUE_MAX_BYTES = 16 * 1024;
/** A side's connection until ByteRelay.start (never used: nothing reaches a side before it). */
const NO_CONNECTION = null as unknown as NetworkConnection;

/** Why a relay ended. */
export const RelayEnd = {
  /** The downstream connection closed first (reset, or the close after both FINs). */
  DownstreamClose: 0,
  /** The upstream connection closed first. */
  UpstreamClose: 1,
  /** No byte either way for the idle timeout. */
  IdleTimeout: 2,
  /** Its owner closed it (RelaySide.relay.close). */
  Local: 3,
} as const;
export type RelayEnd = (typeof RelayEnd)[keyof typeof RelayEnd];

/** What the relay's owner hears (tcp_proxy, the HTTP connection manager's upgraded stream). */
export interface RelayCallbacks {
  /** Reading from the downstream connection stopped (the upstream one is above its high
   *  watermark: `paused`) or resumed. */
  onDownstreamReadPaused(paused: boolean): void;
  /** The relay is over; its connections are closed or closing. Called once. */
  onRelayEnd(why: RelayEnd): void;
  /** A connection closed after the relay ended (the other one, flushing what it was given). */
  onClosedAfterEnd(downstream: boolean): void;
}

/** A gauge of a connection's write buffer (tcp_proxy's downstream_cx_tx_bytes_buffered): sampled
 *  when the relay writes to it and when it drains (Node tells nothing in between). */
export interface BufferedGauge {
  readonly v: Float64Array;
  readonly slot: number;
}

/** One connection of a relay. */
export class RelaySide implements ReadFilter, ConnectionCallbacks {
  readonly relay: ByteRelay;
  /** Set by ByteRelay.start. */
  connection: NetworkConnection;
  /** Is the downstream side. */
  readonly downstream: boolean;
  /** Bytes read from this side's connection (written to the other). */
  bytesRead: number;
  /** This side's peer sent FIN (passed on to the other connection). */
  readEnded: boolean;
  /** This side's connection is above its write high watermark (the other side is paused). */
  above: boolean;
  /** Its write buffer's gauge, or null; `lastBuffered` is what the gauge has of it. */
  gauge: BufferedGauge | null;
  lastBuffered: number;
  /** The buffer this side's reads land in while they are large (null: the shared one). */
  own: Buffer | null;
  /** Own buffers written to the other connection and maybe not taken by its socket yet. */
  held: Buffer[] | null;
  heldCount: number;
  /** What the connection asks for the next read's buffer (one function per side). */
  nextBuffer: (() => Buffer) | null;

  constructor(relay: ByteRelay, downstream: boolean) {
    this.relay = relay;
    this.connection = NO_CONNECTION;
    this.downstream = downstream;
    this.bytesRead = 0;
    this.readEnded = false;
    this.above = false;
    this.gauge = null;
    this.lastBuffered = 0;
    this.own = null;
    this.held = null;
    this.heldCount = 0;
    this.nextBuffer = null;
  }

  /** Bring the write-buffer gauge to `n` bytes. */
  sampleBuffered(n: number): void {
    const g = this.gauge!;
    g.v[g.slot] += n - this.lastBuffered;
    this.lastBuffered = n;
  }

  get other(): RelaySide {
    return this.downstream ? this.relay.upstream : this.relay.downstream;
  }

  // ReadFilter (when the relay side is its connection's read filter: tcp_proxy's upstream).
  initializeReadFilterCallbacks(_cb: ReadFilterCallbacks): void {}
  onNewConnection(): FilterStatus {
    return FilterStatus.Continue;
  }

  /** Bytes read from this side's connection; `endStream`: its peer's FIN. */
  onData(data: Buffer, endStream: boolean): FilterStatus {
    const relay = this.relay;
    if (relay.ended) return FilterStatus.StopIteration;
    relay.lastActivity = monotonicNow();
    const other = this.downstream ? relay.upstream : relay.downstream;
    const to = other.connection;
    if (data.length > 0) {
      this.bytesRead += data.length;
      // Small reads (request/response exchanges) are written with the loop iteration's others:
      // the peer wakes once for a burst (network/write-batch.ts); measured on tcp-echo, the
      // relay's CPU per exchange falls 10%. A large read is written now, its watermark checked
      // at once, so a stalled reader holds at most about the buffer limit.
      if (data.length <= QUEUE_MAX_BYTES) {
        to.queueWrite(retain(data));
        if (this.own !== null) this.#readShared(to);
      } else if (this.own !== null && data.buffer === this.own.buffer) {
        this.#writeOwn(data, to);
      } else {
        to.write(data, false);
        if (this.own === null) this.#readOwn();
      }
      if (other.gauge !== null) other.sampleBuffered(to.bufferedWriteBytes);
    }
    if (endStream && !this.readEnded) {
      this.readEnded = true;
      to.write(EMPTY, true);
    }
    return FilterStatus.StopIteration;
  }

  /** From the next read on, this side's reads land in buffers of its own. */
  #readOwn(): void {
    const b = takeReadBuffer();
    this.own = b;
    if (!this.connection.setReadBufferSource(this.nextBuffer ??= () => this.own!)) {
      giveReadBuffer(b);
      this.own = null;
    }
  }

  /** Back to the shared read buffer (a small read: what it had is already copied). */
  #readShared(to: NetworkConnection): void {
    this.connection.setReadBufferSource(null);
    this.own = null;
    if (this.heldCount > 0 && to.bufferedWriteBytes === 0) this.#release();
  }

  /** `data` is a view of `own`: written as it is; if the socket keeps it, the next read goes to
   *  another buffer. */
  #writeOwn(data: Buffer, to: NetworkConnection): void {
    if (this.heldCount > 0 && to.bufferedWriteBytes === 0) this.#release();
    to.writeHeld(data);
    if (to.bufferedWriteBytes > 0) {
      (this.held ??= [])[this.heldCount++] = this.own!;
      this.own = takeReadBuffer();
    }
  }

  /** The other socket has taken everything: the held buffers go back to the pool. */
  #release(): void {
    const h = this.held!;
    for (let i = 0; i < this.heldCount; i++) {
      giveReadBuffer(h[i]);
      h[i] = EMPTY;
    }
    this.heldCount = 0;
  }

  // ConnectionCallbacks.
  onEvent(event: ConnectionEvent): void {
    if (event === ConnectionEvent.Connected) return;
    this.relay.onSideClosed(this, event);
  }

  /** This side's connection has more than its buffer limit to write: stop reading the other. */
  onAboveWriteBufferHighWatermark(): void {
    if (this.above || this.relay.ended) return;
    this.above = true;
    this.other.connection.readDisable(true);
    if (!this.downstream) this.relay.callbacks.onDownstreamReadPaused(true);
  }

  onBelowWriteBufferLowWatermark(): void {
    if (!this.above) return;
    this.above = false;
    if (this.relay.ended) return;
    if (this.gauge !== null) this.sampleBuffered(this.connection.bufferedWriteBytes);
    this.other.connection.readDisable(false);
    if (!this.downstream) this.relay.callbacks.onDownstreamReadPaused(false);
  }
}

export class ByteRelay implements Expirable {
  readonly downstream: RelaySide;
  readonly upstream: RelaySide;
  readonly callbacks: RelayCallbacks;
  readonly idleTimeoutMs: number;
  lastActivity: number;
  ended: boolean;
  timerTick: number;
  timerIndex: number;

  /** The sides exist from here (a codec may be told where its reads go before the relay
   *  starts); start() joins the connections. */
  constructor(idleTimeoutMs: number, callbacks: RelayCallbacks) {
    this.downstream = new RelaySide(this, true);
    this.upstream = new RelaySide(this, false);
    this.callbacks = callbacks;
    this.idleTimeoutMs = idleTimeoutMs;
    this.lastActivity = 0;
    this.ended = false;
    this.timerTick = -1;
    this.timerIndex = -1;
  }

  /** Join `downstream` and `upstream` (enabling half-close on both). The caller routes each
   *  connection's reads and events to its side (RelaySide.onData, as ConnectionCallbacks). */
  start(downstream: NetworkConnection, upstream: NetworkConnection): void {
    this.downstream.connection = downstream;
    this.upstream.connection = upstream;
    downstream.enableHalfClose(true);
    upstream.enableHalfClose(true);
    this.lastActivity = monotonicNow();
    if (this.idleTimeoutMs > 0) schedule(this, this.idleTimeoutMs);
  }

  onExpire(): void {
    if (this.ended) return;
    const left = this.lastActivity + this.idleTimeoutMs - monotonicNow();
    if (left > 0) {
      schedule(this, left);
      return;
    }
    this.#end(RelayEnd.IdleTimeout);
    this.downstream.connection.close(ConnectionCloseType.NoFlush);
    this.upstream.connection.close(ConnectionCloseType.NoFlush);
  }

  /** A side's connection closed: the other is closed too (flushed first when the peer closed),
   *  and the relay ends. */
  onSideClosed(side: RelaySide, event: ConnectionEvent): void {
    if (this.ended) {
      this.callbacks.onClosedAfterEnd(side.downstream);
      return;
    }
    this.#end(side.downstream ? RelayEnd.DownstreamClose : RelayEnd.UpstreamClose);
    side.other.connection.close(event === ConnectionEvent.RemoteClose ? ConnectionCloseType.FlushWrite
      : ConnectionCloseType.NoFlush);
  }

  /** The owner ends the relay: both connections close now. */
  close(): void {
    if (this.ended) return;
    this.#end(RelayEnd.Local);
    this.downstream.connection.close(ConnectionCloseType.NoFlush);
    this.upstream.connection.close(ConnectionCloseType.NoFlush);
  }

  #end(why: RelayEnd): void {
    this.ended = true;
    cancel(this);
    for (const side of [this.downstream, this.upstream]) if (side.gauge !== null) side.sampleBuffered(0);
    this.callbacks.onRelayEnd(why);
  }
}
