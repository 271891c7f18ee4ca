// Listener filters (Envoy's Network::ListenerFilter): run on an accepted socket before its filter
// chain is chosen, in config order. They look at the first bytes (a TLS ClientHello, a PROXY
// protocol header, an HTTP request line) and record what they learn on the ConnectionSocket, which
// filter_chain_match then reads. Node cannot peek (MSG_PEEK), so the bytes are read off the socket
// and kept: what is left of them after the filters (a PROXY header is drained, a ClientHello is
// not) reaches the chosen chain's transport socket first.
import type { Buffer } from 'node:buffer';
import type { Socket } from 'node:net';

export const ListenerFilterStatus = { Continue: 0, StopIteration: 1 } as const;
export type ListenerFilterStatus = (typeof ListenerFilterStatus)[keyof typeof ListenerFilterStatus];

/** An accepted socket and what is known of it before its chain is chosen (Envoy's
 *  ConnectionSocket / ConnectionInfoProvider). */
export interface ConnectionSocket {
  readonly socket: Socket;
  /** SNI from the ClientHello (tls_inspector); '' when none. */
  requestedServerName: string;
  /** ALPN protocols the client offered (tls_inspector), or the HTTP version http_inspector saw
   *  (`http/1.1`, `h2c`). */
  applicationProtocols: readonly string[];
  /** `tls` or `raw_buffer` when a listener filter detected it (tls_inspector), else ''. */
  detectedTransportProtocol: string;
  /** The downstream peer as a PROXY protocol header gave it; null: the socket's own. */
  remoteIpOverride: string | null;
  remotePortOverride: number;
  /** The destination as a PROXY protocol header gave it; null: the socket's own. */
  localIpOverride: string | null;
  localPortOverride: number;
}

/** The bytes read so far and not drained (Envoy's ListenerFilterBuffer). */
export interface ListenerFilterBuffer {
  readonly data: Buffer;
  /** Consume the first `n` bytes (a PROXY header): the connection never sees them. */
  drain(n: number): void;
}

export interface ListenerFilterCallbacks {
  /** Envoy's cb.socket(): what filters read and set. */
  readonly connectionSocket: ConnectionSocket;
  /** A filter that stopped (onAccept / onData returned StopIteration) is done: go on with the
   *  next filter, or (success false) close the connection. */
  continueFilterChain(success: boolean): void;
}

export interface ListenerFilter {
  /** The socket was accepted. StopIteration: wait for data (onData) or continueFilterChain. */
  onAccept(cb: ListenerFilterCallbacks): ListenerFilterStatus;
  /** More bytes arrived (all of them since the accept, less what was drained). Continue when
   *  done; StopIteration to wait for more (up to maxReadBytes). */
  onData(buffer: ListenerFilterBuffer): ListenerFilterStatus;
  /** How many bytes this filter needs to see at most (0: it reads nothing). */
  maxReadBytes(): number;
}

/** Built once per listener from the compiled config; called once per accepted socket. */
export type ListenerFilterFactory = () => ListenerFilter;
