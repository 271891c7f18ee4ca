// The downstream half (Envoy's ServerSslSocketFactory): a filter chain's TLS, built once per chain
// in each worker. Certificates are grouped into SecureContexts by the names they serve (DNS SANs,
// else the subject CN), with the first certificate of each key type for a name. Envoy's selection
// rules: an SNI picks the context of its exact name, else of its wildcard (`*.example.com`, one
// label), else the first certificate alone; no SNI scans every certificate (the first of each key
// type). A context holds at most one certificate per key type, so OpenSSL picks RSA or ECDSA by
// the signature algorithms the client offers -- in the context a connection starts with (the
// no-SNI one). Node's SNI switch installs only a context's current certificate (the last one set),
// so an SNI that picks another context never switches to an equal one, and a switched-to context
// with both key types serves its ECDSA certificate (Envoy prefers ECDSA too).
// Every worker's contexts share the session ticket keys compiled in main, so a ticket one worker
// issued resumes on another. A resumed connection gets a fresh ticket (renewTickets), as from
// Envoy (BoringSSL) and nginx: TLS 1.3 clients use a ticket once (RFC 8446 C.4), and Node's own
// ticket callback never renews, which made every other connection of such a client a full
// handshake.
//
// Node has no certificate verify callback: the client certificate is requested without failing
// the handshake, OpenSSL verifies its chain against trusted_ca / crl, and the handshake handler
// (onSecure) applies the rest (SAN matchers, hash and SPKI pins) and closes a connection that
// fails, counting Envoy's stat. The connection's ConnectionEvent.Connected comes after that.
import tls, { type SecureContext, type TLSSocket } from 'node:tls';
import crypto from 'node:crypto';
import { Buffer } from 'node:buffer';
import type { Socket } from 'node:net';
import type { StatSink } from '../../../common/stat-sink.ts';
import { kConnectEvent, kSslInfo, type DownstreamTransportSocketFactory } from '../../../network/transport-socket.ts';
import { secureContextOptions, type CertSnap, type TlsSnap } from './config.ts';
import { TlsConnectionInfo } from './connection-info.ts';
import { countHandshake } from './stats.ts';
import { PeerValidator } from './verify.ts';

const kFactory = Symbol('legate.tlsFactory');

type SniCallback = (servername: string, cb: (err: Error | null, ctx?: SecureContext) => void) => void;

export class DownstreamTlsFactory implements DownstreamTransportSocketFactory {
  readonly snap: TlsSnap;
  readonly stats: StatSink;
  readonly validator: PeerValidator | null;
  /** A client certificate is asked for (a validation context, or require_client_certificate). */
  readonly requestCert: boolean;
  /** No SNI: the first certificate of each key type. */
  readonly defaultContext: SecureContext;
  /** An SNI that names no certificate: the first certificate. */
  readonly mismatchContext: SecureContext;
  readonly exact: Map<string, SecureContext>;
  /** `example.com` for `*.example.com`. */
  readonly wildcard: Map<string, SecureContext>;
  /** The TLSSocket options every connection of the chain gets (one object). */
  readonly options: tls.TLSSocketOptions;

  constructor(snap: TlsSnap, stats: StatSink) {
    this.snap = snap;
    this.stats = stats;
    this.validator = snap.validation === null ? null : new PeerValidator(snap.validation, snap.stats);
    this.requestCert = snap.validation !== null || snap.requireClientCertificate;
    this.exact = new Map();
    this.wildcard = new Map();
    // One context per set of certificates serving a name (shared by the names with the same set).
    const bySet = new Map<string, SecureContext>();
    const contextFor = (group: CertSnap[]): SecureContext => {
      // ECDSA last: the one an SNI switch installs.
      const certs = [...group.filter((c) => c.keyType !== 'ec'), ...group.filter((c) => c.keyType === 'ec')];
      const key = certs.map((c) => snap.certs.indexOf(c)).sort().join(',');
      let ctx = bySet.get(key);
      if (ctx === undefined) {
        ctx = tls.createSecureContext(secureContextOptions(snap, certs));
        // (tls.Server sets one too: OpenSSL refuses to resume a session without it once a client
        // certificate is requested.)
        (ctx as any).context.setSessionIdContext(snap.sessionIdContext);
        if (snap.ticketKeys !== null) renewTickets(ctx, Buffer.from(snap.ticketKeys, 'base64'));
        bySet.set(key, ctx);
      }
      return ctx;
    };
    const names = new Set(snap.certs.flatMap((c) => c.names));
    for (const n of names) {
      const ctx = contextFor(firstOfEachType(snap.certs.filter((c) => c.names.includes(n))));
      if (n.startsWith('*.')) this.wildcard.set(n.slice(2), ctx);
      else this.exact.set(n, ctx);
    }
    this.defaultContext = contextFor(firstOfEachType(snap.certs));
    this.mismatchContext = contextFor([snap.certs[0]]);
    const sni: SniCallback | undefined = bySet.size > 1 ? (name, cb) => {
      // (undefined: stay on the context the connection started with, every certificate of it.)
      const c = this.contextForName(name);
      cb(null, c === this.defaultContext ? undefined : c);
    } : undefined;
    this.options = {
      isServer: true,
      secureContext: this.defaultContext,
      SNICallback: sni,
      ALPNProtocols: snap.alpn.length > 0 ? snap.alpn : undefined,
      requestCert: this.requestCert,
      // Verified after the handshake (onSecure): a failure is counted by its cause.
      rejectUnauthorized: false,
    };
  }

