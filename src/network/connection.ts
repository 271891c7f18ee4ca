// A connection, downstream (accepted) or upstream (Connection.client: Envoy's ClientConnection):
// the socket, its network filter chain, and everything about moving bytes that is not a
// protocol's business (Envoy's Network::ConnectionImpl). It owns:
// - read dispatch: the socket's reads go to the read filters in order (network/filter.ts);
// - writes: through the write filters (reverse order) to the socket; whole messages are batched
//   per loop iteration (network/write-batch.ts), others written directly, the queue first;
// - watermarks: the socket's write buffer above the buffer limit tells the connection callbacks
//   (the HCM stops parsing pipelined requests, the router pauses its upstream) until 'drain';
//   readDisable() is counted (n disables need n enables);
// - close: FlushWrite closes after what is written is flushed, keeps reading (and discarding) so
//   the peer's FIN is seen, and gives the peer DELAYED_CLOSE_MS after the flush to close its side
//   (Envoy's delayed_close_timeout) and `flushStallMs` of no progress while flushing;
// - byte counters (setConnectionStats) and the close event (LocalClose / RemoteClose);
// - half-close, when a filter enables it (enableHalfClose: tcp_proxy, upgraded HTTP/1): the peer's
//   FIN is end of stream for the read filters and the connection stays open for writing; a write
//   with end of stream shuts down our write side after what is queued (socket.end()) and reading
//   goes on. The connection closes once both sides have ended (or either resets). Without it (the
//   HCM's default, as Envoy's) the peer's FIN ends the connection.
// The socket is the transport socket (network/transport-socket.ts): the TCP socket itself
// (raw_buffer), or a TLS socket wrapping it, on both sides; `ssl()` says which. An upstream codec (http/http1/client-connection.ts) is its connection's read filter and
// connection callbacks, as Envoy's CodecClient is.
//
// Hot path: a connection whose chain is one read filter with no write filters (the HCM) costs
// one call per read and one branch per write over writing the socket itself.
import { Buffer } from 'node:buffer';
import net, { type Socket } from 'node:net';
import {
  attachSocket, clientReadOptions, dispatchRead, retain, setReadBufferSource, type SocketOwner,
} from './socket-owner.ts';
import { flushWrites, queueWrite } from './write-batch.ts';
import { framedBytes, writeMessage } from '../http/http1/framing.ts';
import {
  ConnectionCloseType, ConnectionEvent, DEFAULT_FLUSH_STALL_MS, DELAYED_CLOSE_MS, FilterStatus, type ConnectionByteStats, type ConnectionCallbacks, type DrainCloseCallback,
  type NetworkConnection, type NetworkFilterManager, type ReadFilter, type ReadFilterCallbacks,
  type WriteFilter, type WriteFilterCallbacks,
} from './filter.ts';
import type { StatSink } from '../common/stat-sink.ts';
import type { ConnectionSocket } from '../listener/listener-filter.ts';
import {
  sslInfoOf, transportFailureReasonOf, type SslConnectionInfo, type UpstreamTransportSocketFactory,
} from './transport-socket.ts';

const EMPTY = Buffer.alloc(0);
const NO_PROTOCOLS: readonly string[] = [];

/** Who is told when a connection ends (its listener). */
export interface ConnectionOwner {
  onConnectionClose(conn: Connection): void;
}

let nextId = 0;

class ActiveReadFilter implements ReadFilterCallbacks {
  readonly connection: Connection;
  readonly filter: ReadFilter;
  readonly index: number;
  initialized: boolean;
  constructor(connection: Connection, filter: ReadFilter, index: number) {
    this.connection = connection;
    this.filter = filter;
    this.index = index;
    this.initialized = false;
  }
  continueReading(): void {
    this.connection.continueReading(this.index + 1);
  }
  injectReadDataToFilterChain(data: Buffer, endStream: boolean): void {
    this.connection.runReadFilters(this.index + 1, data, endStream);
  }
}

class ActiveWriteFilter implements WriteFilterCallbacks {
  readonly connection: Connection;
  readonly filter: WriteFilter;
  /** Position in the write order (0 runs first). */
  index: number;
  constructor(connection: Connection, filter: WriteFilter) {
    this.connection = connection;
    this.filter = filter;
    this.index = 0;
  }
  injectWriteDataToFilterChain(data: Buffer, endStream: boolean): void {
    this.connection.runWriteFilters(this.index + 1, data, endStream);
  }
}

