// client_ssl_auth's per-connection check (Envoy's ClientSslAuthFilter): a plain-TCP connection is
// let through untouched (counted auth_no_ssl: layers above decide what to do with it); a TLS one
// is held until its handshake completes, then let through if the peer's IP is allowed or its
// certificate's fingerprint is on the approved list, and closed otherwise.
import type { Buffer } from 'node:buffer';
import {
  ConnectionCloseType, ConnectionEvent, FilterStatus, type ConnectionCallbacks, type ReadFilter,
  type ReadFilterCallbacks,
} from '../../../../network/filter.ts';
import { cidrContains } from '../../../../common/cidr.ts';
import type { StatSink } from '../../../../common/stat-sink.ts';
import type { SharedValue } from '../../../types.ts';
import type { ClientSslAuthSnap } from './index.ts';

/** The approved fingerprints as main last published them (a list of lowercase hex digests),
 *  turned into a set once per publication. */
export class Principals {
  readonly #shared: SharedValue;
  #from: unknown;
  #set: ReadonlySet<string>;

  constructor(shared: SharedValue) {
    this.#shared = shared;
    this.#from = undefined;
    this.#set = new Set();
  }

  allowed(digest: string): boolean {
    const v = this.#shared.value;
    if (v !== this.#from) {
      this.#from = v;
      this.#set = new Set(Array.isArray(v) ? (v as string[]) : []);
    }
    return digest !== '' && this.#set.has(digest);
  }
}

export class ClientSslAuthFilter implements ReadFilter, ConnectionCallbacks {
  readonly #snap: ClientSslAuthSnap;
  readonly #principals: Principals;
  readonly #stats: StatSink;
  #cb: ReadFilterCallbacks | null;

  constructor(snap: ClientSslAuthSnap, principals: Principals, stats: StatSink) {
    this.#snap = snap;
    this.#principals = principals;
    this.#stats = stats;
    this.#cb = null;
  }

  initializeReadFilterCallbacks(cb: ReadFilterCallbacks): void {
    this.#cb = cb;
    cb.connection.addConnectionCallbacks(this);
  }

  onNewConnection(): FilterStatus {
    if (this.#cb!.connection.ssl() === null) {
      this.#stats.v[this.#snap.stats.auth_no_ssl]++;
      return FilterStatus.Continue;
    }
    // Wait for the handshake (ConnectionEvent.Connected).
    return FilterStatus.StopIteration;
  }

  onData(_data: Buffer, _endStream: boolean): FilterStatus {
    return FilterStatus.Continue;
  }

  onEvent(event: ConnectionEvent): void {
    if (event !== ConnectionEvent.Connected) return;
    const cb = this.#cb!;
    const conn = cb.connection;
    const ssl = conn.ssl();
    if (ssl === null) return;
    const s = this.#snap.stats;
    const v = this.#stats.v;
    if (cidrContains(this.#snap.allow, conn.remoteIp)) {
      v[s.auth_ip_allowlist]++;
      cb.continueReading();
      return;
    }
    if (!this.#principals.allowed(ssl.sha256PeerCertificateDigest())) {
      v[s.auth_digest_no_match]++;
      conn.close(ConnectionCloseType.NoFlush);
      return;
    }
    v[s.auth_digest_match]++;
    cb.continueReading();
  }

  onAboveWriteBufferHighWatermark(): void {}
  onBelowWriteBufferLowWatermark(): void {}
}
