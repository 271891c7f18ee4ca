// The compiled conditions of a route (Envoy's RouteEntryImplBase::matchRoute and the path matchers of
// its subclasses), built once per worker from the snapshot (router/config.ts).
//
// Design note. Every condition has a hot `match(input)` and a cold `explain(input)`. `explain` is
// called only after `match` said no, and only words the reason from the same compiled data: the
// verdict always comes from `match`, so what `legate explain` reports cannot drift from what the
// request path does. A route is its path matcher plus a list of conditions in Envoy's order
// (runtime_fraction, grpc, headers, query parameters, tls_context); one more RouteMatch field is
// one more entry in the list. runtime_fraction reads the runtime when the request is matched, with
// the stream's random value (Envoy's stream id: the same value for every route of one lookup). Regexes are RE2 (common/regex.ts), compiled here once; no ECMAScript RegExp sees a pattern
// from a config or a request.
import { compileRegex, type CompiledRegex } from '../common/regex.ts';
import type { HeaderMap, RequestHeaders } from '../http/types.ts';
import type { SslConnectionInfo } from '../network/transport-socket.ts';
import { streamIdOf, type StreamInfo } from '../http/types.ts';
import { randomU53 } from '../common/random.ts';
import type { FractionalPercent, Loader } from '../runtime/types.ts';
import type { HeaderMatchSnap, QueryParamMatchSnap, RouteMatchSnap, StringMatchSnap } from './config.ts';

/** ASCII lowercase (absl::AsciiStrToLower); the string itself when it has no capital. */
export function asciiLower(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 65 && c <= 90) return s.replace(/[A-Z]+/g, (u) => u.toLowerCase());
  }
  return s;
}

/** The request as the matchers see it: one per route table, reset per lookup (no allocation for
 *  a request that needs no lowercase path and no query). */
export class MatchInput {
  req: RequestHeaders;
  /** :path without query and fragment (Envoy's PathUtil::removeQueryAndFragment). */
  path: string;
  ssl: SslConnectionInfo | null;
  /** The stream (its id is the random value), null: a value drawn for this lookup. */
  info: StreamInfo | null;
  #lower: string | null;
  #query: Map<string, string> | null;
  #random: number;

  constructor(req: RequestHeaders) {
    this.req = req;
    this.path = '';
    this.ssl = null;
    this.info = null;
    this.#lower = null;
    this.#query = null;
    this.#random = -1;
  }

  reset(req: RequestHeaders, ssl: SslConnectionInfo | null, info: StreamInfo | null = null): void {
    this.req = req;
    this.path = pathOnly(req.path);
    this.ssl = ssl;
    this.info = info;
    this.#lower = null;
    this.#query = null;
    this.#random = -1;
  }

