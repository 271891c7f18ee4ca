// The HTTP connection manager's request path and host normalization before routing (Envoy's
// ConnectionManagerUtility::maybeNormalizePath / maybeNormalizeHost and the PathUtil and HeaderUtility
// functions they call). Only the path part is touched; the query is kept as it came.
//
// normalize_path is RFC 3986 section 5.2.4 remove_dot_segments as Chromium's URL library does it
// (url_canon_path.cc, which Envoy uses): `.` and `..` segments (also written `%2e`) resolved, `\`
// read as `/`, percent-encoded unreserved characters (ALPHA DIGIT - . _ ~) decoded, characters that
// may not appear in a path (space, `"`, `<`, `>`, `^`, `` ` ``, `{`, `|`, `}`, controls, non-ASCII)
// percent-encoded, other escapes kept as written (hex case too); a NUL, raw or `%00`, fails it.

/** Per byte: what Chromium's kPathCharLookup says. */
const PASS = 0;
const ESCAPE = 1;
const UNESCAPE = 2;
const INVALID = 3;
const SPECIAL = 4;

const TABLE = new Uint8Array(256).fill(ESCAPE);
(() => {
  TABLE[0] = INVALID;
  for (const c of "!$&'()*+,/:;=@[]") TABLE[c.charCodeAt(0)] = PASS;
  for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_~') TABLE[c.charCodeAt(0)] = UNESCAPE;
  TABLE[0x2e] = SPECIAL; // '.'
  TABLE[0x25] = SPECIAL; // '%'
  TABLE[0x5c] = SPECIAL; // '\'
})();

const HEX = '0123456789ABCDEF';

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

/** `%XX` at s[i] decoded, or -1 (Chromium's DecodeEscaped). */
function decodeEscaped(s: string, i: number, end: number): number {
  if (i + 3 > end) return -1;
  const h = hexValue(s.charCodeAt(i + 1));
  const l = hexValue(s.charCodeAt(i + 2));
  return h < 0 || l < 0 ? -1 : h * 16 + l;
}

/** Length of a dot at s[i]: `.` is 1, `%2e` 3, else 0 (Chromium's IsDot). */
function dotAt(s: string, i: number, end: number): number {
  const c = s.charCodeAt(i);
  if (c === 0x2e) return 1;
  if (c === 0x25 && i + 3 <= end && s.charCodeAt(i + 1) === 0x32 && (s.charCodeAt(i + 2) | 0x20) === 0x65) return 3;
  return 0;
}

function isSlash(c: number): boolean {
  return c === 0x2f || c === 0x5c;
}

function escapeInto(out: string[], c: number): void {
  if (c < 0x100) {
    out.push('%', HEX[c >> 4], HEX[c & 15]);
    return;
  }
  // (A path decoded as UTF-8: its bytes, each escaped.)
  for (const b of Buffer.from(String.fromCharCode(c), 'utf8')) out.push('%', HEX[b >> 4], HEX[b & 15]);
}

/** Whether the path needs Chromium's work at all: anything but PASS and UNESCAPE characters. */
function plain(p: string): boolean {
  for (let i = 0; i < p.length; i++) {
    const c = p.charCodeAt(i);
    if (c > 0xff) return false;
    const f = TABLE[c];
    if (f !== PASS && f !== UNESCAPE) return false;
  }
  return true;
}

