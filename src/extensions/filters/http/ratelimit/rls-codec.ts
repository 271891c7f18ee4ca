// envoy.service.ratelimit.v3 messages on the wire (envoy/service/ratelimit/v3/rls.proto), written and
// read by hand: the request is three fields of strings and the answer a handful of scalars, so a
// schema-driven codec (protobufjs loading rls.proto and its imports in every worker) would cost a
// worker's start more than the whole call path. test/extensions/filters/http/ratelimit.test.ts checks
// both directions against protobufjs with the real proto.
import { Buffer } from 'node:buffer';

/** RateLimitResponse.Code. */
export const RlsCode = { Unknown: 0, Ok: 1, OverLimit: 2 } as const;

/** RateLimitResponse.RateLimit.Unit -> seconds (Envoy's XRateLimitHeaderUtils window). */
const UNIT_SECONDS = [0, 1, 60, 3600, 86400, 86400 * 30, 86400 * 365];

export interface DescriptorStatus {
  code: number;
  /** current_limit (null: none). */
  limit: { name: string; requestsPerUnit: number; unit: number } | null;
  limitRemaining: number;
  /** duration_until_reset, whole seconds. */
  resetSeconds: number;
}

export interface RlsResponse {
  overallCode: number;
  statuses: DescriptorStatus[];
  /** [name, value, ...] */
  responseHeadersToAdd: string[];
  requestHeadersToAdd: string[];
  rawBody: string;
}

// ---- writing ---------------------------------------------------------------------------------

function varintLength(n: number): number {
  let len = 1;
  while (n > 0x7f) {
    n = Math.floor(n / 128);
    len++;
  }
  return len;
}

class Writer {
  readonly buf: Buffer;
  pos: number;
  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
    this.pos = 0;
  }
  varint(n: number): void {
    while (n > 0x7f) {
      this.buf[this.pos++] = (n & 0x7f) | 0x80;
      n = Math.floor(n / 128);
    }
    this.buf[this.pos++] = n;
  }
  bytes(field: number, b: Buffer): void {
    this.varint((field << 3) | 2);
    this.varint(b.length);
    b.copy(this.buf, this.pos);
    this.pos += b.length;
  }
}

function lenField(payload: number): number {
  return 1 + varintLength(payload) + payload;
}

/** A gRPC length-prefixed frame holding RateLimitRequest { domain, descriptors, hits_addend }.
 *  A descriptor is [key, value, key, value, ...]. */
export function encodeRequest(domain: string, descriptors: readonly (readonly string[])[], hitsAddend: number): Buffer {
  const d = Buffer.from(domain, 'utf8');
  // Sizes first (protobuf lengths precede their contents).
  const encoded: Buffer[][] = [];
  const entrySizes: number[][] = [];
  const descSizes: number[] = [];
  let total = d.length > 0 ? lenField(d.length) : 0;
  for (const desc of descriptors) {
    const parts: Buffer[] = [];
    const sizes: number[] = [];
    let size = 0;
    for (let i = 0; i < desc.length; i += 2) {
      const k = Buffer.from(desc[i], 'utf8');
      const v = Buffer.from(desc[i + 1], 'utf8');
      parts.push(k, v);
      const e = (k.length > 0 ? lenField(k.length) : 0) + (v.length > 0 ? lenField(v.length) : 0);
      sizes.push(e);
      size += lenField(e);
    }
    encoded.push(parts);
    entrySizes.push(sizes);
    descSizes.push(size);
    total += lenField(size);
  }
  if (hitsAddend > 0) total += 1 + varintLength(hitsAddend);
  const w = new Writer(5 + total);
  w.buf[0] = 0;
  w.buf.writeUInt32BE(total, 1);
  w.pos = 5;
  if (d.length > 0) w.bytes(1, d);
  for (let i = 0; i < encoded.length; i++) {
    w.varint((2 << 3) | 2);
    w.varint(descSizes[i]);
    const parts = encoded[i];
    for (let j = 0; j < parts.length; j += 2) {
      w.varint((1 << 3) | 2);
      w.varint(entrySizes[i][j / 2]);
      if (parts[j].length > 0) w.bytes(1, parts[j]);
      if (parts[j + 1].length > 0) w.bytes(2, parts[j + 1]);
    }
  }
  if (hitsAddend > 0) {
    w.varint(3 << 3);
    w.varint(hitsAddend);
  }
  return w.buf;
}

// ---- reading ---------------------------------------------------------------------------------

