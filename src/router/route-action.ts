// The worker side of a route's action: its regexes compiled (RE2 objects cannot cross threads,
// so each worker builds them once when the route table is built), and the request rewrites
// Envoy's finalizeRequestHeaders makes: host (literal, header, path regex), then path (prefix or
// regex, x-envoy-original-path kept).
import { compileRewrite, type CompiledRewrite } from '../common/regex.ts';
import type { RequestHeaders } from '../http/types.ts';
import type { RouteActionExtra, RouteSnap } from './config.ts';

/** A cluster action with none of RouteActionExtra's fields set (tests build snapshots by hand). */
export const NO_ROUTE_ACTION_EXTRA: RouteActionExtra = {
  clusterHeader: null, weightedClusters: null, clusterNotFoundStatus: 503, regexRewrite: null, hostRewriteHeader: null,
  hostRewritePathRegex: null, autoHostRewrite: false, maxStreamDurationMs: -1, mirrors: [],
};

export interface CompiledAction {
  /** RouteAction.regex_rewrite, or RedirectAction.regex_rewrite. */
  regexRewrite: CompiledRewrite | null;
  hostRewritePathRegex: CompiledRewrite | null;
}

export function compileAction(r: RouteSnap): CompiledAction {
  const a = r.action;
  if (a.kind === 'cluster') {
    return {
      regexRewrite: a.regexRewrite === null ? null : compileRewrite(a.regexRewrite.pattern, a.regexRewrite.substitution),
      hostRewritePathRegex: a.hostRewritePathRegex === null ? null
        : compileRewrite(a.hostRewritePathRegex.pattern, a.hostRewritePathRegex.substitution),
    };
  }
  if (a.kind === 'redirect' && a.redirect.regexRewrite !== null) {
    return { regexRewrite: compileRewrite(a.redirect.regexRewrite.pattern, a.redirect.regexRewrite.substitution), hostRewritePathRegex: null };
  }
  return NO_ACTION;
}
const NO_ACTION: CompiledAction = { regexRewrite: null, hostRewritePathRegex: null };

/** The path without its query and fragment (Envoy's PathUtil::removeQueryAndFragment). */
function justPath(path: string): string {
  let end = path.length;
  const q = path.indexOf('?');
  if (q !== -1) end = q;
  const f = path.indexOf('#');
  if (f !== -1 && f < end) end = f;
  return path.slice(0, end);
}

/** The path after the route's rewrite (null: none applies). A prefix rewrite replaces what the
 *  route matched: its prefix or path (the length of it: a case-insensitive match replaces the
 *  request's own letters), or for a regex route the whole path before the query; a regex
 *  rewrite replaces the whole path before the query; the query stays. */
export function rewrittenPath(r: RouteSnap, prefixRewrite: string, regex: CompiledRewrite | null, path: string): string | null {
  if (prefixRewrite !== '') {
    const matched = r.match.kind === 'regex' ? justPath(path).length : r.match.value.length;
    return prefixRewrite + path.slice(matched);
  }
  if (regex !== null) {
    const p = justPath(path);
    return regex.replaceAll(p) + path.slice(p.length);
  }
  return null;
}

/** A redirect's path rewrite (Envoy's getPathRewrite for redirects): its regex_rewrite replaces
 *  the whole path before the query (an empty result is no rewrite); else its prefix_rewrite. */
export function redirectPath(r: RouteSnap, prefixRewrite: string, regex: CompiledRewrite | null, path: string): string | null {
  if (regex !== null) {
    const p = justPath(path);
    const to = regex.replaceAll(p);
    return to === '' ? null : to + path.slice(p.length);
  }
  return prefixRewrite === '' ? null : rewrittenPath(r, prefixRewrite, null, path);
}

/** The host rewrites of a cluster route (host_rewrite_literal, host_rewrite_header,
 *  host_rewrite_path_regex: one at most), on the request as it arrived. */
export function rewriteHost(a: Extract<RouteSnap['action'], { kind: 'cluster' }>, c: CompiledAction, h: RequestHeaders): void {
  if (a.hostRewrite !== null) {
    h.authority = a.hostRewrite;
  } else if (a.hostRewriteHeader !== null) {
    // (An untrusted header: its first value only, and an empty one changes nothing.)
    const v = h.get(a.hostRewriteHeader);
    if (v !== undefined && v !== '') h.authority = v;
  } else if (c.hostRewritePathRegex !== null) {
    h.authority = c.hostRewritePathRegex.replaceAll(justPath(h.path));
  }
}
