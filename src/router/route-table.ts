// Route table compiled once per config (per worker: RegExps cannot cross threads): virtual host
// lookup by :authority as Envoy does it (exact, then longest `*.suffix`/`-suffix` wildcard, then
// longest `prefix.*` wildcard, then `*`), then the first route whose match and headers match.
import type { RequestHeaders } from '../http/types.ts';
import type { HeaderMatchSnap, RouteSnap, VirtualHostSnap } from './config.ts';
import { compileAction, type CompiledAction } from './route-action.ts';

interface CompiledHeaderMatch {
  snap: HeaderMatchSnap;
  re: RegExp | null;
}
export interface CompiledRoute {
  snap: RouteSnap;
  kind: number; // 0 prefix, 1 path, 2 regex
  value: string;
  caseSensitive: boolean;
  re: RegExp | null;
  headers: CompiledHeaderMatch[];
  /** Its action's regexes (router/route-action.ts). */
  action: CompiledAction;
}
export interface CompiledVirtualHost {
  name: string;
  routes: CompiledRoute[];
}

function compileRoute(r: RouteSnap): CompiledRoute {
  const kind = r.match.kind === 'prefix' ? 0 : r.match.kind === 'path' ? 1 : 2;
  const cs = r.match.caseSensitive;
  return {
    snap: r,
    kind,
    value: cs ? r.match.value : r.match.value.toLowerCase(),
    caseSensitive: cs,
    // RE2 semantics in Envoy: the regex must match the whole path (without the query).
    re: kind === 2 ? new RegExp(`^(?:${r.match.value})$`, cs ? '' : 'i') : null,
    headers: r.headers.map((h) => ({
      snap: h,
      re: h.kind === 'regex' ? new RegExp(`^(?:${h.value})$`, h.ignoreCase ? 'i' : '') : null,
    })),
    action: compileAction(r),
  };
}

function headerMatches(m: CompiledHeaderMatch, req: RequestHeaders): boolean {
  const s = m.snap;
  let v: string | undefined;
  if (s.name.charCodeAt(0) === 58 /* ':' */) {
    v = s.name === ':method' ? req.method : s.name === ':path' ? req.path
      : s.name === ':authority' ? req.authority : s.name === ':scheme' ? req.scheme : undefined;
  } else {
    v = req.get(s.name);
  }
  return headerValueMatches(s, v, m.re);
}

/** Whether a header's value (undefined: absent) satisfies a HeaderMatcher; `re` is its compiled
 *  regex (kind 'regex'). Route matching and retriable_headers share it. */
export function headerValueMatches(s: HeaderMatchSnap, v: string | undefined, re: RegExp | null): boolean {
  let ok: boolean;
  if (s.kind === 'present') {
    ok = (v !== undefined) === s.present;
  } else if (v === undefined) {
    ok = false;
  } else {
    const x = s.ignoreCase ? v.toLowerCase() : v;
    switch (s.kind) {
      case 'exact': ok = x === s.value; break;
      case 'prefix': ok = x.startsWith(s.value); break;
      case 'suffix': ok = x.endsWith(s.value); break;
      case 'contains': ok = x.includes(s.value); break;
      default: ok = re!.test(v);
    }
  }
  return s.invert ? !ok : ok;
}

export class RouteTable {
  #exact = new Map<string, CompiledVirtualHost>();
  #suffix: { suffix: string; vh: CompiledVirtualHost }[] = [];
  #prefix: { prefix: string; vh: CompiledVirtualHost }[] = [];
  #default: CompiledVirtualHost | null = null;
  /** Only `*`: every authority gets the default virtual host, no lookup. */
  #onlyDefault = false;
  // The last authority looked up and its answer: clients send the same one again and again, and
  // a Map lookup of a string fresh off the wire hashes it every time.
  #lastAuthority: string | null = null;
  #lastVh: CompiledVirtualHost | null = null;

  constructor(vhosts: VirtualHostSnap[]) {
    for (const vh of vhosts) {
      const c: CompiledVirtualHost = { name: vh.name, routes: vh.routes.map(compileRoute) };
      for (const d of vh.domains) {
        if (d === '*') this.#default = c;
        else if (d.startsWith('*')) this.#suffix.push({ suffix: d.slice(1), vh: c });
        else if (d.endsWith('*')) this.#prefix.push({ prefix: d.slice(0, -1), vh: c });
        else this.#exact.set(d, c);
      }
    }
    // Longest wildcard wins (Envoy).
    this.#suffix.sort((a, b) => b.suffix.length - a.suffix.length);
    this.#prefix.sort((a, b) => b.prefix.length - a.prefix.length);
    this.#onlyDefault = this.#exact.size === 0 && this.#suffix.length === 0 && this.#prefix.length === 0;
  }

  virtualHost(authority: string): CompiledVirtualHost | null {
    if (this.#onlyDefault) return this.#default;
    if (authority === this.#lastAuthority) return this.#lastVh;
    const vh = this.#lookup(authority);
    this.#lastAuthority = authority;
    this.#lastVh = vh;
    return vh;
  }

  #lookup(authority: string): CompiledVirtualHost | null {
    const host = authority.toLowerCase();
    const e = this.#exact.size > 0 ? this.#exact.get(host) : undefined;
    if (e !== undefined) return e;
    for (const s of this.#suffix) if (host.length > s.suffix.length && host.endsWith(s.suffix)) return s.vh;
    for (const p of this.#prefix) if (host.length > p.prefix.length && host.startsWith(p.prefix)) return p.vh;
    return this.#default;
  }

  route(req: RequestHeaders): CompiledRoute | null {
    const vh = this.virtualHost(req.authority);
    if (vh === null) return null;
    const full = req.path;
    const q = full.indexOf('?');
    const path = q === -1 ? full : full.slice(0, q);
    let lower: string | null = null;
    for (const r of vh.routes) {
      let p = path;
      if (!r.caseSensitive) p = lower ??= path.toLowerCase();
      let ok: boolean;
      if (r.kind === 0) ok = p.startsWith(r.value);
      else if (r.kind === 1) ok = p === r.value;
      else ok = r.re!.test(path);
      if (!ok) continue;
      let hm = true;
      for (const h of r.headers) {
        if (!headerMatches(h, req)) { hm = false; break; }
      }
      if (hm) return r;
    }
    return null;
  }
}
