// Parsing a runtime value into a RuntimeEntry once, when its layer loads (main thread), as Envoy's
// SnapshotImpl::createEntry does (source/common/runtime/runtime_impl.cc):
// - a disk file's text and an admin value are YAML, read as Envoy's ValueUtil::loadFromYaml
//   reads it with yaml-cpp: a plain scalar is a boolean when it is y/yes/true/on or n/no/false/off
//   (all lower, all upper or capitalized), else an integer when it reads as one (decimal, 0x hex,
//   0 octal; within int32 a number, beyond that the decimal string), else a string; a quoted
//   scalar is a string; a mapping is a struct (a FractionalPercent); the raw value is the text;
// - a static layer's value is the bootstrap's JSON value (a Struct leaf), printed as Envoy prints
//   it for its raw value (numbers as absl::StrCat, booleans true/false, a struct as its
//   DebugString).
// Then: a number is a double, an integer one (within int32) is also a boolean (non-zero: true),
// a non-negative one is also the floored integer; a string is parsed as a double (absl's
// SimpleAtod) and no more (Envoy's reject_invalid_yaml: "true" or "numerator: 5" inside a string
// are not read); a struct is a FractionalPercent when its only fields are `numerator` (a number)
// and `denominator` (HUNDRED, TEN_THOUSAND or MILLION; HUNDRED when absent).
import { isAlias, isMap, isScalar, isSeq, parseDocument, type Document, type Node } from 'yaml';
import type { DenominatorType, FractionalPercent, RuntimeEntry } from './types.ts';

/** A JSON value, as a google.protobuf.Value holds it. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [k: string]: JsonValue };

interface MutableEntry {
  raw: string;
  bool: boolean | null;
  double: number | null;
  uint: number | null;
  fraction: FractionalPercent | null;
}

/** SnapshotImpl::createEntry(value, raw_string). */
export function createEntry(value: JsonValue, raw = ''): RuntimeEntry {
  // (One shape for every entry: the workers' lookups stay monomorphic.)
  const e: MutableEntry = { raw: typeof value === 'string' ? value : '', bool: null, double: null, uint: null, fraction: null };
  if (raw !== '') e.raw = raw;
  if (typeof value === 'number') {
    setNumberValue(e, value);
    // (An integer beyond int32 reaches Envoy's static layer as its decimal string: its YAML reader
    // keeps only int32 values as numbers.)
    if (e.raw === '') e.raw = Number.isInteger(value) && Math.abs(value) > 2147483647 && Math.abs(value) < 2 ** 63
      ? BigInt(value).toString() : formatG(value, 6);
  } else if (typeof value === 'boolean') {
    e.bool = value;
    if (e.raw === '') e.raw = value ? 'true' : 'false';
  } else if (typeof value === 'string') {
    const d = simpleAtod(e.raw);
    if (d !== null) setNumberValue(e, d);
  } else if (value !== null && !Array.isArray(value)) {
    if (e.raw === '') e.raw = structDebugString(value);
    e.fraction = parseFractionValue(value);
  }
  return e;
}

/** A disk or admin value: its YAML read as Envoy reads it (see the design note). Throws on YAML
 *  that does not parse. */
export function createEntryFromYaml(text: string): RuntimeEntry {
  return createEntry(yamlValue(text), text);
}

/** setNumberValue(): the double, a boolean for an int-valued number, the floored uint. */
function setNumberValue(e: MutableEntry, v: number): void {
  e.double = v;
  // (Envoy: `value < INT_MAX && value == static_cast<int>(value)`.)
  if (Number.isInteger(v) && v < 2147483647 && v >= -2147483648) e.bool = v !== 0;
  if (v >= 0 && v <= 18446744073709551615) e.uint = Math.floor(v);
}

const DENOMINATORS: ReadonlySet<string> = new Set(['HUNDRED', 'TEN_THOUSAND', 'MILLION']);

