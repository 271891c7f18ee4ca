// An accepted socket before it becomes a Connection (Envoy's ActiveTcpSocket): what is known of
// it (ConnectionSocket: addresses, SNI, ALPN, transport protocol) and, with listener filters,
// their run.
//
// Listener filters run in config order (Envoy's continueFilterChain): onAccept(); a filter that
// stops with maxReadBytes() > 0 gets onData() with every byte read so far (less what was drained)
// until it continues; one that stops without reading waits for its continueFilterChain(). Node
// cannot peek (MSG_PEEK), so the bytes are read off the socket ('data' events: these sockets are
// not on the shared read buffer yet) and kept; reading pauses once the buffer holds what the
// current filter may read (maxReadBytes), so a client cannot grow it. When the last filter is
// done, what the socket still buffers is taken too, and the listener gets the socket and the
// bytes (ActiveListener.onListenerFiltersDone).
//
// listener_filters_timeout: a socket whose filters are not done in time is closed, or with
// continue_on_listener_filters_timeout goes on with what is known (downstream_pre_cx_timeout).
// A peer that closes during the filters, or a filter that fails (continueFilterChain(false), or
// close()), ends it without a connection.
import { Buffer } from 'node:buffer';
import type { Socket } from 'node:net';
import {
  ListenerFilterStatus, type ConnectionSocket, type ListenerFilter, type ListenerFilterBuffer,
  type ListenerFilterCallbacks,
} from './listener-filter.ts';
import type { MatchFacts } from './filter-chain-match.ts';
import type { ActiveListener, ListenerConfig } from './listener.ts';

const EMPTY = Buffer.alloc(0);
const NO_PROTOCOLS: readonly string[] = [];

/** An accepted socket's facts (the socket's own addresses unless a PROXY header overrode them). */
export class AcceptedSocket implements ConnectionSocket, MatchFacts {
  readonly socket: Socket;
  requestedServerName: string;
  applicationProtocols: readonly string[];
  detectedTransportProtocol: string;
  remoteIpOverride: string | null;
  remotePortOverride: number;
  localIpOverride: string | null;
  localPortOverride: number;

  constructor(socket: Socket) {
    this.socket = socket;
    this.requestedServerName = '';
    this.applicationProtocols = NO_PROTOCOLS;
    this.detectedTransportProtocol = '';
    this.remoteIpOverride = null;
    this.remotePortOverride = 0;
    this.localIpOverride = null;
    this.localPortOverride = 0;
  }

  get localIp(): string {
    return this.localIpOverride ?? this.socket.localAddress ?? '';
  }
  get localPort(): number {
    return this.localIpOverride !== null ? this.localPortOverride : this.socket.localPort ?? 0;
  }
  get remoteIp(): string {
    return this.remoteIpOverride ?? this.socket.remoteAddress ?? '';
  }
  get remotePort(): number {
    return this.remoteIpOverride !== null ? this.remotePortOverride : this.socket.remotePort ?? 0;
  }
}

export class ActiveTcpSocket extends AcceptedSocket implements ListenerFilterCallbacks, ListenerFilterBuffer {
  readonly listener: ActiveListener;
  readonly config: ListenerConfig;
  readonly filters: ListenerFilter[];
  /** The filter running now. */
  iter: number;
  data: Buffer;
  /** Where `data` lives once two reads were joined (see #append); null before. */
  store: Buffer | null;
  /** What the current filter may read (its maxReadBytes). */
  maxRead: number;
  /** Reading from the socket for a filter. */
  reading: boolean;
  timer: NodeJS.Timeout | null;
  /** Ended: handed over, or closed. */
  done: boolean;

  constructor(listener: ActiveListener, socket: Socket, config: ListenerConfig) {
    super(socket);
    this.listener = listener;
    this.config = config;
    const f = config.listenerFilters!;
    this.filters = new Array(f.length);
    for (let i = 0; i < f.length; i++) this.filters[i] = f[i]();
    this.iter = 0;
    this.data = EMPTY;
    this.store = null;
    this.maxRead = 0;
    this.reading = false;
    this.timer = null;
    this.done = false;
  }

  get connectionSocket(): ConnectionSocket {
    return this;
  }

  start(): void {
    const cfg = this.config;
    const slot = cfg.optStats.downstream_pre_cx_active;
    if (slot >= 0) this.listener.stats.v[slot]++;
    const s = this.socket;
    (s as any)[kActive] = this;
    s.on('close', onPreClose);
    s.on('error', onPreError);
    s.on('end', onPreEnd);
    if (cfg.listenerFiltersTimeoutMs > 0) {
      this.timer = setTimeout(onPreTimeout, cfg.listenerFiltersTimeoutMs, this);
    }
    this.#run(0);
  }

