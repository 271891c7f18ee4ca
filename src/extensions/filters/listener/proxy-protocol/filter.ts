// envoy.filters.listener.proxy_protocol: reads a PROXY protocol header (HAProxy's
// proxy-protocol.txt, v1 text and v2 binary; Envoy's ProxyProtocol filter), drains it from the
// bytes, and makes its source the connection's remote address and its destination the local one
// (filter-chain matching on destination_port, x-forwarded-for, access logs). A v2 LOCAL command
// (a health check from the proxy itself) and a v1 UNKNOWN keep the socket's own addresses; v2
// TLVs are checked for framing and skipped. A malformed header, or no header where one is
// required, closes the connection.
import net from 'node:net';
import {
  ListenerFilterStatus, type ListenerFilter, type ListenerFilterBuffer, type ListenerFilterCallbacks,
} from '../../../../listener/listener-filter.ts';
import type { StatSink } from '../../../../common/stat-sink.ts';

/** Stat slots (ProxyProtocolStats). */
export interface ProxyProtocolStats {
  /** downstream_cx_proxy_proto_error (Envoy's legacy counter, at the root). */
  error: number;
  notFoundAllowed: number;
  notFoundDisallowed: number;
  /** [v1, v2] */
  found: [number, number];
  disallowed: [number, number];
  versionError: [number, number];
}

export interface ProxyProtocolConfig {
  allowWithout: boolean;
  /** [v1 allowed, v2 allowed] (disallowed_versions). */
  allowed: [boolean, boolean];
  stats: ProxyProtocolStats;
  sink: StatSink;
}

// "\r\n\r\n\0\r\nQUIT\n"
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V1_SIGNATURE = Buffer.from('PROXY ', 'latin1');
const V2_HEADER_LEN = 16;
/** v2 header plus the largest address block (AF_UNIX, 216 bytes). */
const MAX_V2_LEN = V2_HEADER_LEN + 216;
/** The longest v1 line (proxy-protocol.txt 2.1: 107 bytes plus the CRLF). */
const MAX_V1_LEN = 108;

const State = { TryAgain: 0, Done: 1, Error: 2, Skip: 3, Denied: 4 } as const;
type State = (typeof State)[keyof typeof State];

export class ProxyProtocolFilter implements ListenerFilter {
  readonly #config: ProxyProtocolConfig;
  #cb: ListenerFilterCallbacks | null;
  /** 0 not known yet, 1, 2. */
  #version: number;
  /** Where the search for v1's CRLF goes on from. */
  #search: number;
  #maxRead: number;
  /** The whole header's length, once known. */
  #headerLen: number;
  #local: boolean;
  #srcIp: string;
  #srcPort: number;
  #dstIp: string;
  #dstPort: number;

  constructor(config: ProxyProtocolConfig) {
    this.#config = config;
    this.#cb = null;
    this.#version = 0;
    this.#search = 1;
    this.#maxRead = MAX_V2_LEN;
    this.#headerLen = 0;
    this.#local = true;
    this.#srcIp = '';
    this.#srcPort = 0;
    this.#dstIp = '';
    this.#dstPort = 0;
  }

  onAccept(cb: ListenerFilterCallbacks): ListenerFilterStatus {
    this.#cb = cb;
    return ListenerFilterStatus.StopIteration;
  }

  maxReadBytes(): number {
    return this.#maxRead;
  }

