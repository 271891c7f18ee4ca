// A cluster's fixed facts as a worker sees them (Envoy's ClusterInfo): name, stats, limits,
// timeouts. Shared by the thread-local cluster, its pools and the connections they open.
import type { ClusterSnap } from '../config/snapshot.ts';
import type { StatSink } from '../common/stat-sink.ts';
import type { ClusterStats } from './stats.ts';
import { ResourceManager } from './resource-manager.ts';
import type { Host } from './host.ts';
import type { SabRing } from '../common/sab-ring.ts';
import { monotonicNow } from '../common/clock.ts';
import { statusClass } from '../http/status.ts';
import type { UpstreamTransportSocketFactory } from '../network/transport-socket.ts';
import { localityWeightsOf, type LocalityWeights } from './locality.ts';

/** An upstream response counted on its cluster (Envoy's chargeUpstreamCode): its status class
 *  (upstream_rq_<N>xx), upstream_rq_completed, and upstream_rq_time from `startMs` (monotonicNow;
 *  -1: not timed). Returns the class (1-5; 0 for a status outside 100-599). */
export function countUpstreamResponse(c: ClusterInfo, status: number, startMs: number): number {
  const v = c.stats.v;
  const cls = statusClass(status);
  switch (cls) {
    case 1: v[c.s.upstream_rq_1xx]++; break;
    case 2: v[c.s.upstream_rq_2xx]++; break;
    case 3: v[c.s.upstream_rq_3xx]++; break;
    case 4: v[c.s.upstream_rq_4xx]++; break;
    case 5: v[c.s.upstream_rq_5xx]++; break;
  }
  v[c.s.upstream_rq_completed]++;
  if (startMs >= 0) c.stats.record(c.s.upstream_rq_time, monotonicNow() - startMs);
  return cls;
}

export class ClusterInfo {
  readonly name: string;
  /** This worker's stats block. */
  readonly stats: StatSink;
  /** The cluster's stat slots (cluster.<name>.*). */
  readonly s: ClusterStats;
  readonly connectTimeoutMs: number;
  /** per_connection_buffer_limit_bytes: the upstream connections' write high watermark. */
  readonly bufferLimit: number;
  /** Circuit breakers of the default priority. */
  readonly resourceManager: ResourceManager;
  /** The cluster's transport socket (`transport_socket`, e.g. TLS); null: raw TCP. */
  readonly transportSocket: UpstreamTransportSocketFactory | null;
  /** common_lb_config.healthy_panic_threshold, percent (50). */
  readonly panicThreshold: number;
  /** What its load balancer's module compiled from the cluster (ring_hash_lb_config ...). */
  readonly lbConfig: unknown;
  /** common_lb_config.locality_weighted_lb_config: the locality weights by priority (null: not
   *  set, no locality-weighted balancing). */
  readonly localityWeights: LocalityWeights | null;
  /** Where the router reports each attempt's outcome (outlier detection; null: not configured). */
  outlier: SabRing | null;
  /** Where the router reports a response's x-envoy-immediate-health-check-fail (the same ring;
   *  null: the cluster has no active health checking). */
  hcEvents: SabRing | null;
  // Its connections (upstream/connection-options.ts; 0: no limit).
  /** An idle HTTP connection closes after this (common_http_protocol_options.idle_timeout). */
  readonly idleTimeoutMs: number;
  /** An HTTP connection drains once this old (max_connection_duration). */
  readonly maxConnectionDurationMs: number;
  /** An HTTP connection drains after this many requests (max_requests_per_connection). */
  readonly maxRequestsPerConnection: number;
  /** max_headers_count, for response heads. */
  readonly maxResponseHeadersCount: number;
  /** upstream_connection_options.tcp_keepalive: -1 off, else the idle time before the first
   *  probe (0: the system's). */
  readonly tcpKeepaliveMs: number;
  /** preconnect_policy.per_upstream_preconnect_ratio (1: connect for requests in flight only). */
  readonly preconnectRatio: number;

  constructor(snap: ClusterSnap, stats: StatSink, transportSocket: UpstreamTransportSocketFactory | null = null,
    counts?: Int32Array, offset?: number) {
    this.name = snap.name;
    this.stats = stats;
    this.s = snap.stats;
    this.connectTimeoutMs = snap.connectTimeoutMs;
    this.bufferLimit = snap.bufferLimit;
    this.resourceManager = new ResourceManager(snap, counts, offset);
    this.transportSocket = transportSocket;
    this.panicThreshold = snap.panicThreshold;
    this.lbConfig = snap.lbConfig;
    // (`!= null`: a hand-built snapshot in tests may not carry the field.)
    this.localityWeights = snap.localityWeights != null ? localityWeightsOf(snap.localityWeights) : null;
    this.outlier = null;
    this.hcEvents = null;
    const o = snap.connections;
    this.idleTimeoutMs = o.idleTimeoutMs;
    this.maxConnectionDurationMs = o.maxConnectionDurationMs;
    this.maxRequestsPerConnection = o.maxRequestsPerConnection;
    this.maxResponseHeadersCount = o.maxResponseHeadersCount;
    this.tcpKeepaliveMs = o.tcpKeepaliveMs;
    this.preconnectRatio = o.preconnectRatio;
  }
}

/** A pool opens a connection to `host`: its max_connections slot, and the cx counters. */
export function countConnectionOpened(info: ClusterInfo, host: Host): void {
  const v = info.stats.v;
  info.resourceManager.connections.inc();
  v[info.s.upstream_cx_total]++;
  v[info.s.upstream_cx_active]++;
  v[host.hs.cx_total]++;
  v[host.hs.cx_active]++;
}

/** A pool's connection to `host` closed: the slot back, the cx counters, and a connect failure
 *  when it never connected. */
export function countConnectionClosed(info: ClusterInfo, host: Host, createdAt: number, connected: boolean): void {
  const v = info.stats.v;
  info.resourceManager.connections.dec();
  v[info.s.upstream_cx_active]--;
  v[host.hs.cx_active]--;
  v[info.s.upstream_cx_destroy]++;
  info.stats.record(info.s.upstream_cx_length_ms, monotonicNow() - createdAt);
  if (!connected) {
    v[info.s.upstream_cx_connect_fail]++;
    v[host.hs.cx_connect_fail]++;
  }
}
