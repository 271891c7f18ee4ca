// Route actions compiled in main (router/compile.ts calls these for each Route): the RouteAction
// fields beyond the basic ones (cluster_header, weighted_clusters, regex and host rewrites,
// max_stream_duration, request_mirror_policies), RedirectAction, DirectResponseAction, and the
// Route's metadata, typed_per_filter_config at every level and the deprecated cors. Every regex is compiled here once so a bad
// pattern or substitution fails the config with its field path (workers compile them again:
// RE2 objects cannot cross threads).
import type { CompileContext } from '../extensions/types.ts';
import { perRouteModuleByType } from '../extensions/registry.ts';
import { durationMs } from '../config/duration.ts';
import { readDataSource } from '../common/data-source.ts';
import { compileRewrite, RegexError } from '../common/regex.ts';
import type { RegexRewriteSnap, RouteActionExtra, RouteSnap } from './config.ts';
import type { RedirectSnap } from './redirect.ts';
import type { WeightedClustersSnap } from './weighted-clusters.ts';
import type { ShadowPolicySnap } from './shadow.ts';
import { runtimeFraction } from './compile-match.ts';

type Obj = Record<string, any>;

/** RouteConfiguration.max_direct_response_body_size_bytes' default (Envoy's). */
export const DEFAULT_MAX_DIRECT_RESPONSE_BODY_BYTES = 4096;

/** ClusterNotFoundResponseCode -> status. */
const CLUSTER_NOT_FOUND: Record<string, number> = { SERVICE_UNAVAILABLE: 503, NOT_FOUND: 404, INTERNAL_SERVER_ERROR: 500 };
/** RedirectResponseCode -> status. */
const REDIRECT_CODE: Record<string, number> = {
  MOVED_PERMANENTLY: 301, FOUND: 302, SEE_OTHER: 303, TEMPORARY_REDIRECT: 307, PERMANENT_REDIRECT: 308,
};

/** An ASCII-lowercased header name (Envoy's LowerCaseString). */
function lowerName(s: string): string {
  return s.replace(/[A-Z]+/g, (u) => u.toLowerCase());
}

/** A RegexMatchAndSubstitute, checked. */
function rewriteSnap(m: Obj, path: string, ctx: CompileContext): RegexRewriteSnap {
  const pattern = String(m.pattern?.regex ?? '');
  const substitution = String(m.substitution ?? '');
  try {
    compileRewrite(pattern, substitution);
  } catch (e) {
    if (e instanceof RegexError) ctx.fail(`${path}.pattern.regex`, e.message);
    throw e;
  }
  return { pattern, substitution };
}

/** The RouteAction fields RouteActionExtra carries; `path` is the RouteAction's field path. */
export function routeActionExtra(ra: Obj, path: string, ctx: CompileContext, routeName = ''): RouteActionExtra {
  if (ra.prefix_rewrite !== undefined && ra.prefix_rewrite !== '' && ra.regex_rewrite !== undefined) {
    ctx.fail(`${path}.regex_rewrite`, 'Specify only one of prefix_rewrite, regex_rewrite or path_rewrite_policy');
  }
  const msd = ra.max_stream_duration as Obj | undefined;
  return {
    clusterHeader: typeof ra.cluster_header === 'string' ? lowerName(ra.cluster_header) : null,
    weightedClusters: ra.weighted_clusters === undefined ? null
      : weightedClusters(ra.weighted_clusters, `${path}.weighted_clusters`, ctx, routeName),
    clusterNotFoundStatus: CLUSTER_NOT_FOUND[ra.cluster_not_found_response_code ?? 'SERVICE_UNAVAILABLE'] ?? 503,
    regexRewrite: ra.regex_rewrite === undefined ? null : rewriteSnap(ra.regex_rewrite, `${path}.regex_rewrite`, ctx),
    hostRewriteHeader: typeof ra.host_rewrite_header === 'string' ? lowerName(ra.host_rewrite_header) : null,
    hostRewritePathRegex: ra.host_rewrite_path_regex === undefined ? null
      : rewriteSnap(ra.host_rewrite_path_regex, `${path}.host_rewrite_path_regex`, ctx),
    autoHostRewrite: ra.auto_host_rewrite === true,
    maxStreamDurationMs: msd?.max_stream_duration === undefined ? -1 : durationMs(msd.max_stream_duration, 0),
    mirrors: ((ra.request_mirror_policies ?? []) as Obj[]).map((m, i) => mirrorPolicy(m, `${path}.request_mirror_policies[${i}]`, ctx)),
  };
}

