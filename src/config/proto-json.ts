// Proto3 JSON mapping, as Envoy's YAML/JSON loader applies it, from a parsed document to Legate's
// normalized tree (see types.ts), with every error collected rather than the first thrown.
//
// Design note: one recursive walk does four jobs at once, because each needs the proto type at hand:
//  1. mapping: snake_case or lowerCamelCase names, enums by name (case-insensitively, as Envoy's
//     loader sets case_insensitive_enum_parsing) or number, 64-bit integers from strings, well-known
//     types (Duration, wrappers, Struct, Any...) from their special JSON forms;
//  2. PGV rules (pgv.ts), including those on absent fields, which proto3 reads as defaults;
//  3. extensions: an Any is resolved by its @type through extensions.ts, and an extension slot
//     (a listener filter, an HTTP filter, an access log) may name its extension without typed_config;
//  4. the unsupported-field report (supported.ts). `report` is false below a field that is itself
//     unsupported: that field is reported once, not everything inside it.
// Paths use the proto's snake_case names whatever spelling the document used.
import {
  EXTENSION_SLOTS, CHAIN_NAMES, TYPE_URL_PREFIX, extensionByName, extensionByType, typeNameOfUrl,
  type ExtensionCategory, type ExtensionInfo,
} from './extensions.ts';
import { fieldSupport } from './supported.ts';
import { parseDuration } from './duration.ts';
import {
  checkMap, checkRepeated, checkValue, fieldRules, oneofRequired, requiredMessage, show,
} from './pgv.ts';
import {
  findMessageType, fullNameOf, isEnum, isType, mapKeyType, type PbEnum, type PbField, type PbOneOf, type PbType,
} from './protos.ts';

type Obj = Record<string, unknown>;

/** Marks a value that failed to convert; its error is already recorded. */
const BAD: unique symbol = Symbol('bad');
type Result = unknown;

export interface WalkResult {
  value: Obj | undefined;
  errors: string[];
  /** One line per unsupported field set: `path: reason`. */
  unsupported: string[];
  warnings: string[];
  /** Normalized objects that lost a field to an error: cross-field checks skip what they cannot trust. */
  broken: WeakSet<object>;
}

interface Ctx {
  errors: string[];
  unsupported: string[];
  warnings: string[];
  broken: WeakSet<object>;
}

function newCtx(): Ctx {
  return { errors: [], unsupported: [], warnings: [], broken: new WeakSet() };
}

/** The extension slot an Any is converted for: its category, the slot's `name` and path. */
interface Slot {
  category: ExtensionCategory;
  name: string | undefined;
  path: string;
  /** HttpFilter / FilterConfig is_optional: an extension Legate does not implement is skipped
   *  (with a warning) instead of refused (Envoy skips what it has no factory for). */
  optional?: boolean;
}

const HTTP_FILTER = 'envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter';
const FILTER_CONFIG = 'envoy.config.route.v3.FilterConfig';
/** Messages an Any may hold that are not extensions of their own. */
const PLAIN_IN_ANY: ReadonlySet<string> = new Set([FILTER_CONFIG]);

function isPlainObject(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  if (v === null || v === undefined) return String(v);
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'object') return 'object';
  return `${typeof v} ${show(v)}`;
}

function join(path: string, name: string): string {
  return path === '' ? name : `${path}.${name}`;
}

function err(ctx: Ctx, path: string, msg: string): typeof BAD {
  ctx.errors.push(`${path === '' ? '<root>' : path}: ${msg}`);
  return BAD;
}

