// Envoy's substitution format strings (source/common/formatter/substitution_formatter.cc), shared
// by the access logs, the route's custom headers (router/header-parser.ts) and local reply bodies
// (http/local-reply.ts).
//
// Two steps, both at config time. parseFormat() runs in main when the config is loaded: it checks
// the string as Envoy's parser does (a `%` starts `%COMMAND(arg):maxlen%` unless it is `%%`; the
// command must be one Legate has, operators.ts) and returns plain data that crosses to the workers:
// literal text and { cmd, arg, max } pieces. A worker turns that into a SubstitutionFormatter: an
// array of literal strings and operator functions, so formatting a stream is one walk and one join.
//
// Unset values: the access log prints `-` (Envoy's default), header values and omit_empty_values
// print nothing.
import { ArgRule, OPERATORS, type FormatContext, type OperatorFn } from './operators.ts';

export type { FormatContext } from './operators.ts';

/** One parsed piece: literal text, or a command operator with its argument (null: none) and
 *  max length (0: none). */
export type FormatPiece = string | { cmd: string; arg: string | null; max: number };

type Fail = (path: string, message: string) => never;

// Envoy's commandWithArgsRegex, anchored at the `%` that starts a command.
const COMMAND = /^%([A-Z0-9_]+)(?:\(([^)]*)\))?(?::([0-9]+))?%/;

/** Parse and check a format string; `path` names it in errors. */
export function parseFormat(format: string, path: string, fail: Fail): FormatPiece[] {
  const out: FormatPiece[] = [];
  let literal = '';
  for (let pos = 0; pos < format.length; pos++) {
    const ch = format[pos];
    if (ch !== '%') {
      literal += ch;
      continue;
    }
    if (format[pos + 1] === '%') {
      literal += '%';
      pos++;
      continue;
    }
    const m = COMMAND.exec(format.slice(pos));
    if (m === null) {
      fail(path, `Incorrect configuration: ${format}. Couldn't find valid command at position ${pos}`);
    }
    const cmd = m[1];
    const arg = m[2] ?? null;
    const max = m[3] === undefined ? 0 : Number(m[3]);
    const spec = OPERATORS[cmd];
    if (spec === undefined) {
      fail(path, `Not supported field in StreamInfo: ${cmd} (Legate has ${Object.keys(OPERATORS).join(', ')})`);
    }
    if (spec.arg === ArgRule.Required && (arg === null || arg === '')) {
      fail(path, `${cmd} requires an argument: %${cmd}(...)%`);
    }
    if (spec.arg === ArgRule.None && arg !== null) fail(path, `${cmd} does not take an argument`);
    if ((cmd === 'REQ' || cmd === 'RESP' || cmd === 'REQ_WITHOUT_QUERY') && arg!.split('?').length > 2) {
      fail(path, `More than 1 alternative header specified in token: ${arg}`);
    }
    if (spec.constant !== undefined) {
      const v = spec.constant(arg);
      literal += max > 0 && v.length > max ? v.slice(0, max) : v;
    } else {
      if (literal !== '') out.push(literal);
      literal = '';
      out.push({ cmd, arg, max });
    }
    pos += m[0].length - 1;
  }
  if (literal !== '') out.push(literal);
  return out;
}

/** Whether a parsed format has command operators (a format without any is plain text). */
export function hasOperators(pieces: readonly FormatPiece[]): boolean {
  return pieces.some((p) => typeof p !== 'string');
}

function operator(p: Exclude<FormatPiece, string>): OperatorFn {
  const f = OPERATORS[p.cmd]!.make!(p.arg);
  const max = p.max;
  if (max === 0) return f;
  return (c) => {
    const v = f(c);
    return v !== null && v.length > max ? v.slice(0, max) : v;
  };
}

/** A compiled format (worker side). */
export class SubstitutionFormatter {
  readonly #parts: (string | OperatorFn)[];
  readonly #unset: string;
  /** The one operator a format made only of it has (a JSON format keeps such a value's type). */
  readonly single: {
    fn: OperatorFn; numeric: boolean; typed: ((c: FormatContext) => unknown) | null; max: number;
  } | null;

