// Whether a request comes from an internal client (Envoy's ConnectionManagerUtility::
// mutateRequestHeaders): the request's x-forwarded-for must hold one address, after this hop's
// append, and that address must be internal.
//   - use_remote_address: the request came with no x-forwarded-for (so it will hold just the
//     peer's) and the peer is internal;
//   - otherwise: x-forwarded-for is exactly one address (and xff_num_trusted_hops is 0), internal.
// Internal addresses are Envoy's defaults without internal_address_config: RFC 1918 (10/8,
// 172.16/12, 192.168/16), loopback (127/8, ::1) and IPv6 unique local addresses (fd00::/8).
import net from 'node:net';
import { trimOws } from '../../../../http/whitespace.ts';

export function isInternalAddress(ip: string): boolean {
  const family = net.isIP(ip);
  if (family === 4) {
    const [a, b] = ip.split('.', 2).map(Number);
    return a === 10 || a === 127 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168);
  }
  if (family === 6) {
    const lower = ip.toLowerCase();
    if (lower === '::1' || lower === '0:0:0:0:0:0:0:1') return true;
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
    if (mapped !== null) return isInternalAddress(mapped[1]);
    return /^fd[0-9a-f]{2}:/.test(lower);
  }
  return false;
}

/** `xff`: the request's x-forwarded-for as it arrived (undefined: none); `peerIp`: the
 *  connection's peer. */
export function isInternalRequest(xff: string | undefined, peerIp: string, useRemoteAddress: boolean, hops: number): boolean {
  if (useRemoteAddress) return xff === undefined && isInternalAddress(peerIp);
  if (xff === undefined || hops !== 0 || xff.includes(',')) return false;
  return isInternalAddress(trimOws(xff));
}
