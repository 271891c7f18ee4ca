// Regexes from a request or a config, with Envoy's semantics: RE2 syntax, and matching in time
// linear in the input, so that no pattern can pin a thread. Used by the admin `?filter=` and by route
// matching (router/matchers.ts: safe_regex paths, header and query matchers, uri templates).
//
// Design note: why re2js. ECMAScript RegExp (irregexp) backtracks, so `^([a-z_.]+)+!` is exponential,
// and its syntax is not RE2's: no `(?i)`, `(?P<name>..)`, `\pL`, `[[:alpha:]]`, `\A`/`\z`, while
// backreferences and lookaround are accepted. perf/regex-engines.ts compares the candidates on Node 26,
// and docs/bench.md has the figures. re2js is a pure-JS port of RE2/J with a lazy DFA. It parses RE2's
// syntax and rejects what RE2 rejects, and it stays linear on the pathological patterns. It offers both
// a search and an anchored full match without building capture arrays. On route and stats-name
// patterns it is about an order of magnitude slower than irregexp, about a microsecond or less per
// match, and faster than V8's own linear engine. It has no dependencies and no install script, and
// as plain JS it works unchanged in worker threads.
// The others:
// - re2-wasm never frees a compiled regex inside a fixed 16 MiB WASM heap, so a few thousand admin
//   filters abort the process, and every call pays for copying the string into WASM.
// - V8's linear engine (the `l` flag) sits behind an experimental process-wide flag and keeps
//   ECMAScript syntax. It refuses case-insensitive matching and `\p{..}`.
// - The native `re2` addon downloads a prebuilt binary at install, and otherwise compiles RE2 and
//   Abseil from source.
//
// Compile once (at config time, or once per admin request) and reuse the result. Compiling builds and
// analyses a program and costs far more than a match. re2js's lookbehind extension stays off (flags 0),
// so the accepted language is RE2's.
import { RE2JS, RE2JSSyntaxException } from 're2js';
import { LegateError } from './errors.ts';

export interface CompiledRegex {
  /** The pattern as written in the config or the request. */
  readonly source: string;
  /** Search: true if the pattern matches anywhere in `s` (admin `?filter=`, RE2::PartialMatch). */
  test(s: string): boolean;
  /** Anchored at both ends: true if the pattern matches all of `s` (RE2::FullMatch, what route
   *  `safe_regex` needs). */
  fullMatch(s: string): boolean;
}

/** LEGATE_ERR_REGEX: a pattern RE2 does not accept; the message quotes it and names the problem. */
export class RegexError extends LegateError {
  declare readonly code: 'LEGATE_ERR_REGEX';
  readonly pattern: string;
  constructor(pattern: string, reason: string) {
    super('LEGATE_ERR_REGEX', `invalid regex ${JSON.stringify(pattern)}: ${reason}`);
    this.name = 'RegexError';
    this.pattern = pattern;
  }
}

class Re2Regex implements CompiledRegex {
  readonly source: string;
  #re: RE2JS;

  constructor(source: string, re: RE2JS) {
    this.source = source;
    this.#re = re;
  }

  test(s: string): boolean {
    return this.#re.test(s);
  }

  fullMatch(s: string): boolean {
    return this.#re.testExact(s);
  }
}

/** Compiles an RE2 pattern, or throws a RegexError. */
export function compileRegex(pattern: string): CompiledRegex {
  let re: RE2JS;
  try {
    re = RE2JS.compile(pattern);
  } catch (err) {
    throw new RegexError(pattern, reason(err));
  }
  return new Re2Regex(pattern, re);
}

// RE2's parser reports the construct it stopped at (`error`, `input`). The Perl features people bring
// from PCRE or ECMAScript get a message that names the feature rather than the token.
function reason(err: unknown): string {
  if (!(err instanceof RE2JSSyntaxException)) return err instanceof Error ? err.message : String(err);
  const at = err.input ?? '';
  if (/^\\([1-9]|k)/.test(at)) return 'backreferences are not supported (RE2 syntax)';
  if (at.startsWith('(?=') || at.startsWith('(?!')) return 'lookahead is not supported (RE2 syntax)';
  if (at.startsWith('(?<=') || at.startsWith('(?<!')) return 'lookbehind is not supported (RE2 syntax)';
  if (at.startsWith('(?>')) return 'atomic groups are not supported (RE2 syntax)';
  return at === '' ? err.error : `${err.error}: ${at}`;
}