  /** `omitEmpty`: an unset value prints nothing (header values; Envoy's omit_empty_values), else `-`. */
  constructor(pieces: readonly FormatPiece[], omitEmpty: boolean) {
    this.#parts = pieces.map((p) => (typeof p === 'string' ? p : operator(p)));
    this.#unset = omitEmpty ? '' : '-';
    const only = pieces.length === 1 ? pieces[0] : null;
    const spec = only === null || typeof only === 'string' ? null : OPERATORS[only.cmd]!;
    this.single = spec === null ? null : {
      fn: this.#parts[0] as OperatorFn, numeric: spec.numeric === true,
      typed: spec.typed?.((only as Exclude<FormatPiece, string>).arg) ?? null, max: (only as Exclude<FormatPiece, string>).max,
    };
  }

  format(c: FormatContext): string {
    const parts = this.#parts;
    let s = '';
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i];
      if (typeof p === 'string') {
        s += p;
      } else {
        const v = p(c);
        s += v === null ? this.#unset : v;
      }
    }
    return s;
  }
}

// ---- JSON formats (json_format) ---------------------------------------------------------------

/** A json_format, parsed: its string values are formats, anything else is kept as written. */
export type JsonFormatSnap =
  | { kind: 'format'; pieces: FormatPiece[] }
  | { kind: 'value'; value: unknown }
  | { kind: 'object'; entries: [string, JsonFormatSnap][] }
  | { kind: 'list'; items: JsonFormatSnap[] };

export function parseJsonFormat(v: unknown, path: string, fail: Fail): JsonFormatSnap {
  if (typeof v === 'string') return { kind: 'format', pieces: parseFormat(v, path, fail) };
  if (Array.isArray(v)) return { kind: 'list', items: v.map((x, i) => parseJsonFormat(x, `${path}[${i}]`, fail)) };
  if (v !== null && typeof v === 'object') {
    return {
      kind: 'object',
      entries: Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, parseJsonFormat(x, `${path}.${k}`, fail)]),
    };
  }
  return { kind: 'value', value: v };
}

type JsonNode = (c: FormatContext) => unknown;

function jsonNode(s: JsonFormatSnap, omitEmpty: boolean): JsonNode {
  switch (s.kind) {
    case 'value': {
      const v = s.value;
      return () => v;
    }
    case 'list': {
      const items = s.items.map((i) => jsonNode(i, omitEmpty));
      return (c) => items.map((i) => i(c));
    }
    case 'object': {
      const entries = s.entries.map(([k, v]) => [k, jsonNode(v, omitEmpty)] as const);
      return (c) => {
        const o: Record<string, unknown> = {};
        for (const [k, f] of entries) {
          const v = f(c);
          if (v === undefined) continue;
          o[k] = v;
        }
        return o;
      };
    }
    case 'format': {
      const f = new SubstitutionFormatter(s.pieces, false);
      const single = f.single;
      if (single === null) return (c) => f.format(c);
      // A value that is one operator keeps its type (Envoy's typed JSON): a number for the numeric
      // ones, the value itself for a typed one (a string truncated to its max length); an unset
      // value is null (left out with omit_empty_values).
      const typed = single.typed;
      if (typed !== null) {
        const max = single.max;
        return (c) => {
          const v = typed(c);
          if (v === undefined) return omitEmpty ? undefined : null;
          return max > 0 && typeof v === 'string' && v.length > max ? v.slice(0, max) : v;
        };
      }
      return (c) => {
        const v = single.fn(c);
        if (v === null) return omitEmpty ? undefined : null;
        return single.numeric ? Number(v) : v;
      };
    }
  }
}

/** A compiled json_format: one JSON object per stream, a newline after it (Envoy's). */
export class JsonFormatter {
  readonly #root: JsonNode;
  constructor(snap: JsonFormatSnap, omitEmpty: boolean) {
    this.#root = jsonNode(snap, omitEmpty);
  }
  format(c: FormatContext): string {
    return JSON.stringify(this.#root(c)) + '\n';
  }
}
