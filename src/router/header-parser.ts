// Custom request and response headers (Envoy's Router::HeaderParser, source/common/router/
// header_parser.cc): `*_headers_to_add` (HeaderValueOption: a header whose value is a substitution
// format string, an append_action, keep_empty_value, the deprecated `append`) and
// `*_headers_to_remove`, on a route configuration, a virtual host, a route (and a weighted
// cluster or a local reply mapper: anything that carries the same two lists).
//
// compileHeaderParser() runs in main and returns plain data (null when both lists are empty, so a
// request with nothing configured costs one null check). A worker builds the HeaderParser once per
// snapshot object (headerParsers(), cached by identity) and evaluateHeaders() does what Envoy's
// does: the removals first; then every value is formatted against the headers as they are after
// the removals (ADD_IF_ABSENT and OVERWRITE_IF_EXISTS test them too), and only then are the
// overwrites set and the appends added, so no added header feeds another one's value.
//
// Composing: a chain is an array of parsers evaluated in order, the later one winning an
// overwrite. The router evaluates the route's chain (routeChain(): the route's, its virtual host's
// and the route configuration's, least specific last unless most_specific_header_mutations_wins)
// right before the request goes upstream (Envoy's finalizeRequestHeaders) and on the upstream's
// response head (finalizeResponseHeaders); a weighted cluster's parser goes in front of that chain
// (Envoy's WeightedClusterEntry evaluates its own before the route's): build that list once when
// the config is compiled ([cluster's, ...route chain]) and pass it, since the worker-side chain is
// cached by the list's identity (a list made per request would be rebuilt per request).
import type { CompileContext } from '../extensions/types.ts';
import {
  SubstitutionFormatter, parseFormat, type FormatContext, type FormatPiece,
} from '../formatter/substitution-formatter.ts';
import { startTimeOf, type HeaderMap, type RequestHeaders, type ResponseHeaders, type StreamInfo } from '../http/types.ts';
import { monotonicNow } from '../common/clock.ts';

type Obj = Record<string, any>;

/** HeaderValueOption.HeaderAppendAction. */
export const AppendAction = {
  AppendIfExistsOrAdd: 0,
  AddIfAbsent: 1,
  OverwriteIfExistsOrAdd: 2,
  OverwriteIfExists: 3,
} as const;
export type AppendAction = (typeof AppendAction)[keyof typeof AppendAction];

const ACTIONS: Readonly<Record<string, AppendAction>> = {
  APPEND_IF_EXISTS_OR_ADD: AppendAction.AppendIfExistsOrAdd,
  ADD_IF_ABSENT: AppendAction.AddIfAbsent,
  OVERWRITE_IF_EXISTS_OR_ADD: AppendAction.OverwriteIfExistsOrAdd,
  OVERWRITE_IF_EXISTS: AppendAction.OverwriteIfExists,
};

export interface HeaderToAddSnap {
  /** Lowercase. */
  name: string;
  /** The value's format (parsed; a literal value is one string). */
  value: FormatPiece[];
  action: AppendAction;
  /** keep_empty_value: a value that formats to '' is still added. */
  keepEmpty: boolean;
}
export interface HeaderParserSnap {
  add: HeaderToAddSnap[];
  /** Lowercase. */
  remove: string[];
}

// Legate's codec and connection manager own these (framing and per-hop connection management);
// a custom header cannot set or drop them (see docs/differences.md).
const CODEC_OWNED = new Set(['content-length', 'transfer-encoding', 'connection', 'upgrade', 'keep-alive', 'te']);

function checkName(raw: string, path: string, verb: 'modified' | 'removed', ctx: Pick<CompileContext, 'fail'>): string {
  const name = raw.toLowerCase();
  // Envoy's isModifiableHeader / isRemovableHeader.
  if (name.startsWith(':') || name === 'host') ctx.fail(path, `:-prefixed or host headers may not be ${verb}`);
  if (CODEC_OWNED.has(name)) {
    ctx.fail(path, `header "${raw}" may not be ${verb} by Legate (framing and connection headers belong to the codec)`);
  }
  return name;
}

/** headers_to_add (HeaderValueOption list) and headers_to_remove of one message; the paths name
 *  the two fields. Null when there is nothing to do. */
export function compileHeaderParser(
  add: Obj[] | undefined, remove: string[] | undefined, addPath: string, removePath: string,
  ctx: Pick<CompileContext, 'fail'>,
): HeaderParserSnap | null {
  const out: HeaderParserSnap = { add: [], remove: [] };
  (add ?? []).forEach((o, i) => {
    const p = `${addPath}[${i}]`;
    const name = checkName(String(o.header?.key ?? ''), `${p}.header.key`, 'modified', ctx);
    let action: AppendAction;
    if (o.append !== undefined && o.append !== null) {
      // The deprecated BoolValue: true appends, false overwrites; not with append_action.
      if (o.append_action !== undefined && o.append_action !== 'APPEND_IF_EXISTS_OR_ADD') {
        ctx.fail(p, "Both append and append_action are set and it's not allowed");
      }
      const v = typeof o.append === 'object' ? o.append.value : o.append;
      action = v === false ? AppendAction.OverwriteIfExistsOrAdd : AppendAction.AppendIfExistsOrAdd;
    } else {
      action = ACTIONS[o.append_action ?? 'APPEND_IF_EXISTS_OR_ADD'] ?? AppendAction.AppendIfExistsOrAdd;
    }
    const value = parseFormat(String(o.header?.value ?? ''), `${p}.header.value`, ctx.fail);
    out.add.push({ name, value, action, keepEmpty: o.keep_empty_value === true });
  });
  (remove ?? []).forEach((r, i) => {
    out.remove.push(checkName(String(r), `${removePath}[${i}]`, 'removed', ctx));
  });
  return out.add.length === 0 && out.remove.length === 0 ? null : out;
}

