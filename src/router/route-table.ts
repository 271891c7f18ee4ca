// Route table compiled once per config per worker (compiled RE2 programs stay in the worker that
// uses them): the virtual host by :authority as Envoy's RouteMatcher::findVirtualHost does it (exact,
// then the longest `*.suffix` / `*-suffix` wildcard, then the longest `prefix.*` wildcard, then `*`;
// a wildcard never matches an empty remainder), then the first route whose path and conditions
// (router/matchers.ts) match.
//
// Design note: scale. A virtual host's route list is compiled into steps. A run of at least
// RUN_MIN consecutive plain routes (prefix or path, case-sensitive, no other condition) becomes one
// step with an index: its exact paths in a Map to their position, its prefixes in a character trie
// whose nodes keep the lowest position of a prefix ending there. The run's answer is the lowest
// position either gives, which is the first route of the run that matches, so first-match order is
// kept; the other routes are tried one by one as written. 10,000 plain routes then cost a Map
// lookup and a walk of the path's characters, not 10,000 comparisons.
//
// explain() answers why a request got its virtual host and route by walking the same compiled
// matchers route by route (the run index is checked against that walk).
import { bug } from '../common/errors.ts';
import { RequestHeaders, newStreamInfo, type StreamInfo } from '../http/types.ts';
import { randomU53 } from '../common/random.ts';
import { NULL_LOADER } from '../runtime/snapshot.ts';
import type { Loader } from '../runtime/types.ts';
import { portStart } from '../http/path-normalize.ts';
import type { SslConnectionInfo } from '../network/transport-socket.ts';
import type { RouteSnap, VirtualHostSnap } from './config.ts';
import {
  MatchInput, PathKind, PathMatcher, asciiLower, routeConditions, type RouteCondition,
} from './matchers.ts';
import { compileAction, type CompiledAction } from './route-action.ts';

export interface CompiledRoute {
  snap: RouteSnap;
  /** Its position in the virtual host's routes. */
  index: number;
  path: PathMatcher;
  /** The path specifier's value as written (prefix_rewrite replaces that many characters). */
  value: string;
  /** Everything but the path, in Envoy's order; empty for most routes. */
  conditions: RouteCondition[];
  /** Its action's regexes (router/route-action.ts). */
  action: CompiledAction;
}

export function compileRoute(r: RouteSnap, index = 0, runtime: Loader = NULL_LOADER): CompiledRoute {
  return {
    snap: r, index, path: new PathMatcher(r.match), value: r.match.value,
    conditions: routeConditions(r.match, r.headers, runtime), action: compileAction(r),
  };
}

/** Runs shorter than this are tried route by route. */
const RUN_MIN = 8;

interface TrieNode {
  /** The lowest route position whose prefix ends here (Infinity: none). */
  index: number;
  next: Map<number, TrieNode> | null;
}

/** An index over a run of plain prefix / path routes (see the design note). */
class RouteRun {
  readonly exact = new Map<string, number>();
  readonly trie: TrieNode = { index: Infinity, next: null };

  constructor(routes: readonly CompiledRoute[]) {
    for (const r of routes) {
      const p = r.path;
      if (p.kind === PathKind.Exact) {
        if (!this.exact.has(p.value)) this.exact.set(p.value, r.index);
        continue;
      }
      let node = this.trie;
      for (let i = 0; i < p.value.length; i++) {
        const c = p.value.charCodeAt(i);
        let n = (node.next ??= new Map()).get(c);
        if (n === undefined) node.next.set(c, n = { index: Infinity, next: null });
        node = n;
      }
      if (r.index < node.index) node.index = r.index;
    }
  }

  /** The position of the first route of the run that matches `path`, or -1. */
  lookup(path: string): number {
    let best = this.exact.size > 0 ? this.exact.get(path) ?? Infinity : Infinity;
    let node: TrieNode | undefined = this.trie;
    if (node.index < best) best = node.index;
    for (let i = 0; i < path.length; i++) {
      const next: Map<number, TrieNode> | null = node.next;
      if (next === null) break;
      node = next.get(path.charCodeAt(i));
      if (node === undefined) break;
      if (node.index < best) best = node.index;
    }
    return best === Infinity ? -1 : best;
  }
}

/** One step of a virtual host's route list: a single route, or a run with its index. */
interface Step {
  route: CompiledRoute | null;
  run: RouteRun | null;
}