  /** The random value of this lookup (Envoy's stream id), drawn when first asked for. */
  get random(): number {
    if (this.#random === -1) this.#random = this.info !== null ? streamIdOf(this.info) : randomU53();
    return this.#random;
  }

  get lowerPath(): string {
    return this.#lower ??= asciiLower(this.path);
  }

  /** The first value of a query parameter, as written (Envoy's parseQueryString does not
   *  percent-decode); undefined when absent. */
  query(name: string): string | undefined {
    return (this.#query ??= parseQuery(this.req.path)).get(name);
  }
}

export function pathOnly(p: string): string {
  for (let i = 0; i < p.length; i++) {
    const c = p.charCodeAt(i);
    if (c === 63 /* ? */ || c === 35 /* # */) return p.slice(0, i);
  }
  return p;
}

/** Envoy's QueryParamsMulti::parseQueryString, keeping the first value of each name. */
function parseQuery(full: string): Map<string, string> {
  const out = new Map<string, string>();
  const q = full.indexOf('?');
  if (q === -1) return out;
  let end = full.indexOf('#', q);
  if (end === -1) end = full.length;
  let start = q + 1;
  while (start < end) {
    let amp = full.indexOf('&', start);
    if (amp === -1 || amp > end) amp = end;
    const eq = full.indexOf('=', start);
    const [k, v] = eq !== -1 && eq < amp ? [full.slice(start, eq), full.slice(eq + 1, amp)] : [full.slice(start, amp), ''];
    if (!out.has(k)) out.set(k, v);
    start = amp + 1;
  }
  return out;
}

/** Quotes a value for an explanation. */
function q(s: string): string {
  return JSON.stringify(s);
}

// ---- string matching -----------------------------------------------------------------------------

/** A StringMatcher (Envoy's StringMatcherImpl): ignore_case compares ASCII case-insensitively;
 *  safe_regex is an RE2 full match (ignore_case is refused with it at config time, as Envoy does). */
export class StringMatcher {
  readonly kind: StringMatchSnap['kind'];
  readonly value: string;
  readonly ignoreCase: boolean;
  readonly re: CompiledRegex | null;

  constructor(s: StringMatchSnap) {
    this.kind = s.kind;
    this.value = s.value;
    this.ignoreCase = s.ignoreCase;
    this.re = s.kind === 'regex' ? compileRegex(s.value) : null;
  }

  match(v: string): boolean {
    if (this.re !== null) return this.re.fullMatch(v);
    const x = this.ignoreCase ? asciiLower(v) : v;
    switch (this.kind) {
      case 'exact': return x === this.value;
      case 'prefix': return x.startsWith(this.value);
      case 'suffix': return x.endsWith(this.value);
      default: return x.includes(this.value);
    }
  }

  /** `exact "v"`, `prefix "v" (ignore_case)`, `safe_regex "re"`. */
  describe(): string {
    const k = this.kind === 'regex' ? 'safe_regex' : this.kind;
    return `${k} ${q(this.value)}${this.ignoreCase ? ' (ignore_case)' : ''}`;
  }
}

// ---- header matching -----------------------------------------------------------------------------

/** A header's value as Envoy's HeaderUtility::getAllOfHeaderAsString gives it: every line of that
 *  name joined with ','; the pseudo-headers of a request from their fields; undefined: absent. */
export function headerValue(h: HeaderMap, name: string): string | undefined {
  if (name.charCodeAt(0) === 58 /* ':' */ && 'method' in h) {
    const r = h as RequestHeaders;
    return name === ':method' ? r.method : name === ':path' ? r.path
      : name === ':authority' ? r.authority : name === ':scheme' ? r.scheme : undefined;
  }
  let out: string | undefined;
  const raw = h.raw;
  if (raw !== null) {
    for (let i = raw.find(name); i >= 0; i = raw.find(name, i + 1)) {
      out = out === undefined ? raw.value(i) : `${out},${raw.value(i)}`;
    }
  }
  const l = h.list;
  const n = name.length;
  for (let i = 0; i < l.length; i += 2) {
    const k = l[i];
    if (k.length === n && k === name) out = out === undefined ? l[i + 1] : `${out},${l[i + 1]}`;
  }
  return out;
}

const INT64_RE = /^[ \t\n\v\f\r]*[+-]?[0-9]+[ \t\n\v\f\r]*$/;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** absl::SimpleAtoi into an int64: decimal, optional sign, surrounding ASCII space; null when it
 *  is not one or overflows. */
function int64(v: string): bigint | null {
  if (!INT64_RE.test(v)) return null;
  const n = BigInt(v.trim());
  return n < INT64_MIN || n > INT64_MAX ? null : n;
}

/** A HeaderMatcher (Envoy's HeaderUtility::HeaderData): route `headers` and the retry policy's
 *  `retriable_headers` both use it. */
export class HeaderMatcher {
  readonly snap: HeaderMatchSnap;
  readonly name: string;
  readonly string: StringMatcher | null;
  readonly rangeStart: bigint;
  readonly rangeEnd: bigint;

  constructor(s: HeaderMatchSnap) {
    this.snap = s;
    this.name = s.name;
    this.string = s.kind === 'present' || s.kind === 'range' ? null
      : new StringMatcher({ kind: s.kind, value: s.value, ignoreCase: s.ignoreCase });
    this.rangeStart = s.kind === 'range' ? BigInt(s.rangeStart!) : 0n;
    this.rangeEnd = s.kind === 'range' ? BigInt(s.rangeEnd!) : 0n;
  }

  match(h: HeaderMap): boolean {
    return this.matchesValue(headerValue(h, this.name));
  }

  /** Envoy's matchesHeaders: an absent header (unless treat_missing_header_as_empty) matches only
   *  `present_match: false`, or `present_match: true` inverted; invert_match flips the rest. */
  matchesValue(v: string | undefined): boolean {
    const s = this.snap;
    if (v === undefined) {
      if (s.treatMissingAsEmpty !== true) return s.kind === 'present' && s.present === s.invert;
      v = '';
    }
    return this.#specific(v) !== s.invert;
  }

  #specific(v: string): boolean {
    const s = this.snap;
    if (s.kind === 'present') return s.present;
    if (s.kind === 'range') {
      const n = int64(v);
      return n !== null && n >= this.rangeStart && n < this.rangeEnd;
    }
    return this.string!.match(v);
  }

  /** Why match(h) was false. */
  explain(h: HeaderMap): string {
    const v = headerValue(h, this.name);
    const s = this.snap;
    const what = s.kind === 'present' ? `present_match: ${s.present}`
      : s.kind === 'range' ? `range_match [${s.rangeStart}, ${s.rangeEnd})` : this.string!.describe();
    const inv = s.invert ? ', inverted' : '';
    return `header ${this.name}: ${v === undefined ? 'absent' : q(v)} (${what}${inv})`;
  }
}

const headerMatchers = new WeakMap<HeaderMatchSnap, HeaderMatcher>();

/** The compiled matcher of a HeaderMatchSnap, compiled on first use and kept with it (the retry
 *  policy's retriable_headers: the snapshot lives as long as its config). */
export function headerMatcherOf(s: HeaderMatchSnap): HeaderMatcher {
  let m = headerMatchers.get(s);
  if (m === undefined) headerMatchers.set(s, m = new HeaderMatcher(s));
  return m;
}

// ---- route conditions ----------------------------------------------------------------------------

/** One condition of a route besides its path. */
export interface RouteCondition {
  match(m: MatchInput): boolean;
  /** Why match(m) was false; only called then. */
  explain(m: MatchInput): string;
}

class HeaderCondition implements RouteCondition {
  readonly h: HeaderMatcher;
  constructor(s: HeaderMatchSnap) { this.h = new HeaderMatcher(s); }
  match(m: MatchInput): boolean { return this.h.match(m.req); }
  explain(m: MatchInput): string { return this.h.explain(m.req); }
}

/** Envoy's Grpc::Common::isGrpcRequestHeaders: content-type exactly application/grpc, or
 *  application/grpc+<subtype>. */
export function isGrpcContentType(ct: string | undefined): boolean {
  return ct !== undefined && ct.startsWith('application/grpc')
    && (ct.length === 16 || ct.charCodeAt(16) === 43 /* + */);
}

class GrpcCondition implements RouteCondition {
  match(m: MatchInput): boolean { return isGrpcContentType(m.req.get('content-type')); }
  explain(m: MatchInput): string {
    const ct = m.req.get('content-type');
    return `grpc: content-type ${ct === undefined ? 'absent' : q(ct)} is not application/grpc`;
  }
}

/** Envoy's ConfigUtility::QueryParameterMatcher (the first value of the name; present_match
 *  compares presence). */
class QueryCondition implements RouteCondition {
  readonly name: string;
  readonly present: boolean | null;
  readonly string: StringMatcher | null;
  constructor(s: QueryParamMatchSnap) {
    this.name = s.name;
    this.present = s.present;
    this.string = s.match === null ? null : new StringMatcher(s.match);
  }
  match(m: MatchInput): boolean {
    const v = m.query(this.name);
    if (this.present !== null) return (v !== undefined) === this.present;
    if (v === undefined) return false;
    return this.string === null || this.string.match(v);
  }
  explain(m: MatchInput): string {
    const v = m.query(this.name);
    const what = this.present !== null ? `present_match: ${this.present}`
      : this.string === null ? 'present' : this.string.describe();
    return `query parameter ${this.name}: ${v === undefined ? 'absent' : q(v)} (${what})`;
  }
}

/** Envoy's evaluateTlsContextMatch: a plaintext connection has neither presented nor validated a
 *  certificate. */
class TlsCondition implements RouteCondition {
  readonly presented: boolean | null;
  readonly validated: boolean | null;
  constructor(presented: boolean | null, validated: boolean | null) {
    this.presented = presented;
    this.validated = validated;
  }
  match(m: MatchInput): boolean {
    const ssl = m.ssl;
    if (this.presented !== null && this.presented !== (ssl !== null && ssl.peerCertificatePresented)) return false;
    return this.validated === null || this.validated === (ssl !== null && ssl.peerCertificateValidated);
  }
  explain(m: MatchInput): string {
    const ssl = m.ssl;
    const p = ssl !== null && ssl.peerCertificatePresented;
    const v = ssl !== null && ssl.peerCertificateValidated;
    return `tls_context: client certificate presented ${p}, validated ${v} `
      + `(wants${this.presented !== null ? ` presented ${this.presented}` : ''}`
      + `${this.validated !== null ? ` validated ${this.validated}` : ''})`;
  }
}

const DENOMINATOR: Readonly<Record<FractionalPercent['denominator'], number>> = {
  HUNDRED: 100, TEN_THOUSAND: 10_000, MILLION: 1_000_000,
};

/** RouteMatch.runtime_fraction (Envoy's evaluateRuntimeMatch): the runtime's fraction under
 *  runtimeKey, else the default, against the stream's random value; the snapshot is the one
 *  current when the request is matched. */
class RuntimeCondition implements RouteCondition {
  readonly runtimeKey: string;
  readonly defaultValue: FractionalPercent;
  readonly runtime: Loader;
  constructor(runtimeKey: string, defaultValue: FractionalPercent, runtime: Loader) {
    this.runtimeKey = runtimeKey;
    this.defaultValue = defaultValue;
    this.runtime = runtime;
  }
  match(m: MatchInput): boolean {
    return this.runtime.snapshot().featureEnabledFractional(this.runtimeKey, this.defaultValue, m.random);
  }
  explain(m: MatchInput): string {
    const d = this.defaultValue;
    const raw = this.runtimeKey === '' ? null : this.runtime.snapshot().get(this.runtimeKey);
    const source = this.runtimeKey === '' ? 'no runtime_key'
      : raw === null ? `runtime_key ${q(this.runtimeKey)} not set` : `runtime_key ${q(this.runtimeKey)} = ${q(raw)}`;
    return `runtime_fraction: not enabled for random value ${m.random} `
      + `(default_value ${d.numerator}/${DENOMINATOR[d.denominator]}, ${source})`;
  }
}

/** The conditions of a RouteMatch other than its path, in Envoy's order (runtime_fraction is
 *  read through `runtime`). */
export function routeConditions(match: RouteMatchSnap, headers: readonly HeaderMatchSnap[], runtime: Loader): RouteCondition[] {
  const out: RouteCondition[] = [];
  const rf = match.runtimeFraction ?? null;
  if (rf !== null) out.push(new RuntimeCondition(rf.runtimeKey, rf.defaultValue, runtime));
  if (match.grpc === true) out.push(new GrpcCondition());
  for (const h of headers) out.push(new HeaderCondition(h));
  for (const p of match.queryParameters ?? []) out.push(new QueryCondition(p));
  const tp = match.tlsPresented ?? null;
  const tv = match.tlsValidated ?? null;
  if (tp !== null || tv !== null) out.push(new TlsCondition(tp, tv));
  return out;
}

// ---- path matching -------------------------------------------------------------------------------

export const PathKind = { Prefix: 0, Exact: 1, Regex: 2, Separated: 3, Template: 4 } as const;
export type PathKind = (typeof PathKind)[keyof typeof PathKind];

/** A route's path specifier (Envoy's PathMatcher of each RouteEntryImpl kind), on the path without
 *  query and fragment. case_sensitive applies to prefix, path and path_separated_prefix; safe_regex
 *  and templates are matched as written, as in Envoy. */
export class PathMatcher {
  readonly kind: PathKind;
  /** The value to compare (lowercased when not case-sensitive), or the template / pattern. */
  readonly value: string;
  readonly caseSensitive: boolean;
  readonly re: CompiledRegex | null;

