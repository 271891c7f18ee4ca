// envoy.filters.http.health_check's per-stream filter (Envoy's HealthCheckFilter). A request its
// header matchers accept is a health check (StreamInfo.healthCheck, read by access logs'
// not_health_check_filter). The filter answers it itself (a local reply at the end of the request,
// its body dropped) unless pass_through_mode lets it go upstream; in pass-through mode it still
// answers while the server fails health checks or while the cache holds a recent upstream answer.
// Its encodeHeaders marks the answers to health checks with x-envoy-upstream-healthchecked-cluster
// (the local service cluster) and feeds the cache; while the server fails health checks, every
// other response gets x-envoy-immediate-health-check-fail: true.
import type { Buffer } from 'node:buffer';
import { monotonicNow } from '../../../../common/clock.ts';
import type { ServerState } from '../../../../common/server-state.ts';
import {
  FilterDataStatus, FilterHeadersStatus, FilterTrailersStatus, type StreamDecoderFilterCallbacks, type StreamFilter,
} from '../../../../http/filter.ts';
import { ResponseFlag, type HeaderMap, type RequestHeaders, type ResponseHeaders } from '../../../../http/types.ts';
import type { HeaderMatchSnap } from '../../../../router/config.ts';
import type { HeaderMatcher } from '../../../../router/matchers.ts';
import type { ClusterManager } from '../../../../upstream/cluster-manager.ts';
import { PassThroughFilter } from '../../../../http/pass-through-filter.ts';

export interface HealthCheckSnap {
  passThrough: boolean;
  /** cache_time (ms; 0: no cache). */
  cacheMs: number;
  headers: HeaderMatchSnap[];
  /** cluster_min_healthy_percentages (without pass_through_mode), percentages truncated. */
  minHealthy: { cluster: string; percent: number }[];
  /** x-envoy-upstream-healthchecked-cluster's value: the bootstrap's node.cluster. */
  serviceCluster: string;
}

/** What every stream of a filter config shares (per worker). */
export interface HealthCheckShared {
  snap: HealthCheckSnap;
  matchers: HeaderMatcher[];
  cache: HealthCheckCache | null;
  serverState: ServerState;
  clusterManager: ClusterManager;
}

// Envoy's response code details.
const OK = 'health_check_ok';
const FAILED = 'health_check_failed';
const CACHED = 'health_check_cached';
const NO_CLUSTER = 'health_check_failed_no_cluster_found';
const CLUSTER_EMPTY = 'health_check_failed_cluster_empty';
const CLUSTER_HEALTHY = 'health_check_ok_cluster_healthy';
const CLUSTER_UNHEALTHY = 'health_check_failed_cluster_unhealthy';

const DEGRADED_HEADER: readonly string[] = ['x-envoy-degraded', ''];

/** Envoy's HealthCheckCacheManager: the last upstream answer to a health check (its status and
 *  whether it said x-envoy-degraded) is used until the cache's period ends; the periods are
 *  cache_time long from the filter config's start (Envoy's repeating timer). */
export class HealthCheckCache {
  readonly #periodMs: number;
  readonly #epoch: number;
  /** When the cached answer stops being used (monotonic ms; 0: none). */
  #until: number;
  status: number;
  degraded: boolean;

  constructor(periodMs: number) {
    this.#periodMs = periodMs;
    this.#epoch = monotonicNow();
    this.#until = 0;
    this.status = 200;
    this.degraded = false;
  }

  useCached(): boolean {
    return this.#until !== 0 && monotonicNow() < this.#until;
  }

  set(status: number, degraded: boolean): void {
    this.status = status;
    this.degraded = degraded;
    const p = this.#periodMs;
    this.#until = this.#epoch + (Math.floor((monotonicNow() - this.#epoch) / p) + 1) * p;
  }
}