// protoc's ToJsonName: drop underscores, upper-case the letter after each.
export function lowerCamel(name: string): string {
  return name.replace(/_+([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
}

const indexCache = new WeakMap<PbType, Map<string, PbField>>();

/** Field lookup by proto name and by JSON name. */
function fieldIndex(t: PbType): Map<string, PbField> {
  let m = indexCache.get(t);
  if (m === undefined) {
    m = new Map();
    for (const f of t.fieldsArray) {
      f.resolve();
      m.set(f.name, f);
      const json = f.jsonName ?? lowerCamel(f.name);
      if (!m.has(json)) m.set(json, f);
    }
    indexCache.set(t, m);
  }
  return m;
}

function isSyntheticOneof(o: PbOneOf): boolean {
  return o.fieldsArray.length === 1 && o.fieldsArray[0]!.options?.proto3_optional === true;
}

// Scalars.

const INT_RANGES: Record<string, [number, number]> = {
  int32: [-(2 ** 31), 2 ** 31 - 1], sint32: [-(2 ** 31), 2 ** 31 - 1], sfixed32: [-(2 ** 31), 2 ** 31 - 1],
  uint32: [0, 2 ** 32 - 1], fixed32: [0, 2 ** 32 - 1],
  int64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  sint64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  sfixed64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  uint64: [0, Number.MAX_SAFE_INTEGER], fixed64: [0, Number.MAX_SAFE_INTEGER],
};
const INT_STRING = /^-?\d+$/;
const FLOAT_STRING = /^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;
const BASE64 = /^[A-Za-z0-9+/\-_]*={0,2}$/;

function integer(type: string, v: unknown, path: string, ctx: Ctx): Result {
  let n: number;
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) return err(ctx, path, `expected integer, got ${describe(v)}`);
    n = v;
  } else if (typeof v === 'string' && INT_STRING.test(v.trim())) {
    n = Number(v.trim());
  } else {
    return err(ctx, path, `expected integer, got ${describe(v)}`);
  }
  const [lo, hi] = INT_RANGES[type]!;
  if (n < lo || n > hi) {
    // 64-bit values become JS numbers in the normalized tree, so they must be exact (2^53).
    const why = type.endsWith('64') && n >= 0 ? `${type} in Legate (max ${hi})` : type;
    return err(ctx, path, `integer out of range for ${why}, got ${show(v)}`);
  }
  return n;
}

function float(v: unknown, path: string, ctx: Ctx): Result {
  if (typeof v === 'number') return v;
  if (typeof v === 'string') {
    if (v === 'NaN') return NaN;
    if (v === 'Infinity') return Infinity;
    if (v === '-Infinity') return -Infinity;
    if (FLOAT_STRING.test(v.trim())) return Number(v.trim());
  }
  return err(ctx, path, `expected number, got ${describe(v)}`);
}

function scalar(type: string, v: unknown, path: string, ctx: Ctx): Result {
  switch (type) {
    case 'double':
    case 'float':
      return float(v, path, ctx);
    case 'bool':
      return typeof v === 'boolean' ? v : err(ctx, path, `expected boolean, got ${describe(v)}`);
    case 'string':
      return typeof v === 'string' ? v : err(ctx, path, `expected string, got ${describe(v)}`);
    case 'bytes':
      if (typeof v !== 'string') return err(ctx, path, `expected base64 string, got ${describe(v)}`);
      if (!BASE64.test(v.replace(/\s+/g, ''))) return err(ctx, path, `invalid base64 ${show(v)}`);
      return Buffer.from(v, 'base64').toString('base64');
    default:
      if (type in INT_RANGES) return integer(type, v, path, ctx);
      return err(ctx, path, `unsupported proto type ${type}`);
  }
}

const enumUpperCache = new WeakMap<PbEnum, Map<string, string>>();

function enumValue(e: PbEnum, v: unknown, path: string, ctx: Ctx): Result {
  if (typeof v === 'string') {
    if (Object.hasOwn(e.values, v)) return v;
    let upper = enumUpperCache.get(e);
    if (upper === undefined) {
      upper = new Map(Object.keys(e.values).map((k) => [k.toUpperCase(), k]));
      enumUpperCache.set(e, upper);
    }
    const name = upper.get(v.toUpperCase());
    if (name !== undefined) return name;
    return err(ctx, path, `unknown value ${show(v)}`);
  }
  if (typeof v === 'number' && Number.isInteger(v)) {
    // Proto3 enums are open: an undefined number survives unless PGV defined_only rejects it.
    return e.valuesById[v] ?? v;
  }
  return err(ctx, path, `expected enum value name, got ${describe(v)}`);
}

// Well-known types with a special JSON form.

/** The wrapper types, by full name: the scalar type of their `value`. */
export const WRAPPERS: Readonly<Record<string, string>> = {
  'google.protobuf.DoubleValue': 'double',
  'google.protobuf.FloatValue': 'float',
  'google.protobuf.Int64Value': 'int64',
  'google.protobuf.UInt64Value': 'uint64',
  'google.protobuf.Int32Value': 'int32',
  'google.protobuf.UInt32Value': 'uint32',
  'google.protobuf.BoolValue': 'bool',
  'google.protobuf.StringValue': 'string',
  'google.protobuf.BytesValue': 'bytes',
};

const TYPED_STRUCTS = new Set(['xds.type.v3.TypedStruct', 'udpa.type.v1.TypedStruct']);

function jsonValue(v: unknown, path: string, ctx: Ctx): Result {
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return v;
  if (typeof v === 'number') {
    return Number.isFinite(v) ? v : err(ctx, path, `expected a finite number, got ${describe(v)}`);
  }
  if (Array.isArray(v)) return jsonList(v, path, ctx);
  if (isPlainObject(v)) return jsonObject(v, path, ctx);
  return err(ctx, path, `expected JSON value, got ${describe(v)}`);
}

function jsonList(v: unknown, path: string, ctx: Ctx): Result {
  if (!Array.isArray(v)) return err(ctx, path, `expected array, got ${describe(v)}`);
  const out: unknown[] = [];
  let bad = false;
  for (let i = 0; i < v.length; i++) {
    const x = jsonValue(v[i], `${path}[${i}]`, ctx);
    if (x === BAD) bad = true;
    else out.push(x);
  }
  return bad ? BAD : out;
}

function jsonObject(v: unknown, path: string, ctx: Ctx): Result {
  if (!isPlainObject(v)) return err(ctx, path, `expected object, got ${describe(v)}`);
  const out: Obj = {};
  let bad = false;
  for (const [k, x] of Object.entries(v)) {
    const y = jsonValue(x, join(path, k), ctx);
    if (y === BAD) bad = true;
    else out[k] = y;
  }
  return bad ? BAD : out;
}

const TIMESTAMP_RE = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/;

function timestamp(v: unknown, path: string, ctx: Ctx): Result {
  const m = typeof v === 'string' ? TIMESTAMP_RE.exec(v) : null;
  const ms = m === null ? NaN : Date.parse(`${m[1]}${m[3]}`);
  if (m === null || Number.isNaN(ms)) return err(ctx, path, `invalid timestamp ${show(v)}`);
  return { seconds: Math.floor(ms / 1000), nanos: m[2] === undefined ? 0 : Number(m[2].padEnd(9, '0')) };
}

function fieldMask(v: unknown, path: string, ctx: Ctx): Result {
  if (typeof v !== 'string') return err(ctx, path, `expected field mask string, got ${describe(v)}`);
  const paths = v === '' ? [] : v.split(',').map((p) => p.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`));
  return { paths };
}

/** Special JSON forms, by full message name; null when the type maps as a plain message. */
function wellKnown(name: string, v: unknown, path: string, report: boolean, ctx: Ctx, slot: Slot | null): Result | null {
  const wrapped = WRAPPERS[name];
  if (wrapped !== undefined) return scalar(wrapped, v, path, ctx);
  switch (name) {
    case 'google.protobuf.Duration': {
      const d = typeof v === 'string' ? parseDuration(v) : null;
      if (d === null) return err(ctx, path, `invalid duration ${show(v)}`);
      return d;
    }
    case 'google.protobuf.Timestamp':
      return timestamp(v, path, ctx);
    case 'google.protobuf.Struct':
      return jsonObject(v, path, ctx);
    case 'google.protobuf.Value':
      return jsonValue(v, path, ctx);
    case 'google.protobuf.ListValue':
      return jsonList(v, path, ctx);
    case 'google.protobuf.FieldMask':
      return fieldMask(v, path, ctx);
    case 'google.protobuf.Any':
      return anyValue(v, path, report, ctx, slot);
    default:
      return null;
  }
}

// Inside an Any, these carry their JSON form under "value" (proto3 JSON mapping).
export const VALUE_IN_ANY: ReadonlySet<string> = new Set([
  ...Object.keys(WRAPPERS), 'google.protobuf.Duration', 'google.protobuf.Timestamp', 'google.protobuf.Struct',
  'google.protobuf.Value', 'google.protobuf.ListValue', 'google.protobuf.FieldMask',
]);

// Any and extensions.

function notSupported(ctx: Ctx, path: string, name: string, typeName: string): typeof BAD {
  return err(ctx, path, `extension "${name}" (${TYPE_URL_PREFIX}${typeName}) is not supported by Legate`);
}

function wrongCategory(ctx: Ctx, slot: Slot, ext: ExtensionInfo): typeof BAD {
  const want = CHAIN_NAMES[slot.category];
  return err(ctx, slot.path, `extension "${ext.name}" (${ext.category}) cannot be used as a ${want} extension`);
}

function anyValue(v: unknown, path: string, report: boolean, ctx: Ctx, slot: Slot | null): Result {
  if (!isPlainObject(v)) return err(ctx, path, `expected object, got ${describe(v)}`);
  // An empty Any: Envoy then picks the extension by the slot's name (see resolveByName).
  if (Object.keys(v).length === 0) return {};
  const url = v['@type'];
  if (url === undefined) return err(ctx, path, 'missing "@type"');
  if (typeof url !== 'string') return err(ctx, join(path, '@type'), `expected type URL string, got ${describe(url)}`);
  let typeName = typeNameOfUrl(url);
  let body: Obj = v;
  let bodyPath = path;
  if (TYPED_STRUCTS.has(typeName)) {
    // TypedStruct { type_url, value: Struct }: the inner config in JSON form; normalized as the inner type.
    const inner = v.type_url;
    if (typeof inner !== 'string' || inner === '') {
      return err(ctx, join(path, 'type_url'), `expected type URL string, got ${describe(inner)}`);
    }
    for (const k of Object.keys(v)) {
      if (k !== '@type' && k !== 'type_url' && k !== 'typeUrl' && k !== 'value') err(ctx, join(path, k), 'unknown field');
    }
    const value = v.value ?? {};
    if (!isPlainObject(value)) return err(ctx, join(path, 'value'), `expected object, got ${describe(value)}`);
    typeName = typeNameOfUrl(inner);
    body = value;
    bodyPath = join(path, 'value');
  }
  const canonical = TYPE_URL_PREFIX + typeName;
  const ext = extensionByType(typeName);
  const slotPath = slot?.path ?? path;
  if (report && slot?.optional === true && (ext === undefined || !ext.supported || ext.category !== slot.category)) {
    ctx.warnings.push(`${slotPath}: optional filter ${slot.name === undefined ? '' : `"${slot.name}" `}`
      + `(${canonical}) is not supported by Legate: skipped`);
    return { '@type': canonical };
  }
  if (report) {
    if (ext !== undefined && !ext.supported) return notSupported(ctx, slotPath, ext.name, typeName);
    if (ext !== undefined && slot !== null && ext.category !== slot.category) return wrongCategory(ctx, slot, ext);
  }
  const t = findMessageType(typeName);
  if (t === null) {
    // A known (unsupported) extension inside an unsupported field: that field is reported already.
    if (ext !== undefined) return { '@type': canonical };
    return err(ctx, path, `unknown type ${show(url)}`);
  }
  if (report && ext === undefined && (slot !== null || !PLAIN_IN_ANY.has(typeName))) {
    // (A FilterConfig belongs in a typed_per_filter_config map, not in an extension's slot.)
    // A real proto, but not an extension Legate knows: refuse it by name.
    return notSupported(ctx, slotPath, slot?.name ?? typeName, typeName);
  }
  let fields = body;
  if (body === v) {
    const { '@type': _type, ...rest } = v;
    fields = rest;
  }
  if (VALUE_IN_ANY.has(typeName)) {
    const keys = Object.keys(fields);
    for (const k of keys) if (k !== 'value') err(ctx, join(bodyPath, k), 'unknown field');
    const inner = message(t, fields.value, join(bodyPath, 'value'), report, ctx);
    return inner === BAD ? BAD : { '@type': canonical, value: inner };
  }
  const inner = message(t, fields, bodyPath, report, ctx);
  if (inner === BAD) return BAD;
  return { '@type': canonical, ...(inner as Obj) };
}

/**
 * An extension slot without typed_config: Envoy looks the extension up by `name` and runs it with
 * its default config, which must pass validation (so the router works this way, HCM does not).
 */
function resolveByName(out: Obj, slotCategory: ExtensionCategory, path: string, ctx: Ctx, optional = false): void {
  const name = typeof out.name === 'string' ? out.name : '';
  const ext = extensionByName(name);
  if (optional && (ext === undefined || !ext.supported || ext.category !== slotCategory)) {
    ctx.warnings.push(`${path}: optional filter "${name}" is not supported by Legate: skipped`);
    return;
  }
  if (ext === undefined) {
    err(ctx, path, `extension "${name}" is unknown or not supported by Legate (set typed_config with its "@type")`);
    return;
  }
  if (!ext.supported) {
    notSupported(ctx, path, ext.name, ext.types[0]!);
    return;
  }
  if (ext.category !== slotCategory) {
    wrongCategory(ctx, { category: slotCategory, name, path }, ext);
    return;
  }
  const t = findMessageType(ext.types[0]!);
  if (t === null) return;
  const probe = newCtx();
  message(t, {}, '', true, probe);
  if (probe.errors.length > 0) {
    const why = probe.errors[0]!.replace(/^<root>: /, '');
    err(ctx, path, `extension "${ext.name}" requires typed_config (its default config is invalid: ${why})`);
  }
}

// Messages and fields.

/** Whether `v` (an HttpFilter or a FilterConfig, as written) sets is_optional. */
function optionalIn(type: string, v: Obj): boolean {
  if (type !== HTTP_FILTER && type !== FILTER_CONFIG) return false;
  return v.is_optional === true || v.isOptional === true;
}

function isNonDefault(f: PbField, v: unknown): boolean {
  if (Array.isArray(v)) return v.length > 0;
  if (f.map) return isPlainObject(v) && Object.keys(v).length > 0;
  // Presence is meaningful for oneof members, proto3 optionals and every message (wrappers too).
  if (f.partOf !== null || isType(f.resolvedType)) return true;
  if (isEnum(f.resolvedType)) return v !== 0 && f.resolvedType.values[v as string] !== 0;
  return v !== 0 && v !== '' && v !== false;
}

function singular(f: PbField, v: unknown, path: string, report: boolean, ctx: Ctx, slot: Slot | null): Result {
  const rt = f.resolvedType;
  if (isEnum(rt)) {
    // google.protobuf.NullValue: JSON null.
    if (fullNameOf(rt) === 'google.protobuf.NullValue') return null;
    return enumValue(rt, v, path, ctx);
  }
  if (isType(rt)) return message(rt, v, path, report, ctx, slot);
  return scalar(f.type, v, path, ctx);
}

function fieldValue(f: PbField, v: unknown, path: string, report: boolean, ctx: Ctx, slot: Slot | null): Result {
  if (f.map) {
    if (!isPlainObject(v)) return err(ctx, path, `expected object, got ${describe(v)}`);
    const keyType = mapKeyType(f);
    const out: Obj = {};
    let bad = false;
    for (const [k, x] of Object.entries(v)) {
      const kp = `${path}[${JSON.stringify(k)}]`;
      if (keyType !== 'string') {
        const key = keyType === 'bool'
          ? (k === 'true' || k === 'false' ? k : err(ctx, kp, `invalid map key ${show(k)} for bool`))
          : scalar(keyType, k, kp, ctx);
        if (key === BAD) {
          bad = true;
          continue;
        }
      }
      const y = singular(f, x, kp, report, ctx, null);
      if (y === BAD) bad = true;
      else out[k] = y;
    }
    return bad ? BAD : out;
  }
  if (f.repeated) {
    if (!Array.isArray(v)) return err(ctx, path, `expected array, got ${describe(v)}`);
    const out: unknown[] = [];
    let bad = false;
    for (let i = 0; i < v.length; i++) {
      const ip = `${path}[${i}]`;
      if (v[i] === null) {
        bad = true;
        err(ctx, ip, 'expected a value, got null');
        continue;
      }
      const y = singular(f, v[i], ip, report, ctx, slot);
      if (y === BAD) bad = true;
      else out.push(y);
    }
    return bad ? BAD : out;
  }
  return singular(f, v, path, report, ctx, slot);
}

function checkRules(f: PbField, v: unknown, path: string, ctx: Ctx): void {
  const r = fieldRules(f);
  if (r === null) return;
  if (f.map) checkMap(r, f, v as Obj, path, ctx.errors);
  else if (f.repeated) checkRepeated(r, f, v as unknown[], path, ctx.errors);
  else checkValue(r, f, v, path, ctx.errors);
}

/** PGV on a field the document left out: required messages, and the defaults proto3 reads. */
function checkAbsent(f: PbField, path: string, ctx: Ctx): void {
  const r = fieldRules(f);
  // Unset oneof members (and proto3 optionals) are not validated at all.
  if (r === null || f.partOf !== null) return;
  if (f.map) {
    checkMap(r, f, {}, path, ctx.errors);
    return;
  }
  if (f.repeated) {
    checkRepeated(r, f, [], path, ctx.errors);
    return;
  }
  if (isType(f.resolvedType)) {
    if (requiredMessage(r)) ctx.errors.push(`${path}: value is required`);
    return;
  }
  const dflt = isEnum(f.resolvedType) ? 0 : f.type === 'string' || f.type === 'bytes' ? '' : f.type === 'bool' ? false : 0;
  checkValue(r, f, dflt, path, ctx.errors);
}

function holdsJsonNull(f: PbField): boolean {
  return !f.repeated && !f.map && isType(f.resolvedType) && fullNameOf(f.resolvedType) === 'google.protobuf.Value';
}

function unsupportedLine(path: string, v: unknown): string {
  const shown = typeof v === 'object' && v !== null ? '' : ` (value ${show(v)})`;
  return `${path}: field is not supported by Legate${shown}`;
}

function message(t: PbType, v: unknown, path: string, report: boolean, ctx: Ctx, slot: Slot | null = null): Result {
  const name = fullNameOf(t);
  const special = wellKnown(name, v, path, report, ctx, slot);
  if (special !== null) return special;
  if (!isPlainObject(v)) return err(ctx, path, `expected object, got ${describe(v)}`);

  const index = fieldIndex(t);
  const slotCategory = EXTENSION_SLOTS.get(name);
  const out: Obj = {};
  const given = new Map<string, string>(); // field name -> the key the document used
  for (const key of Object.keys(v)) {
    const f = index.get(key);
    if (f === undefined) {
      err(ctx, join(path, key), 'unknown field');
      continue;
    }
    const raw = v[key];
    const fpath = join(path, f.name);
    const prev = given.get(f.name);
    if (prev !== undefined) {
      err(ctx, fpath, `field set twice (as "${prev}" and "${key}")`);
      continue;
    }
    given.set(f.name, key);
    // Proto3 JSON: null means "not set", except for a google.protobuf.Value. (undefined can only come
    // from a caller's object, never from YAML/JSON: "not set" too.)
    if (raw === undefined || (raw === null && !holdsJsonNull(f))) {
      given.delete(f.name);
      continue;
    }
    const support = report ? fieldSupport(name, f.name) : undefined;
    let fieldSlot: Slot | null = slotCategory !== undefined && f.name === 'typed_config'
      ? { category: slotCategory, name: typeof v.name === 'string' ? v.name : undefined, path, optional: optionalIn(name, v) }
      : null;
    if (name === FILTER_CONFIG && f.name === 'config') {
      fieldSlot = { category: 'envoy.filters.http' as ExtensionCategory, name: undefined, path: fpath, optional: optionalIn(name, v) };
    }
    const cv = fieldValue(f, raw, fpath, report && support !== undefined, ctx, fieldSlot);
    if (cv === BAD) {
      ctx.broken.add(out);
      continue;
    }
    out[f.name] = cv;
    checkRules(f, cv, fpath, ctx);
    const nonDefault = isNonDefault(f, cv);
    if (report && nonDefault) {
      if (support === undefined) {
        ctx.unsupported.push(unsupportedLine(fpath, cv));
      } else if (support.enumValues !== undefined) {
        for (const x of Array.isArray(cv) ? cv : [cv]) {
          if (!support.enumValues.includes(x as string)) {
            ctx.unsupported.push(
              `${fpath}: value ${show(x)} is not supported by Legate (supported: ${support.enumValues.join(', ')})`,
            );
          }
        }
      }
    }
    if (nonDefault && f.options?.deprecated === true) {
      ctx.warnings.push(`${fpath}: field is deprecated in Envoy's API`);
    }
  }

  for (const o of t.oneofsArray) {
    if (isSyntheticOneof(o)) continue;
    const set = o.fieldsArray.filter((f) => given.has(f.name)).map((f) => f.name);
    if (set.length > 1) {
      const both = set.map((s) => `"${s}"`).join(' and ');
      err(ctx, path, `fields ${both} are both set, but only one of oneof "${o.name}" may be`);
    } else if (set.length === 0 && oneofRequired(o)) {
      const members = o.fieldsArray.map((f) => `"${f.name}"`).join(', ');
      err(ctx, path, `one of ${members} must be set (oneof "${o.name}" is required)`);
    }
  }
  for (const f of t.fieldsArray) {
    if (!given.has(f.name)) checkAbsent(f, join(path, f.name), ctx);
  }

  if (report && slotCategory !== undefined && !given.has('config_discovery')) {
    // No typed_config, or an empty one: Envoy resolves the extension by name. (A typed_config that
    // failed to convert has its error already.)
    const tc = out.typed_config;
    const failed = given.has('typed_config') && tc === undefined;
    if (!failed && !(isPlainObject(tc) && typeof tc['@type'] === 'string')) {
      const before = ctx.errors.length;
      resolveByName(out, slotCategory, path, ctx, optionalIn(name, v));
      if (ctx.errors.length > before) ctx.broken.add(out);
    }
  }
  return out;
}

/** Converts and validates a document as the given message type. */
export function convert(typeName: string, doc: unknown): WalkResult {
  const t = findMessageType(typeName);
  if (t === null) throw new Error(`proto message ${typeName} not found`);
  const ctx = newCtx();
  const value = message(t, doc, '', true, ctx);
  return { value: value === BAD ? undefined : (value as Obj), ...ctx };
}