  constructor(s: RouteMatchSnap) {
    this.kind = s.kind === 'prefix' ? PathKind.Prefix : s.kind === 'path' ? PathKind.Exact
      : s.kind === 'regex' ? PathKind.Regex : s.kind === 'separated' ? PathKind.Separated : PathKind.Template;
    const literal = this.kind === PathKind.Prefix || this.kind === PathKind.Exact || this.kind === PathKind.Separated;
    this.caseSensitive = !literal || s.caseSensitive;
    this.value = this.caseSensitive ? s.value : asciiLower(s.value);
    this.re = this.kind === PathKind.Regex ? compileRegex(s.value)
      : this.kind === PathKind.Template ? compileRegex(s.regex!) : null;
  }

  match(m: MatchInput): boolean {
    const p = this.caseSensitive ? m.path : m.lowerPath;
    switch (this.kind) {
      case PathKind.Prefix: return p.startsWith(this.value);
      case PathKind.Exact: return p === this.value;
      case PathKind.Separated: {
        const n = this.value.length;
        return p.startsWith(this.value) && (p.length === n || p.charCodeAt(n) === 47 /* / */);
      }
      default: return this.re!.fullMatch(p);
    }
  }

  describe(): string {
    const cs = this.caseSensitive || this.kind === PathKind.Regex || this.kind === PathKind.Template ? '' : ' (case-insensitive)';
    const k = ['prefix', 'path', 'safe_regex', 'path_separated_prefix', 'path template'][this.kind];
    return `${k} ${q(this.value)}${cs}`;
  }

  explain(m: MatchInput): string {
    const p = q(m.path);
    switch (this.kind) {
      case PathKind.Prefix: return `path ${p} does not start with ${this.describe()}`;
      case PathKind.Exact: return `path ${p} is not ${this.describe()}`;
      case PathKind.Separated: return `path ${p} is not ${this.describe()} nor below it`;
      default: return `path ${p} does not fully match ${this.describe()}`;
    }
  }
}
