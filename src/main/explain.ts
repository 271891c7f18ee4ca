// `legate explain` and admin GET /explain: where a request would go, without sending it. Given a
// config snapshot and a request (method, URL, headers, client address), it walks the same steps a
// worker does, with the same compiled objects: the listener bound to the URL's port, the filter
// chain the listener's FilterChainMatcher picks for the connection's facts, the network filters,
// the HTTP connection manager's HTTP filters, the virtual host and route the RouteTable picks (and
// why the routes before it did not match), and what the route does. Nothing here is a second
// implementation of a matcher: a rule that changes in the data plane changes here too.
import { performance } from 'node:perf_hooks';
import { FilterChainMatcher, type MatchFacts } from '../listener/filter-chain-match.ts';
import { chainsOf, type FilterChainSnap, type ListenerSnap, type Snapshot } from '../config/snapshot.ts';
import type { HcmSnap } from '../extensions/filters/network/http-connection-manager/index.ts';
import { RouteTable, type CompiledRoute, type RouteExplanation } from '../router/route-table.ts';
import { RequestHeaders, newStreamInfo, type StreamInfo } from '../http/types.ts';
import type { Loader } from '../runtime/types.ts';
import { randomU53 } from '../common/random.ts';
import { pickWeightedCluster } from '../router/weighted-clusters.ts';
import { LegateError } from '../common/errors.ts';
import { PathAction, StripPort, maybeNormalizePath, stripPort, stripTrailingHostDot } from '../http/path-normalize.ts';
import { finalizeRequestHeaders } from '../router/header-parser.ts';
import { redirectPath, rewriteHost, rewrittenPath } from '../router/route-action.ts';
import { NO_REDIRECT, newUri } from '../router/redirect.ts';

const HCM = 'envoy.filters.network.http_connection_manager';
const TLS_INSPECTOR = 'envoy.filters.listener.tls_inspector';

/** The request to explain. */
export interface ExplainRequest {
  method: string;
  /** Absolute: `http://host[:port]/path?query` (https: the connection is TLS, SNI the host). */
  url: string;
  /** Request headers, lowercase names, in order. */
  headers: [string, string][];
  /** The client's address (filter-chain source rules, x-forwarded-for); default 127.0.0.1. */
  remoteAddress?: string;
  /** A listener by name, when several are bound to the URL's port. */
  listener?: string;
  /** The stream's random value (runtime_fraction routes, weighted clusters by runtime); drawn
   *  when absent, and printed so that an answer can be asked for again. */
  random?: number;
}

export interface Explanation {
  request: { method: string; authority: string; path: string; scheme: string; random: number };
  listener: { name: string; address: string; why: string } | null;
  filterChain: { index: number | 'default'; name: string; why: string } | null;
  networkFilters: string[];
  /** The HTTP connection manager's part; null when the chain does not end in one. */
  http: {
    statPrefix: string;
    httpFilters: string[];
    /** What the connection manager changed before routing (path normalization, host port). */
    normalized: string[];
    route: RouteExplanation;
    /** What the route does; null when none matched. */
    action: ActionExplanation | null;
  } | null;
  /** Why the walk stopped early ('' when it reached a route). */
  stop: string;
}

/** What a route does with the request. */
export interface ActionExplanation {
  kind: 'cluster' | 'direct_response' | 'redirect' | 'local_reply';
  /** The status of a direct response, redirect or local reply (0 for a cluster). */
  status: number;
  /** A redirect's (or a 201 / 3xx direct response's) Location. */
  location: string | null;
  /** The cluster (cluster_header: as the request names it; weighted: every choice and its share). */
  cluster: string | null;
  weightedClusters: { name: string; weight: number; percent: number }[] | null;
  /** The request as it goes upstream: method, authority, path and the headers that changed. */
  upstreamRequest: { method: string; authority: string; path: string; added: [string, string][]; removed: string[] } | null;
  /** Timeouts, retries and hashing, as short phrases. */
  notes: string[];
}