export class HealthCheckFilter extends PassThroughFilter implements StreamFilter {
  readonly #shared: HealthCheckShared;
  #cb: StreamDecoderFilterCallbacks | null;
  /** The request is a health check. */
  #healthCheck: boolean;
  /** This filter answers it. */
  #handling: boolean;

  constructor(shared: HealthCheckShared) {
    super();
    this.#shared = shared;
    this.#cb = null;
    this.#healthCheck = false;
    this.#handling = false;
  }

  setDecoderFilterCallbacks(cb: StreamDecoderFilterCallbacks): void {
    this.#cb = cb;
  }

  decodeHeaders(headers: RequestHeaders, endStream: boolean): FilterHeadersStatus {
    const s = this.#shared;
    const m = s.matchers;
    // (No matcher: every request is a health check, as Envoy's matchHeaders of an empty list.)
    for (let i = 0; i < m.length; i++) if (!m[i].match(headers)) return FilterHeadersStatus.Continue;
    this.#healthCheck = true;
    this.#cb!.streamInfo.healthCheck = true;
    if (!s.snap.passThrough || s.serverState.healthCheckFailed() || (s.cache !== null && s.cache.useCached())) {
      this.#handling = true;
    }
    if (!this.#handling) return FilterHeadersStatus.Continue;
    if (endStream) this.#onComplete();
    return FilterHeadersStatus.StopIteration;
  }

  decodeData(_data: Buffer, endStream: boolean): FilterDataStatus {
    if (!this.#handling) return FilterDataStatus.Continue;
    if (endStream) this.#onComplete();
    return FilterDataStatus.StopIterationNoBuffer;
  }

  decodeTrailers(_trailers: HeaderMap): FilterTrailersStatus {
    if (!this.#handling) return FilterTrailersStatus.Continue;
    this.#onComplete();
    return FilterTrailersStatus.StopIteration;
  }

  encodeHeaders(headers: ResponseHeaders, _endStream: boolean): FilterHeadersStatus {
    const s = this.#shared;
    if (this.#healthCheck) {
      s.cache?.set(headers.status, headers.get('x-envoy-degraded') !== undefined);
      headers.set('x-envoy-upstream-healthchecked-cluster', s.snap.serviceCluster);
    } else if (s.serverState.healthCheckFailed()) {
      headers.set('x-envoy-immediate-health-check-fail', 'true');
    }
    return FilterHeadersStatus.Continue;
  }

  onDestroy(): void {
    this.#cb = null;
  }

  /** Envoy's onComplete: the answer, at the end of the request. */
  #onComplete(): void {
    const s = this.#shared;
    let status = 200;
    let details = OK;
    let degraded = false;
    if (s.serverState.healthCheckFailed()) {
      status = 503;
      details = FAILED;
    } else if (s.cache !== null) {
      status = s.cache.status;
      degraded = s.cache.degraded;
      details = CACHED;
    } else if (s.snap.minHealthy.length > 0) {
      for (const { cluster, percent } of s.snap.minHealthy) {
        details = CLUSTER_HEALTHY;
        const c = s.clusterManager.getThreadLocalCluster(cluster);
        if (c === undefined) {
          status = 503;
          details = NO_CLUSTER;
          break;
        }
        let total = 0;
        let available = 0;
        for (const hs of c.prioritySet.hostSetsPerPriority) {
          total += hs.hosts.length;
          available += hs.healthyHosts.length + hs.degradedHosts.length;
        }
        if (total === 0) {
          // An empty cluster is unhealthy unless its minimum is 0.
          if (percent === 0) continue;
          status = 503;
          details = CLUSTER_EMPTY;
          break;
        }
        if (100 * available < total * percent) {
          status = 503;
          details = CLUSTER_UNHEALTHY;
          break;
        }
      }
    }
    const flag = status < 200 || status >= 300 ? ResponseFlag.FailedLocalHealthCheck : '';
    this.#cb!.sendLocalReply(status, '', flag, details, degraded ? DEGRADED_HEADER : null);
  }
}