/** parseFractionValue(): a struct of `numerator` (a number; anything else leaves 0) and
 *  `denominator` (one of the enum names); any other field, or another denominator, is not a
 *  fraction. */
function parseFractionValue(s: { [k: string]: JsonValue }): FractionalPercent | null {
  let numerator = 0;
  let denominator: DenominatorType = 'HUNDRED';
  for (const [k, v] of Object.entries(s)) {
    if (k === 'numerator') {
      // (A double cast to uint32, as the proto setter does.)
      if (typeof v === 'number') numerator = Math.trunc(v) >>> 0;
    } else if (k === 'denominator' && typeof v === 'string') {
      if (!DENOMINATORS.has(v)) return null;
      denominator = v as DenominatorType;
    } else {
      return null;
    }
  }
  return { numerator, denominator };
}

/** absl::SimpleAtod: ASCII whitespace around, one optional leading '+', then what from_chars
 *  reads as a double (decimal or exponent form, inf, infinity, nan); out of range is +-inf. */
export function simpleAtod(s: string): number | null {
  let t = s.replace(/^[ \t\n\v\f\r]+|[ \t\n\v\f\r]+$/g, '');
  if (t.startsWith('+')) {
    t = t.slice(1);
    if (t.startsWith('-')) return null;
  }
  const m = /^(-?)(?:(\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)|(inf(?:inity)?)|(nan(?:\([0-9A-Za-z_]*\))?))$/i.exec(t);
  if (m === null) return null;
  const sign = m[1] === '-' ? -1 : 1;
  if (m[3] !== undefined) return sign * Infinity;
  if (m[4] !== undefined) return NaN;
  return sign * Number(m[2]);
}

// YAML, as yaml-cpp and ValueUtil::loadFromYaml see it.

const YAML_TRUE = new Set(['y', 'yes', 'true', 'on']);
const YAML_FALSE = new Set(['n', 'no', 'false', 'off']);
const YAML_NULL = new Set(['', '~', 'null', 'Null', 'NULL']);
const INT64_MAX = 2n ** 63n - 1n;
const INT64_MIN = -(2n ** 63n);

/** yaml-cpp's convert<bool>: the word in lower, upper or capitalized case. */
function yamlBool(s: string): boolean | null {
  const lower = s.toLowerCase();
  const flexible = s === lower || s === s.toUpperCase() || s === lower.charAt(0).toUpperCase() + lower.slice(1);
  if (!flexible) return null;
  if (YAML_TRUE.has(lower)) return true;
  if (YAML_FALSE.has(lower)) return false;
  return null;
}

/** yaml-cpp's convert<int64_t>: an iostream read with the base from the prefix (0x hex, 0 octal)
 *  that must take the whole scalar. */