/** LEGATE_ERR_EXPLAIN: the request cannot be explained (a bad URL or header). */
export class ExplainError extends LegateError {
  declare readonly code: 'LEGATE_ERR_EXPLAIN';
  constructor(message: string) {
    super('LEGATE_ERR_EXPLAIN', message);
    this.name = 'ExplainError';
  }
}

/** Route tables built for explaining, per HCM snapshot (a running Legate explains many requests
 *  against one config; a reload brings new snapshot objects). */
const tables = new WeakMap<HcmSnap, RouteTable>();

function routeTableOf(hcm: HcmSnap, runtime: Loader): RouteTable {
  let t = tables.get(hcm);
  if (t === undefined) {
    tables.set(hcm, t = new RouteTable(hcm.routeConfig.virtualHosts, hcm.routeConfig.ignorePortInHostMatching, runtime));
  }
  return t;
}

/** `boundPort`: the port a listener is bound to, when it differs from its config (a running
 *  Legate's `port_value: 0` listeners); the config's port otherwise. */
export function explain(snap: Snapshot, req: ExplainRequest, runtime: Loader,
  boundPort: (l: ListenerSnap) => number = (l) => l.port): Explanation {
  const random = req.random ?? randomU53();
  let url: URL;
  try {
    url = new URL(req.url);
  } catch {
    throw new ExplainError(`--url: not an absolute URL: ${JSON.stringify(req.url)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ExplainError(`--url: expected http:// or https://, got ${JSON.stringify(url.protocol)}`);
  }
  const tls = url.protocol === 'https:';
  const port = url.port === '' ? (tls ? 443 : 80) : Number(url.port);
  const hostHeader = req.headers.find(([k]) => k === 'host')?.[1];
  const authority = hostHeader ?? url.host;
  const path = url.pathname + url.search;
  const out: Explanation = {
    request: { method: req.method, authority, path, scheme: tls ? 'https' : 'http', random },
    listener: null, filterChain: null, networkFilters: [], http: null, stop: '',
  };

  // A listener named: that one, whatever the URL's port (a config's port_value may be 0).
  const bound = req.listener === undefined ? snap.listeners.filter((l) => boundPort(l) === port)
    : snap.listeners.filter((l) => l.name === req.listener);
  if (bound.length === 0) {
    out.stop = req.listener === undefined ? `no listener is bound to port ${port}` : `no listener is named ${JSON.stringify(req.listener)}`;
    return out;
  }
  // A listener on the URL's host address, else a wildcard one (the kernel's choice).
  const ip = url.hostname.replace(/^\[|\]$/g, '');
  const l = bound.find((b) => b.host === ip) ?? bound.find((b) => b.host === '0.0.0.0' || b.host === '::') ?? bound[0];
  out.listener = {
    name: l.name,
    address: `${l.host}:${boundPort(l)}`,
    why: req.listener !== undefined ? 'named by the request' : bound.length === 1 ? `the only listener on port ${port}`
      : `bound to ${l.host}, of ${bound.length} listeners on port ${port}`,
  };

  const chosen = chooseChain(l, url, tls, port, req.remoteAddress ?? '127.0.0.1');
  if (chosen === null) {
    out.stop = 'no filter chain matches the connection, and the listener has no default_filter_chain: the connection is closed';
    return out;
  }
  out.filterChain = chosen.info;
  const chain = chosen.chain;
  out.networkFilters = chain.filters.map((f) => f.name);
  const hcmExt = chain.filters.find((f) => f.name === HCM);
  if (hcmExt === undefined) {
    out.stop = 'the filter chain has no HTTP connection manager: bytes are not routed as HTTP requests';
    return out;
  }
  const hcm = hcmExt.config as HcmSnap;
  const flat: string[] = [];
  for (const [k, v] of req.headers) flat.push(k, v);
  const headers = new RequestHeaders(req.method, path, authority, tls ? 'https' : 'http', 'HTTP/1.1', flat);
  const http: NonNullable<Explanation['http']> = {
    statPrefix: hcm.statPrefix, httpFilters: runningFilters(hcm, null), normalized: [],
    route: { host: '', virtualHost: null, route: null, skipped: [] }, action: null,
  };
  out.http = http;
  // The connection manager's steps before routing, in its order (active-stream.ts).
  if (hcm.normalizesPath || headers.path.includes('#')) {
    const before = headers.path;
    const a = maybeNormalizePath(headers, hcm.pathNormalization);
    if (a === PathAction.Reject) {
      out.stop = `the connection manager refuses the path ${JSON.stringify(before)} (400: path normalization)`;
      return out;
    }
    if (a === PathAction.Redirect) {
      out.stop = `the connection manager redirects to the unescaped path ${JSON.stringify(headers.path)} (307)`;
      return out;
    }
    if (headers.path !== before) http.normalized.push(`path ${JSON.stringify(before)} -> ${JSON.stringify(headers.path)}`);
  }
  const host = headers.authority;
  if (hcm.stripTrailingHostDot) headers.authority = stripTrailingHostDot(headers.authority);
  if (hcm.stripPort !== StripPort.None) headers.authority = stripPort(headers.authority, hcm.stripPort === StripPort.Any ? null : port);
  if (headers.authority !== host) http.normalized.push(`host ${JSON.stringify(host)} -> ${JSON.stringify(headers.authority)}`);
  const table = routeTableOf(hcm, runtime);
  http.route = table.explain(headers, null, random);
  const info = newStreamInfo(performance.now(), `${req.remoteAddress ?? '127.0.0.1'}:0`, `${req.remoteAddress ?? '127.0.0.1'}:0`, null);
  info.streamId = random;
  const route = table.route(headers, null, info);
  if (route !== null) {
    http.httpFilters = runningFilters(hcm, route.snap.filterDisabled ?? null);
    http.action = explainAction(route, headers, info, runtime);
  }
  return out;
}

/** The HTTP filters a stream runs (FilterManager.createFilterChain's rule): those not disabled by
 *  default or by the route (`routeDisabled`), by Envoy name. */
function runningFilters(hcm: HcmSnap, routeDisabled: Readonly<Record<string, boolean>> | null): string[] {
  return hcm.httpFilters.filter((f) => !(routeDisabled?.[f.configName] ?? f.disabled)).map((f) => f.name);
}

/** What the router does with a request on `route`: the same functions, in the router's order
 *  (router/filter.ts decodeHeaders), applied to a copy of the request. */
function explainAction(route: CompiledRoute, original: RequestHeaders, info: StreamInfo, runtime: Loader): ActionExplanation {
  const h = new RequestHeaders(original.method, original.path, original.authority, original.scheme, original.protocol,
    original.list.slice());
  const out: ActionExplanation = {
    kind: 'cluster', status: 0, location: null, cluster: null, weightedClusters: null, upstreamRequest: null, notes: [],
  };
  const a = route.snap.action;
  if (a.kind !== 'cluster') {
    let redirect = NO_REDIRECT;
    if (a.kind === 'redirect') {
      out.kind = 'redirect';
      redirect = a.redirect;
      out.status = redirect.status;
      const to = redirectPath(route.snap, redirect.prefixRewrite, route.action.regexRewrite, h.path);
      if (to !== null) h.path = to;
    } else {
      out.kind = 'direct_response';
      out.status = a.status;
      out.notes.push(`body: ${a.body === null ? 'none' : `${Buffer.byteLength(a.body)} bytes`}`);
    }
    if (out.status === 201 || (out.status >= 300 && out.status < 400)) out.location = newUri(redirect, h);
    return out;
  }
  let custom = route.snap.requestHeaderParsers;
  let clusterHostRewrite: string | null = null;
  if (a.clusterHeader !== null) {
    const named = h.get(a.clusterHeader);
    out.cluster = named ?? null;
    out.notes.push(`cluster_header ${a.clusterHeader}: ${named === undefined ? `absent (${a.clusterNotFoundStatus} NC)` : JSON.stringify(named)}`);
  } else if (a.weightedClusters !== null) {
    const wc = a.weightedClusters;
    out.weightedClusters = wc.clusters.map((c) => ({
      name: c.name, weight: c.weight, percent: Math.round(10000 * c.weight / wc.totalWeight) / 100,
    }));
    if (wc.headerName !== null) out.notes.push(`weighted pick by header ${wc.headerName} (else random)`);
    if (wc.runtime) out.notes.push('weights read from the runtime (runtime_key_prefix); the shares above are the configured ones');
    // The pick this stream's random value makes (the connection manager's, at routing).
    const picked = pickWeightedCluster(wc, h, info.streamId, runtime);
    if (picked === null) {
      out.kind = 'local_reply';
      out.status = 404;
      out.notes.push('the runtime\'s weights sum to 0: no route (404 NR)');
      return out;
    }
    out.cluster = picked.clusterHeader === null ? picked.name : h.get(picked.clusterHeader) ?? null;
    clusterHostRewrite = picked.hostRewrite;
    custom = picked.requestHeaderParsers;
  } else {
    out.cluster = a.cluster;
  }
  const before = new Map<string, string>();
  for (let i = 0; i < h.list.length; i += 2) before.set(h.list[i], h.list[i + 1]);
  if (custom != null) finalizeRequestHeaders(custom, h, info);
  rewriteHost(a, route.action, h);
  if (clusterHostRewrite !== null) h.authority = clusterHostRewrite;
  const to = rewrittenPath(route.snap, a.prefixRewrite ?? '', route.action.regexRewrite, h.path);
  if (to !== null) {
    h.set('x-envoy-original-path', h.path);
    h.path = to;
  }
  if (a.autoHostRewrite) out.notes.push('auto_host_rewrite: the chosen host\'s hostname, when it has one');
  const added: [string, string][] = [];
  const after = new Set<string>();
  for (let i = 0; i < h.list.length; i += 2) {
    after.add(h.list[i]);
    if (before.get(h.list[i]) !== h.list[i + 1]) added.push([h.list[i], h.list[i + 1]]);
  }
  const removed = [...before.keys()].filter((k) => !after.has(k));
  out.upstreamRequest = { method: h.method, authority: h.authority, path: h.path, added, removed };
  out.notes.push(a.timeoutMs === 0 ? 'timeout: none' : `timeout: ${a.timeoutMs} ms`);
  if (a.retryPolicy !== null) out.notes.push(`retries: up to ${a.retryPolicy.numRetries}`);
  if (a.hashPolicy !== null) out.notes.push(`hash_policy: ${a.hashPolicy.length} method(s)`);
  if (a.mirrors.length > 0) out.notes.push(`mirrored to ${a.mirrors.map((m) => m.cluster || `cluster_header ${m.clusterHeader}`).join(', ')}`);
  return out;
}

function chooseChain(l: ListenerSnap, url: URL, tls: boolean, port: number, remote: string):
  { chain: FilterChainSnap; info: NonNullable<Explanation['filterChain']> } | null {
  if (!l.matchChains) {
    return { chain: l.filterChains[0], info: { index: 0, name: l.filterChains[0].name, why: 'the listener\'s only filter chain' } };
  }
  // What the listener filters would find: tls_inspector reads SNI and ALPN from a TLS
  // ClientHello; without it every connection is raw_buffer with neither.
  const inspects = l.listenerFilters.some((f) => f.name === TLS_INSPECTOR);
  const sniffed = inspects && tls;
  const facts: MatchFacts = {
    localIp: l.host === '0.0.0.0' || l.host === '::' ? (url.hostname.match(/^[\d.]+$/) ? url.hostname : '127.0.0.1') : l.host,
    localPort: port,
    remoteIp: remote,
    remotePort: 0,
    requestedServerName: sniffed ? url.hostname.toLowerCase() : '',
    detectedTransportProtocol: sniffed ? 'tls' : 'raw_buffer',
    applicationProtocols: sniffed ? ['http/1.1'] : [],
  };
  const matcher = new FilterChainMatcher(l.filterChains.map((fc) => fc.match), l.filterChains);
  const found = matcher.find(facts);
  const facts_ = `destination ${facts.localIp}:${port}, source ${remote}, transport ${facts.detectedTransportProtocol}`
    + (sniffed ? `, SNI ${facts.requestedServerName}, ALPN http/1.1` : '');
  if (found !== null) {
    const index = l.filterChains.indexOf(found);
    return { chain: found, info: { index, name: found.name, why: `filter_chain_match ${JSON.stringify(found.matchJson ?? {})} is the most specific match for ${facts_}` } };
  }
  if (l.defaultFilterChain === null) return null;
  return { chain: l.defaultFilterChain, info: { index: 'default', name: l.defaultFilterChain.name, why: `no filter_chain_match matches ${facts_}` } };
}

/** The explanation as people read it. */
export function formatExplanation(e: Explanation): string {
  const lines: string[] = [];
  const r = e.request;
  lines.push(`request        ${r.method} ${r.scheme}://${r.authority}${r.path} (random value ${r.random})`);
  if (e.listener !== null) lines.push(`listener       ${JSON.stringify(e.listener.name)} ${e.listener.address}: ${e.listener.why}`);
  if (e.filterChain !== null) {
    const fc = e.filterChain;
    lines.push(`filter chain   ${fc.index === 'default' ? 'default_filter_chain' : `#${fc.index}`}${fc.name === '' ? '' : ` ${JSON.stringify(fc.name)}`}: ${fc.why}`);
    lines.push(`network filters ${e.networkFilters.join(' -> ')}`);
  }
  if (e.http !== null) {
    lines.push(`http filters   ${e.http.httpFilters.join(' -> ')} (stat_prefix ${JSON.stringify(e.http.statPrefix)})`);
    for (const n of e.http.normalized) lines.push(`normalized     ${n}`);
    if (e.stop === '') lines.push(...formatRoute(e.http.route), ...formatAction(e.http.action));
  }
  if (e.stop !== '') lines.push(`stop           ${e.stop}`);
  return lines.join('\n') + '\n';
}

function formatRoute(x: RouteExplanation): string[] {
  const lines: string[] = [];
  if (x.virtualHost === null) {
    lines.push(`virtual host   none for host ${JSON.stringify(x.host)} (404 NR)`);
    return lines;
  }
  const vh = x.virtualHost;
  lines.push(`virtual host   ${JSON.stringify(vh.name)}: host ${JSON.stringify(x.host)} matches domain ${JSON.stringify(vh.domain)} (${vh.rule})`);
  for (const s of x.skipped) lines.push(`  skipped      #${s.index}${s.name === '' ? '' : ` ${JSON.stringify(s.name)}`}: ${s.reasons.join('; ')}`);
  if (x.route === null) {
    lines.push('route          none matches (404 NR)');
    return lines;
  }
  lines.push(`route          #${x.route.index}${x.route.name === '' ? '' : ` ${JSON.stringify(x.route.name)}`}`);
  return lines;
}

function formatAction(a: ActionExplanation | null): string[] {
  if (a === null) return [];
  const lines: string[] = [];
  if (a.kind !== 'cluster') {
    lines.push(`action         ${a.kind} ${a.status}${a.location === null ? '' : ` location ${a.location}`}`);
  } else if (a.weightedClusters !== null) {
    lines.push(`action         weighted_clusters ${a.weightedClusters.map((c) => `${c.name} ${c.percent}%`).join(', ')}`);
  } else {
    lines.push(`action         cluster ${a.cluster === null ? '(none)' : JSON.stringify(a.cluster)}`);
  }
  const u = a.upstreamRequest;
  if (u !== null) {
    lines.push(`upstream       ${u.method} ${u.authority}${u.path}`);
    for (const [k, v] of u.added) lines.push(`  set header   ${k}: ${v}`);
    for (const k of u.removed) lines.push(`  removed      ${k}`);
  }
  for (const n of a.notes) lines.push(`  ${n}`);
  return lines;
}

/** A request from `legate explain` flags: `--header 'name: value'` pairs. */
export function parseHeaderFlags(list: readonly string[]): [string, string][] {
  return list.map((h) => {
    const i = h.indexOf(':');
    if (i <= 0) throw new ExplainError(`--header: expected "name: value", got ${JSON.stringify(h)}`);
    return [h.slice(0, i).trim().toLowerCase(), h.slice(i + 1).trim()];
  });
}