export class Connection implements NetworkConnection, NetworkFilterManager, SocketOwner {
  readonly id: number;
  readonly socket: Socket;
  readonly bufferLimit: number;
  /** Told when it ends (its listener); null for an upstream connection (its codec hears the
   *  close event). */
  readonly owner: ConnectionOwner | null;
  readonly stats: StatSink;
  readonly startHr: number;
  readFilters: ActiveReadFilter[];
  /** In write order (the reverse of addition, as Envoy runs them); null when there are none. */
  writeFilters: ActiveWriteFilter[] | null;
  callbacks: ConnectionCallbacks[];
  drainCallbacks: DrainCloseCallback[] | null;
  /** Index of the first read filter data may not reach yet (a filter before it stopped the
   *  chain); the bytes for it and the ones after wait in `held`. */
  barrier: number;
  held: Buffer | null;
  heldEnd: boolean;
  /** Reading is disabled because `held` passed the buffer limit (until the filters continue). */
  heldPaused: boolean;
  rxSlot: number;
  txSlot: number;
  closing: boolean;
  /** We closed it (LocalClose), not the peer. */
  localClose: boolean;
  readDisableCount: number;
  aboveWatermark: boolean;
  /** Bytes queued since the socket's write buffer was last looked at (queueWrite). */
  unchecked: number;
  closeTimer: NodeJS.Timeout | null;
  closeLeft: number;
  delayedCloseMs: number;
  flushStallMs: number;
  /** What listener filters learnt (ConnectionSocket), '' / [] without them. */
  requestedServerName: string;
  applicationProtocols: readonly string[];
  /** Half-close enabled (enableHalfClose). */
  halfClose: boolean;
  /** Our write side was shut down (half-close: a write with end of stream). */
  writeEnded: boolean;
  #remoteIp: string | null;
  /** A PROXY protocol header's source port (-1: the socket's). */
  #remotePort: number;
  #remoteAddress: string | null;
  /** A PROXY protocol header's destination (null: the socket's own). */
  #localIpOverride: string | null;
  #localPortOverride: number;
  #localAddress: string | null;

  constructor(socket: Socket, owner: ConnectionOwner | null, bufferLimit: number, stats: StatSink, now: number) {
    this.id = nextId++;
    this.socket = socket;
    this.bufferLimit = bufferLimit;
    this.owner = owner;
    this.stats = stats;
    this.startHr = now;
    this.readFilters = [];
    this.writeFilters = null;
    this.callbacks = [];
    this.drainCallbacks = null;
    this.barrier = 0;
    this.held = null;
    this.heldEnd = false;
    this.heldPaused = false;
    this.rxSlot = -1;
    this.txSlot = -1;
    this.closing = false;
    this.localClose = false;
    this.readDisableCount = 0;
    this.aboveWatermark = false;
    this.unchecked = 0;
    this.closeTimer = null;
    this.closeLeft = 0;
    this.delayedCloseMs = DELAYED_CLOSE_MS;
    this.flushStallMs = DEFAULT_FLUSH_STALL_MS;
    this.requestedServerName = '';
    this.applicationProtocols = NO_PROTOCOLS;
    this.halfClose = false;
    this.writeEnded = false;
    this.#remoteIp = null;
    this.#remotePort = -1;
    this.#remoteAddress = null;
    this.#localIpOverride = null;
    this.#localPortOverride = 0;
    this.#localAddress = null;
    socket.setNoDelay(true);
  }