  /** Run the filters from `from` on (see the design note). */
  #run(from: number): void {
    const f = this.filters;
    for (let i = from; i < f.length; i++) {
      this.iter = i;
      if (f[i].onAccept(this) === ListenerFilterStatus.StopIteration) {
        if (this.done) return;
        const max = f[i].maxReadBytes();
        // A filter that reads nothing waits for continueFilterChain: stop reading for it.
        if (max === 0 && this.reading) this.socket.pause();
        this.maxRead = max;
        if (max > 0) {
          if (this.data.length > 0) {
            const st = f[i].onData(this);
            if (this.done) return;
            if (st === ListenerFilterStatus.Continue) continue;
            this.maxRead = f[i].maxReadBytes();
          }
          this.#read();
        }
        return;
      }
      if (this.done) return;
    }
    this.#finish();
  }

  #read(): void {
    const s = this.socket;
    if (this.data.length >= this.maxRead) {
      if (this.reading) s.pause();
      return;
    }
    if (!this.reading) {
      this.reading = true;
      s.on('data', onPreData);
    }
    s.resume();
  }

  onSocketData(chunk: Buffer): void {
    if (this.done) return;
    this.#append(chunk);
    // (Kept for the filters after one that reads nothing, which is not given it.)
    if (this.maxRead === 0) return;
    const f = this.filters[this.iter];
    const st = f.onData(this);
    if (this.done) return;
    if (st === ListenerFilterStatus.Continue) {
      this.#run(this.iter + 1);
      return;
    }
    // The filter may want more than it said first (a PROXY v2 header with TLVs).
    this.maxRead = f.maxReadBytes();
    this.#read();
  }

  /** Add a read to `data`, in a store that grows by doubling: a peer sending a byte per segment
   *  costs linear copying, not a copy of everything so far per read. */
  #append(chunk: Buffer): void {
    const have = this.data.length;
    if (have === 0) {
      this.data = chunk;
      return;
    }
    let store = this.store;
    let at = this.data.byteOffset - (store?.byteOffset ?? 0);
    if (store === null || this.data.buffer !== store.buffer || at + have + chunk.length > store.length) {
      store = this.store = Buffer.allocUnsafeSlow(Math.max(4096, 2 * (have + chunk.length)));
      this.data.copy(store, 0);
      at = 0;
    }
    chunk.copy(store, at + have);
    this.data = store.subarray(at, at + have + chunk.length);
  }

  // ---- ListenerFilterBuffer -----------------------------------------------------------------

  drain(n: number): void {
    this.data = n >= this.data.length ? EMPTY : this.data.subarray(n);
  }

  // ---- ListenerFilterCallbacks --------------------------------------------------------------

  continueFilterChain(success: boolean): void {
    if (this.done) return;
    if (!success) {
      this.close();
      return;
    }
    this.#run(this.iter + 1);
  }

  /** Give the socket to the listener with what is known and what was read. */
  #finish(): void {
    this.#end();
    const s = this.socket;
    s.removeListener('close', onPreClose);
    s.removeListener('error', onPreError);
    s.removeListener('end', onPreEnd);
    if (this.reading) s.removeListener('data', onPreData);
    s.pause();
    // What the stream buffered meanwhile (an accepted socket reads into its stream buffer even
    // with no 'data' listener): the connection's socket must start with an empty buffer
    // (socket-owner.ts adopts only such a socket into the shared read buffer).
    if (s.readableLength > 0) {
      for (let b = s.read() as Buffer | null; b !== null; b = s.read() as Buffer | null) this.#append(b);
    }
    const data = this.data;
    this.data = EMPTY;
    this.listener.onListenerFiltersDone(this, data.length > 0 ? data : null);
  }

  #end(): void {
    this.done = true;
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const slot = this.config.optStats.downstream_pre_cx_active;
    if (slot >= 0) this.listener.stats.v[slot]--;
  }

  /** Close without a connection (a filter failed, the peer left, the listener drains). */
  close(): void {
    if (this.done) return;
    this.#end();
    this.listener.onPendingClose(this);
    this.socket.destroy();
  }

  onTimeout(): void {
    this.timer = null;
    if (this.done) return;
    const cfg = this.config;
    const slot = cfg.optStats.downstream_pre_cx_timeout;
    if (slot >= 0) this.listener.stats.v[slot]++;
    if (cfg.continueOnListenerFiltersTimeout) this.#finish();
    else this.close();
  }

  onPeerClose(): void {
    this.close();
  }
}

const kActive = Symbol('legate.activeTcpSocket');

function active(s: Socket): ActiveTcpSocket {
  return (s as any)[kActive] as ActiveTcpSocket;
}
function onPreData(this: Socket, chunk: Buffer): void {
  active(this).onSocketData(chunk);
}
function onPreEnd(this: Socket): void {
  active(this).onPeerClose();
}
function onPreClose(this: Socket): void {
  active(this).onPeerClose();
}
function onPreError(this: Socket): void {
  // 'close' follows.
}
function onPreTimeout(p: ActiveTcpSocket): void {
  p.onTimeout();
}
