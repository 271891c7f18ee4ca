// protoc-gen-validate rules, read from the `(validate.rules)` field options protobufjs parses out of
// Envoy's protos, checked against normalized values. Messages follow PGV's C++ wording ("value length
// must be at least 1 characters") with the bad value appended. Covered: string (len, bytes, pattern,
// prefix/suffix/contains, in/not_in, well-known HTTP header regexes, ip/hostname), every numeric type
// (const/lt/lte/gt/gte/in/not_in), bool.const, bytes lengths, enum (defined_only/const/in/not_in),
// message.required, duration and any rules, repeated (min/max_items, unique, items) and map
// (min/max_pairs, keys, values). Timestamp rules and RE2-only regex syntax are not checked.
import net from 'node:net';
import { durationNanos, formatDuration } from './duration.ts';
import type { Duration } from './types.ts';
import { isEnum, type PbEnum, type PbField, type PbOneOf } from './protos.ts';

export type Rules = Record<string, any>;

const RULES_KEY = '(validate.rules)';
const NUMERIC = new Set([
  'float', 'double', 'int32', 'int64', 'uint32', 'uint64', 'sint32', 'sint64', 'fixed32', 'fixed64', 'sfixed32',
  'sfixed64',
]);

const rulesCache = new WeakMap<PbField, Rules | null>();

function mergeInto(dst: Rules, src: Rules): void {
  for (const [k, v] of Object.entries(src)) {
    if (v !== null && typeof v === 'object' && !Array.isArray(v) && typeof dst[k] === 'object' && dst[k] !== null) {
      mergeInto(dst[k], v);
    } else {
      dst[k] = v;
    }
  }
}

/** The field's `(validate.rules)`, merged from every option statement; null when it has none. */
export function fieldRules(f: PbField): Rules | null {
  let r = rulesCache.get(f);
  if (r !== undefined) return r;
  r = null;
  for (const opt of (f as { parsedOptions?: Rules[] | null }).parsedOptions ?? []) {
    const v = opt[RULES_KEY];
    if (v !== undefined && v !== null && typeof v === 'object') {
      r ??= {};
      mergeInto(r, v);
    }
  }
  rulesCache.set(f, r);
  return r;
}

/** `option (validate.required) = true` on a oneof. */
export function oneofRequired(o: PbOneOf): boolean {
  for (const opt of (o as { parsedOptions?: Rules[] | null }).parsedOptions ?? []) {
    if (opt['(validate.required)'] === true) return true;
  }
  return o.options?.['(validate.required)'] === true;
}

/** How a bad value is shown in a message: strings quoted, durations in their JSON form. */
export function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (isDuration(v)) return JSON.stringify(formatDuration(v));
  if (v === undefined) return 'nothing';
  if (typeof v === 'object' && v !== null) return Array.isArray(v) ? 'array' : 'object';
  return String(v);
}

function isDuration(v: unknown): v is Duration {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
    && typeof (v as Duration).seconds === 'number' && typeof (v as Duration).nanos === 'number'
    && Object.keys(v).length === 2;
}

function toDuration(r: unknown): Duration {
  const d = (r ?? {}) as Partial<Duration>;
  return { seconds: Number(d.seconds ?? 0), nanos: Number(d.nanos ?? 0) };
}

function fmtList(xs: unknown[]): string {
  return `[${xs.map((x) => show(x)).join(', ')}]`;
}