/** Whether the RouteAction has max_stream_duration (Envoy's usingNewTimeouts: the route
 *  `timeout` is then not applied). */
export function usesStreamDuration(ra: Obj): boolean {
  return ra.max_stream_duration !== undefined;
}

function weightedClusters(wc: Obj, path: string, ctx: CompileContext, routeName: string): WeightedClustersSnap {
  let total = 0;
  const prefix: string = wc.runtime_key_prefix ?? '';
  const clusters = ((wc.clusters ?? []) as Obj[]).map((c, i) => {
    const cpath = `${path}.clusters[${i}]`;
    const name: string = c.name ?? '';
    const header = typeof c.cluster_header === 'string' && c.cluster_header !== '' ? lowerName(c.cluster_header) : null;
    if (name === '' && header === null) ctx.fail(cpath, 'route: unknown weighted cluster with no cluster_header field');
    if (name !== '' && header !== null) ctx.fail(cpath, 'Only one of name or cluster_header can be specified');
    if (name !== '' && !ctx.clusters.has(name)) ctx.fail(`${cpath}.name`, `route: unknown weighted cluster '${name}'`);
    if (c.weight === undefined) ctx.fail(`${cpath}.weight`, 'weight is required');
    const weight = Number(c.weight);
    total += weight;
    return {
      name, clusterHeader: header, weight, runtimeKey: prefix === '' ? null : `${prefix}.${name}`,
      hostRewrite: c.host_rewrite_literal ?? null,
    };
  });
  if (total === 0) ctx.fail(`${path}.clusters`, 'Sum of weights in the weighted_cluster must be greater than 0.');
  if (total > 0xffff_ffff) {
    ctx.fail(`${path}.clusters`, `The sum of weights of all weighted clusters of route ${routeName} exceeds 4294967295`);
  }
  // (Deprecated; Envoy no longer reads it and picks by the sum. A total other than the sum was an
  // error before: refused rather than silently meaning something else.)
  if (wc.total_weight !== undefined && Number(wc.total_weight) !== total) {
    ctx.fail(`${path}.total_weight`, `total_weight ${wc.total_weight} is not the sum of the weights (${total})`);
  }
  return {
    clusters, totalWeight: total, headerName: wc.header_name ? lowerName(wc.header_name) : null, runtime: prefix !== '',
  };
}

function mirrorPolicy(m: Obj, path: string, ctx: CompileContext): ShadowPolicySnap {
  const cluster: string = m.cluster ?? '';
  const header = typeof m.cluster_header === 'string' && m.cluster_header !== '' ? lowerName(m.cluster_header) : null;
  if (cluster === '' && header === null) ctx.fail(path, 'exactly one of cluster and cluster_header must be specified');
  if (cluster !== '' && header !== null) ctx.fail(path, 'Only one of cluster or cluster_header can be specified');
  if (cluster !== '' && !ctx.clusters.has(cluster)) ctx.fail(`${path}.cluster`, `route: unknown shadow cluster '${cluster}'`);
  return {
    cluster, clusterHeader: header, disableHostSuffix: m.disable_shadow_host_suffix_append === true,
    runtimeFraction: m.runtime_fraction === undefined ? null : runtimeFraction(m.runtime_fraction),
  };
}