/** Chromium's CanonicalizePath over a path (no query); null when it fails (a NUL). */
export function canonicalizePath(p: string): string | null {
  if (p.length > 0 && p.charCodeAt(0) === 0x2f && plain(p)) return p;
  const out: string[] = [];
  const end = p.length;
  if (end === 0 || !isSlash(p.charCodeAt(0))) out.push('/');
  let ok = true;
  let lastInvalidPercent = -Infinity;
  for (let i = 0; i < end; i++) {
    const c = p.charCodeAt(i);
    const f = c > 0xff ? ESCAPE : TABLE[c];
    if (f === PASS || f === UNESCAPE) {
      out.push(p[i]);
      continue;
    }
    const dot = f === SPECIAL ? dotAt(p, i, end) : 0;
    if (dot > 0) {
      if (out.length > 0 && out[out.length - 1] === '/') {
        // Chromium's ClassifyAfterDot.
        const after = i + dot;
        let consumed = 0;
        let kind = 0; // 0 not a directory, 1 current, 2 up
        if (after === end) kind = 1;
        else if (isSlash(p.charCodeAt(after))) { kind = 1; consumed = 1; } else {
          const dot2 = dotAt(p, after, end);
          if (dot2 > 0) {
            const after2 = after + dot2;
            if (after2 === end) { kind = 2; consumed = dot2; } else if (isSlash(p.charCodeAt(after2))) { kind = 2; consumed = dot2 + 1; }
          }
        }
        if (kind === 0) {
          out.push('.');
          i += dot - 1;
        } else {
          if (kind === 2) backUpToPreviousSlash(out);
          i += dot + consumed - 1;
        }
      } else {
        out.push('.');
        i += dot - 1;
      }
    } else if (c === 0x5c) {
      out.push('/');
    } else if (c === 0x25) {
      const v = decodeEscaped(p, i, end);
      if (v >= 0) {
        i += 2;
        const vf = TABLE[v];
        if (vf === UNESCAPE) {
          out.push(String.fromCharCode(v));
          if (lastInvalidPercent >= out.length - 3) checkForNestedEscapes(p, i + 1, end, lastInvalidPercent, out);
        } else {
          out.push('%', p[i - 1], p[i]);
          if (vf === INVALID) ok = false;
        }
      } else {
        lastInvalidPercent = out.length;
        out.push('%');
      }
    } else if (f === INVALID) {
      escapeInto(out, c);
      ok = false;
    } else {
      escapeInto(out, c);
    }
  }
  return ok ? out.join('') : null;
}

/** Chromium's BackUpToPreviousSlash: the output ends with '/'; drop the segment before it. */
function backUpToPreviousSlash(out: string[]): void {
  let i = out.length - 1;
  if (i === 0) return;
  i--;
  while (out[i] !== '/' && i > 0) i--;
  out.length = i + 1;
}

/** Chromium's CheckForNestedEscapes: an unescape that turned an earlier lone '%' into a valid
 *  escape (`%%30%30`) escapes that '%' as `%25`, so the output cannot be decoded into something
 *  else again. */
function checkForNestedEscapes(p: string, next: number, end: number, lastInvalidPercent: number, out: string[]): void {
  const length = out.length;
  const lastUnescaped = out[length - 1];
  const appendNext = lastInvalidPercent === length - 2;
  if (appendNext) {
    if (next === end || p.charCodeAt(next) >= 0x80) return;
    out.push(p[next]);
  }
  const s = out.slice(lastInvalidPercent, lastInvalidPercent + 3).join('');
  if (s.length === 3 && decodeEscaped(s, 0, 3) >= 0) {
    if (!appendNext) out.push(out[lastInvalidPercent + 1]);
    out[lastInvalidPercent + 1] = '2';
    out[lastInvalidPercent + 2] = '5';
    out.push(lastUnescaped);
  } else if (appendNext) {
    out.length = length;
  }
}

function splitQuery(full: string): [string, string] {
  const q = full.indexOf('?');
  return q === -1 ? [full, ''] : [full.slice(0, q), full.slice(q)];
}

/** Envoy's PathUtil::canonicalPath: the path part normalized, the query kept; null: reject. */
export function normalizePath(full: string): string | null {
  const [path, query] = splitQuery(full);
  const n = canonicalizePath(path);
  return n === null ? null : n + query;
}

/** Envoy's PathTransformer::mergeSlashes: runs of '/' in the path part become one. */
export function mergeSlashes(full: string): string {
  const [path, query] = splitQuery(full);
  if (!path.includes('//')) return full;
  const lead = path.startsWith('/') ? '/' : '';
  const trail = path.endsWith('/') ? '/' : '';
  return lead + path.split('/').filter((s) => s !== '').join('/') + trail + query;
}

/** Envoy's PathUtil::unescapeSlashes: `%2F` / `%2f` to '/' and `%5C` / `%5c` to '\' in the path
 *  part; null when there was none. */
