// The header manipulation fields of a RouteConfiguration, compiled in main after the rest of the
// route table (router/compile.ts): each route gets its request and response HeaderParser chains
// (router/header-parser.ts) in Envoy's order of evaluation, each weighted cluster its own chains
// (its parser in front of the route's), and the route configuration its internal_only_headers.
import type { CompileContext } from '../extensions/types.ts';
import { compileHeaderParser, routeChain, type HeaderParserSnap } from './header-parser.ts';
import type { RouteConfigSnap } from './config.ts';

type Obj = Record<string, any>;

/** The four fields a RouteConfiguration, a VirtualHost and a Route each have. */
export const HEADER_MUTATION_FIELDS = [
  'request_headers_to_add', 'request_headers_to_remove', 'response_headers_to_add', 'response_headers_to_remove',
] as const;

function parsers(m: Obj | undefined, path: string, ctx: Pick<CompileContext, 'fail'>):
  { request: HeaderParserSnap | null; response: HeaderParserSnap | null } {
  return {
    request: compileHeaderParser(m?.request_headers_to_add, m?.request_headers_to_remove,
      `${path}.request_headers_to_add`, `${path}.request_headers_to_remove`, ctx),
    response: compileHeaderParser(m?.response_headers_to_add, m?.response_headers_to_remove,
      `${path}.response_headers_to_add`, `${path}.response_headers_to_remove`, ctx),
  };
}

/** A weighted cluster's chain: its parser, then the route's chain (the route's own list when the
 *  cluster has none, so both share one worker-side chain). */
function withCluster(cluster: HeaderParserSnap | null, route: HeaderParserSnap[] | null): HeaderParserSnap[] | null {
  if (cluster === null) return route;
  return route === null ? [cluster] : [cluster, ...route];
}

/** Fill `snap`'s routes' requestHeaderParsers / responseHeaderParsers and its internalOnlyHeaders
 *  from `rc` (the RouteConfiguration `snap` was compiled from; `path` is its field path). */
export function compileRouteHeaders(
  rc: Obj | undefined, snap: RouteConfigSnap, path: string, ctx: Pick<CompileContext, 'fail'>,
): void {
  const global = parsers(rc, path, ctx);
  const mostSpecific = rc?.most_specific_header_mutations_wins === true;
  const vhosts = (rc?.virtual_hosts ?? []) as Obj[];
  snap.virtualHosts.forEach((vh, v) => {
    const vpath = `${path}.virtual_hosts[${v}]`;
    const vhConfig = vhosts[v];
    const vhp = parsers(vhConfig, vpath, ctx);
    const routes = (vhConfig?.routes ?? []) as Obj[];
    vh.routes.forEach((r, i) => {
      const rp = parsers(routes[i], `${vpath}.routes[${i}]`, ctx);
      r.requestHeaderParsers = routeChain(rp.request, vhp.request, global.request, mostSpecific);
      r.responseHeaderParsers = routeChain(rp.response, vhp.response, global.response, mostSpecific);
      const a = r.action;
      if (a.kind !== 'cluster' || a.weightedClusters === null) return;
      // A weighted cluster's own parser goes first, before the route's chain whatever
      // most_specific_header_mutations_wins says (Envoy's WeightedClusterEntry evaluates its own,
      // then the route's). Built once here: the worker caches a chain by the list's identity.
      const wcConfig = (routes[i]?.route?.weighted_clusters?.clusters ?? []) as Obj[];
      a.weightedClusters.clusters.forEach((c, j) => {
        const cp = parsers(wcConfig[j], `${vpath}.routes[${i}].route.weighted_clusters.clusters[${j}]`, ctx);
        c.requestHeaderParsers = withCluster(cp.request, r.requestHeaderParsers ?? null);
        c.responseHeaderParsers = withCluster(cp.response, r.responseHeaderParsers ?? null);
      });
    });
  });
  const internal = ((rc?.internal_only_headers ?? []) as string[]).map((h) => h.toLowerCase());
  snap.internalOnlyHeaders = internal.length === 0 ? null : internal;
}
