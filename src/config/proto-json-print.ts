// Proto3 JSON out: a normalized tree (types.ts, what proto-json.ts reads a config into) printed as
// Envoy prints a message in the admin (MessageUtil::getJsonStringFromMessage: proto field names,
// defaults left out), after MessageUtil::redact(). The inverse of proto-json.ts's mapping:
//  - fields in field-number order (protobuf's printer sorts them so, whatever the .proto's order);
//  - a field at its default (0, "", false, the enum's 0 value, an empty list or map) is left out,
//    unless it has presence: a oneof member (`type: STATIC`), a proto3 `optional`, any message
//    (a wrapper holding 0 is printed);
//  - 64-bit integers as strings, NaN and infinities as "NaN" / "Infinity", bytes as base64;
//  - the well-known types in their JSON forms: Duration "1.500s", Timestamp RFC 3339, FieldMask,
//    Struct / Value / ListValue as JSON, wrappers as their value, Any as "@type" then the fields
//    of the message inside (`value` for a well-known type inside);
//  - redaction: a field with (udpa.annotations.sensitive), and everything below it, has its
//    strings and bytes replaced by "[redacted]" and its other scalars cleared (private keys,
//    passwords); Any contents are redacted by their own type.
// A TypedStruct was read into the message it stands for, so it prints as that message.
import {
  findMessageType, fullNameOf, isEnum, isType, type PbEnum, type PbField, type PbType,
} from './protos.ts';
import { formatDuration } from './duration.ts';
import { lowerCamel, VALUE_IN_ANY, WRAPPERS } from './proto-json.ts';
import { typeNameOfUrl } from './extensions.ts';

type Obj = Record<string, unknown>;

const REDACTED = '[redacted]';
const REDACTED_BYTES = Buffer.from(REDACTED).toString('base64');
const SENSITIVE = '(udpa.annotations.sensitive)';

/** Marks a field left out. */
const OMIT: unique symbol = Symbol('omit');

const INT64 = new Set(['int64', 'uint64', 'sint64', 'fixed64', 'sfixed64']);

function isPlainObject(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const orderCache = new WeakMap<PbType, PbField[]>();

function fieldsByNumber(t: PbType): PbField[] {
  let fs = orderCache.get(t);
  if (fs === undefined) {
    fs = [...t.fieldsArray].sort((a, b) => a.id - b.id);
    for (const f of fs) f.resolve();
    orderCache.set(t, fs);
  }
  return fs;
}

function isSensitive(f: PbField): boolean {
  return (f.options as Obj | undefined)?.[SENSITIVE] === true;
}

/** Presence: a oneof member or a proto3 optional is printed at its default value too. */
function hasPresence(f: PbField): boolean {
  return f.partOf !== null && f.partOf !== undefined;
}

/** A scalar in its JSON form. */
function scalarJson(type: string, v: unknown): unknown {
  if (INT64.has(type)) return typeof v === 'bigint' || typeof v === 'number' ? String(v) : v;
  if ((type === 'double' || type === 'float') && typeof v === 'number' && !Number.isFinite(v)) {
    return Number.isNaN(v) ? 'NaN' : v > 0 ? 'Infinity' : '-Infinity';
  }
  return v;
}

/** What ClearField leaves: the type's default, in JSON form. */
function scalarDefault(type: string): unknown {
  if (type === 'bool') return false;
  if (type === 'string' || type === 'bytes') return '';
  return scalarJson(type, 0);
}

function isDefaultScalar(v: unknown): boolean {
  return v === 0 || v === '' || v === false;
}

function enumJson(e: PbEnum, v: unknown): unknown {
  if (fullNameOf(e) === 'google.protobuf.NullValue') return null;
  return typeof v === 'number' ? (e.valuesById[v] ?? v) : v;
}

function isDefaultEnum(e: PbEnum, v: unknown): boolean {
  return v === 0 || (typeof v === 'string' && e.values[v] === 0);
}

/** A redacted string or bytes value. */
function redactedScalar(type: string): string {
  return type === 'bytes' ? REDACTED_BYTES : REDACTED;
}

/** google.protobuf.Timestamp `{ seconds, nanos }` as RFC 3339 in UTC, with 0, 3, 6 or 9
 *  fractional digits as protobuf writes them. */
export function formatTimestamp(t: { seconds: number; nanos: number }): string {
  const base = new Date(t.seconds * 1000).toISOString().slice(0, 19);
  let frac = '';
  if (t.nanos !== 0) {
    frac = String(t.nanos).padStart(9, '0');
    if (frac.endsWith('000000')) frac = frac.slice(0, 3);
    else if (frac.endsWith('000')) frac = frac.slice(0, 6);
    frac = '.' + frac;
  }
  return `${base}${frac}Z`;
}

/** A time in milliseconds since the epoch as a Timestamp's JSON (Envoy's
 *  TimestampUtil::systemClockToTimestamp keeps milliseconds). */
export function timestampJson(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  return formatTimestamp({ seconds, nanos: (ms - seconds * 1000) * 1_000_000 });
}

/** Struct / Value / ListValue contents under a sensitive field: strings redacted, other scalars
 *  cleared (null). */
function redactJsonValue(v: unknown): unknown {
  if (typeof v === 'string') return REDACTED;
  if (Array.isArray(v)) return v.map(redactJsonValue);
  if (isPlainObject(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, redactJsonValue(x)]));
  return null;
}