// PGV's well-known regexes (validate.proto KnownRegex); "strict: false" only excludes NUL/CR/LF.
const HEADER_NAME_STRICT = /^:?[0-9a-zA-Z!#$%&'*+\-.^_|~`]+$/;
const HEADER_VALUE_STRICT = /^[^\u0000-\u0008\u000A-\u001F\u007F]*$/;
const HEADER_LOOSE = /^[^\u0000\u000A\u000D]*$/;
const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

const regexCache = new Map<string, RegExp | null>();
function compile(pattern: string): RegExp | null {
  let re = regexCache.get(pattern);
  if (re === undefined) {
    try {
      re = new RegExp(pattern, 'u');
    } catch {
      re = null; // RE2 syntax JS does not know: not checked
    }
    regexCache.set(pattern, re);
  }
  return re;
}

function stringRules(r: Rules, s: string, fail: (msg: string) => void): void {
  if (r.ignore_empty === true && s === '') return;
  const runes = [...s].length;
  const bytes = Buffer.byteLength(s);
  if (r.const !== undefined && s !== r.const) fail(`value must equal ${show(r.const)}`);
  if (r.len !== undefined && runes !== Number(r.len)) fail(`value length must be ${r.len} characters`);
  if (r.min_len !== undefined && runes < Number(r.min_len)) fail(`value length must be at least ${r.min_len} characters`);
  if (r.max_len !== undefined && runes > Number(r.max_len)) fail(`value length must be at most ${r.max_len} characters`);
  if (r.len_bytes !== undefined && bytes !== Number(r.len_bytes)) fail(`value length must be ${r.len_bytes} bytes`);
  if (r.min_bytes !== undefined && bytes < Number(r.min_bytes)) fail(`value length must be at least ${r.min_bytes} bytes`);
  if (r.max_bytes !== undefined && bytes > Number(r.max_bytes)) fail(`value length must be at most ${r.max_bytes} bytes`);
  if (typeof r.pattern === 'string') {
    const re = compile(r.pattern);
    if (re !== null && !re.test(s)) fail(`value does not match regex pattern ${JSON.stringify(r.pattern)}`);
  }
  if (typeof r.prefix === 'string' && !s.startsWith(r.prefix)) fail(`value does not have prefix ${JSON.stringify(r.prefix)}`);
  if (typeof r.suffix === 'string' && !s.endsWith(r.suffix)) fail(`value does not have suffix ${JSON.stringify(r.suffix)}`);
  if (typeof r.contains === 'string' && !s.includes(r.contains)) {
    fail(`value does not contain substring ${JSON.stringify(r.contains)}`);
  }
  if (typeof r.not_contains === 'string' && s.includes(r.not_contains)) {
    fail(`value contains substring ${JSON.stringify(r.not_contains)}`);
  }
  if (r.in !== undefined) {
    const list = ([] as unknown[]).concat(r.in);
    if (!list.includes(s)) fail(`value must be in list ${fmtList(list)}`);
  }
  if (r.not_in !== undefined) {
    const list = ([] as unknown[]).concat(r.not_in);
    if (list.includes(s)) fail(`value must not be in list ${fmtList(list)}`);
  }
  if (r.well_known_regex !== undefined) {
    const strict = r.strict !== false;
    if (r.well_known_regex === 'HTTP_HEADER_NAME' || r.well_known_regex === 1) {
      if (!(strict ? HEADER_NAME_STRICT : HEADER_LOOSE).test(s)) fail('value must be a valid HTTP header name');
    } else if (r.well_known_regex === 'HTTP_HEADER_VALUE' || r.well_known_regex === 2) {
      if (!(strict ? HEADER_VALUE_STRICT : HEADER_LOOSE).test(s)) fail('value must be a valid HTTP header value');
    }
  }
  if (r.ip === true && net.isIP(s) === 0) fail('value must be a valid IP address');
  if (r.ipv4 === true && !net.isIPv4(s)) fail('value must be a valid IPv4 address');
  if (r.ipv6 === true && !net.isIPv6(s)) fail('value must be a valid IPv6 address');
  if (r.hostname === true && !HOSTNAME.test(s)) fail('value must be a valid hostname');
  if (r.address === true && net.isIP(s) === 0 && !HOSTNAME.test(s)) fail('value must be a valid hostname, or ip address');
}

function numberRules(r: Rules, n: number, fail: (msg: string) => void): void {
  if (r.ignore_empty === true && n === 0) return;
  if (r.const !== undefined && n !== Number(r.const)) fail(`value must equal ${r.const}`);
  if (r.gt !== undefined && !(n > Number(r.gt))) fail(`value must be greater than ${r.gt}`);
  if (r.gte !== undefined && !(n >= Number(r.gte))) fail(`value must be greater than or equal to ${r.gte}`);
  if (r.lt !== undefined && !(n < Number(r.lt))) fail(`value must be less than ${r.lt}`);
  if (r.lte !== undefined && !(n <= Number(r.lte))) fail(`value must be less than or equal to ${r.lte}`);
  if (r.in !== undefined) {
    const list = ([] as unknown[]).concat(r.in).map(Number);
    if (!list.includes(n)) fail(`value must be in list ${fmtList(list)}`);
  }
  if (r.not_in !== undefined) {
    const list = ([] as unknown[]).concat(r.not_in).map(Number);
    if (list.includes(n)) fail(`value must not be in list ${fmtList(list)}`);
  }
}

function durationRules(r: Rules, d: Duration, fail: (msg: string) => void): void {
  const n = durationNanos(d);
  const cmp = (key: string): [bigint, string] => {
    const rd = toDuration(r[key]);
    return [durationNanos(rd), formatDuration(rd)];
  };
  if (r.const !== undefined) {
    const [c, s] = cmp('const');
    if (n !== c) fail(`value must equal ${s}`);
  }
  if (r.gt !== undefined) {
    const [c, s] = cmp('gt');
    if (!(n > c)) fail(`value must be greater than ${s}`);
  }
  if (r.gte !== undefined) {
    const [c, s] = cmp('gte');
    if (!(n >= c)) fail(`value must be greater than or equal to ${s}`);
  }
  if (r.lt !== undefined) {
    const [c, s] = cmp('lt');
    if (!(n < c)) fail(`value must be less than ${s}`);
  }
  if (r.lte !== undefined) {
    const [c, s] = cmp('lte');
    if (!(n <= c)) fail(`value must be less than or equal to ${s}`);
  }
}

function enumNumber(e: PbEnum, v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v === 'string') return e.values[v];
  return undefined;
}

