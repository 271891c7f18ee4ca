// Redirects and the Location of direct responses (Envoy's RouteEntryImplBase::newUri, built from
// the request after the route's path rewrite): scheme, host, port and path each from the
// RedirectAction when it sets them, else from the request.
import type { RequestHeaders } from '../http/types.ts';

/** A RedirectAction as the snapshot carries it ('' / null: not set). */
export interface RedirectSnap {
  /** scheme_redirect, or `https` for https_redirect. */
  scheme: string;
  host: string;
  /** `:port` from port_redirect. */
  port: string;
  path: string;
  prefixRewrite: string;
  regexRewrite: { pattern: string; substitution: string } | null;
  status: number;
  stripQuery: boolean;
}

/** A direct_response's: nothing redirected, so its Location (201 and 3xx) is the request's URL. */
export const NO_REDIRECT: RedirectSnap = {
  scheme: '', host: '', port: '', path: '', prefixRewrite: '', regexRewrite: null, status: 0, stripQuery: false,
};

/** The request's Host without its port when the port goes (Envoy's processRequestHost): a new
 *  port is given, or the scheme changes and the port is the default of the scheme the request
 *  came with (x-forwarded-proto, not the connection's). */
function requestHost(h: RequestHeaders, scheme: string, port: string): string {
  const host = h.authority;
  if (host === '') return host;
  let end: number;
  if (host.charCodeAt(0) === 91 /* '[' */) {
    end = host.lastIndexOf(']:');
    if (end !== -1) end += 1;
  } else {
    end = host.lastIndexOf(':');
  }
  if (end === -1) return host;
  const reqPort = host.slice(end);
  const proto = h.get('x-forwarded-proto') ?? '';
  let remove = port !== '';
  if (scheme !== proto) {
    remove ||= proto.toLowerCase() === 'https' && reqPort === ':443';
    remove ||= proto.toLowerCase() === 'http' && reqPort === ':80';
  }
  return remove ? host.slice(0, end) : host;
}

/** The Location for `h` (its path already rewritten by the route). path_redirect keeps the
 *  request's query unless it has one of its own; strip_query drops the request's. */
export function newUri(r: RedirectSnap, h: RequestHeaders): string {
  const scheme = r.scheme !== '' ? r.scheme : h.scheme;
  const host = r.host !== '' ? r.host : requestHost(h, scheme, r.port);
  const ownQuery = r.path.includes('?');
  let path: string;
  if (r.path !== '') {
    const q = ownQuery ? -1 : h.path.indexOf('?');
    path = q === -1 ? r.path : r.path + h.path.slice(q);
  } else {
    path = h.path;
  }
  if (path.charCodeAt(0) !== 47 /* '/' */) path = '/' + path;
  if (!ownQuery && r.stripQuery) {
    const q = path.indexOf('?');
    if (q !== -1) path = path.slice(0, q);
  }
  return `${scheme}://${host}${r.port}${path}`;
}
