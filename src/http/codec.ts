// The codec seam, Envoy's Http::ServerConnection / ServerConnectionCallbacks and their client
// mirror: a codec turns a connection's bytes into streams and back, and knows everything about
// its protocol (framing, keep-alive, pipelining, protocol errors and their stats).
// - Downstream, the HTTP connection manager sits on the other side and knows nothing of HTTP/1 or
//   HTTP/2: for each request the codec asks it for a stream (`newStream(encoder) -> decoder`),
//   feeds the decoder, and the HCM answers through the encoder.
// - Upstream, a connection pool (upstream/conn-pool.ts) hands the router a RequestEncoder; the
//   codec frames the request from its headers and feeds the router's ResponseDecoder.
import type { Buffer } from 'node:buffer';
import type { HeaderMap, RequestHeaders, ResponseHeaders } from './types.ts';
import type { ConnectionCallbacks, NetworkConnection, ReadFilter } from '../network/filter.ts';

/** Where an upgraded connection's reads and events go (a network/relay.ts RelaySide). */
export type TunnelSink = ReadFilter & ConnectionCallbacks;

/** HTTP protocols (also the index of an upstream host's pools). */
export const Protocol = { Http10: 0, Http11: 1, Http2: 2, Http3: 3 } as const;
export type Protocol = (typeof Protocol)[keyof typeof Protocol];

/** Why a stream ended early (Envoy's StreamResetReason). */
export const StreamResetReason = {
  /** The peer went away (its connection closed) with the stream open. */
  ConnectionTermination: 0,
  /** This side reset it (a timeout, an upstream failure after the response started). */
  LocalReset: 1,
  /** The peer reset it (HTTP/2 RST_STREAM). */
  RemoteReset: 2,
  /** The codec could not go on (malformed input, from the peer). */
  ProtocolError: 3,
} as const;
export type StreamResetReason = (typeof StreamResetReason)[keyof typeof StreamResetReason];

/** Told about one stream's end and its write-side watermarks. */
export interface StreamCallbacks {
  /** The stream is gone: no more calls either way. Not called for a reset this side asked for. */
  onResetStream(reason: StreamResetReason): void;
  /** The connection under the stream has more than its buffer limit to write: stop producing. */
  onAboveWriteBufferHighWatermark(): void;
  onBelowWriteBufferLowWatermark(): void;
}

/** One stream of a codec connection, either side. */
export interface Stream {
  /** Abort the stream (HTTP/1: the connection is closed, there is no other way). No callback
   *  follows. */
  resetStream(reason: StreamResetReason): void;
  /** Stop / restart reading what the peer sends on it. Downstream counted: n disables need n
   *  enables. */
  readDisable(disable: boolean): void;
  /** Register for onResetStream and the watermarks (one set of callbacks per stream: the HCM's
   *  downstream, the router's upstream). */
  addCallbacks(cb: StreamCallbacks): void;
  removeCallbacks(cb: StreamCallbacks): void;
}

/** The HCM's side of a downstream stream: the codec feeds it the request. */
export interface RequestDecoder {
  decodeHeaders(headers: RequestHeaders, endStream: boolean): void;
  decodeData(data: Buffer, endStream: boolean): void;
  decodeTrailers(trailers: HeaderMap): void;
  /** The codec refuses the request (malformed, too large, an upgrade it does not serve): answer
   *  with `status` if the response has not started (the codec closes the connection after it),
   *  else reset. `flag` is the response flag (DPE for a protocol error), `details` Envoy's
   *  response code details (e.g. `http1.codec_error`). */
  sendLocalReply(status: number, body: string, flag: string, details: string): void;
}

/** The codec's side of a downstream stream: the HCM writes the response through it. */
export interface ResponseEncoder {
  getStream(): Stream;
  /** The protocol the request came in (for protocol stats and the access log). */
  readonly protocol: Protocol;
  encodeHeaders(headers: ResponseHeaders, endStream: boolean): void;
  encodeData(data: Buffer, endStream: boolean): void;
  encodeTrailers(trailers: HeaderMap): void;
  /** After the 101 to an upgrade request (RequestHeaders.upgrade) went out: the connection
   *  leaves HTTP for good and its reads and events go to `sink` (what was read past the request
   *  first). Returns the connection. Codecs that cannot (none today) leave it out. */
  attachTunnel?(sink: TunnelSink): NetworkConnection;
}

/** What a server codec asks of the HCM. */
export interface ServerConnectionCallbacks {
  /** A request begins: return the decoder its parts go to. */
  newStream(encoder: ResponseEncoder): RequestDecoder;
}

/** Makes a connection's server codec (the HCM's createCodec: HTTP/1 today; AUTO will sniff). */
export type ServerCodecFactory = (connection: NetworkConnection, callbacks: ServerConnectionCallbacks) => ServerConnection;

/** A server codec, as the HCM drives it. */
export interface ServerConnection {
  readonly protocol: Protocol;
  /** Bytes read from the connection (already through the network filters before the HCM). */
  dispatch(data: Buffer): void;
  /** The peer half-closed: finish what can be finished. */
  onRemoteEnd(): void;
  /** Drain: no new streams after the ones in flight (HTTP/1: `connection: close` on the current
   *  or next response; HTTP/2: GOAWAY). An idle connection closes after `graceMs` if no request
   *  came meanwhile (0: now); the grace covers a request already on its way. */
  shutdownNotice(graceMs: number): void;
  onUnderlyingConnectionAboveWriteBufferHighWatermark(): void;
  onUnderlyingConnectionBelowWriteBufferLowWatermark(): void;
  /** The connection closed (`event`: ConnectionEvent LocalClose or RemoteClose): reset what is in
   *  flight (StreamCallbacks.onResetStream). */
  onConnectionClose(event: number): void;
}

// ---- client side ------------------------------------------------------------------------------

/** The codec's side of an upstream stream: the router writes the request through it. The codec
 *  frames the body from the headers (HTTP/1: content-length when present, else chunked when a
 *  body follows). */
export interface RequestEncoder {
  getStream(): Stream;
  encodeHeaders(headers: RequestHeaders, endStream: boolean): void;
  encodeData(data: Buffer, endStream: boolean): void;
  encodeTrailers?(trailers: HeaderMap): void;
  /** After the upstream's 101 to an upgrade request: as ResponseEncoder.attachTunnel (the
   *  connection leaves its pool for good). */
  attachTunnel?(sink: TunnelSink): NetworkConnection;
}

/** The router's side of an upstream stream: the codec feeds it the response. */
export interface ResponseDecoder {
  decodeHeaders(headers: ResponseHeaders, endStream: boolean): void;
  decodeData(data: Buffer, endStream: boolean): void;
  decodeTrailers?(trailers: HeaderMap): void;
}