/** A Route's redirect (RedirectAction). */
export function redirectAction(r: Obj, path: string, ctx: CompileContext): RedirectSnap {
  const scheme: string = r.scheme_redirect ?? (r.https_redirect === true ? 'https' : '');
  return {
    scheme,
    host: r.host_redirect ?? '',
    port: r.port_redirect ? `:${r.port_redirect}` : '',
    path: r.path_redirect ?? '',
    prefixRewrite: r.prefix_rewrite ?? '',
    regexRewrite: r.regex_rewrite === undefined ? null : rewriteSnap(r.regex_rewrite, `${path}.regex_rewrite`, ctx),
    status: REDIRECT_CODE[r.response_code ?? 'MOVED_PERMANENTLY'] ?? 301,
    stripQuery: r.strip_query === true,
  };
}

/** A Route's direct_response: the body read now (a file too, as Envoy reads it at config
 *  load), no larger than the route configuration's max_direct_response_body_size_bytes. */
export function directResponseAction(dr: Obj, path: string, maxBody: number, ctx: CompileContext):
  { kind: 'direct'; status: number; body: string | null } {
  if (dr.body === undefined) return { kind: 'direct', status: dr.status, body: null };
  const b = readDataSource(dr.body, `${path}.body`, ctx.fail);
  if (b.length > maxBody) {
    const what = typeof dr.body.filename === 'string' ? `file ${dr.body.filename} size is` : 'response body size is';
    ctx.fail(`${path}.body`, `${what} ${b.length} bytes; maximum is ${maxBody}`);
  }
  return { kind: 'direct', status: dr.status, body: b.toString('utf8') };
}

/** Route.metadata: filter_metadata as plain JSON (typed_filter_metadata is not a supported field). */
export function routeMetadata(md: Obj | undefined): Record<string, unknown> | null {
  const fm = md?.filter_metadata;
  return fm === undefined || Object.keys(fm).length === 0 ? null : structuredClone(fm);
}

/** One level's compiled typed_per_filter_config entry and how its filter combines levels:
 *  `config` is null for an entry that only enables or disables the filter (an
 *  envoy.config.route.v3.FilterConfig with `disabled`, or with an empty or optional-and-unknown
 *  `config`); `disabled` is Envoy's PerFilterConfigs::disabled() (any entry enables a filter
 *  disabled by default). */
export interface PerFilterEntry {
  config: object | null;
  merge: ((outer: object, inner: object) => object) | null;
  disabled: boolean;
}
/** One level's typed_per_filter_config (the route configuration's, a virtual host's or a
 *  route's): filter config name -> entry; null when it has none. */
export type PerFilterLevel = Record<string, PerFilterEntry> | null;

const FILTER_CONFIG = 'envoy.config.route.v3.FilterConfig';

/** The message name of an Any's type URL: what follows its last '/'. (config/extensions.ts has the
 *  same helper, but importing it here would close an import cycle through the extension list.) */
function typeOf(any: Obj | undefined): string {
  const url: unknown = any?.['@type'];
  return typeof url === 'string' ? url.slice(url.lastIndexOf('/') + 1) : '';
}

/** A typed_per_filter_config map (`path` is the field holding it): each entry compiled by the
 *  HTTP filter module its @type names, when that module declares a per-route config (Envoy's
 *  createRouteSpecificFilterConfig); an envoy.config.route.v3.FilterConfig wraps one with
 *  `disabled` (the filter is off there, its config ignored) and `is_optional` (a type Legate does
 *  not implement is skipped: the loader warned). Any other is refused by name. The key is the
 *  filter's config name (http_filters[i].name), which the filter asks with (perFilterConfig). */
