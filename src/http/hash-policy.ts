// A route's hash_policy (Envoy's RouteAction.HashPolicy, source/common/http/hash_policy.cc): the
// 64-bit key a consistent-hashing load balancer (ring hash, Maglev) places the request by.
//
// Design note. The policy list is compiled in main into plain data (HashMethodSnap, names
// lowercased and in the byte form they are compared in); a request pays for it only when its load
// balancer asks (the router's computeHashKey, at most once), and a route without a policy is a
// `null` check. Each method yields a 64-bit hash or none, in order:
// - header: the header's values (all of them, sorted so that their order does not matter), hashed
//   one after the other with each hash the seed of the next (Envoy's HashUtil::xxHash64 of a span);
// - cookie: the value of the named cookie; with a ttl and no such cookie, a generated value that the
//   response sets with Set-Cookie (the router's addDownstreamSetCookie);
// - connection_properties.source_ip: the stream's downstream remote address, the one x-forwarded-for
//   and xff_num_trusted_hops may have given (Envoy reads StreamInfo's, which the connection manager
//   sets to that address), without its port;
// - query_parameter: the first value of the parameter in :path's query, undecoded.
// They combine as Envoy's generateHash does: hash = rotl(hash, 1) ^ new, and a terminal method stops
// the list once a hash exists (produced by it or by one before it).
//
// Bytes: header values are latin1 strings here (one char per byte off the wire), so the bytes Envoy
// hashes and compares are the strings' latin1 bytes. Names and texts from the config are UTF-8 in
// Envoy; they are turned into their latin1 form once, at config time (wireText).
import { Buffer } from 'node:buffer';
import { xxHash64 } from '../common/xxhash64.ts';
import type { RequestHeaders } from './types.ts';

export const HashMethodKind = { Header: 0, Cookie: 1, SourceIp: 2, QueryParameter: 3 } as const;
export type HashMethodKind = (typeof HashMethodKind)[keyof typeof HashMethodKind];

/** One hash method, compiled (one shape for every kind). */
export interface HashMethodSnap {
  kind: HashMethodKind;
  terminal: boolean;
  /** The header name (lowercase), the cookie name or the query parameter name, in latin1 form;
   *  '' for source_ip. */
  name: string;
  /** Cookie: ttl was set, so a request without the cookie gets one generated. */
  generate: boolean;
  /** Cookie with a ttl: what follows `name="value"` in the Set-Cookie header (Max-Age, Path, the
   *  attributes, HttpOnly), in latin1 form; '' otherwise. */
  setCookieAttributes: string;
}

/** Null on a route without hash_policy (or whose policies are all no-ops). */
export type HashPolicySnap = readonly HashMethodSnap[];

/** What a cookie method needs from its caller (the router): a value to hash for a request without
 *  the cookie, set on the response. Envoy's AddCookieCallback. */
export interface HashPolicyCallbacks {
  /** Returns the generated value ('' : none, then the method yields no hash). */
  addDownstreamSetCookie(method: HashMethodSnap): string;
}

const M64 = (1n << 64n) - 1n;

/** A config string in the form the data path compares and writes: its UTF-8 bytes, one char per
 *  byte. */
export function wireText(s: string): string {
  return /[^\x00-\x7f]/.test(s) ? Buffer.from(s, 'utf8').toString('latin1') : s;
}

/** xxHash64 of a latin1 string's bytes (see the design note). */
export function hashText(s: string, seed = 0n): bigint {
  return xxHash64(Buffer.from(s, 'latin1'), seed);
}

/** Envoy's HashUtil::xxHash64 of several strings: each one's hash seeds the next (no strings: the
 *  seed). */
export function hashTexts(values: readonly string[], seed = 0n): bigint {
  for (let i = 0; i < values.length; i++) seed = hashText(values[i], seed);
  return seed;
}

/** The request's hash under `policy`, or null when no method yielded one (Envoy's
 *  HashPolicyImpl::generateHash). `downstreamRemoteAddress` is "ip:port" or "[ip]:port" ('' when
 *  unknown). */
export function generateHash(policy: HashPolicySnap, headers: RequestHeaders, downstreamRemoteAddress: string,
  cb: HashPolicyCallbacks | null): bigint | null {
  let hash: bigint | null = null;
  for (let i = 0; i < policy.length; i++) {
    const m = policy[i];
    let h: bigint | null;
    switch (m.kind) {
      case HashMethodKind.Header: h = headerHash(m.name, headers); break;
      case HashMethodKind.Cookie: h = cookieHash(m, headers, cb); break;
      case HashMethodKind.SourceIp: h = sourceIpHash(downstreamRemoteAddress); break;
      default: h = queryParameterHash(m.name, headers.path);
    }
    if (h !== null) {
      // Rotating the old value keeps two equal methods from cancelling each other out (Envoy).
      hash = hash === null ? h : ((((hash << 1n) | (hash >> 63n)) & M64) ^ h);
    }
    if (m.terminal && hash !== null) break;
  }
  return hash;
}

function headerHash(name: string, headers: RequestHeaders): bigint | null {
  if (name.charCodeAt(0) === 58 /* ':' */) {
    // Pseudo-headers live in their own fields.
    const v = name === ':path' ? headers.path : name === ':authority' ? headers.authority
      : name === ':method' ? headers.method : name === ':scheme' ? headers.scheme : undefined;
    return v === undefined ? null : hashText(v);
  }
  const list = headers.headers;
  const n = name.length;
  let first: string | undefined;
  let more: string[] | null = null;
  for (let i = 0; i < list.length; i += 2) {
    const k = list[i];
    if (k.length !== n || k !== name) continue;
    if (first === undefined) first = list[i + 1];
    else (more ??= [first]).push(list[i + 1]);
  }
  if (first === undefined) return null;
  if (more === null) return hashText(first);
  // Envoy sorts the values (bytewise; latin1 strings compare as their bytes do) so that their
  // order does not change the hash.
  more.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return hashTexts(more);
}