  /** An upstream connection to host:port, reading into the thread's shared buffer, over
   *  `transport` (a cluster's transport socket; null: raw TCP). The caller adds its filters and
   *  callbacks, then calls startClient(); ConnectionEvent.Connected says when the connect (and
   *  the TLS handshake) completed (a connect timeout is the caller's: it closes the connection).
   *  `keepAliveMs`: TCP keepalive, -1 off, else on with that idle time before the first probe (0:
   *  the system's); Node then sets TCP_KEEPCNT=10 and TCP_KEEPINTVL=1 s itself. */
  static client(host: string, port: number, bufferLimit: number, stats: StatSink, now: number,
    transport: UpstreamTransportSocketFactory | null = null, keepAliveMs = -1): Connection {
    const s = transport === null ? net.connect({ host, port, noDelay: true, ...clientReadOptions })
      : transport.connect(host, port);
    // (Before the connect completes Node keeps it and applies it to the socket once there is one.)
    if (keepAliveMs >= 0) s.setKeepAlive(true, keepAliveMs);
    const c = new Connection(s, null, bufferLimit, stats, now);
    attachSocket(s, c);
    return c;
  }

  /** An upstream connection's filters are in place: tell them (onNewConnection). */
  startClient(): void {
    this.continueReading(0);
  }

  onConnect(): void {
    const cbs = this.callbacks;
    for (let i = 0; i < cbs.length; i++) cbs[i].onEvent(ConnectionEvent.Connected);
  }

  /** What the listener (and its listener filters) learnt of the socket, before start(): SNI,
   *  ALPN, and a PROXY protocol header's source, which becomes the remote address. */
  setSocketInfo(cs: ConnectionSocket): void {
    this.requestedServerName = cs.requestedServerName;
    this.applicationProtocols = cs.applicationProtocols;
    if (cs.remoteIpOverride !== null) {
      this.#remoteIp = cs.remoteIpOverride;
      this.#remotePort = cs.remotePortOverride;
    }
    if (cs.localIpOverride !== null) {
      this.#localIpOverride = cs.localIpOverride;
      this.#localPortOverride = cs.localPortOverride;
    }
  }

  /** Bytes read off the socket before the connection existed (by listener filters): they go
   *  through the read filters as the first read. */
  deliverPreread(data: Buffer): void {
    dispatchRead(this, data);
  }

  ssl(): SslConnectionInfo | null {
    return sslInfoOf(this.socket);
  }

  /** Why the transport failed before it was established ('' if it did not): a TLS handshake or
   *  certificate verification error (%UPSTREAM_TRANSPORT_FAILURE_REASON%). */
  get transportFailureReason(): string {
    return transportFailureReasonOf(this.socket);
  }