export interface CompiledVirtualHost {
  name: string;
  routes: CompiledRoute[];
  steps: Step[];
}

function isPlain(r: CompiledRoute): boolean {
  const k = r.path.kind;
  return (k === PathKind.Prefix || k === PathKind.Exact) && r.path.caseSensitive && r.conditions.length === 0;
}

function compileVirtualHost(vh: VirtualHostSnap, runtime: Loader): CompiledVirtualHost {
  const routes = vh.routes.map((r, i) => compileRoute(r, i, runtime));
  const steps: Step[] = [];
  for (let i = 0; i < routes.length;) {
    let j = i;
    while (j < routes.length && isPlain(routes[j])) j++;
    if (j - i >= RUN_MIN) {
      steps.push({ route: null, run: new RouteRun(routes.slice(i, j)) });
      i = j;
    } else {
      steps.push({ route: routes[i], run: null });
      i++;
    }
  }
  return { name: vh.name, routes, steps };
}

/** How a virtual host was chosen (VirtualHost.domains: Envoy's search order). */
export const DomainRule = { Exact: 'exact', Suffix: 'suffix wildcard', Prefix: 'prefix wildcard', Default: 'default' } as const;
export type DomainRule = (typeof DomainRule)[keyof typeof DomainRule];

/** What RouteTable.explain answers. */
export interface RouteExplanation {
  /** The host looked up: the authority lowercased (and without its port with
   *  ignore_port_in_host_matching). */
  host: string;
  virtualHost: { name: string; rule: DomainRule; domain: string } | null;
  /** The route chosen; null: none matched (404 NR). */
  route: { index: number; name: string } | null;
  /** The routes before it (all of them when none matched), each with why it did not match. */
  skipped: { index: number; name: string; reasons: string[] }[];
}

/** Wildcard domains of one length, by their fixed part. */
interface WildcardBucket {
  length: number;
  vhosts: Map<string, CompiledVirtualHost>;
}

export class RouteTable {
  #exact = new Map<string, CompiledVirtualHost>();
  /** Longest first. */
  #suffix: WildcardBucket[] = [];
  #prefix: WildcardBucket[] = [];
  #default: CompiledVirtualHost | null = null;
  /** Only `*`: every authority gets the default virtual host, no lookup. */
  #onlyDefault = false;
  #ignorePort: boolean;
  // The last authority looked up and its answer: clients send the same one again and again, and
  // a Map lookup of a string fresh off the wire hashes it every time.
  #lastAuthority: string | null = null;
  #lastVh: CompiledVirtualHost | null = null;
  /** What the last #lookup matched on (explain reads it). */
  #rule: DomainRule = DomainRule.Default;
  #domain = '';
  #input = new MatchInput(new RequestHeaders('GET', '/', '', 'http', 'HTTP/1.1', []));