function cookieHash(m: HashMethodSnap, headers: RequestHeaders, cb: HashPolicyCallbacks | null): bigint | null {
  const v = parseCookieValue(headers, m.name);
  if (v !== '') return hashText(v);
  if (!m.generate || cb === null) return null;
  const generated = cb.addDownstreamSetCookie(m);
  return generated === '' ? null : hashText(generated);
}

function sourceIpHash(address: string): bigint | null {
  const ip = ipOf(address);
  return ip === '' ? null : hashText(ip);
}

function queryParameterHash(name: string, path: string): bigint | null {
  const v = queryParameterValue(path, name);
  return v === null ? null : hashText(v);
}

/** The IP of "ip:port" / "[ip]:port" (Envoy's addressAsString: IPv6 without brackets). */
export function ipOf(address: string): string {
  if (address.charCodeAt(0) === 91 /* '[' */) {
    const end = address.indexOf(']');
    return end < 0 ? '' : address.slice(1, end);
  }
  const colon = address.lastIndexOf(':');
  return colon < 0 ? address : address.slice(0, colon);
}

/**
 * The value of cookie `name` in the request's Cookie headers ('' when absent), as Envoy's
 * Utility::parseCookieValue reads it: every cookie header in order, split at ';' (empty pieces
 * skipped), a piece without '=' skipped, the name from the first non-space to the first '=', the
 * value the rest of the piece, one pair of surrounding double quotes removed (RFC 6265 4.1.1). The
 * first cookie of that name wins.
 */
export function parseCookieValue(headers: RequestHeaders, name: string): string {
  const list = headers.headers;
  for (let i = 0; i < list.length; i += 2) {
    const k = list[i];
    if (k.length !== 6 || k !== 'cookie') continue;
    const v = cookieIn(list[i + 1], name);
    if (v !== null) return v;
  }
  return '';
}

function cookieIn(header: string, name: string): string | null {
  let start = 0;
  const len = header.length;
  while (start < len) {
    let end = header.indexOf(';', start);
    if (end < 0) end = len;
    if (end > start) {
      const eq = header.indexOf('=', start);
      if (eq >= 0 && eq < end) {
        let k = start;
        while (k < eq && header.charCodeAt(k) === 32) k++;
        if (eq - k === name.length && header.startsWith(name, k)) {
          let vs = eq + 1;
          let ve = end;
          if (ve - vs >= 2 && header.charCodeAt(vs) === 34 && header.charCodeAt(ve - 1) === 34) {
            vs++;
            ve--;
          }
          return header.slice(vs, ve);
        }
      }
    }
    start = end + 1;
  }
  return null;
}

/**
 * The first value of query parameter `name` in `path` (null when absent), as Envoy's
 * QueryParamsMulti::parseQueryString and getFirstValue: the query starts after the first '?',
 * parameters are split at '&', a parameter's name is what precedes its first '=' (all of it when
 * it has none: its value is then ''), nothing is percent-decoded, names compare exactly.
 */
export function queryParameterValue(path: string, name: string): string | null {
  const q = path.indexOf('?');
  if (q < 0) return null;
  const len = path.length;
  const n = name.length;
  let start = q + 1;
  while (start < len) {
    let end = path.indexOf('&', start);
    if (end < 0) end = len;
    const eq = path.indexOf('=', start);
    if (eq >= 0 && eq < end) {
      if (eq - start === n && path.startsWith(name, start)) return path.slice(eq + 1, end);
    } else if (end - start === n && path.startsWith(name, start)) {
      return '';
    }
    start = end + 1;
  }
  return null;
}

/** A cookie attribute from the config (HashPolicy.CookieAttribute). */
export interface CookieAttribute { name: string; value: string }

/** What follows `name="value"` in a Set-Cookie header (Envoy's Utility::makeSetCookieValue):
 *  Max-Age unless 0, Path unless empty, the attributes (`name` alone when its value is empty),
 *  then HttpOnly. */
export function setCookieAttributes(path: string, maxAgeSeconds: number, httpOnly: boolean,
  attributes: readonly CookieAttribute[]): string {
  let s = '';
  if (maxAgeSeconds !== 0) s += `; Max-Age=${maxAgeSeconds}`;
  if (path !== '') s += `; Path=${path}`;
  for (const a of attributes) s += a.value === '' ? `; ${a.name}` : `; ${a.name}=${a.value}`;
  if (httpOnly) s += '; HttpOnly';
  return s;
}

/** A whole Set-Cookie value (Envoy's Utility::makeSetCookieValue): the value is always quoted. */
export function makeSetCookieValue(name: string, value: string, path: string, maxAgeSeconds: number,
  httpOnly: boolean, attributes: readonly CookieAttribute[]): string {
  return `${name}="${value}"${setCookieAttributes(path, maxAgeSeconds, httpOnly, attributes)}`;
}

/** The value Envoy's router generates for a hash cookie (addDownstreamSetCookie): the hash of the
 *  downstream connection's remote and local addresses ("ip:port" each, joined), as 16 lowercase hex
 *  digits. The same on every stream of a connection, so streams racing on one connection agree. */
export function generatedCookieValue(remoteAddress: string, localAddress: string): string {
  return hashText(remoteAddress + localAddress).toString(16).padStart(16, '0');
}