  contextForName(name: string): SecureContext {
    const n = name.toLowerCase();
    const e = this.exact.get(n);
    if (e !== undefined) return e;
    const dot = n.indexOf('.');
    if (dot > 0) {
      const w = this.wildcard.get(n.slice(dot + 1));
      if (w !== undefined) return w;
    }
    return this.mismatchContext;
  }

  createTransportSocket(socket: Socket, preread: Buffer | null): Socket {
    // Bytes a listener filter read (the ClientHello) go back in front of what is still unread.
    if (preread !== null && preread.length > 0) socket.unshift(preread);
    const s = new tls.TLSSocket(socket, this.options);
    const a = s as any;
    a[kFactory] = this;
    a[kSslInfo] = new TlsConnectionInfo(s);
    a[kConnectEvent] = 'secure';
    s.on('secure', onSecure);
    s.on('error', onError);
    return s;
  }

  /** The handshake is done: verify the client certificate, count the handshake. False: the
   *  connection failed verification and is closed. */
  onHandshake(s: TLSSocket): boolean {
    const snap = this.snap;
    const st = snap.stats;
    const v = this.stats.v;
    const info = (s as any)[kSslInfo] as TlsConnectionInfo;
    const peer = this.requestCert ? (s.getPeerX509Certificate() ?? null) : null;
    info.peer = peer;
    if (this.requestCert) {
      let fail = -1;
      if (peer === null) {
        if (snap.requireClientCertificate) fail = st.fail_verify_no_cert;
      } else if (this.validator !== null) {
        // (A bare TLSSocket leaves authorizationError unset: OpenSSL's verdict on the chain is
        // asked for here, as tls.Server does.)
        const err = (s as any)._handle?.verifyError() as (Error & { code?: string }) | null | undefined;
        const r = this.validator.verify(peer, err == null ? null : (err.code ?? err.message));
        if (r !== null) fail = r.slot;
      }
      if (fail >= 0) {
        // Envoy fails the handshake, which counts connection_error too.
        v[fail]++;
        v[st.connection_error]++;
        (s as any)[kFailed] = true;
        s.destroy();
        return false;
      }
      info.peerCertificateValidated = peer !== null && this.validator !== null;
    }
    countHandshake(v, snap, s, peer !== null);
    return true;
  }
}

const kFailed = Symbol('legate.tlsFailed');

/** The first certificate of each key type, in config order. */
function firstOfEachType(certs: CertSnap[]): CertSnap[] {
  const seen = new Set<string>();
  return certs.filter((c) => !seen.has(c.keyType) && seen.add(c.keyType) !== undefined);
}

function onSecure(this: TLSSocket): void {
  ((this as any)[kFactory] as DownstreamTlsFactory).onHandshake(this);
}

function onError(this: TLSSocket, err: NodeJS.ErrnoException & { library?: string }): void {
  // A handshake that failed (a client that does not speak TLS, no shared cipher ...); 'close'
  // follows and the connection reports it. Errors after the handshake are the connection's, and
  // so is a reset or an EOF before its end (no TLS error: Envoy sees a remote close).
  if ((this as any)._secureEstablished !== true && !(this as any)[kFailed]
    && (err.library !== undefined || (err.code ?? '').startsWith('ERR_SSL'))) {
    const f = (this as any)[kFactory] as DownstreamTlsFactory;
    f.stats.v[f.snap.stats.connection_error]++;
  }
}

/**
 * Issue a new ticket on every resumption. Node's ticket callback (installed by `ticketKeys`)
 * decrypts with "accept, do not renew"; a SecureContext's JS ticket-key hook (Node's own tests use
 * it) may answer "renew" (2). The keys are the same 48 bytes (name, HMAC secret, AES key), so
 * tickets stay interchangeable with what `ticketKeys` issues. Left as Node's when this Node lacks
 * the hook. Runs once per ticket issued or presented, not per request.
 */
function renewTickets(ctx: SecureContext, keys: Buffer): void {
  const native = (ctx as unknown as { context?: TicketHook }).context;
  if (typeof native?.enableTicketKeyCallback !== 'function') return;
  const name = keys.subarray(0, 16);
  const hmac = keys.subarray(16, 32);
  const aes = keys.subarray(32, 48);
  native.enableTicketKeyCallback();
  native.onticketkeycallback = (keyName, _iv, encrypt) => {
    if (encrypt) return [1, hmac, aes, name, crypto.randomBytes(16)];
    // Not ours (another key set, or garbage): a full handshake. (Node reads the keys whatever
    // the verdict: an answer without them aborts the process.)
    return keyName.equals(name) ? [2, hmac, aes] : [0, hmac, aes];
  };
}

interface TicketHook {
  enableTicketKeyCallback(): void;
  onticketkeycallback: (name: Buffer, iv: Buffer, encrypt: boolean) => unknown[];
}
