// Network (L4) filters, Envoy's Network::ReadFilter / WriteFilter contract. A connection runs its
// read filters in order on every read (`onData`) and its write filters in reverse order on
// every write (`onWrite`); a filter that returns StopIteration holds the data back until it calls
// `continueReading()` (read side) or injects data itself. The HTTP connection manager is one read
// filter among others (always the last: it is terminal).
//
// Data ownership: `data` given to onData may be a view of the thread's shared read buffer, valid
// only during the call (network/socket-owner.ts). A filter that keeps bytes past the call keeps
// `retain(data)`.
import type { Buffer } from 'node:buffer';
import type { SslConnectionInfo } from './transport-socket.ts';

export const FilterStatus = { Continue: 0, StopIteration: 1 } as const;
export type FilterStatus = (typeof FilterStatus)[keyof typeof FilterStatus];

/** How a close treats what is still to be written (Envoy's ConnectionCloseType). */
export const ConnectionCloseType = {
  /** Write what is buffered, then close (with the delayed-close wait for the peer's FIN). */
  FlushWrite: 0,
  /** Close now; buffered data is lost. */
  NoFlush: 1,
} as const;
export type ConnectionCloseType = (typeof ConnectionCloseType)[keyof typeof ConnectionCloseType];

/** How long a closing connection waits for the peer's FIN after the flush (Envoy's
 *  delayed_close_timeout default). */
export const DELAYED_CLOSE_MS = 1000;
/** The default allowance for a closing connection's flush that makes no progress (Envoy's
 *  default stream idle timeout). */
export const DEFAULT_FLUSH_STALL_MS = 300_000;

/** Connection events (Envoy's ConnectionEvent). */
export const ConnectionEvent = { RemoteClose: 0, LocalClose: 1, Connected: 2 } as const;
export type ConnectionEvent = (typeof ConnectionEvent)[keyof typeof ConnectionEvent];

/** Told about a connection's life and its write-side watermarks. */
export interface ConnectionCallbacks {
  onEvent(event: ConnectionEvent): void;
  /** More than the buffer limit is waiting to be written: stop producing. */
  onAboveWriteBufferHighWatermark(): void;
  /** Back under the low watermark: produce again. */
  onBelowWriteBufferLowWatermark(): void;
}

/** Byte counters a filter may point the connection at (Envoy's Connection::setConnectionStats):
 *  stat slots, counted by the connection on every read and write. -1: not counted. */
export interface ConnectionByteStats {
  rxBytes: number;
  txBytes: number;
}

