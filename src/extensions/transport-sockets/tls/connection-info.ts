// A TLS connection's SslConnectionInfo (Envoy's Ssl::ConnectionInfo): one per TLS connection, made
// with its socket; the peer certificate is filled in when the handshake is done, and every string
// is computed on first use and kept.
import type crypto from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import type { SslConnectionInfo } from '../../../network/transport-socket.ts';
import { parseSans } from './config.ts';

const NONE: readonly string[] = [];

function sansOf(x: crypto.X509Certificate | undefined | null, type: string): readonly string[] {
  if (x == null) return NONE;
  const out: string[] = [];
  for (const [t, v] of parseSans(x.subjectAltName)) if (t === type) out.push(v);
  return out;
}

function pem(raw: Buffer): string {
  const b64 = raw.toString('base64');
  let s = '-----BEGIN CERTIFICATE-----\n';
  for (let i = 0; i < b64.length; i += 64) s += b64.slice(i, i + 64) + '\n';
  return s + '-----END CERTIFICATE-----\n';
}

export class TlsConnectionInfo implements SslConnectionInfo {
  readonly socket: TLSSocket;
  peer: crypto.X509Certificate | null;
  peerCertificateValidated: boolean;
  #digest: string | null;
  #subject: string | null;
  #uris: readonly string[] | null;
  #dns: readonly string[] | null;
  #localUris: readonly string[] | null;
  #pem: string | null;

  constructor(socket: TLSSocket) {
    this.socket = socket;
    this.peer = null;
    this.peerCertificateValidated = false;
    this.#digest = null;
    this.#subject = null;
    this.#uris = null;
    this.#dns = null;
    this.#localUris = null;
    this.#pem = null;
  }

  get peerCertificatePresented(): boolean {
    return this.peer !== null;
  }

  sha256PeerCertificateDigest(): string {
    return this.#digest ??= this.peer === null ? '' : this.peer.fingerprint256.replace(/:/g, '').toLowerCase();
  }

  /** RFC 2253: the last RDN first, comma-separated (Node prints them one a line, first first,
   *  with RFC 2253 escaping). */
  subjectPeerCertificate(): string {
    return this.#subject ??= this.peer === null ? '' : this.peer.subject.split('\n').reverse().join(',');
  }

  uriSanPeerCertificate(): readonly string[] {
    return this.#uris ??= sansOf(this.peer, 'URI');
  }

  dnsSansPeerCertificate(): readonly string[] {
    return this.#dns ??= sansOf(this.peer, 'DNS');
  }

  urlEncodedPemEncodedPeerCertificate(): string {
    return this.#pem ??= this.peer === null ? '' : encodeURIComponent(pem(this.peer.raw));
  }

  urlEncodedPemEncodedPeerCertificateChain(): string {
    if (this.peer === null) return '';
    // getPeerCertificate(true) links each certificate to its issuer; the last is self-issued.
    let c = this.socket.getPeerCertificate(true) as import('node:tls').DetailedPeerCertificate;
    let s = '';
    const seen = new Set<unknown>();
    while (c !== undefined && c.raw !== undefined && !seen.has(c)) {
      seen.add(c);
      s += pem(c.raw);
      if (c.issuerCertificate === c) break;
      c = c.issuerCertificate;
    }
    return encodeURIComponent(s);
  }

  uriSanLocalCertificate(): readonly string[] {
    return this.#localUris ??= sansOf(this.socket.getX509Certificate(), 'URI');
  }

  tlsVersion(): string {
    return this.socket.getProtocol() ?? '';
  }

  ciphersuiteString(): string {
    return this.socket.getCipher()?.name ?? '';
  }

  requestedServerName(): string {
    const n = (this.socket as unknown as { servername?: string | false }).servername;
    return typeof n === 'string' ? n : '';
  }
}