export function unescapeSlashes(full: string): string | null {
  const [path, query] = splitQuery(full);
  if (!path.includes('%')) return null;
  const d = path.replace(/%2f/gi, '/').replace(/%5c/gi, '\\');
  return d.length === path.length ? null : d + query;
}

/** http_connection_manager's PathWithEscapedSlashesAction (IMPLEMENTATION_SPECIFIC_DEFAULT is
 *  KEEP_UNCHANGED, Envoy's default). */
export const EscapedSlashes = { KeepUnchanged: 0, RejectRequest: 1, UnescapeAndRedirect: 2, UnescapeAndForward: 3 } as const;
export type EscapedSlashes = (typeof EscapedSlashes)[keyof typeof EscapedSlashes];

/** What maybeNormalizePath decides. */
export const PathAction = { Continue: 0, Reject: 1, Redirect: 2 } as const;
export type PathAction = (typeof PathAction)[keyof typeof PathAction];

export interface PathNormalization {
  normalizePath: boolean;
  mergeSlashes: boolean;
  escapedSlashes: EscapedSlashes;
}

/** Envoy's ConnectionManagerUtility::maybeNormalizePath: a path with a fragment is rejected
 *  (Envoy's http_reject_path_with_fragment default), then escaped slashes, normalize_path and
 *  merge_slashes in that order. `h.path` is replaced when something changed. */
export function maybeNormalizePath(h: { path: string }, cfg: PathNormalization): PathAction {
  let p = h.path;
  if (p.includes('#')) return PathAction.Reject;
  let action: PathAction = PathAction.Continue;
  if (cfg.escapedSlashes !== EscapedSlashes.KeepUnchanged) {
    const u = unescapeSlashes(p);
    if (u !== null) {
      if (cfg.escapedSlashes === EscapedSlashes.RejectRequest) return PathAction.Reject;
      if (cfg.escapedSlashes === EscapedSlashes.UnescapeAndRedirect) action = PathAction.Redirect;
      p = u;
    }
  }
  if (cfg.normalizePath) {
    const n = normalizePath(p);
    if (n === null) return PathAction.Reject;
    p = n;
  }
  if (cfg.mergeSlashes) p = mergeSlashes(p);
  h.path = p;
  return action;
}

/** Where the port of a host starts (its ':'), or -1 (Envoy's HeaderUtility::getPortStart: a ':'
 *  inside a bracketed IPv6 literal is not one). */
export function portStart(host: string): number {
  const colon = host.lastIndexOf(':');
  if (colon === -1) return -1;
  const v6End = host.lastIndexOf(']');
  return v6End === -1 || v6End < colon ? colon : -1;
}

/** How the HCM strips the port of :authority before routing (Envoy's StripPortType). */
export const StripPort = { None: 0, MatchingHost: 1, Any: 2 } as const;
export type StripPort = (typeof StripPort)[keyof typeof StripPort];

/** Envoy's HeaderUtility::stripPortFromHost: the authority without its port, when it has a
 *  numeric one equal to `listenerPort` (any port when null); else the authority as it was. */
export function stripPort(authority: string, listenerPort: number | null): string {
  const at = portStart(authority);
  if (at === -1) return authority;
  const portText = authority.slice(at + 1);
  // absl::SimpleAtoi into a uint32.
  if (!/^[ \t\n\v\f\r]*\+?[0-9]+[ \t\n\v\f\r]*$/.test(portText)) return authority;
  const port = Number(portText.trim());
  if (port > 0xffffffff) return authority;
  if (listenerPort !== null && port !== listenerPort) return authority;
  return authority.slice(0, at);
}

/** Envoy's HeaderUtility::stripTrailingHostDot: `example.com.` and `example.com.:80` lose the dot. */
export function stripTrailingHostDot(authority: string): string {
  const at = portStart(authority);
  if (at === -1) return authority.endsWith('.') ? authority.slice(0, -1) : authority;
  if (at > 0 && authority.charCodeAt(at - 1) === 0x2e) return authority.slice(0, at - 1) + authority.slice(at);
  return authority;
}