class Reader {
  readonly b: Buffer;
  pos: number;
  readonly end: number;
  constructor(b: Buffer, start = 0, end = b.length) {
    this.b = b;
    this.pos = start;
    this.end = end;
  }
  varint(): number {
    let v = 0;
    let mul = 1;
    for (;;) {
      if (this.pos >= this.end) throw new Error('truncated varint');
      const byte = this.b[this.pos++];
      v += (byte & 0x7f) * mul;
      if ((byte & 0x80) === 0) return v;
      mul *= 128;
      if (mul > 2 ** 70) throw new Error('varint too long');
    }
  }
  /** A length-delimited field's [start, end). */
  sub(): Reader {
    const len = this.varint();
    const start = this.pos;
    if (start + len > this.end) throw new Error('truncated field');
    this.pos = start + len;
    return new Reader(this.b, start, start + len);
  }
  string(): string {
    const r = this.sub();
    return this.b.toString('utf8', r.pos, r.end);
  }
  skip(wire: number): void {
    switch (wire) {
      case 0: this.varint(); break;
      case 1: this.pos += 8; break;
      case 2: this.sub(); break;
      case 5: this.pos += 4; break;
      default: throw new Error(`unsupported wire type ${wire}`);
    }
    if (this.pos > this.end) throw new Error('truncated field');
  }
}

function headerValue(r: Reader, out: string[]): void {
  let key = '';
  let value = '';
  while (r.pos < r.end) {
    const tag = r.varint();
    const f = tag >>> 3;
    if (f === 1 && (tag & 7) === 2) key = r.string();
    // value (2) and raw_value (3, bytes: Envoy prefers it when set).
    else if ((f === 2 || f === 3) && (tag & 7) === 2) value = r.string();
    else r.skip(tag & 7);
  }
  out.push(key.toLowerCase(), value);
}

function rateLimit(r: Reader): NonNullable<DescriptorStatus['limit']> {
  const out = { name: '', requestsPerUnit: 0, unit: 0 };
  while (r.pos < r.end) {
    const tag = r.varint();
    const f = tag >>> 3;
    if (f === 1 && (tag & 7) === 0) out.requestsPerUnit = r.varint();
    else if (f === 2 && (tag & 7) === 0) out.unit = r.varint();
    else if (f === 3 && (tag & 7) === 2) out.name = r.string();
    else r.skip(tag & 7);
  }
  return out;
}

function durationSeconds(r: Reader): number {
  let s = 0;
  while (r.pos < r.end) {
    const tag = r.varint();
    if (tag === 0x08) s = r.varint();
    else r.skip(tag & 7);
  }
  return s;
}

function descriptorStatus(r: Reader): DescriptorStatus {
  const out: DescriptorStatus = { code: 0, limit: null, limitRemaining: 0, resetSeconds: 0 };
  while (r.pos < r.end) {
    const tag = r.varint();
    const f = tag >>> 3;
    if (f === 1 && (tag & 7) === 0) out.code = r.varint();
    else if (f === 2 && (tag & 7) === 2) out.limit = rateLimit(r.sub());
    else if (f === 3 && (tag & 7) === 0) out.limitRemaining = r.varint();
    else if (f === 4 && (tag & 7) === 2) out.resetSeconds = durationSeconds(r.sub());
    else r.skip(tag & 7);
  }
  return out;
}

/** A RateLimitResponse from the body of a unary gRPC answer (one length-prefixed, uncompressed
 *  message); throws on a malformed one. */
export function decodeResponse(body: Buffer): RlsResponse {
  if (body.length < 5) throw new Error('no gRPC message');
  if (body[0] !== 0) throw new Error('compressed gRPC message');
  const len = body.readUInt32BE(1);
  if (5 + len > body.length) throw new Error('truncated gRPC message');
  const r = new Reader(body, 5, 5 + len);
  const out: RlsResponse = { overallCode: 0, statuses: [], responseHeadersToAdd: [], requestHeadersToAdd: [], rawBody: '' };
  while (r.pos < r.end) {
    const tag = r.varint();
    const f = tag >>> 3;
    if (f === 1 && (tag & 7) === 0) out.overallCode = r.varint();
    else if (f === 2 && (tag & 7) === 2) out.statuses.push(descriptorStatus(r.sub()));
    else if (f === 3 && (tag & 7) === 2) headerValue(r.sub(), out.responseHeadersToAdd);
    else if (f === 4 && (tag & 7) === 2) headerValue(r.sub(), out.requestHeadersToAdd);
    else if (f === 5 && (tag & 7) === 2) out.rawBody = r.string();
    else r.skip(tag & 7);
  }
  return out;
}

/** The x-ratelimit-* values of a response's statuses (Envoy's XRateLimitHeaderUtils::create,
 *  DRAFT_VERSION_03): the status with the fewest remaining requests gives the limit, remaining and
 *  reset; every status with a limit adds its quota policy `N;w=S[;name="..."]`. Null when no
 *  status has a limit. */
export function xRateLimitHeaders(statuses: readonly DescriptorStatus[]): [string, string, string] | null {
  let min: DescriptorStatus | null = null;
  let policies = '';
  for (const s of statuses) {
    if (s.limit === null) continue;
    if (min === null || s.limitRemaining < min.limitRemaining) min = s;
    const w = UNIT_SECONDS[s.limit.unit] ?? 0;
    policies += `, ${s.limit.requestsPerUnit};w=${w}${s.limit.name === '' ? '' : `;name="${s.limit.name}"`}`;
  }
  if (min === null) return null;
  return [`${min.limit!.requestsPerUnit}${policies}`, String(min.limitRemaining), String(min.resetSeconds)];
}
