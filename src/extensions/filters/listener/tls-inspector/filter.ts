// envoy.filters.listener.tls_inspector: tells a TLS connection from a plain one by its first
// bytes and, for TLS, reads the SNI and ALPN offers from the ClientHello (RFC 8446 4.1.2, RFC
// 6066 3, RFC 7301 3.1) without terminating TLS: the bytes stay for the chain's transport socket
// (TLS termination) or its network filters (passthrough). The ClientHello may come in several
// reads and span several records (RFC 8446 5.1: a handshake message may be fragmented); it is
// parsed again from the start as bytes arrive (it is small) and bounded like Envoy's
// (client_hello_too_large, the connection closed). What does not parse as a ClientHello is
// "not TLS" (tls_not_found) and goes on as raw_buffer, as Envoy's inspector does on a parse
// error.
import {
  ListenerFilterStatus, type ListenerFilter, type ListenerFilterBuffer, type ListenerFilterCallbacks,
} from '../../../../listener/listener-filter.ts';
import type { StatSink } from '../../../../common/stat-sink.ts';

export interface TlsInspectorStats {
  client_hello_too_large: number;
  tls_found: number;
  tls_not_found: number;
  alpn_found: number;
  alpn_not_found: number;
  sni_found: number;
  sni_not_found: number;
  /** Histogram (bytes). */
  bytes_processed: number;
}

export interface TlsInspectorConfig {
  stats: TlsInspectorStats;
  sink: StatSink;
}

/** Envoy's TLS_MAX_CLIENT_HELLO. */
export const MAX_CLIENT_HELLO = 64 * 1024;

const RECORD_HANDSHAKE = 22;
const HANDSHAKE_CLIENT_HELLO = 1;
const EXT_SERVER_NAME = 0;
const EXT_ALPN = 16;

/** What parseClientHello found: more bytes needed, not a ClientHello, or the hello's offers. */
export interface ClientHelloInfo {
  serverName: string;
  alpn: string[];
  /** Bytes of records the hello took. */
  bytes: number;
}
export const NEED_MORE = 0;
export const NOT_TLS = 1;

/** Parse the ClientHello at the start of `d` (TLS records). */
export function parseClientHello(d: Buffer): ClientHelloInfo | typeof NEED_MORE | typeof NOT_TLS {
  return new ClientHelloParser().feed(d);
}

/**
 * The ClientHello's handshake bytes gathered from successive records, resuming where the last
 * call stopped: `feed` is given every byte read so far (the same prefix, longer each time) and
 * looks only at the records it has not seen, and the fragments are joined once, when the hello is
 * whole. A client sending its hello a byte per record and a record per segment costs linear time,
 * not a re-parse (and a re-join) of everything so far per read.
 */
export class ClientHelloParser {
  /** Where the next record starts. */
  #pos = 0;
  readonly #frags: Buffer[] = [];
  #have = 0;
  /** The handshake's length with its 4-byte header, once known (-1 before). */
  #need = -1;

