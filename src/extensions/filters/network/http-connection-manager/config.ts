// The HTTP connection manager's per-worker runtime config, compiled once from its snapshot:
// route table, HTTP filter factories (resolved through the registry by Envoy name), access loggers.
import type { HcmSnap } from '../../../../config/snapshot.ts';
import type { StatSink } from '../../../../common/stat-sink.ts';
import type { HcmStats } from '../../../../http/stats.ts';
import type { FilterFactory } from '../../../../http/types.ts';
import { RouteTable } from '../../../../http/route-table.ts';
import { AccessLogger } from '../../../../http/access-log.ts';
import { httpFilterFactory, type WorkerContext } from '../../../registry.ts';

export class HcmConfig {
  readonly snap: HcmSnap;
  readonly routes: RouteTable;
  readonly filterFactories: FilterFactory[];
  /** null when there are no access logs: the request path tests `!== null`. */
  readonly accessLoggers: AccessLogger[] | null;
  readonly s: HcmStats;
  readonly stats: StatSink;
  readonly ctx: WorkerContext;
  /** Whether anything reads the client's address (x-forwarded-for, access logs). When nothing
   *  does, codecs skip the getpeername(2) call and the string: ~3 us per new connection. */
  readonly needsRemoteAddress: boolean;

  constructor(snap: HcmSnap, ctx: WorkerContext) {
    this.snap = snap;
    this.routes = new RouteTable(snap.virtualHosts);
    this.filterFactories = snap.httpFilters.map((f) => httpFilterFactory(f.name, f.config, ctx));
    this.accessLoggers = snap.accessLogs.length > 0 ? snap.accessLogs.map((a) => new AccessLogger(a)) : null;
    this.s = snap.stats;
    this.stats = ctx.stats;
    this.ctx = ctx;
    this.needsRemoteAddress = snap.useRemoteAddress || this.accessLoggers !== null;
  }
}