function enumRules(r: Rules, e: PbEnum | null, v: unknown, fail: (msg: string) => void): void {
  if (e === null) return;
  const n = enumNumber(e, v);
  if (n === undefined) return;
  if (r.defined_only === true && e.valuesById[n] === undefined) fail('value must be one of the defined enum values');
  if (r.const !== undefined && n !== enumNumber(e, r.const)) fail(`value must equal ${r.const}`);
  if (r.in !== undefined) {
    const list = ([] as unknown[]).concat(r.in);
    if (!list.map((x) => enumNumber(e, x)).includes(n)) fail(`value must be in list ${fmtList(list)}`);
  }
  if (r.not_in !== undefined) {
    const list = ([] as unknown[]).concat(r.not_in);
    if (list.map((x) => enumNumber(e, x)).includes(n)) fail(`value must not be in list ${fmtList(list)}`);
  }
}

/**
 * Checks one (non-repeated) value against a rule set: the rules of a singular field, a repeated
 * field's `items`, or a map's `keys`/`values`. `v` is the normalized value.
 */
export function checkValue(
  r: Rules, f: PbField, v: unknown, path: string, errors: string[],
): void {
  const fail = (msg: string): void => {
    errors.push(`${path}: ${msg}, got ${show(v)}`);
  };
  if (r.string !== undefined && typeof v === 'string') stringRules(r.string, v, fail);
  if (r.bytes !== undefined && typeof v === 'string') {
    const b = r.bytes;
    const len = Buffer.from(v, 'base64').length;
    if (!(b.ignore_empty === true && len === 0)) {
      if (b.len !== undefined && len !== Number(b.len)) fail(`value length must be ${b.len} bytes`);
      if (b.min_len !== undefined && len < Number(b.min_len)) fail(`value length must be at least ${b.min_len} bytes`);
      if (b.max_len !== undefined && len > Number(b.max_len)) fail(`value length must be at most ${b.max_len} bytes`);
    }
  }
  if (typeof v === 'number') {
    for (const k of Object.keys(r)) if (NUMERIC.has(k)) numberRules(r[k], v, fail);
  }
  if (r.bool !== undefined && typeof v === 'boolean' && r.bool.const !== undefined && v !== r.bool.const) {
    fail(`value must equal ${r.bool.const}`);
  }
  if (r.enum !== undefined) enumRules(r.enum, isEnum(f.resolvedType) ? f.resolvedType : null, v, fail);
  if (r.duration !== undefined && isDuration(v)) durationRules(r.duration, v, fail);
  if (r.any !== undefined && typeof v === 'object' && v !== null) {
    const url = (v as Record<string, unknown>)['@type'];
    if (typeof url === 'string') {
      if (r.any.in !== undefined && !([] as unknown[]).concat(r.any.in).includes(url)) {
        fail(`type URL must be in list ${fmtList([].concat(r.any.in))}`);
      }
      if (r.any.not_in !== undefined && ([] as unknown[]).concat(r.any.not_in).includes(url)) {
        fail(`type URL must not be in list ${fmtList([].concat(r.any.not_in))}`);
      }
    }
  }
}

