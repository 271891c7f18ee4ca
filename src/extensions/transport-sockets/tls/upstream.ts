// The upstream half (Envoy's ClientSslSocketFactory): a cluster's TLS, built once per cluster in
// each worker. connect() opens a TLS connection reading into the thread's shared buffer; the
// connection's ConnectionEvent.Connected is the handshake. The upstream certificate is verified
// only against a validation context (Envoy checks no hostname unless told), after the handshake
// (Node has no verify callback): a failure closes the connection before the pool hears it is
// connected, with a transport failure reason (%UPSTREAM_TRANSPORT_FAILURE_REASON%), so the request
// fails closed (503, UF).
// Session resumption: the last session each host gave (the `session` event: TLS 1.3 tickets come
// after the handshake) is offered on the next connection to it; max_session_keys 0 turns it off.
import tls, { type SecureContext, type TLSSocket } from 'node:tls';
import type { Buffer } from 'node:buffer';
import type { X509Certificate } from 'node:crypto';
import type { Socket } from 'node:net';
import type { StatSink } from '../../../common/stat-sink.ts';
import { clientReadOptions } from '../../../network/socket-owner.ts';
import {
  kConnectEvent, kSslInfo, kTransportFailureReason, type UpstreamTransportSocketFactory,
} from '../../../network/transport-socket.ts';
import { secureContextOptions, type TlsSnap } from './config.ts';
import { TlsConnectionInfo } from './connection-info.ts';
import { countHandshake } from './stats.ts';
import { PeerValidator } from './verify.ts';

const kFactory = Symbol('legate.tlsFactory');
const kSessionKey = Symbol('legate.tlsSessionKey');

function noHostnameCheck(): undefined {
  return undefined;
}

/** Envoy's transport failure reasons read `TLS_error:|<error>:TLS_error_end`. */
function tlsError(what: string): string {
  return `TLS_error:|${what}:TLS_error_end`;
}

export class UpstreamTlsFactory implements UpstreamTransportSocketFactory {
  readonly snap: TlsSnap;
  readonly stats: StatSink;
  readonly context: SecureContext;
  readonly validator: PeerValidator | null;
  /** host:port -> the last session it gave, with the certificate it was verified with (a
   *  resumed session does not show the peer's certificate again). */
  readonly sessions: Map<string, { session: Buffer; peer: X509Certificate | null }>;
  readonly alpn: string[] | undefined;

  constructor(snap: TlsSnap, stats: StatSink) {
    this.snap = snap;
    this.stats = stats;
    this.context = tls.createSecureContext(secureContextOptions(snap));
    this.validator = snap.validation === null ? null : new PeerValidator(snap.validation, snap.stats);
    this.sessions = new Map();
    this.alpn = snap.alpn.length > 0 ? snap.alpn : undefined;
  }

  connect(host: string, port: number): Socket {
    const key = `${host}:${port}`;
    const resume = this.snap.maxSessionKeys > 0;
    const cached = resume ? this.sessions.get(key) : undefined;
    const s = tls.connect({
      host, port, noDelay: true,
      secureContext: this.context,
      servername: this.snap.sni === '' ? undefined : this.snap.sni,
      ALPNProtocols: this.alpn,
      session: cached?.session,
      // Verified after the handshake (onSecureConnect), as Envoy verifies: no hostname check.
      rejectUnauthorized: false,
      checkServerIdentity: noHostnameCheck,
      ...(clientReadOptions as object),
    } as tls.ConnectionOptions);
    const a = s as any;
    a[kFactory] = this;
    a[kSessionKey] = key;
    const info = new TlsConnectionInfo(s);
    // The certificate of the session offered, should the server resume it.
    if (cached !== undefined) info.peer = cached.peer;
    a[kSslInfo] = info;
    a[kConnectEvent] = 'secureConnect';
    s.on('secureConnect', onSecureConnect);
    s.on('error', onError);
    if (resume) s.on('session', onSession);
    return s;
  }

  onHandshake(s: TLSSocket): void {
    const snap = this.snap;
    const st = snap.stats;
    const v = this.stats.v;
    const info = (s as any)[kSslInfo] as TlsConnectionInfo;
    const peer = s.getPeerX509Certificate() ?? (s.isSessionReused() ? info.peer : null);
    info.peer = peer;
    if (this.validator !== null) {
      const r = peer === null ? { slot: st.fail_verify_no_cert, reason: 'no certificate' }
        : this.validator.verify(peer, (s.authorizationError as unknown as string | null) ?? null);
      if (r !== null) {
        v[r.slot]++;
        v[st.connection_error]++;
        (s as any)[kTransportFailureReason] = tlsError(`CERTIFICATE_VERIFY_FAILED: ${r.reason}`);
        // Not to be offered again.
        this.sessions.delete((s as any)[kSessionKey]);
        s.destroy();
        return;
      }
      info.peerCertificateValidated = true;
    }
    countHandshake(v, snap, s, peer !== null);
  }
}

function onSecureConnect(this: TLSSocket): void {
  ((this as any)[kFactory] as UpstreamTlsFactory).onHandshake(this);
}

function onSession(this: TLSSocket, session: Buffer): void {
  if (this.destroyed) return;
  const f = (this as any)[kFactory] as UpstreamTlsFactory;
  const info = (this as any)[kSslInfo] as TlsConnectionInfo;
  const key = (this as any)[kSessionKey] as string;
  const sessions = f.sessions;
  // The newest last (Map order); at most max_session_keys kept, the oldest host's dropped, so
  // hosts that come and go (EDS, DNS) cannot grow the cache.
  sessions.delete(key);
  sessions.set(key, { session, peer: this.getPeerX509Certificate() ?? info.peer });
  if (sessions.size > f.snap.maxSessionKeys) sessions.delete(sessions.keys().next().value!);
}

function onError(this: TLSSocket, err: NodeJS.ErrnoException & { library?: string; reason?: string }): void {
  // A TLS error before the handshake completed (not a refused TCP connect): counted, and the
  // reason kept for the pool.
  if ((this as any)._secureEstablished === true || (this as any)[kTransportFailureReason] !== undefined) return;
  if (err.library === undefined && !(err.code ?? '').startsWith('ERR_SSL')) return;
  const f = (this as any)[kFactory] as UpstreamTlsFactory;
  f.stats.v[f.snap.stats.connection_error]++;
  (this as any)[kTransportFailureReason] = tlsError(err.reason ?? err.code ?? err.message);
  f.sessions.delete((this as any)[kSessionKey]);
}
