// Transport sockets (Envoy's Network::TransportSocket): what sits between a connection's TCP socket
// and its filter chain. raw_buffer is the TCP socket itself (no object: the hot path); TLS
// (extensions/transport-sockets/tls) wraps it in a TLS socket, on both sides:
// - downstream: a filter chain's `transport_socket` (DownstreamTlsContext), applied by the listener
//   once the chain is chosen, to the accepted socket and the bytes listener filters already read;
// - upstream: a cluster's `transport_socket` (UpstreamTlsContext), used by the connection pools
//   to open connections.
// A Connection runs on the socket a factory returns; `ssl()` on the connection is the
// SslConnectionInfo of a TLS one (null for raw), read by the HCM (x-forwarded-client-cert), access
// logs and client_ssl_auth.
import type { Buffer } from 'node:buffer';
import type { Socket } from 'node:net';

/** What a TLS connection says about itself (Envoy's Ssl::ConnectionInfo), computed on first use. */
export interface SslConnectionInfo {
  /** The peer sent a certificate. */
  readonly peerCertificatePresented: boolean;
  /** ... and it passed the validation context. */
  readonly peerCertificateValidated: boolean;
  /** SHA-256 of the peer certificate's DER, lowercase hex ('' without one). */
  sha256PeerCertificateDigest(): string;
  /** The peer certificate's subject, RFC 2253 ('' without one). */
  subjectPeerCertificate(): string;
  uriSanPeerCertificate(): readonly string[];
  dnsSansPeerCertificate(): readonly string[];
  /** The peer certificate in PEM, URL-encoded (x-forwarded-client-cert `Cert=`). */
  urlEncodedPemEncodedPeerCertificate(): string;
  uriSanLocalCertificate(): readonly string[];
  /** The peer's chain as it sent it (leaf first), PEM, URL-encoded (x-forwarded-client-cert
   *  `Chain=`). */
  urlEncodedPemEncodedPeerCertificateChain(): string;
  /** `TLSv1.3` ... */
  tlsVersion(): string;
  /** OpenSSL/IANA suite name, e.g. `TLS_AES_128_GCM_SHA256`. */
  ciphersuiteString(): string;
  /** SNI the client asked for ('' when none). */
  requestedServerName(): string;
}

/** A filter chain's transport socket (Envoy's DownstreamTransportSocketFactory): built once per
 *  chain in the worker. */
export interface DownstreamTransportSocketFactory {
  /** The socket a downstream Connection runs on: `socket` wrapped (a tls.TLSSocket). `preread`
   *  is what listener filters already read off `socket` (a ClientHello the tls_inspector looked
   *  at): the transport gets it before anything read later. */
  createTransportSocket(socket: Socket, preread: Buffer | null): Socket;
}

/** A cluster's transport socket (Envoy's UpstreamTransportSocketFactory): built once per cluster
 *  in the worker. */
export interface UpstreamTransportSocketFactory {
  /** Open a connection to host:port over this transport (reading into the thread's shared buffer
   *  where the transport allows it). */
  connect(host: string, port: number): Socket;
}

// What a transport socket says to the connection that runs on it, through symbol slots on the
// socket it returns (read without allocating; a raw socket has none of them):
/** Its SslConnectionInfo. */
export const kSslInfo = Symbol('legate.sslInfo');
/** The event that means the transport is established (`secure` for a server TLS socket,
 *  `secureConnect` for a client one): the connection raises ConnectionEvent.Connected on it
 *  instead of on the TCP `connect`. */
export const kConnectEvent = Symbol('legate.connectEvent');
/** Why the transport failed before it was established (%UPSTREAM_TRANSPORT_FAILURE_REASON%). */
export const kTransportFailureReason = Symbol('legate.transportFailureReason');

/** The SslConnectionInfo of a transport socket, null for a raw one. */
export function sslInfoOf(socket: Socket): SslConnectionInfo | null {
  return (socket as any)[kSslInfo] ?? null;
}

/** Why the transport failed before it was established ('' when it did not, or it is raw). */
export function transportFailureReasonOf(socket: Socket): string {
  return (socket as any)[kTransportFailureReason] ?? '';
}