/** What a filter sees of its connection. */
export interface NetworkConnection {
  /** Per-thread id, for logs. */
  readonly id: number;
  /** The per-connection buffer limit (per_connection_buffer_limit_bytes). */
  readonly bufferLimit: number;
  /** "ip:port" ("[ip]:port" for IPv6) of the peer. Computed on first use (a getpeername(2)). */
  readonly remoteAddress: string;
  /** The peer's bare IP. Computed on first use. With a PROXY protocol header (listener filter
   *  envoy.filters.listener.proxy_protocol) these two are the header's source. */
  readonly remoteIp: string;
  /** The socket's own peer, "ip:port" (Envoy's directRemoteAddress): remoteAddress unless a PROXY
   *  protocol header gave another. */
  readonly directRemoteAddress: string;
  /** Our end, "ip:port" ("[ip]:port" for IPv6; Envoy's localAddress): the destination a PROXY
   *  protocol header gave, else the socket's. Computed on first use (a getsockname(2)). */
  readonly localAddress: string;
  /** SNI a listener filter read (tls_inspector), '' when none. */
  readonly requestedServerName: string;
  /** ALPN protocols the client offered (tls_inspector) or the HTTP version http_inspector saw. */
  readonly applicationProtocols: readonly string[];
  /** Closing or closed: no more data goes either way. */
  readonly closing: boolean;
  /** What the TLS transport says of the connection (Envoy's Connection::ssl()); null on a raw
   *  one. A property read, no allocation. */
  ssl(): SslConnectionInfo | null;
  /** Through the write filter chain to the socket. Data is copied when needed (retain). */
  write(data: Buffer, endStream: boolean): void;
  /** Write `data` as it is, no copy: the caller leaves its bytes unchanged until the socket has
   *  taken them (bufferedWriteBytes back to 0). Copied through the write filters when there are
   *  any. For bytes read into the reader's own buffers (setReadBufferSource). */
  writeHeld(data: Buffer): void;
  /** A whole message (latin1 text or bytes), written with the loop iteration's others
   *  (network/write-batch.ts): the peer wakes once for several. */
  queueWrite(data: string | Buffer): void;
  /** Write now: `head` (latin1 text or bytes, may be empty) then `body`, framed as one HTTP/1
   *  chunk when `chunked` (and the last chunk when `end`). A codec's fast path: a large body goes
   *  out corked with its framing in one writev(2), and write filters see the same bytes. */
  writeFramed(head: string | Buffer, body: Buffer, chunked: boolean, end: boolean): void;
  close(type: ConnectionCloseType): void;
  /** Counted: n disables need n enables before the socket reads again. */
  readDisable(disable: boolean): void;
  readonly readEnabled: boolean;
  /** Where reads land: `next` is asked after every read for the buffer of the following one (a
   *  buffer of network/socket-owner.ts takeReadBuffer); null: the thread's shared read buffer
   *  again, from the read after next. False when the socket cannot (nothing changes then). */
  setReadBufferSource(next: (() => Buffer) | null): boolean;
  addConnectionCallbacks(cb: ConnectionCallbacks): void;
  setConnectionStats(stats: ConnectionByteStats): void;
  /** Told when the listener drains (Envoy's DrainDecision::addOnDrainCloseCb). */
  addOnDrainCloseCb(cb: DrainCloseCallback): void;
  /** Envoy's enableHalfClose: with it the peer's FIN is only end of stream for the read filters
   *  (the connection stays open for writing), and a write with end of stream shuts down only the
   *  write side (FIN after what is queued). Off by default: the peer's FIN closes the connection. */
  enableHalfClose(enabled: boolean): void;
  /** Bytes written and not yet taken by the kernel (the write buffer's size). */
  readonly bufferedWriteBytes: number;
  /** How long a FlushWrite close waits for the peer's FIN after the flush (Envoy's
   *  delayed_close_timeout), and how long the flush may make no progress. */
  setDelayedCloseTimeout(delayedMs: number, flushStallMs: number): void;
}

/** Told when the listener drains: `immediate` for a shutdown (idle connections may close now),
 *  false when a config update replaces the listener's filter chains (a request may be on its way
 *  on an idle connection: close it only after a grace). */
export interface DrainCloseCallback {
  onDrainClose(immediate: boolean): void;
}

export interface ReadFilterCallbacks {
  readonly connection: NetworkConnection;
  /** Resume the read chain after this filter stopped it (onNewConnection or onData): the data
   *  held back goes to the next filters. */
  continueReading(): void;
  /** Hand `data` to the filters after this one, as if it had been read. */
  injectReadDataToFilterChain(data: Buffer, endStream: boolean): void;
}

export interface WriteFilterCallbacks {
  readonly connection: NetworkConnection;
  /** Hand `data` to the write filters after this one (toward the socket). */
  injectWriteDataToFilterChain(data: Buffer, endStream: boolean): void;
}

export interface ReadFilter {
  /** Called once the filter chain is built, before any data. */
  initializeReadFilterCallbacks(cb: ReadFilterCallbacks): void;
  /** The connection is open; StopIteration keeps the later filters from hearing of it until
   *  continueReading(). */
  onNewConnection(): FilterStatus;
  onData(data: Buffer, endStream: boolean): FilterStatus;
}

export interface WriteFilter {
  initializeWriteFilterCallbacks?(cb: WriteFilterCallbacks): void;
  onWrite(data: Buffer, endStream: boolean): FilterStatus;
}

/** What a network filter factory adds its filters to (Envoy's Network::FilterManager). */
export interface NetworkFilterManager {
  addReadFilter(f: ReadFilter): void;
  addWriteFilter(f: WriteFilter): void;
  /** A filter that is both (added to both chains). */
  addFilter(f: ReadFilter & WriteFilter): void;
}

/** Built once per filter chain from the compiled config; called once per connection. */
export type NetworkFilterFactory = (fm: NetworkFilterManager, connection: NetworkConnection) => void;