/** The special JSON form of a well-known type, or undefined when `name` is a plain message. */
function wellKnownJson(name: string, v: unknown, sensitive: boolean, redact: boolean): unknown {
  const wrapped = WRAPPERS[name];
  if (wrapped !== undefined) {
    if (sensitive) {
      if (wrapped === 'string' || wrapped === 'bytes') return v === '' ? '' : redactedScalar(wrapped);
      return scalarDefault(wrapped);
    }
    return scalarJson(wrapped, v);
  }
  switch (name) {
    case 'google.protobuf.Duration': {
      const d = v as { seconds: number; nanos: number };
      return formatDuration(sensitive ? { seconds: 0, nanos: 0 } : d);
    }
    case 'google.protobuf.Timestamp':
      return formatTimestamp(sensitive ? { seconds: 0, nanos: 0 } : v as { seconds: number; nanos: number });
    case 'google.protobuf.Struct':
    case 'google.protobuf.Value':
    case 'google.protobuf.ListValue':
      return sensitive ? redactJsonValue(v) : structuredClone(v);
    case 'google.protobuf.FieldMask': {
      const paths = (v as { paths: string[] }).paths;
      return (sensitive ? paths.map(() => REDACTED) : paths.map(lowerCamel)).join(',');
    }
    case 'google.protobuf.Any':
      return anyJson(v as Obj, sensitive, redact);
    default:
      return undefined;
  }
}

function anyJson(v: Obj, sensitive: boolean, redact: boolean): Obj {
  const url = v['@type'];
  if (typeof url !== 'string') return {};
  const typeName = typeNameOfUrl(url);
  const t = findMessageType(typeName);
  // (A type Legate has no proto for: only its @type was kept.)
  if (t === null) return structuredClone(v);
  if (VALUE_IN_ANY.has(typeName)) return { '@type': url, value: wellKnownJson(typeName, v.value, sensitive, redact) };
  const { '@type': _type, ...fields } = v;
  return { '@type': url, ...(messageJson(t, fields, sensitive, redact) as Obj) };
}

function messageJson(t: PbType, v: unknown, sensitive: boolean, redact: boolean): unknown {
  const special = wellKnownJson(fullNameOf(t), v, sensitive, redact);
  if (special !== undefined) return special;
  if (!isPlainObject(v)) return v;
  const out: Obj = {};
  for (const f of fieldsByNumber(t)) {
    const x = v[f.name];
    if (x === undefined) continue;
    const y = fieldJson(f, x, redact && (sensitive || isSensitive(f)), redact);
    if (y !== OMIT) out[f.name] = y;
  }
  return out;
}

function singularJson(f: PbField, v: unknown, sensitive: boolean, redact: boolean): unknown {
  const rt = f.resolvedType;
  if (isType(rt)) return messageJson(rt, v, sensitive, redact);
  if (isEnum(rt)) return enumJson(rt, v);
  return scalarJson(f.type, v);
}

function fieldJson(f: PbField, v: unknown, sensitive: boolean, redact: boolean): unknown {
  const rt = f.resolvedType;
  if (f.map) {
    const entries = Object.entries(v as Obj);
    if (entries.length === 0) return OMIT;
    const out: Obj = {};
    for (const [k, x] of entries) {
      // (Values only: redacting keys would leave several "[redacted]" keys. Keys stay strings.)
      if (sensitive && !isType(rt)) {
        out[k] = f.type === 'string' || f.type === 'bytes' ? redactedScalar(f.type)
          : isEnum(rt) ? enumJson(rt, 0) : scalarDefault(f.type);
      } else {
        out[k] = singularJson(f, x, sensitive, redact);
      }
    }
    return out;
  }
  if (f.repeated) {
    const list = v as unknown[];
    if (list.length === 0) return OMIT;
    if (sensitive && !isType(rt)) {
      if (f.type === 'string' || f.type === 'bytes') return list.map(() => redactedScalar(f.type));
      return OMIT; // cleared
    }
    return list.map((x) => singularJson(f, x, sensitive, redact));
  }
  if (v === null) {
    // Only a google.protobuf.Value holds a JSON null.
    return isType(rt) ? null : OMIT;
  }
  if (isType(rt)) return messageJson(rt, v, sensitive, redact);
  if (sensitive) {
    if (f.type === 'string' || f.type === 'bytes') {
      return v === '' && !hasPresence(f) ? OMIT : redactedScalar(f.type);
    }
    return OMIT;
  }
  if (isEnum(rt)) {
    if (isDefaultEnum(rt, v) && !hasPresence(f)) return OMIT;
    return enumJson(rt, v);
  }
  if (isDefaultScalar(v) && !hasPresence(f)) return OMIT;
  return scalarJson(f.type, v);
}

export interface PrintOptions {
  /** Apply MessageUtil::redact() (the admin does). Default true. */
  redact?: boolean;
}

/** A normalized message of type `typeName` (`envoy.config.cluster.v3.Cluster`) as proto3 JSON. */
export function printMessage(typeName: string, value: Obj, opts: PrintOptions = {}): Obj {
  const t = findMessageType(typeName);
  if (t === null) throw new Error(`proto message ${typeName} not found`);
  return messageJson(t, value, false, opts.redact !== false) as Obj;
}
