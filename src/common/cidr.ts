// IP addresses as bytes and CIDR ranges (envoy.config.core.v3.CidrRange): the one implementation
// behind filter_chain_match's prefix levels (listener/filter-chain-match.ts) and allow lists
// (client_ssl_auth's ip_white_list, Envoy's Network::Address::IpList). An IPv4-mapped IPv6
// address (`::ffff:10.0.0.1`, what a dual-stack socket reports) is matched as the IPv4 address
// it carries, and an IPv4-mapped range as the IPv4 range.
import net from 'node:net';

/** The bytes of an IP (4 for IPv4 and IPv4-mapped IPv6, 16 for IPv6); null when not an IP. */
export function ipBytes(ip: string): Uint8Array | null {
  if (net.isIPv4(ip)) return v4(ip);
  if (!net.isIPv6(ip)) return null;
  const zone = ip.indexOf('%');
  let s = zone >= 0 ? ip.slice(0, zone) : ip;
  const out = new Uint8Array(16);
  // A trailing dotted quad (::ffff:1.2.3.4) is two hextets.
  const lastColon = s.lastIndexOf(':');
  let tail: Uint8Array | null = null;
  if (s.indexOf('.', lastColon) >= 0) {
    tail = v4(s.slice(lastColon + 1));
    s = `${s.slice(0, lastColon + 1)}0:0`;
  }
  const dbl = s.indexOf('::');
  const head = dbl >= 0 ? s.slice(0, dbl) : s;
  const rest = dbl >= 0 ? s.slice(dbl + 2) : '';
  const h = head === '' ? [] : head.split(':');
  const r = rest === '' ? [] : rest.split(':');
  const groups = dbl >= 0 ? [...h, ...new Array<string>(8 - h.length - r.length).fill('0'), ...r] : h;
  for (let i = 0; i < 8; i++) {
    const g = parseInt(groups[i] ?? '0', 16);
    out[i * 2] = g >> 8;
    out[i * 2 + 1] = g & 0xff;
  }
  if (tail !== null) out.set(tail, 12);
  // IPv4-mapped: ::ffff:a.b.c.d
  let mapped = out[10] === 0xff && out[11] === 0xff;
  for (let i = 0; i < 10 && mapped; i++) if (out[i] !== 0) mapped = false;
  return mapped ? out.slice(12) : out;
}

function v4(ip: string): Uint8Array {
  const p = ip.split('.');
  return Uint8Array.of(Number(p[0]), Number(p[1]), Number(p[2]), Number(p[3]));
}

/** Why a CIDR range (`address/len`) is refused, or null when it is valid. Envoy's wording. */
export function cidrError(cidr: string): string | null {
  const slash = cidr.lastIndexOf('/');
  const addr = cidr.slice(0, slash);
  const len = Number(cidr.slice(slash + 1));
  const fam = net.isIP(addr);
  if (fam === 0) return `malformed IP address: ${addr}`;
  if (len > (fam === 4 ? 32 : 128)) return `invalid prefix length ${len} for ${addr}`;
  return null;
}

/** A valid range (`address/len`, see cidrError) as matched: an IPv4-mapped range as IPv4. */
export interface CidrRange {
  bytes: Uint8Array;
  /** Prefix length in bits. */
  len: number;
}

export function cidrRange(cidr: string): CidrRange {
  const slash = cidr.lastIndexOf('/');
  const addr = cidr.slice(0, slash);
  const bytes = ipBytes(addr)!;
  let len = Number(cidr.slice(slash + 1));
  // An IPv4-mapped range: its length less the 96 bits of the mapping.
  if (bytes.length === 4 && net.isIPv6(addr)) len = Math.max(0, len - 96);
  return { bytes, len };
}

/** Whether `ip` (from ipBytes) is in the range `net`/`len` of the same family. */
export function prefixMatches(ip: Uint8Array, net: Uint8Array, len: number): boolean {
  const full = len >> 3;
  for (let i = 0; i < full; i++) if (ip[i] !== net[i]) return false;
  const bits = len & 7;
  if (bits === 0) return true;
  const mask = (0xff << (8 - bits)) & 0xff;
  return (ip[full] & mask) === (net[full] & mask);
}

/** A CidrRange message's `address_prefix` and `prefix_len` as a range, or why it is refused. */
export function parseCidr(address: string, prefixLen: number): CidrRange | string {
  const cidr = `${address}/${prefixLen}`;
  return cidrError(cidr) ?? cidrRange(cidr);
}

/** Whether `ip` (as a socket reports it) is in one of `ranges` (Envoy's IpList::contains). */
export function cidrContains(ranges: readonly CidrRange[], ip: string): boolean {
  if (ranges.length === 0) return false;
  const b = ipBytes(ip);
  if (b === null) return false;
  for (const r of ranges) {
    if (r.bytes.length === b.length && prefixMatches(b, r.bytes, r.len)) return true;
  }
  return false;
}
