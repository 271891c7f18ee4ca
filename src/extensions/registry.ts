// The extension registry, keyed by Envoy's names (envoy.filters.http.router ...). Each extension
// module registers itself from index.ts's registerAll(); config.ts in src/config keeps the matching
// table of what the config loader accepts.
import type { StatSink } from '../common/stat-sink.ts';
import type { FilterFactory } from '../http/types.ts';
import type { ClusterManager } from '../upstream/cluster-manager.ts';
import { LegateError } from '../common/errors.ts';

export interface WorkerContext {
  stats: StatSink;
  clusterManager: ClusterManager;
  workerId: number;
}

/** Validates typed_config once and returns the per-stream factory. */
export type HttpFilterConfigFactory = (config: Record<string, unknown>, ctx: WorkerContext) => FilterFactory;

const httpFilters = new Map<string, HttpFilterConfigFactory>();
// typed_config @type -> extension name, so a filter can be named anything (Envoy resolves by type).
const httpFilterTypes = new Map<string, string>();

export function registerHttpFilter(name: string, typeUrl: string, factory: HttpFilterConfigFactory): void {
  httpFilters.set(name, factory);
  httpFilterTypes.set(typeUrl, name);
}

export function httpFilterFactory(name: string, config: Record<string, unknown>, ctx: WorkerContext): FilterFactory {
  const type = typeof config['@type'] === 'string' ? config['@type'] : '';
  const key = httpFilterTypes.get(type) ?? name;
  const f = httpFilters.get(key);
  if (f === undefined) {
    // The config loader refuses unknown filters; reaching here means the two tables disagree.
    throw new LegateError('LEGATE_ERR_EXTENSION', `HTTP filter "${name}" is not registered`);
  }
  return f(config, ctx);
}