export function perFilterLevel(map: Obj | undefined, path: string, ctx: CompileContext): PerFilterLevel {
  if (map === undefined || Object.keys(map).length === 0) return null;
  const out: Record<string, PerFilterEntry> = {};
  for (const [name, entry] of Object.entries(map as Record<string, Obj>)) {
    const epath = `${path}["${name}"]`;
    let any: Obj | undefined = entry;
    let apath = epath;
    let optional = false;
    if (typeOf(entry) === FILTER_CONFIG) {
      if (entry.disabled === true) {
        out[name] = { config: null, merge: null, disabled: true };
        continue;
      }
      if (entry.config === undefined) ctx.fail(epath, `Empty route/virtual host per filter configuration for ${name} filter`);
      any = entry.config;
      apath = `${epath}.config`;
      optional = entry.is_optional === true;
    }
    const type = typeOf(any);
    // (A FilterConfig with an empty config enables the filter there, with no config of its own.)
    if (type === '' && any !== entry) {
      out[name] = { config: null, merge: null, disabled: false };
      continue;
    }
    const perRoute = type === '' ? undefined : perRouteModuleByType(type)?.perRoute;
    if (perRoute === undefined) {
      if (optional) {
        out[name] = { config: null, merge: null, disabled: false };
        continue;
      }
      ctx.fail(apath, `the filter ${JSON.stringify(name)} (${type || 'no @type'}) has no per-route config in Legate`);
    }
    const { '@type': _t, ...fields } = any!;
    out[name] = {
      config: perRoute.compile(fields, { ...ctx, path: apath }), merge: perRoute.merge?.bind(perRoute) ?? null, disabled: false,
    };
  }
  return out;
}

/** What a route's filters see (RouteSnap.perFilterConfig), from its levels, least specific
 *  first: per filter name the most specific entry with a config (Envoy's
 *  mostSpecificPerFilterConfig), or, for a filter that reads every level (a `merge`), the levels
 *  combined. */
export function resolvePerFilterConfig(levels: readonly PerFilterLevel[]): RouteSnap['perFilterConfig'] {
  let out: Record<string, PerFilterEntry> | null = null;
  for (const level of levels) {
    if (level === null) continue;
    for (const [name, e] of Object.entries(level)) {
      if (e.config === null) continue;
      out ??= {};
      const outer = out[name];
      out[name] = outer !== undefined && e.merge !== null
        ? { config: e.merge(outer.config!, e.config), merge: e.merge, disabled: false } : e;
    }
  }
  if (out === null) return null;
  const flat: Record<string, unknown> = {};
  for (const [name, e] of Object.entries(out)) flat[name] = e.config;
  return flat;
}

/** RouteSnap.filterDisabled from a route's levels, least specific first: per filter name the
 *  most specific entry's `disabled` (Envoy's filterDisabled()); null when no level has an entry. */
export function resolveFilterDisabled(levels: readonly PerFilterLevel[]): Record<string, boolean> | null {
  let out: Record<string, boolean> | null = null;
  for (const level of levels) {
    if (level === null) continue;
    for (const [name, e] of Object.entries(level)) (out ??= {})[name] = e.disabled;
  }
  return out;
}

/** The deprecated `cors` of a VirtualHost or RouteAction (envoy.config.route.v3.CorsPolicy, the
 *  same fields as the CORS filter's CorsPolicy), compiled by the CORS filter's module: the CORS
 *  filter reads it only when no typed_per_filter_config names it (Envoy's CorsFilter). */
export function legacyCorsLevel(policy: Obj | undefined, path: string, ctx: CompileContext): PerFilterLevel {
  if (policy === undefined) return null;
  const perRoute = perRouteModuleByType(CORS_POLICY)?.perRoute;
  if (perRoute === undefined) ctx.fail(path, 'Legate has no CORS filter');
  return {
    cors: { config: perRoute.compile(policy, { ...ctx, path }), merge: perRoute.merge?.bind(perRoute) ?? null, disabled: false },
  };
}
const CORS_POLICY = 'envoy.extensions.filters.http.cors.v3.CorsPolicy';