/** Rules of a repeated field: the list itself, then `items` on each element. */
export function checkRepeated(r: Rules, f: PbField, list: unknown[], path: string, errors: string[]): void {
  const rr = r.repeated;
  if (rr === undefined) return;
  if (!(rr.ignore_empty === true && list.length === 0)) {
    if (rr.min_items !== undefined && list.length < Number(rr.min_items)) {
      errors.push(`${path}: value must contain at least ${rr.min_items} item(s), got ${list.length}`);
    }
    if (rr.max_items !== undefined && list.length > Number(rr.max_items)) {
      errors.push(`${path}: value must contain no more than ${rr.max_items} item(s), got ${list.length}`);
    }
    if (rr.unique === true) {
      const seen = new Set<string>();
      for (let i = 0; i < list.length; i++) {
        const key = JSON.stringify(list[i]);
        if (seen.has(key)) errors.push(`${path}[${i}]: repeated value must contain unique items, got ${show(list[i])}`);
        seen.add(key);
      }
    }
  }
  if (rr.items !== undefined) {
    for (let i = 0; i < list.length; i++) checkValue(rr.items, f, list[i], `${path}[${i}]`, errors);
  }
}

/** Rules of a map field: pair counts, then `keys` and `values`. */
export function checkMap(r: Rules, f: PbField, map: Record<string, unknown>, path: string, errors: string[]): void {
  const mr = r.map;
  if (mr === undefined) return;
  const keys = Object.keys(map);
  if (!(mr.ignore_empty === true && keys.length === 0)) {
    if (mr.min_pairs !== undefined && keys.length < Number(mr.min_pairs)) {
      errors.push(`${path}: value must contain at least ${mr.min_pairs} pair(s), got ${keys.length}`);
    }
    if (mr.max_pairs !== undefined && keys.length > Number(mr.max_pairs)) {
      errors.push(`${path}: value must contain no more than ${mr.max_pairs} pair(s), got ${keys.length}`);
    }
  }
  for (const k of keys) {
    if (mr.keys !== undefined) checkValue(mr.keys, f, k, `${path}[${JSON.stringify(k)}]`, errors);
    if (mr.values !== undefined) checkValue(mr.values, f, map[k], `${path}[${JSON.stringify(k)}]`, errors);
  }
}

/** A message-typed field that must be set (message/duration/any/timestamp `required`). */
export function requiredMessage(r: Rules): boolean {
  return r.message?.required === true || r.duration?.required === true || r.any?.required === true
    || r.timestamp?.required === true;
}