  /** `runtime`: what runtime_fraction conditions read (a worker's WorkerContext.runtime; main's
   *  loader for a table built there); NULL_LOADER gives every key its default. */
  constructor(vhosts: VirtualHostSnap[], ignorePortInHostMatching = false, runtime: Loader = NULL_LOADER) {
    this.#ignorePort = ignorePortInHostMatching;
    // (Duplicate domains are refused at config time, router/compile.ts; the first one wins here.)
    for (const vh of vhosts) {
      const c = compileVirtualHost(vh, runtime);
      for (const d of vh.domains) {
        if (d === '*') this.#default ??= c;
        else if (d.startsWith('*')) addWildcard(this.#suffix, d.slice(1), c);
        else if (d.endsWith('*')) addWildcard(this.#prefix, d.slice(0, -1), c);
        else if (!this.#exact.has(d)) this.#exact.set(d, c);
      }
    }
    this.#suffix.sort((a, b) => b.length - a.length);
    this.#prefix.sort((a, b) => b.length - a.length);
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

  #host(authority: string): string {
    let a = authority;
    if (this.#ignorePort) {
      const p = portStart(a);
      if (p !== -1) a = a.slice(0, p);
    }
    return asciiLower(a);
  }

  #lookup(authority: string): CompiledVirtualHost | null {
    const host = this.#host(authority);
    const e = this.#exact.size > 0 ? this.#exact.get(host) : undefined;
    if (e !== undefined) {
      this.#rule = DomainRule.Exact;
      this.#domain = host;
      return e;
    }
    for (const b of this.#suffix) {
      // `>`: *.foo.com does not match .foo.com.
      if (b.length >= host.length) continue;
      const key = host.slice(host.length - b.length);
      const vh = b.vhosts.get(key);
      if (vh !== undefined) {
        this.#rule = DomainRule.Suffix;
        this.#domain = '*' + key;
        return vh;
      }
    }
    for (const b of this.#prefix) {
      if (b.length >= host.length) continue;
      const key = host.slice(0, b.length);
      const vh = b.vhosts.get(key);
      if (vh !== undefined) {
        this.#rule = DomainRule.Prefix;
        this.#domain = key + '*';
        return vh;
      }
    }
    this.#rule = DomainRule.Default;
    this.#domain = '*';
    return this.#default;
  }

  /** The route for a request, or null (no virtual host, or no route of it matches). `ssl`: the
   *  downstream connection's TLS (tls_context conditions), null for plaintext; `info`: the
   *  stream, whose id is the random value of runtime_fraction conditions (null: one is drawn for
   *  this lookup). */
  route(req: RequestHeaders, ssl: SslConnectionInfo | null = null, info: StreamInfo | null = null): CompiledRoute | null {
    const vh = this.virtualHost(req.authority);
    if (vh === null) return null;
    const m = this.#input;
    m.reset(req, ssl, info);
    const steps = vh.steps;
    for (let s = 0; s < steps.length; s++) {
      const step = steps[s];
      if (step.run !== null) {
        const i = step.run.lookup(m.path);
        if (i !== -1) return vh.routes[i];
        continue;
      }
      const r = step.route!;
      if (!r.path.match(m)) continue;
      const cs = r.conditions;
      let ok = true;
      for (let c = 0; c < cs.length; c++) {
        if (!cs[c].match(m)) { ok = false; break; }
      }
      if (ok) return r;
    }
    return null;
  }

  /** Which virtual host and route a request gets, and why (`legate explain`). Cold: it walks
   *  every route with the compiled matchers route() uses. `random`: the stream's random value
   *  runtime_fraction conditions are evaluated with (drawn when not given; the explanation of a
   *  route skipped by one says which value it was). */
  explain(req: RequestHeaders, ssl: SslConnectionInfo | null = null, random: number = randomU53()): RouteExplanation {
    const info = newStreamInfo(0, '', '', ssl);
    info.streamId = random;
    const vh = this.#onlyDefault ? this.#default : this.#lookup(req.authority);
    const out: RouteExplanation = {
      host: this.#host(req.authority),
      virtualHost: vh === null ? null
        : this.#onlyDefault ? { name: vh.name, rule: DomainRule.Default, domain: '*' }
        : { name: vh.name, rule: this.#rule, domain: this.#domain },
      route: null,
      skipped: [],
    };
    if (vh === null) return out;
    const m = new MatchInput(req);
    m.reset(req, ssl, info);
    for (const r of vh.routes) {
      const reasons: string[] = [];
      if (!r.path.match(m)) reasons.push(r.path.explain(m));
      for (const c of r.conditions) if (!c.match(m)) reasons.push(c.explain(m));
      if (reasons.length === 0) {
        out.route = { index: r.index, name: r.snap.name };
        break;
      }
      out.skipped.push({ index: r.index, name: r.snap.name, reasons });
    }
    const hot = this.route(req, ssl, info);
    if ((hot?.index ?? -1) !== (out.route?.index ?? -1) || (hot !== null && this.virtualHost(req.authority) !== vh)) {
      bug(`route table: explain chose route ${out.route?.index} where route() chose ${hot?.index}`);
    }
    return out;
  }

  /** explain() for a request given by its parts; `headers` are [name, value] pairs. */
  explainRequest(method: string, authority: string, path: string, headers: readonly (readonly [string, string])[] = [],
    ssl: SslConnectionInfo | null = null, random: number = randomU53()): RouteExplanation {
    const list: string[] = [];
    for (const [k, v] of headers) list.push(asciiLower(k), v);
    return this.explain(new RequestHeaders(method, path, authority, 'http', 'HTTP/1.1', list), ssl, random);
  }
}

function addWildcard(buckets: WildcardBucket[], key: string, vh: CompiledVirtualHost): void {
  let b = buckets.find((x) => x.length === key.length);
  if (b === undefined) buckets.push(b = { length: key.length, vhosts: new Map() });
  if (!b.vhosts.has(key)) b.vhosts.set(key, vh);
}
