// What a user filter sees of a header map (legate/filter HeaderMap, RequestHeaders, ResponseHeaders):
// a thin view over the stream's own map that lowercases names (Legate's maps hold them lowercase
// and compare exactly) and refuses what would break the message on the wire: a name that is not a
// token, a value with CR, LF or NUL (RFC 9110 5.5), and the hop-by-hop headers the codec derives.
// A view is made when a user method first gets the map, one per map per stream.
import type { HeaderMap, RequestHeaders, ResponseHeaders } from '../../../../http/types.ts';
import type * as api from '../../../../api/filter.js';

// RFC 9110 5.1: a field name is a token.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;
const BAD_VALUE = /[\r\n\0]/;
// Framing and connection management: the codec writes these itself.
const HOP_BY_HOP = new Set(['connection', 'transfer-encoding', 'keep-alive', 'proxy-connection', 'upgrade']);
const DIGITS = /^[0-9]{1,15}$/;

function checkName(name: string): void {
  if (!TOKEN.test(name)) throw new TypeError(`invalid header name "${name}"`);
  if (HOP_BY_HOP.has(name)) throw new TypeError(`header "${name}" is the codec's: filters cannot set it`);
}

function checkValue(name: string, value: unknown): string {
  if (typeof value !== 'string') throw new TypeError(`header "${name}": the value must be a string, got ${typeof value}`);
  if (BAD_VALUE.test(value)) throw new TypeError(`header "${name}": the value contains CR, LF or NUL`);
  if (name === 'content-length' && !DIGITS.test(value)) throw new TypeError(`content-length must be digits, got "${value}"`);
  return value;
}

/** A header a user adds elsewhere (a local reply's): its lowercase name, checked as set() checks. */
export function checkedHeader(name: string, value: string): string {
  const n = String(name).toLowerCase();
  checkName(n);
  checkValue(n, value);
  return n;
}

export class HeaderView implements api.HeaderMap {
  readonly map: HeaderMap;
  constructor(map: HeaderMap) {
    this.map = map;
  }
  /** A pseudo-header's value (request or response views), undefined for others. */
  pseudoGet(_name: string): string | undefined { return undefined; }
  /** Set a pseudo-header: true when `name` is one. */
  pseudoSet(_name: string, _value: string): boolean { return false; }
  get(name: string): string | undefined {
    const n = String(name).toLowerCase();
    if (n.charCodeAt(0) === 58 /* : */ || n === 'host') return this.pseudoGet(n);
    return this.map.get(n);
  }
  getAll(name: string): string[] {
    const n = String(name).toLowerCase();
    const p = this.get(n);
    if (n.charCodeAt(0) === 58 || n === 'host') return p === undefined ? [] : [p];
    if (p === undefined) return [];
    const out: string[] = [];
    const h = this.map.headers;
    for (let i = 0; i < h.length; i += 2) if (h[i] === n) out.push(h[i + 1]);
    return out;
  }
  has(name: string): boolean {
    return this.get(name) !== undefined;
  }
  set(name: string, value: string): void {
    const n = String(name).toLowerCase();
    if (this.pseudoSet(n, value)) return;
    checkName(n);
    this.map.set(n, checkValue(n, value));
  }
  add(name: string, value: string): void {
    const n = String(name).toLowerCase();
    checkName(n);
    if (n === 'content-length' && this.map.get(n) !== undefined) throw new TypeError('a second content-length');
    this.map.add(n, checkValue(n, value));
  }
  remove(name: string): void {
    const n = String(name).toLowerCase();
    if (n.charCodeAt(0) === 58 || n === 'host') throw new TypeError(`"${name}" cannot be removed`);
    this.map.remove(n);
  }
  forEach(fn: (value: string, name: string) => void): void {
    const h = this.map.headers;
    for (let i = 0; i < h.length; i += 2) fn(h[i + 1], h[i]);
  }
}

export class RequestHeaderView extends HeaderView implements api.RequestHeaders {
  declare readonly map: RequestHeaders;
  get method(): string { return this.map.method; }
  set method(v: string) { this.pseudoSet(':method', v); }
  get path(): string { return this.map.path; }
  set path(v: string) { this.pseudoSet(':path', v); }
  get authority(): string { return this.map.authority; }
  set authority(v: string) { this.pseudoSet(':authority', v); }
  get scheme(): string { return this.map.scheme; }
  get protocol(): string { return this.map.protocol; }
  override pseudoGet(name: string): string | undefined {
    switch (name) {
      case ':method': return this.map.method;
      case ':path': return this.map.path;
      case ':authority': case 'host': return this.map.authority;
      case ':scheme': return this.map.scheme;
      default: return undefined;
    }
  }
  override pseudoSet(name: string, value: string): boolean {
    switch (name) {
      case ':method':
        if (!TOKEN.test(String(value).toLowerCase())) throw new TypeError(`invalid method "${value}"`);
        this.map.method = value;
        return true;
      case ':path':
        // RFC 9112 3.2: origin-form, no whitespace or controls.
        if (typeof value !== 'string' || value[0] !== '/' || /[\x00-\x20\x7f]/.test(value)) {
          throw new TypeError(`invalid path "${value}"`);
        }
        this.map.path = value;
        return true;
      case ':authority': case 'host':
        if (typeof value !== 'string' || value === '' || /[\x00-\x20\x7f/?#@]/.test(value)) {
          throw new TypeError(`invalid authority "${value}"`);
        }
        this.map.authority = value;
        return true;
      case ':scheme':
        throw new TypeError(':scheme cannot be set');
      default:
        if (name.charCodeAt(0) === 58) throw new TypeError(`unknown pseudo-header "${name}"`);
        return false;
    }
  }
}

export class ResponseHeaderView extends HeaderView implements api.ResponseHeaders {
  declare readonly map: ResponseHeaders;
  get status(): number { return this.map.status; }
  set status(v: number) { this.pseudoSet(':status', String(v)); }
  override pseudoGet(name: string): string | undefined {
    return name === ':status' ? String(this.map.status) : undefined;
  }
  override pseudoSet(name: string, value: string): boolean {
    if (name !== ':status') {
      if (name.charCodeAt(0) === 58) throw new TypeError(`unknown pseudo-header "${name}"`);
      return false;
    }
    const n = Number(value);
    if (!Number.isInteger(n) || n < 200 || n > 999) throw new TypeError(`invalid status ${value}`);
    this.map.status = n;
    return true;
  }
}
