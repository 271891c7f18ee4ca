// The HTTP connection manager's per-worker runtime config, built once from its compiled snapshot
// (index.ts): route table, HTTP filter factories and access loggers, both resolved through the
// registry by Envoy name.
import type { HcmSnap } from './index.ts';
import type { StatSink } from '../../../../common/stat-sink.ts';
import type { HcmStats } from '../../../../http/stats.ts';
import type { FilterChainEntry } from '../../../../http/filter-manager.ts';
import type { AccessLogInstance } from '../../../types.ts';
import { RouteTable } from '../../../../router/route-table.ts';
import { HashMethodKind } from '../../../../http/hash-policy.ts';
import { accessLogger, httpFilterFactory, type WorkerContext } from '../../../registry.ts';
import { LocalReply } from '../../../../http/local-reply.ts';
import type { ServerState } from '../../../../common/server-state.ts';

export class HcmConfig {
  readonly snap: HcmSnap;
  readonly routes: RouteTable;
  /** The HTTP filter chain, built once per config and worker (FilterManager.createFilterChain
   *  runs it per stream). */
  readonly filterChain: FilterChainEntry[];
  /** null when there are no access logs: the request path tests `!== null`. */
  readonly accessLoggers: AccessLogInstance[] | null;
  readonly s: HcmStats;
  readonly stats: StatSink;
  readonly ctx: WorkerContext;
  /** ctx.serverState, read per response (health-check-failed drain close). */
  readonly serverState: ServerState;
  /** Whether anything reads the client's address (x-forwarded-for, access logs, a route's
   *  source_ip hash policy). When nothing does, codecs skip the getpeername(2) call and the
   *  string: ~3 us per new connection. */
  readonly needsRemoteAddress: boolean;
  /** local_reply_config, null when none. */
  readonly localReply: LocalReply | null;
  /** The route configuration's internal_only_headers, null when none. */
  readonly internalOnlyHeaders: string[] | null;

  constructor(snap: HcmSnap, ctx: WorkerContext) {
    this.snap = snap;
    this.routes = new RouteTable(snap.routeConfig.virtualHosts, snap.routeConfig.ignorePortInHostMatching === true, ctx.runtime);
    this.filterChain = snap.httpFilters.map((f) => ({
      name: f.configName, factory: httpFilterFactory(f, ctx), disabled: f.disabled,
    }));
    this.accessLoggers = snap.accessLogs.length > 0 ? snap.accessLogs.map((a) => accessLogger(a, ctx)) : null;
    this.s = snap.stats;
    this.stats = ctx.stats;
    this.ctx = ctx;
    this.serverState = ctx.serverState;
    this.localReply = snap.localReply == null ? null : new LocalReply(snap.localReply);
    this.internalOnlyHeaders = snap.routeConfig.internalOnlyHeaders ?? null;
    // (Custom headers and local replies may print the client's address too.)
    this.needsRemoteAddress = snap.useRemoteAddress || this.accessLoggers !== null || hashesSourceIp(snap)
      || this.localReply !== null || this.internalOnlyHeaders !== null || hasCustomHeaders(snap);
  }
}

/** Whether a route hashes on the client's address (connection_properties.source_ip). */
function hashesSourceIp(snap: HcmSnap): boolean {
  for (const vh of snap.routeConfig.virtualHosts) {
    for (const r of vh.routes) {
      if (r.action.kind === 'cluster' && r.action.hashPolicy?.some((m) => m.kind === HashMethodKind.SourceIp)) return true;
    }
  }
  return false;
}

/** Whether a route (or one of its weighted clusters) has custom request or response headers. */
function hasCustomHeaders(snap: HcmSnap): boolean {
  for (const vh of snap.routeConfig.virtualHosts) {
    for (const r of vh.routes) {
      if (r.requestHeaderParsers != null || r.responseHeaderParsers != null) return true;
      const wc = r.action.kind === 'cluster' ? r.action.weightedClusters : null;
      if (wc?.clusters.some((c) => c.requestHeaderParsers != null || c.responseHeaderParsers != null)) return true;
    }
  }
  return false;
}
