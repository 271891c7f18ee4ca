// A DNS server run by a test (UDP on 127.0.0.1, port 0): answers A and AAAA queries from a table the
// test changes while it runs, with the TTL it is given, or fails a name on purpose (SERVFAIL,
// NXDOMAIN, no answer at all). It counts the queries per name, so a test can see how often a
// resolver asks (refresh rate, TTL, failure backoff).
import dgram from 'node:dgram';
import net from 'node:net';
import { Buffer } from 'node:buffer';

/** How a name answers. */
export type DnsAnswer =
  | { a?: string[]; aaaa?: string[]; ttl?: number }
  | 'SERVFAIL'
  | 'NXDOMAIN'
  /** Drop the query: the resolver times out. */
  | 'DROP';

const TYPE_A = 1;
const TYPE_AAAA = 28;
const RCODE_SERVFAIL = 2;
const RCODE_NXDOMAIN = 3;

export class DnsServer {
  readonly socket: dgram.Socket;
  port = 0;
  /** name (lower case, no trailing dot) -> answer; names not in it get NXDOMAIN. */
  readonly records = new Map<string, DnsAnswer>();
  /** Queries seen, by name (either type). */
  readonly queries = new Map<string, number>();

  constructor() {
    this.socket = dgram.createSocket('udp4');
    this.socket.on('message', (msg, rinfo) => {
      const reply = this.#answer(msg);
      if (reply !== null) this.socket.send(reply, rinfo.port, rinfo.address);
    });
  }

  static async start(): Promise<DnsServer> {
    const s = new DnsServer();
    await new Promise<void>((resolve) => s.socket.bind(0, '127.0.0.1', () => resolve()));
    s.port = s.socket.address().port;
    return s;
  }

  /** "127.0.0.1:<port>", as a resolver list takes it. */
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** A cluster's `typed_dns_resolver_config` (YAML, at a cluster's field indent) pointing c-ares
   *  at this server. */
  get resolverYaml(): string {
    return `
    typed_dns_resolver_config:
      name: envoy.network.dns_resolver.cares
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.network.dns_resolver.cares.v3.CaresDnsResolverConfig
        resolvers:
        - socket_address: { address: 127.0.0.1, port_value: ${this.port} }`;
  }

  set(name: string, answer: DnsAnswer): void {
    this.records.set(name.toLowerCase(), answer);
  }

  queriesFor(name: string): number {
    return this.queries.get(name.toLowerCase()) ?? 0;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }

  #answer(msg: Buffer): Buffer | null {
    if (msg.length < 12 || msg.readUInt16BE(4) !== 1) return null;
    // The question: labels, then type and class.
    let off = 12;
    const labels: string[] = [];
    while (off < msg.length && msg[off] !== 0) {
      const len = msg[off];
      labels.push(msg.toString('latin1', off + 1, off + 1 + len));
      off += 1 + len;
    }
    off += 1;
    if (off + 4 > msg.length) return null;
    const qtype = msg.readUInt16BE(off);
    const questionEnd = off + 4;
    const name = labels.join('.').toLowerCase();
    this.queries.set(name, (this.queries.get(name) ?? 0) + 1);
    const answer = this.records.get(name) ?? 'NXDOMAIN';
    if (answer === 'DROP') return null;
    let rcode = 0;
    const rdatas: Buffer[] = [];
    let ttl = 0;
    if (answer === 'SERVFAIL') rcode = RCODE_SERVFAIL;
    else if (answer === 'NXDOMAIN') rcode = RCODE_NXDOMAIN;
    else {
      ttl = answer.ttl ?? 30;
      const list = qtype === TYPE_A ? answer.a ?? [] : qtype === TYPE_AAAA ? answer.aaaa ?? [] : [];
      for (const ip of list) rdatas.push(ipBytes(ip));
    }
    const header = Buffer.alloc(12);
    header.writeUInt16BE(msg.readUInt16BE(0), 0);
    // QR, the query's opcode and RD, AA, RA, the rcode.
    const rd = msg[2] & 0x01;
    header[2] = 0x80 | (msg[2] & 0x78) | 0x04 | rd;
    header[3] = 0x80 | rcode;
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(rdatas.length, 6);
    const records = rdatas.map((rdata) => {
      const rr = Buffer.alloc(12 + rdata.length);
      rr.writeUInt16BE(0xc00c, 0); // the question's name
      rr.writeUInt16BE(qtype, 2);
      rr.writeUInt16BE(1, 4); // IN
      rr.writeUInt32BE(ttl, 6);
      rr.writeUInt16BE(rdata.length, 10);
      rdata.copy(rr, 12);
      return rr;
    });
    return Buffer.concat([header, msg.subarray(12, questionEnd), ...records]);
  }
}

function ipBytes(ip: string): Buffer {
  if (net.isIPv4(ip)) return Buffer.from(ip.split('.').map(Number));
  // IPv6: expand '::'.
  const [head, tail] = ip.includes('::') ? ip.split('::') : [ip, ''];
  const h = head === '' ? [] : head.split(':');
  const t = tail === '' ? [] : tail.split(':');
  const groups = [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  const b = Buffer.alloc(16);
  groups.forEach((g, i) => b.writeUInt16BE(parseInt(g, 16), i * 2));
  return b;
}
