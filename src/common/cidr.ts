// CIDR ranges (envoy.config.core.v3.CidrRange) and the test of an address against a list of them
// (Envoy's Network::Address::IpList). Ranges are parsed once, at config time, into plain data that
// crosses to the workers; an IPv4-mapped IPv6 peer (::ffff:a.b.c.d, what a dual-stack socket
// reports) is tested as the IPv4 address it carries.
import net from 'node:net';

export interface CidrSnap {
  /** 4 or 16 bytes, the bits past the prefix zeroed. */
  bytes: number[];
  prefixLen: number;
}

/** Parse `address_prefix`/`prefix_len`; a message for the config error when malformed. */
export function parseCidr(address: string, prefixLen: number): CidrSnap | string {
  const bytes = ipBytes(address);
  if (bytes === null) return `malformed IP address: ${address}`;
  const max = bytes.length * 8;
  if (prefixLen > max) return `invalid prefix length ${prefixLen} for ${address}`;
  for (let i = 0; i < bytes.length; i++) {
    const keep = Math.max(0, Math.min(8, prefixLen - i * 8));
    bytes[i] &= (0xff << (8 - keep)) & 0xff;
  }
  return { bytes, prefixLen };
}

/** Whether `ip` (as a socket reports it) is in one of `ranges`. */
export function cidrContains(ranges: readonly CidrSnap[], ip: string): boolean {
  if (ranges.length === 0) return false;
  let b = ipBytes(ip);
  if (b === null) return false;
  if (b.length === 16 && isV4Mapped(b)) b = b.slice(12);
  for (const r of ranges) {
    if (r.bytes.length !== b.length) continue;
    let ok = true;
    for (let i = 0, left = r.prefixLen; left > 0; i++, left -= 8) {
      const mask = left >= 8 ? 0xff : (0xff << (8 - left)) & 0xff;
      if ((b[i]! & mask) !== r.bytes[i]) {
        ok = false;
        break;
      }
    }
    if (ok) return true;
  }
  return false;
}

function isV4Mapped(b: number[]): boolean {
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  return b[10] === 0xff && b[11] === 0xff;
}

/** The address's bytes (4 for IPv4, 16 for IPv6), or null when it is not an IP address. */
export function ipBytes(ip: string): number[] | null {
  const kind = net.isIP(ip);
  if (kind === 4) return ip.split('.').map(Number);
  if (kind !== 6) return null;
  let s = ip;
  const pct = s.indexOf('%');
  if (pct >= 0) s = s.slice(0, pct);
  let tail: number[] = [];
  const lastColon = s.lastIndexOf(':');
  if (s.includes('.', lastColon)) {
    tail = s.slice(lastColon + 1).split('.').map(Number);
    s = s.slice(0, lastColon + 1) + '0:0';
  }
  const [head, rest] = s.includes('::') ? s.split('::') as [string, string] : [s, null];
  const groups = (x: string): number[] => (x === '' ? [] : x.split(':').map((g) => parseInt(g, 16)));
  const h = groups(head);
  const r = rest === null ? [] : groups(rest);
  const all = rest === null ? h : [...h, ...new Array<number>(8 - h.length - r.length).fill(0), ...r];
  const out: number[] = [];
  for (const g of all) out.push(g >> 8, g & 0xff);
  if (tail.length === 4) out.splice(12, 4, ...tail);
  return out;
}