  get remoteIp(): string {
    return (this.#remoteIp ??= this.socket.remoteAddress ?? '');
  }

  get remoteAddress(): string {
    if (this.#remoteAddress !== null) return this.#remoteAddress;
    const ip = this.remoteIp;
    if (ip === '') return '';
    const port = this.#remotePort >= 0 ? this.#remotePort : this.socket.remotePort;
    return (this.#remoteAddress = ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`);
  }

  /** The socket's peer (Envoy's directRemoteAddress): remoteAddress unless a PROXY protocol
   *  header gave another. */
  get directRemoteAddress(): string {
    if (this.#remotePort < 0) return this.remoteAddress;
    const ip = this.socket.remoteAddress ?? '';
    if (ip === '') return '';
    return ip.includes(':') ? `[${ip}]:${this.socket.remotePort}` : `${ip}:${this.socket.remotePort}`;
  }

  get localAddress(): string {
    if (this.#localAddress !== null) return this.#localAddress;
    const over = this.#localIpOverride;
    const ip = over ?? this.socket.localAddress ?? '';
    if (ip === '') return '';
    const port = over !== null ? this.#localPortOverride : this.socket.localPort;
    return (this.#localAddress = ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`);
  }

  get readEnabled(): boolean {
    return this.readDisableCount === 0;
  }

  // ---- filter chain -------------------------------------------------------------------------

  addReadFilter(f: ReadFilter): void {
    const a = new ActiveReadFilter(this, f, this.readFilters.length);
    this.readFilters.push(a);
    f.initializeReadFilterCallbacks(a);
  }

  addWriteFilter(f: WriteFilter): void {
    const a = new ActiveWriteFilter(this, f);
    const list = this.writeFilters ?? (this.writeFilters = []);
    list.unshift(a); // config time, not per request
    for (let i = 0; i < list.length; i++) list[i].index = i;
    f.initializeWriteFilterCallbacks?.(a);
  }

  addFilter(f: ReadFilter & WriteFilter): void {
    this.addReadFilter(f);
    this.addWriteFilter(f);
  }

  /** The chain is built: start the socket and tell the read filters (onNewConnection). False
   *  when there is nothing to run (Envoy closes a connection whose chain is empty). */
  start(): boolean {
    if (this.readFilters.length === 0) {
      this.socket.destroy();
      return false;
    }
    attachSocket(this.socket, this);
    if (this.socket.isPaused() && this.readDisableCount === 0) this.socket.resume();
    this.continueReading(0);
    return true;
  }

  /** Open the read chain from filter `from` on (the chain starts, or a filter before `from`
   *  continues): filters not yet told of the connection are (onNewConnection), up to one that
   *  stops; then what was held for them goes through. */
  continueReading(from: number): void {
    const rf = this.readFilters;
    let i = from;
    for (; i < rf.length; i++) {
      const a = rf[i];
      if (!a.initialized) {
        a.initialized = true;
        // A filter that stops here still gets data; the ones after it wait.
        if (a.filter.onNewConnection() === FilterStatus.StopIteration || this.closing) {
          i++;
          break;
        }
      }
    }
    this.barrier = i;
    const held = this.held;
    if (held !== null || this.heldEnd) {
      this.held = null;
      const end = this.heldEnd;
      this.heldEnd = false;
      this.runReadFilters(from, held ?? EMPTY, end);
    }
    if (this.heldPaused && this.held === null) {
      this.heldPaused = false;
      this.readDisable(false);
    }
  }

  /** Give `data` to the read filters from `from` on. A filter that stops (StopIteration) keeps
   *  the filters after it from seeing it: the data is held for them until continueReading() (a
   *  terminal filter's stop just means it took the data). */
  runReadFilters(from: number, data: Buffer, endStream: boolean): void {
    const rf = this.readFilters;
    let stop = this.barrier;
    for (let i = from; i < stop; i++) {
      if (rf[i].filter.onData(data, endStream) === FilterStatus.StopIteration) {
        if (i + 1 >= rf.length) return;
        this.barrier = stop = i + 1;
        break;
      }
      if (this.closing) return;
    }
    // (An upstream connection whose owner has not started it yet, or not added its filters, holds
    // what comes for them too.)
    if ((stop < rf.length || rf.length === 0) && !this.closing) {
      if (data.length > 0) this.held = this.held === null ? Buffer.from(data) : Buffer.concat([this.held, data]);
      if (endStream) this.heldEnd = true;
      // Bounded like every buffer: past the limit, stop reading until the filters take it.
      if (!this.heldPaused && this.held !== null && this.held.length > this.bufferLimit) {
        this.heldPaused = true;
        this.readDisable(true);
      }
    }
  }

  setConnectionStats(s: ConnectionByteStats): void {
    this.rxSlot = s.rxBytes;
    this.txSlot = s.txBytes;
  }

  addConnectionCallbacks(cb: ConnectionCallbacks): void {
    this.callbacks.push(cb);
  }

  addOnDrainCloseCb(cb: DrainCloseCallback): void {
    (this.drainCallbacks ??= []).push(cb);
  }

  /** The listener drains (called by the listener); see DrainCloseCallback. */
  onDrainClose(immediate: boolean): void {
    const cbs = this.drainCallbacks;
    if (cbs === null) return;
    for (let i = 0; i < cbs.length; i++) cbs[i].onDrainClose(immediate);
  }

  setDelayedCloseTimeout(delayedMs: number, flushStallMs: number): void {
    this.delayedCloseMs = delayedMs;
    this.flushStallMs = flushStallMs;
  }

  // ---- socket events (SocketOwner) ----------------------------------------------------------

  onData(chunk: Buffer): void {
    if (this.closing) return;
    if (this.rxSlot >= 0) this.stats.v[this.rxSlot] += chunk.length;
    this.runReadFilters(0, chunk, false);
  }

  onEnd(): void {
    // The peer half-closed. Without half-close (sockets do not allow half-open connections by
    // default), Node ends our side too right after this; what is queued in this loop iteration
    // goes out first.
    flushWrites();
    if (this.closing) return;
    this.runReadFilters(0, EMPTY, true);
    // With half-close our write side stays open; the socket closes once it has ended too.
    if (!this.halfClose) this.closing = true;
  }

  /** Envoy's Connection::enableHalfClose: the peer's FIN no longer closes the connection (see the
   *  opening note). Set before the peer's FIN can be read (Node reads allowHalfOpen then). */
  enableHalfClose(enabled: boolean): void {
    this.halfClose = enabled;
    this.socket.allowHalfOpen = enabled;
  }

  /** Bytes written and not yet taken by the kernel. */
  get bufferedWriteBytes(): number {
    return this.socket.writableLength;
  }

  onDrain(): void {
    if (this.aboveWatermark) {
      this.aboveWatermark = false;
      const cbs = this.callbacks;
      for (let i = 0; i < cbs.length; i++) cbs[i].onBelowWriteBufferLowWatermark();
    }
  }

  onClose(): void {
    if (this.closeTimer !== null) {
      // Not kept (with the socket) for the rest of the delayed-close window.
      clearTimeout(this.closeTimer);
      this.closeTimer = null;
    }
    // (What is held stays: filters that have not started yet still get it, then the close.)
    this.closing = true;
    const ev = this.localClose ? ConnectionEvent.LocalClose : ConnectionEvent.RemoteClose;
    const cbs = this.callbacks;
    for (let i = 0; i < cbs.length; i++) cbs[i].onEvent(ev);
    this.owner?.onConnectionClose(this);
  }

  // ---- writing ------------------------------------------------------------------------------

  write(data: Buffer, endStream: boolean): void {
    if (this.socket.destroyed) return;
    if (this.writeFilters !== null) {
      this.runWriteFilters(0, data, endStream);
      return;
    }
    this.#writeRaw(data, endStream);
  }

  runWriteFilters(from: number, data: Buffer, endStream: boolean): void {
    const wf = this.writeFilters!;
    for (let i = from; i < wf.length; i++) {
      if (wf[i].filter.onWrite(data, endStream) === FilterStatus.StopIteration) return;
    }
    this.#writeRaw(data, endStream);
  }

  writeHeld(data: Buffer): void {
    if (this.writeFilters !== null) {
      this.write(data, false);
      return;
    }
    if (this.socket.destroyed || data.length === 0) return;
    this.#writeNow(data);
  }

  #writeNow(data: Buffer): void {
    flushWrites();
    this.socket.write(data);
    if (this.txSlot >= 0) this.stats.v[this.txSlot] += data.length;
    this.checkWatermark();
  }

  #writeRaw(data: Buffer, endStream: boolean): void {
    if (data.length > 0) this.#writeNow(retain(data));
    if (endStream) {
      if (this.halfClose) this.#shutdownWrite();
      else this.close(ConnectionCloseType.FlushWrite);
    }
  }

  /** Half-close: FIN after what is queued; reading goes on (the socket closes when the peer has
   *  ended too). */
  #shutdownWrite(): void {
    if (this.writeEnded || this.socket.destroyed) return;
    this.writeEnded = true;
    flushWrites();
    this.socket.end();
  }

  /** A whole message (latin1 text or bytes), written with the loop iteration's others
   *  (network/write-batch.ts). The socket's write buffer is looked at once per buffer limit of
   *  queued bytes (the queue is flushed first, so what it holds is known): a peer that sends and
   *  never reads is caught within about twice the limit. */
  queueWrite(out: string | Buffer): void {
    if (this.writeFilters !== null) {
      this.write(typeof out === 'string' ? Buffer.from(out, 'latin1') : out, false);
      return;
    }
    queueWrite(this.socket, out);
    if (this.txSlot >= 0) this.stats.v[this.txSlot] += out.length;
    if ((this.unchecked += out.length) > this.bufferLimit) {
      this.unchecked = 0;
      flushWrites();
      this.checkWatermark();
    }
  }

  /** Write now: `head` (latin1 text or bytes, may be empty), then `body` framed as one HTTP/1
   *  chunk when `chunked` (and the last chunk when `end`): http/http1/framing.ts. */
  writeFramed(head: string | Buffer, body: Buffer, chunked: boolean, end: boolean): void {
    if (this.socket.destroyed) return;
    if (this.writeFilters !== null) {
      const b = framedBytes(head, body, chunked, end);
      if (b.length > 0) this.write(b, false);
      return;
    }
    flushWrites();
    const n = writeMessage(this.socket, head, body, chunked, end);
    if (this.txSlot >= 0) this.stats.v[this.txSlot] += n;
    this.checkWatermark();
  }

  /** Above the high watermark: the callbacks stop their sources until 'drain'. */
  checkWatermark(): void {
    const sock = this.socket;
    // 'drain' comes only after a write Node could not buffer below its own high-water mark
    // (writableNeedDrain); without one a limit below that mark would never be lowered again.
    if (!this.aboveWatermark && sock.writableLength > this.bufferLimit && sock.writableNeedDrain) {
      this.aboveWatermark = true;
      const cbs = this.callbacks;
      for (let i = 0; i < cbs.length; i++) cbs[i].onAboveWriteBufferHighWatermark();
    }
  }

  setReadBufferSource(next: (() => Buffer) | null): boolean {
    return setReadBufferSource(this.socket, next);
  }

  readDisable(disable: boolean): void {
    if (disable) {
      if (this.readDisableCount++ === 0) this.socket.pause();
    } else if (this.readDisableCount > 0 && --this.readDisableCount === 0 && !this.closing) {
      this.socket.resume();
    }
  }

  // ---- closing ------------------------------------------------------------------------------

  close(type: ConnectionCloseType): void {
    if (type === ConnectionCloseType.NoFlush) {
      if (this.socket.destroyed) return;
      this.closing = true;
      this.localClose = true;
      this.socket.destroy();
      return;
    }
    this.#closeGracefully();
  }

  /**
   * Close after what was written is flushed. The socket keeps reading (and discarding, since
   * `closing` is set) so the peer's FIN is seen and the close completes; a peer that never
   * closes is cut off delayedCloseMs after the flush, like Envoy's delayed_close_timeout. Closing
   * at once with unread input would make the kernel send RST, which can destroy the response in
   * flight. A peer that stops reading must not hold the connection open forever either: while
   * the flush is pending, it is cut off after flushStallMs without progress. (Envoy runs its
   * delayed_close_timeout during the flush too, restarted by every byte written; from Node only
   * whole writes are seen to complete, and a slow reader can keep those from completing for
   * seconds, so the stall allowance is the HCM's stream idle timeout.)
   */
  #closeGracefully(): void {
    if (this.closing && this.localClose) return;
    this.closing = true;
    this.localClose = true;
    this.readDisableCount = 0;
    const sock = this.socket;
    if (sock.destroyed) return;
    flushWrites();
    sock.end(onEnded.bind(null, this));
    const left = sock.destroyed ? 0 : unflushed(sock);
    if (left > 0) {
      this.closeLeft = left;
      this.#armCloseTimer(this.flushStallMs);
    }
    sock.resume();
  }

  onFlushed(): void {
    // Flushed: the peer has delayedCloseMs to close its side.
    if (!this.socket.destroyed) this.#armCloseTimer(this.delayedCloseMs);
  }

  #armCloseTimer(ms: number): void {
    if (this.closeTimer !== null) clearTimeout(this.closeTimer);
    this.closeTimer = setTimeout(onCloseTimer, ms, this);
    this.closeTimer.unref();
  }

  onCloseTimer(): void {
    this.closeTimer = null;
    const sock = this.socket;
    if (sock.destroyed) return;
    if (!sock.writableFinished) {
      const left = unflushed(sock);
      if (left < this.closeLeft) {
        // Still flushing, and bytes left since the timer was armed.
        this.closeLeft = left;
        this.#armCloseTimer(this.flushStallMs);
        return;
      }
    }
    sock.destroy();
  }
}

function onEnded(conn: Connection): void {
  conn.onFlushed();
}

function onCloseTimer(conn: Connection): void {
  conn.onCloseTimer();
}

/** How much is left to flush on `sock`, as a measure that shrinks when bytes leave: Node's buffer
 *  plus libuv's write queue (the write in progress counts in both; only changes are compared). */
function unflushed(sock: Socket): number {
  const handle = (sock as unknown as { _handle: { writeQueueSize?: number } | null })._handle;
  return sock.writableLength + (handle?.writeQueueSize ?? 0);
}
