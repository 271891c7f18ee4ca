// envoy.filters.http.health_check (envoy.extensions.filters.http.health_check.v3.HealthCheck): answers
// the requests its `headers` match (all requests when it has none) as health checks (filter.ts).
// Without pass_through_mode it answers them itself: 200, or 503 when the server fails health checks
// (admin POST /healthcheck/fail) or a cluster of cluster_min_healthy_percentages has too few
// healthy and degraded hosts. With pass_through_mode they go upstream, unless the server fails
// health checks (503) or cache_time holds a recent upstream answer. The filter has no stats of
// its own, as in Envoy.
import { ExtensionCategory, type HttpFilterModule } from '../../../types.ts';
import { durationMs } from '../../../../config/duration.ts';
import { MATCH_FIELDS, headerMatcher } from '../../../../router/compile-match.ts';
import { HealthCheckCache, HealthCheckFilter, type HealthCheckShared, type HealthCheckSnap } from './filter.ts';
import { HeaderMatcher } from '../../../../router/matchers.ts';

const TYPE = 'envoy.extensions.filters.http.health_check.v3.HealthCheck';
const ROUTE = 'envoy.config.route.v3.';
const MATCHER_MESSAGES = [
  ROUTE + 'HeaderMatcher', 'envoy.type.matcher.v3.StringMatcher', 'envoy.type.matcher.v3.RegexMatcher',
  'envoy.type.matcher.v3.RegexMatcher.GoogleRE2', 'envoy.type.v3.Int64Range',
];

const healthCheck: HttpFilterModule<HealthCheckSnap> = {
  name: 'envoy.filters.http.health_check',
  category: ExtensionCategory.HttpFilter,
  types: [TYPE],
  fields: {
    [TYPE]: ['pass_through_mode', 'cache_time', 'cluster_min_healthy_percentages', 'headers'],
    'envoy.type.v3.Percent': ['value'],
    // (The header matchers are the route table's: router/compile-match.ts, router/matchers.ts.)
    ...Object.fromEntries(MATCHER_MESSAGES.map((m) => [m, MATCH_FIELDS[m]!])),
  },
  protos: ['envoy/extensions/filters/http/health_check/v3/health_check.proto'],
  compile(tc, ctx) {
    const passThrough = tc.pass_through_mode === true;
    const cacheMs = durationMs(tc.cache_time, 0);
    if (!passThrough && cacheMs > 0) {
      ctx.fail(`${ctx.path}.cache_time`, 'cache_time_ms must not be set when path_through_mode is disabled');
    }
    const percentages = (tc.cluster_min_healthy_percentages ?? {}) as Record<string, { value?: number }>;
    return {
      passThrough,
      cacheMs,
      headers: ((tc.headers ?? []) as Record<string, unknown>[])
        .map((h, i) => headerMatcher(h, `${ctx.path}.headers[${i}]`, ctx)),
      // (Envoy reads them only without pass_through_mode; the percentage is truncated to an
      // integer.)
      minHealthy: passThrough ? [] : Object.entries(percentages)
        .map(([cluster, p]) => ({ cluster, percent: Math.trunc(Number(p.value ?? 0)) })),
      serviceCluster: ctx.serviceCluster ?? '',
    };
  },
  createFilterFactory(snap, ctx) {
    const shared: HealthCheckShared = {
      snap,
      matchers: snap.headers.map((h) => new HeaderMatcher(h)),
      // (One per worker: each worker forwards its own health check per cache_time.)
      cache: snap.cacheMs > 0 ? new HealthCheckCache(snap.cacheMs) : null,
      serverState: ctx.serverState,
      clusterManager: ctx.clusterManager,
    };
    return (cb) => cb.addStreamFilter(new HealthCheckFilter(shared));
  },
};
export default healthCheck;