/** A header value as a worker computes it: a literal (no operator), else null and `formatter` set. */
export interface HeaderValue {
  literal: string | null;
  formatter: SubstitutionFormatter | null;
}

/** The worker-side form of a parsed header value (see HeaderValue). */
export function headerValue(pieces: FormatPiece[]): HeaderValue {
  const literal = pieces.length === 0 ? '' : pieces.length === 1 && typeof pieces[0] === 'string' ? pieces[0] : null;
  return { literal, formatter: literal === null ? new SubstitutionFormatter(pieces, true) : null };
}

interface HeaderToAdd extends HeaderValue {
  name: string;
  action: AppendAction;
  keepEmpty: boolean;
}

export class HeaderParser {
  readonly #add: HeaderToAdd[];
  readonly #remove: string[];
  /** Whether any value has an operator (the context is only built then). */
  readonly formats: boolean;

  constructor(snap: HeaderParserSnap) {
    this.#remove = snap.remove;
    this.#add = snap.add.map((a) => ({ ...headerValue(a.value), name: a.name, action: a.action, keepEmpty: a.keepEmpty }));
    this.formats = this.#add.some((a) => a.formatter !== null);
  }

  /** Apply to `h`; `c` is what the values are formatted from (null only when no value formats). */
  evaluateHeaders(h: HeaderMap, c: FormatContext | null): void {
    const remove = this.#remove;
    for (let i = 0; i < remove.length; i++) h.remove(remove[i]);
    const adds = this.#add;
    if (adds.length === 0) return;
    // Every value first, against the headers as they are now; then the overwrites, then the adds.
    let overwrite: string[] | null = null;
    let append: string[] | null = null;
    for (let i = 0; i < adds.length; i++) {
      const a = adds[i];
      const value = a.literal ?? a.formatter!.format(c!);
      if (value === '' && !a.keepEmpty) continue;
      switch (a.action) {
        case AppendAction.AppendIfExistsOrAdd:
          (append ??= []).push(a.name, value);
          break;
        case AppendAction.AddIfAbsent:
          if (h.get(a.name) === undefined) (append ??= []).push(a.name, value);
          break;
        case AppendAction.OverwriteIfExists:
          if (h.get(a.name) === undefined) break;
          (overwrite ??= []).push(a.name, value);
          break;
        default:
          (overwrite ??= []).push(a.name, value);
      }
    }
    if (overwrite !== null) {
      // Envoy's setReferenceKey: every line of the name goes, the new one is added at the end.
      for (let i = 0; i < overwrite.length; i += 2) {
        h.remove(overwrite[i]);
        h.add(overwrite[i], overwrite[i + 1]);
      }
    }
    if (append !== null) for (let i = 0; i < append.length; i += 2) h.add(append[i], append[i + 1]);
  }
}

// ---- chains -------------------------------------------------------------------------------------

/** Parsers evaluated in order; `formats`: whether any of them needs a format context. */
export interface HeaderParserChain {
  readonly parsers: readonly HeaderParser[];
  readonly formats: boolean;
}

const chains = new WeakMap<readonly HeaderParserSnap[], HeaderParserChain>();

/** The worker-side chain of a snapshot's list of parsers, built on first use and kept for the
 *  snapshot's life (keyed by the list's identity). */
export function headerParsers(snaps: readonly HeaderParserSnap[]): HeaderParserChain {
  let c = chains.get(snaps);
  if (c === undefined) {
    const parsers = snaps.map((s) => new HeaderParser(s));
    c = { parsers, formats: parsers.some((p) => p.formats) };
    chains.set(snaps, c);
  }
  return c;
}

/** The order a route's custom headers are evaluated in (Envoy's getHeaderParsers): the most
 *  specific first, so the route configuration's wins an overwrite, or with
 *  most_specific_header_mutations_wins the least specific first. Null when none has any. */
export function routeChain(
  route: HeaderParserSnap | null, vhost: HeaderParserSnap | null, global: HeaderParserSnap | null,
  mostSpecificWins: boolean,
): HeaderParserSnap[] | null {
  const order = mostSpecificWins ? [global, vhost, route] : [route, vhost, global];
  const out = order.filter((p): p is HeaderParserSnap => p !== null);
  return out.length === 0 ? null : out;
}

/** What a header value is formatted from: the request head, the response head (null on the
 *  request side) and the stream. */
export function formatContext(req: RequestHeaders | null, resp: ResponseHeaders | null, info: StreamInfo): FormatContext {
  return {
    req, resp, info, durationMs: monotonicNow() - info.startHr, startTime: startTimeOf(info), localReplyBody: '',
  };
}

/** Envoy's finalizeRequestHeaders (the header part): `snaps` on the request about to go upstream. */
export function finalizeRequestHeaders(snaps: readonly HeaderParserSnap[], headers: RequestHeaders, info: StreamInfo): void {
  const chain = headerParsers(snaps);
  const c = chain.formats ? formatContext(headers, null, info) : null;
  for (const p of chain.parsers) p.evaluateHeaders(headers, c);
}

/** Envoy's finalizeResponseHeaders: `snaps` on a response head (the upstream's, or a local reply's). */
export function finalizeResponseHeaders(
  snaps: readonly HeaderParserSnap[], headers: ResponseHeaders, req: RequestHeaders | null, info: StreamInfo,
): void {
  const chain = headerParsers(snaps);
  // %RESPONSE_CODE% is this head's status (the connection manager records it again when the head
  // leaves the filter chain).
  if (chain.formats) info.responseCode = headers.status;
  const c = chain.formats ? formatContext(req, headers, info) : null;
  for (const p of chain.parsers) p.evaluateHeaders(headers, c);
}
