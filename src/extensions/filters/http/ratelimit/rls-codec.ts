// envoy.service.ratelimit.v3 messages on the wire (envoy/service/ratelimit/v3/rls.proto), written and
// read with common/proto-wire.ts (as ext_authz's): the request is three fields of strings and the
// answer a handful of scalars, so a schema-driven codec (protobufjs loading rls.proto and its imports
// in every worker) would cost a worker's start more than the whole call path. A field is read only
// with the wire type its proto gives it (any other is skipped). The gRPC framing is
// common/grpc-unary.ts's. test/extensions/filters/http/ratelimit.test.ts checks both directions
// against protobufjs with the real proto.
import type { Buffer } from 'node:buffer';
import { ProtoWriter, Wire, protoFields } from '../../../../common/proto-wire.ts';

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

/** RateLimitRequest { domain, descriptors, hits_addend }. A descriptor is [key, value, key, value, ...]. */
export function encodeRequest(domain: string, descriptors: readonly (readonly string[])[], hitsAddend: number): Buffer {
  const w = new ProtoWriter().string(1, domain);
  for (const desc of descriptors) {
    const d = new ProtoWriter();
    for (let i = 0; i < desc.length; i += 2) d.message(1, new ProtoWriter().string(1, desc[i]).string(2, desc[i + 1]));
    w.message(2, d);
  }
  if (hitsAddend > 0) w.varint(3, hitsAddend);
  return w.finish();
}

/** A HeaderValueOption's header, lowercased name then value, onto `out`. */
function headerValue(b: Buffer, out: string[]): void {
  let key = '';
  let value = '';
  for (const f of protoFields(b)) {
    if (f.wire !== Wire.Len) continue;
    if (f.field === 1) key = f.bytes.toString('utf8');
    // value (2) and raw_value (3, bytes: Envoy prefers it when set).
    else if (f.field === 2 || f.field === 3) value = f.bytes.toString('utf8');
  }
  out.push(key.toLowerCase(), value);
}

function rateLimit(b: Buffer): NonNullable<DescriptorStatus['limit']> {
  const out = { name: '', requestsPerUnit: 0, unit: 0 };
  for (const f of protoFields(b)) {
    if (f.field === 1 && f.wire === Wire.Varint) out.requestsPerUnit = f.varint;
    else if (f.field === 2 && f.wire === Wire.Varint) out.unit = f.varint;
    else if (f.field === 3 && f.wire === Wire.Len) out.name = f.bytes.toString('utf8');
  }
  return out;
}

/** A Duration's seconds. */
function durationSeconds(b: Buffer): number {
  let s = 0;
  for (const f of protoFields(b)) if (f.field === 1 && f.wire === Wire.Varint) s = f.varint;
  return s;
}

function descriptorStatus(b: Buffer): DescriptorStatus {
  const out: DescriptorStatus = { code: 0, limit: null, limitRemaining: 0, resetSeconds: 0 };
  for (const f of protoFields(b)) {
    if (f.field === 1 && f.wire === Wire.Varint) out.code = f.varint;
    else if (f.field === 2 && f.wire === Wire.Len) out.limit = rateLimit(f.bytes);
    else if (f.field === 3 && f.wire === Wire.Varint) out.limitRemaining = f.varint;
    else if (f.field === 4 && f.wire === Wire.Len) out.resetSeconds = durationSeconds(f.bytes);
  }
  return out;
}

/** A RateLimitResponse; throws ProtoError on a malformed one. */
export function decodeResponse(msg: Buffer): RlsResponse {
  const out: RlsResponse = { overallCode: 0, statuses: [], responseHeadersToAdd: [], requestHeadersToAdd: [], rawBody: '' };
  for (const f of protoFields(msg)) {
    if (f.field === 1 && f.wire === Wire.Varint) out.overallCode = f.varint;
    else if (f.field === 2 && f.wire === Wire.Len) out.statuses.push(descriptorStatus(f.bytes));
    else if (f.field === 3 && f.wire === Wire.Len) headerValue(f.bytes, out.responseHeadersToAdd);
    else if (f.field === 4 && f.wire === Wire.Len) headerValue(f.bytes, out.requestHeadersToAdd);
    else if (f.field === 5 && f.wire === Wire.Len) out.rawBody = f.bytes.toString('utf8');
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
