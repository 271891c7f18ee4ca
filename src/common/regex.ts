// Regexes from a request or a config, with Envoy's semantics: RE2 syntax, and matching in time
// linear in the input, so that no pattern can pin a thread. Used by the admin `?filter=`, by route
// matching (router/matchers.ts: safe_regex paths, header and query matchers, uri templates) and by
// RegexMatchAndSubstitute (route regex_rewrite, host_rewrite_path_regex, redirect regex_rewrite:
// compileRewrite, RE2::GlobalReplace).
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

/** A RegexMatchAndSubstitute compiled (Envoy's Regex::CompiledMatcher::replaceAll, which is
 *  RE2::GlobalReplace): every non-overlapping match of the pattern, left to right, is replaced
 *  by the substitution, in which `\N` (N a digit) is capture group N (`\0` the whole match;
 *  a group that did not take part is empty) and `\\` a backslash. */
export interface CompiledRewrite {
  readonly pattern: string;
  readonly substitution: string;
  replaceAll(s: string): string;
}

class Re2Rewrite implements CompiledRewrite {
  readonly pattern: string;
  readonly substitution: string;
  #re: RE2JS;
  /** The substitution parsed once: literal text, or a group number. */
  #parts: (string | number)[];
  constructor(pattern: string, substitution: string, re: RE2JS, parts: (string | number)[]) {
    this.pattern = pattern;
    this.substitution = substitution;
    this.#re = re;
    this.#parts = parts;
  }

  // RE2::GlobalReplace: the search resumes where the last match ended, with the whole subject as
  // context (`^` still means its start); an empty match right where the previous match ended is
  // not replaced, one character (a code point: RE2 steps a rune in UTF-8 mode) is copied instead
  // and the search goes on after it. No match: the subject unchanged.
  replaceAll(s: string): string {
    const m = this.#re.matcher(s);
    const n = s.length;
    const parts = this.#parts;
    let out = '';
    let p = 0;
    let lastEnd = -1;
    let count = 0;
    while (p <= n && m.find(p)) {
      const start = m.start();
      const end = m.end();
      if (p < start) out += s.slice(p, start);
      if (start === end && start === lastEnd) {
        if (p < n) {
          const w = s.codePointAt(p)! > 0xffff ? 2 : 1;
          out += s.slice(p, p + w);
          p += w;
        } else {
          p++;
        }
        continue;
      }
      for (let i = 0; i < parts.length; i++) {
        const x = parts[i];
        out += typeof x === 'string' ? x : (m.group(x) ?? '');
      }
      p = end;
      lastEnd = end;
      count++;
    }
    if (count === 0) return s;
    if (p < n) out += s.slice(p);
    return out;
  }
}

/** Compiles a RegexMatchAndSubstitute, or throws a RegexError: the pattern as compileRegex, and
 *  the substitution as RE2::CheckRewriteString checks it (only `\0`..`\9` and `\\` after a
 *  backslash, no group beyond the pattern's). RE2 would fail every replacement with such a
 *  substitution at request time (the subject unchanged, or partly rewritten): refused up front. */
export function compileRewrite(pattern: string, substitution: string): CompiledRewrite {
  let re: RE2JS;
  try {
    re = RE2JS.compile(pattern);
  } catch (err) {
    throw new RegexError(pattern, reason(err));
  }
  const groups = re.groupCount();
  const parts: (string | number)[] = [];
  let lit = '';
  for (let i = 0; i < substitution.length; i++) {
    const c = substitution[i];
    if (c !== '\\') {
      lit += c;
      continue;
    }
    const d = substitution[++i];
    if (d === '\\') {
      lit += '\\';
    } else if (d !== undefined && d >= '0' && d <= '9') {
      const g = d.charCodeAt(0) - 48;
      if (g > groups) {
        throw new RegexError(pattern, `substitution ${JSON.stringify(substitution)} asks for group \\${g}, `
          + `the pattern has ${groups} capturing group(s)`);
      }
      if (lit !== '') parts.push(lit);
      lit = '';
      parts.push(g);
    } else {
      throw new RegexError(pattern, `invalid substitution ${JSON.stringify(substitution)}: after a backslash `
        + 'RE2 takes a digit (a group) or another backslash');
    }
  }
  if (lit !== '') parts.push(lit);
  return new Re2Rewrite(pattern, substitution, re, parts);
}