  onData(buffer: ListenerFilterBuffer): ListenerFilterStatus {
    const st = this.#parse(buffer.data);
    const c = this.#config;
    const v = c.sink.v;
    const s = c.stats;
    switch (st) {
      case State.TryAgain:
        return ListenerFilterStatus.StopIteration;
      case State.Skip:
        v[s.notFoundAllowed]++;
        return ListenerFilterStatus.Continue;
      case State.Done: {
        v[s.found[this.#version - 1]]++;
        if (!this.#local) {
          const cs = this.#cb!.connectionSocket;
          cs.remoteIpOverride = this.#srcIp;
          cs.remotePortOverride = this.#srcPort;
          cs.localIpOverride = this.#dstIp;
          cs.localPortOverride = this.#dstPort;
        }
        buffer.drain(this.#headerLen);
        return ListenerFilterStatus.Continue;
      }
      case State.Denied:
        v[s.disallowed[this.#version - 1]]++;
        this.#cb!.continueFilterChain(false);
        return ListenerFilterStatus.StopIteration;
      default:
        v[s.error]++;
        v[this.#version === 0 ? s.notFoundDisallowed : s.versionError[this.#version - 1]]++;
        this.#cb!.continueFilterChain(false);
        return ListenerFilterStatus.StopIteration;
    }
  }

  #parse(d: Buffer): State {
    if (this.#headerLen === 0) {
      const st = this.#readHeader(d);
      if (st !== State.Done) return st;
      if (!this.#config.allowed[this.#version - 1]) return State.Denied;
      if (this.#headerLen > this.#maxRead) this.#maxRead = this.#headerLen;
    }
    if (d.length < this.#headerLen) return State.TryAgain;
    if (this.#version === 2 && !this.#local && !tlvsWellFramed(d, V2_HEADER_LEN + (this.#srcIp.includes(':') ? 36 : 12), this.#headerLen)) {
      return State.Error;
    }
    return State.Done;
  }

  /** The header up to its addresses: the version, the addresses, #headerLen. */
  #readHeader(d: Buffer): State {
    const n = d.length;
    if (n === 0) return State.TryAgain;
    const v2 = prefixMatches(d, V2_SIGNATURE);
    const v1 = prefixMatches(d, V1_SIGNATURE);
    if (!v2 && !v1) {
      // Neither signature (as far as the bytes go): not a PROXY protocol connection.
      return this.#config.allowWithout ? State.Skip : State.Error;
    }
    if (v2) {
      if (n < V2_SIGNATURE.length) return State.TryAgain;
      this.#version = 2;
      if (n < V2_HEADER_LEN) return State.TryAgain;
      const verCmd = d[12];
      if (verCmd >> 4 !== 2) return State.Error;
      const cmd = verCmd & 0xf;
      const fam = d[13];
      const hdrAddrLen = d.readUInt16BE(14);
      let addrLen: number;
      if (cmd === 0) {
        // LOCAL: no address to use, whatever follows is skipped.
        addrLen = 0;
      } else if (cmd !== 1) {
        return State.Error;
      } else if (fam >> 4 === 1) {
        addrLen = 12;
      } else if (fam >> 4 === 2) {
        addrLen = 36;
      } else {
        // AF_UNSPEC with PROXY, AF_UNIX: unsupported, as in Envoy.
        return State.Error;
      }
      if (hdrAddrLen < addrLen) return State.Error;
      if (n < V2_HEADER_LEN + addrLen) return State.TryAgain;
      this.#headerLen = V2_HEADER_LEN + hdrAddrLen;
      if (cmd === 0) return State.Done;
      const transport = fam & 0xf;
      if (transport !== 1 && transport !== 2) return State.Error;
      const a = V2_HEADER_LEN;
      if (addrLen === 12) {
        this.#srcIp = `${d[a]}.${d[a + 1]}.${d[a + 2]}.${d[a + 3]}`;
        this.#dstIp = `${d[a + 4]}.${d[a + 5]}.${d[a + 6]}.${d[a + 7]}`;
        this.#srcPort = d.readUInt16BE(a + 8);
        this.#dstPort = d.readUInt16BE(a + 10);
      } else {
        this.#srcIp = ipv6(d, a);
        this.#dstIp = ipv6(d, a + 16);
        this.#srcPort = d.readUInt16BE(a + 32);
        this.#dstPort = d.readUInt16BE(a + 34);
      }
      this.#local = false;
      return unicast(this.#srcIp) && unicast(this.#dstIp) ? State.Done : State.Error;
    }
    // v1: a line ending in CRLF.
    let end = -1;
    for (let i = this.#search; i < n; i++) {
      if (d[i] === 0x0a && d[i - 1] === 0x0d) {
        end = i + 1;
        break;
      }
    }
    if (end < 0) {
      this.#search = n;
      // (A v2 signature also starts with CRLF: more bytes tell them apart.)
      return n > MAX_V1_LEN ? State.Error : State.TryAgain;
    }
    this.#version = 1;
    if (end > MAX_V1_LEN) return State.Error;
    this.#headerLen = end;
    return this.#parseV1(d.latin1Slice(0, end - 2)) ? State.Done : State.Error;
  }

  /** "PROXY TCP4 <src> <dst> <sport> <dport>" | "PROXY TCP6 ..." | "PROXY UNKNOWN ..." */
  #parseV1(line: string): boolean {
    const p = line.split(' ');
    if (p.length < 2 || p[0] !== 'PROXY') return false;
    if (p[1] === 'UNKNOWN') return true;
    if (p.length !== 6) return false;
    const fam = p[1] === 'TCP4' ? 4 : p[1] === 'TCP6' ? 6 : 0;
    if (fam === 0 || net.isIP(p[2]) !== fam || net.isIP(p[3]) !== fam) return false;
    const sp = port(p[4]);
    const dp = port(p[5]);
    if (sp < 0 || dp < 0 || !unicast(p[2]) || !unicast(p[3])) return false;
    this.#srcIp = p[2];
    this.#dstIp = p[3];
    this.#srcPort = sp;
    this.#dstPort = dp;
    this.#local = false;
    return true;
  }
}

function prefixMatches(d: Buffer, sig: Buffer): boolean {
  const n = Math.min(d.length, sig.length);
  for (let i = 0; i < n; i++) if (d[i] !== sig[i]) return false;
  return true;
}

function port(s: string): number {
  if (!/^\d{1,5}$/.test(s)) return -1;
  const n = Number(s);
  return n <= 65535 ? n : -1;
}

function ipv6(d: Buffer, at: number): string {
  const g: string[] = [];
  for (let i = 0; i < 8; i++) g.push(d.readUInt16BE(at + i * 2).toString(16));
  // Canonical text form (zeros compressed) through the URL parser's serializer.
  return new URL(`http://[${g.join(':')}]/`).hostname.slice(1, -1);
}

/** Envoy's isUnicastAddress: not the any address, not multicast, not broadcast. */
function unicast(ip: string): boolean {
  if (net.isIPv4(ip)) {
    const first = Number(ip.slice(0, ip.indexOf('.')));
    return ip !== '0.0.0.0' && ip !== '255.255.255.255' && (first < 224 || first > 239);
  }
  return ip !== '::' && !ip.toLowerCase().startsWith('ff');
}

/** Each TLV (type, 16-bit length, value) ends within the header. */
function tlvsWellFramed(d: Buffer, from: number, end: number): boolean {
  let i = from;
  while (i < end) {
    if (i + 3 > end) return false;
    const len = d.readUInt16BE(i + 1);
    i += 3 + len;
  }
  return i === end;
}