function yamlInt(s: string): bigint | null {
  const m = /^([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$/.exec(s);
  if (m === null) return null;
  const d = m[2];
  let v = d.length > 1 && d[0] === '0' ? BigInt(d[1] === 'x' || d[1] === 'X' ? d : `0o${d.slice(1)}`) : BigInt(d);
  if (m[1] === '-') v = -v;
  return v < INT64_MIN || v > INT64_MAX ? null : v;
}

function plainScalar(s: string): JsonValue {
  if (YAML_NULL.has(s)) return null;
  const b = yamlBool(s);
  if (b !== null) return b;
  const i = yamlInt(s);
  if (i !== null) {
    // Small integers are numbers; larger ones the decimal string (proto3 JSON's int64 form).
    return i >= -2147483648n && i <= 2147483647n ? Number(i) : i.toString();
  }
  return s;
}

function nodeValue(node: Node | null | undefined, doc: Document): JsonValue {
  if (node === null || node === undefined) return null;
  if (isAlias(node)) return nodeValue(node.resolve(doc) as Node | undefined, doc);
  if (isScalar(node)) {
    const s = String(node.value ?? '');
    return node.type === 'PLAIN' ? plainScalar(s) : s;
  }
  if (isSeq(node)) return node.items.map((n) => nodeValue(n as Node, doc));
  if (isMap(node)) {
    const out: { [k: string]: JsonValue } = {};
    for (const p of node.items) {
      const k = p.key as Node | null;
      out[isScalar(k) ? String(k.value ?? '') : String(nodeValue(k, doc))] = nodeValue(p.value as Node | null, doc);
    }
    return out;
  }
  return null;
}

/** ValueUtil::loadFromYaml(text) as a JSON value; throws with the parser's message. */
export function yamlValue(text: string): JsonValue {
  // The failsafe schema keeps every scalar a string: the scalar rules above are yaml-cpp's.
  const doc = parseDocument(text, { schema: 'failsafe', uniqueKeys: false });
  if (doc.errors.length > 0) throw new Error(doc.errors[0].message.split('\n')[0].replace(/:$/, ''));
  return nodeValue(doc.contents as Node | null, doc);
}

// Printing, for the raw value of a static layer's numbers and structs.

function stripZeros(s: string): string {
  return s.includes('.') ? s.replace(/0+$/, '').replace(/\.$/, '') : s;
}

/** printf's `%.<p>g` (absl::StrCat prints a double with p = 6). */
export function formatG(x: number, p: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0' : '0';
  const [mant, e] = x.toExponential(p - 1).split('e');
  const exp = Number(e);
  if (exp < -4 || exp >= p) return `${stripZeros(mant)}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  return stripZeros(x.toFixed(p - 1 - exp));
}

/** protobuf's SimpleDtoa: `%.15g`, or `%.17g` when that does not read back the same. */
function simpleDtoa(x: number): string {
  const s = formatG(x, 15);
  return Number(s) === x || !Number.isFinite(x) ? s : formatG(x, 17);
}

function cEscape(s: string): string {
  return s.replace(/[\\"'\n\r\t\x00-\x1f\x7f]/g, (c) => {
    switch (c) {
      case '\\': return '\\\\';
      case '"': return '\\"';
      case '\'': return '\\\'';
      case '\n': return '\\n';
      case '\r': return '\\r';
      case '\t': return '\\t';
      default: return `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`;
    }
  });
}

/** A google.protobuf.Value's text-format body lines, at `indent`. */
function valueText(v: JsonValue, indent: string, out: string[]): void {
  if (v === null) out.push(`${indent}null_value: NULL_VALUE`);
  else if (typeof v === 'number') out.push(`${indent}number_value: ${simpleDtoa(v)}`);
  else if (typeof v === 'string') out.push(`${indent}string_value: "${cEscape(v)}"`);
  else if (typeof v === 'boolean') out.push(`${indent}bool_value: ${v}`);
  else if (Array.isArray(v)) {
    out.push(`${indent}list_value {`);
    for (const x of v) {
      out.push(`${indent}  values {`);
      valueText(x, `${indent}    `, out);
      out.push(`${indent}  }`);
    }
    out.push(`${indent}}`);
  } else {
    out.push(`${indent}struct_value {`);
    structText(v, `${indent}  `, out);
    out.push(`${indent}}`);
  }
}

/** A Struct's `fields` entries in text format, sorted by key as the printer sorts map entries. */
function structText(s: { [k: string]: JsonValue }, indent: string, out: string[]): void {
  for (const k of Object.keys(s).sort()) {
    out.push(`${indent}fields {`, `${indent}  key: "${cEscape(k)}"`, `${indent}  value {`);
    valueText(s[k], `${indent}    `, out);
    out.push(`${indent}  }`, `${indent}}`);
  }
}

/** Struct::DebugString() ('' for an empty struct). */
export function structDebugString(s: { [k: string]: JsonValue }): string {
  const out: string[] = [];
  structText(s, '', out);
  return out.length === 0 ? '' : `${out.join('\n')}\n`;
}
