// Number and name rendering shared by the admin handlers, matching the C++ formatting Envoy uses
// (fmt's `{}` for doubles, printf's `%.32g` for Prometheus sums), plus query-parameter helpers.
import { compileRegex, type CompiledRegex } from '../common/regex.ts';
import type { AdminRequest, AdminResponse } from './types.ts';

/** fmt::format("{}", double): shortest round-trip digits, "nan"/"inf", exponent outside
 *  [1e-4, 1e16) written as 1e+16 / 1.5e-05. */
export function fmtDouble(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (x === Infinity) return 'inf';
  if (x === -Infinity) return '-inf';
  const a = Math.abs(x);
  if (a !== 0 && (a >= 1e16 || a < 1e-4)) return padExponent(x.toExponential());
  return String(x);
}

/** A counter or gauge value: an integer as Envoy's uint64 (fractions only if someone added them). */
export function fmtValue(x: number): string {
  return Number.isInteger(x) && Math.abs(x) < 1e21 ? String(x) : fmtDouble(x);
}

/** printf("%.32g"), as Envoy's Prometheus `_sum` (and `le` bounds, `{:.32g}`). */
export function fmtG32(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0' : '0';
  const P = 32;
  const exp = Number(x.toExponential(P - 1).split('e')[1]);
  if (exp < -4 || exp >= P) {
    const [mant, e] = x.toExponential(P - 1).split('e');
    return padExponent(`${stripZeros(mant)}e${e}`);
  }
  if (exp >= 21) return BigInt(x).toString(); // toFixed() switches to exponent form from 1e21
  return stripZeros(x.toFixed(P - 1 - exp));
}

function stripZeros(s: string): string {
  if (!s.includes('.')) return s;
  return s.replace(/0+$/, '').replace(/\.$/, '');
}

function padExponent(s: string): string {
  return s.replace(/e([+-])(\d)$/, 'e$10$2');
}

/** Envoy treats `?usedonly` and `?usedonly=true` alike: present means on. */
export function flag(req: AdminRequest, name: string): boolean {
  const v = req.query.get(name);
  return v !== null && v !== 'false' && v !== '0';
}

/** `?filter=` compiled as RE2 (Envoy's engine: linear-time matching, so no pattern can hold the
 *  main thread), or a 400 naming what RE2 refuses. */
export function filterParam(req: AdminRequest): CompiledRegex | null | AdminResponse {
  const src = req.query.get('filter');
  if (src === null || src === '') return null;
  try {
    return compileRegex(src);
  } catch (err) {
    return { status: 400, body: `Invalid re2 regex: ${(err as Error).message}\n` };
  }
}

export function isResponse(x: unknown): x is AdminResponse {
  return typeof x === 'object' && x !== null && 'status' in x && 'body' in x;
}

/** Envoy's Address::asString(): IPv6 in brackets. */
export function addressString(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/** Protobuf's pretty JSON printer (MessageUtil::getJsonStringFromMessage) indents by one space
 *  and ends with a newline. */
export function prettyJson(x: unknown): string {
  return `${JSON.stringify(x, null, 1)}\n`;
}