  feed(d: Buffer): ClientHelloInfo | typeof NEED_MORE | typeof NOT_TLS {
    let pos = this.#pos;
    while (true) {
      if (d.length - pos < 5) return d.length - pos >= 1 && d[pos] !== RECORD_HANDSHAKE ? NOT_TLS : NEED_MORE;
      // RFC 8446 5.1: legacy_record_version 0x03xx.
      if (d[pos] !== RECORD_HANDSHAKE || d[pos + 1] !== 3) return NOT_TLS;
      const len = d.readUInt16BE(pos + 3);
      if (len === 0) return NOT_TLS;
      if (d.length - pos - 5 < len) return NEED_MORE;
      this.#frags.push(d.subarray(pos + 5, pos + 5 + len));
      this.#have += len;
      this.#pos = pos += 5 + len;
      if (this.#need < 0 && this.#have >= 4) {
        const head = Buffer.concat(this.#frags, 4);
        if (head[0] !== HANDSHAKE_CLIENT_HELLO) return NOT_TLS;
        this.#need = 4 + head.readUIntBE(1, 3);
      }
      if (this.#need >= 0 && this.#have >= this.#need) break;
    }
    const hs = this.#frags.length === 1 ? this.#frags[0] : Buffer.concat(this.#frags, this.#have);
    const info = helloOffers(hs.subarray(4, this.#need));
    if (info === null) return NOT_TLS;
    info.bytes = pos;
    return info;
  }
}

function helloOffers(b: Buffer): ClientHelloInfo | null {
  const out: ClientHelloInfo = { serverName: '', alpn: [], bytes: 0 };
  // legacy_version(2) random(32)
  let p = 34;
  if (b.length < p + 1) return null;
  p += 1 + b[p]; // legacy_session_id
  if (b.length < p + 2) return null;
  p += 2 + b.readUInt16BE(p); // cipher_suites
  if (b.length < p + 1) return null;
  p += 1 + b[p]; // legacy_compression_methods
  if (p > b.length) return null;
  if (p === b.length) return out; // no extensions
  if (b.length < p + 2) return null;
  const end = p + 2 + b.readUInt16BE(p);
  if (end > b.length) return null;
  p += 2;
  while (p + 4 <= end) {
    const type = b.readUInt16BE(p);
    const len = b.readUInt16BE(p + 2);
    const e = p + 4;
    if (e + len > end) return null;
    if (type === EXT_SERVER_NAME && len >= 2) {
      // ServerNameList: the host_name entry (type 0).
      let q = e + 2;
      const listEnd = Math.min(e + 2 + b.readUInt16BE(e), e + len);
      while (q + 3 <= listEnd) {
        const nlen = b.readUInt16BE(q + 1);
        if (b[q] === 0 && q + 3 + nlen <= listEnd) {
          out.serverName = b.latin1Slice(q + 3, q + 3 + nlen).toLowerCase();
          break;
        }
        q += 3 + nlen;
      }
    } else if (type === EXT_ALPN && len >= 2) {
      // ProtocolNameList; a malformed one is left to the TLS stack (Envoy's onALPN).
      const listEnd = e + 2 + b.readUInt16BE(e);
      const protos: string[] = [];
      let ok = listEnd === e + len && listEnd - e - 2 >= 2;
      for (let q = e + 2; ok && q < listEnd;) {
        const plen = b[q];
        if (plen === 0 || q + 1 + plen > listEnd) {
          ok = false;
          break;
        }
        protos.push(b.latin1Slice(q + 1, q + 1 + plen));
        q += 1 + plen;
      }
      if (ok) out.alpn = protos;
    }
    p = e + len;
  }
  return out;
}

export class TlsInspectorFilter implements ListenerFilter {
  readonly #config: TlsInspectorConfig;
  #cb: ListenerFilterCallbacks | null;
  readonly #parser: ClientHelloParser;

  constructor(config: TlsInspectorConfig) {
    this.#config = config;
    this.#cb = null;
    this.#parser = new ClientHelloParser();
  }

  onAccept(cb: ListenerFilterCallbacks): ListenerFilterStatus {
    this.#cb = cb;
    return ListenerFilterStatus.StopIteration;
  }

  maxReadBytes(): number {
    return MAX_CLIENT_HELLO;
  }

  onData(buffer: ListenerFilterBuffer): ListenerFilterStatus {
    const r = this.#parser.feed(buffer.data);
    const c = this.#config;
    const s = c.stats;
    const v = c.sink.v;
    if (r === NEED_MORE) {
      if (buffer.data.length < MAX_CLIENT_HELLO) return ListenerFilterStatus.StopIteration;
      v[s.client_hello_too_large]++;
      c.sink.record(s.bytes_processed, buffer.data.length);
      this.#cb!.continueFilterChain(false);
      return ListenerFilterStatus.StopIteration;
    }
    if (r === NOT_TLS) {
      v[s.tls_not_found]++;
      return ListenerFilterStatus.Continue;
    }
    const cs = this.#cb!.connectionSocket;
    v[s.tls_found]++;
    if (r.serverName !== '') {
      v[s.sni_found]++;
      cs.requestedServerName = r.serverName;
    } else {
      v[s.sni_not_found]++;
    }
    if (r.alpn.length > 0) {
      v[s.alpn_found]++;
      cs.applicationProtocols = r.alpn;
    } else {
      v[s.alpn_not_found]++;
    }
    cs.detectedTransportProtocol = 'tls';
    c.sink.record(s.bytes_processed, r.bytes);
    return ListenerFilterStatus.Continue;
  }
}
