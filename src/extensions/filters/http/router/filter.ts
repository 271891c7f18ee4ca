// envoy.filters.http.router: the terminal HTTP filter. Takes the route the connection manager
// picked, answers direct responses, otherwise picks a host (cluster LB), gets a connection from
// the host's pool, forwards the request and streams the response back with flow control both ways.
import { Buffer } from 'node:buffer';
import { monotonicNow } from '../../../../common/clock.ts';
import { cancel, schedule, type Expirable } from '../../../../common/timer-wheel.ts';
import {
  FilterHeadersStatus, FilterDataStatus, FilterTrailersStatus, ResponseFlag, type HeaderMap, type RequestHeaders,
  type ResponseHeaders, type DownstreamWatermarkCallbacks,
} from '../../../../http/types.ts';
import type { StreamDecoderFilter, StreamDecoderFilterCallbacks } from '../../../../http/filter.ts';
import type { ClusterManager, ClusterRuntime } from '../../../../upstream/cluster-manager.ts';
import type { HostPool, PoolCallbacks } from '../../../../upstream/conn-pool-http1.ts';
import type { Http1ClientConnection, UpstreamResponseDecoder } from '../../../../upstream/codec-client-http1.ts';
import type { HcmStats } from '../../../../http/stats.ts';
import { retain } from '../../../../network/socket-owner.ts';

// Envoy's local reply bodies.
const BODY_CONNECT_FAILURE = 'upstream connect error or disconnect/reset before headers. reset reason: connection failure';
const BODY_OVERFLOW = 'upstream connect error or disconnect/reset before headers. reset reason: overflow';
const BODY_TERMINATION = 'upstream connect error or disconnect/reset before headers. reset reason: connection termination';
const BODY_PROTOCOL = 'upstream connect error or disconnect/reset before headers. reset reason: protocol error';
const BODY_TIMEOUT = 'upstream request timeout';
const BODY_NO_HEALTHY = 'no healthy upstream';
const EMPTY = Buffer.alloc(0);
/** Until setDecoderFilterCallbacks (the filter manager calls it right after construction). */
const NO_CALLBACKS = { hcmStats: null } as unknown as StreamDecoderFilterCallbacks;

export class RouterFilter implements StreamDecoderFilter, PoolCallbacks, UpstreamResponseDecoder, DownstreamWatermarkCallbacks, Expirable {
  cb: StreamDecoderFilterCallbacks;
  readonly cm: ClusterManager;
  hcmStats: HcmStats;
  cluster: ClusterRuntime | null;
  host: HostPool | null;
  conn: Http1ClientConnection | null;
  queued: boolean;
  headers: RequestHeaders | null;
  headersEnd: boolean;
  buffered: Buffer[] | null;
  bufferedEnd: boolean;
  timeoutMs: number;
  timerTick: number;
  timerIndex: number;
  upstreamStart: number;
  done: boolean;
  responseStarted: boolean;
  /** Holds one of the cluster's max_requests slots. */
  reserved: boolean;
  /** Counted in upstream_rq_active (a connection is serving it). */
  counted: boolean;

  constructor(cm: ClusterManager) {
    this.cb = NO_CALLBACKS;
    this.cm = cm;
    this.hcmStats = NO_CALLBACKS.hcmStats;
    this.cluster = null;
    this.host = null;
    this.conn = null;
    this.queued = false;
    this.headers = null;
    this.headersEnd = false;
    this.buffered = null;
    this.bufferedEnd = false;
    this.timeoutMs = 0;
    this.timerTick = -1;
    this.timerIndex = -1;
    this.upstreamStart = 0;
    this.done = false;
    this.responseStarted = false;
    this.reserved = false;
    this.counted = false;
  }

  setDecoderFilterCallbacks(cb: StreamDecoderFilterCallbacks): void {
    this.cb = cb;
    this.hcmStats = cb.hcmStats;
  }

  decodeHeaders(headers: RequestHeaders, endStream: boolean): FilterHeadersStatus {
    const cb = this.cb;
    const route = cb.route;
    cb.stats.v[this.hcmStats.rq_total]++;
    if (route === null) {
      cb.stats.v[this.hcmStats.no_route]++;
      cb.sendLocalReply(404, '', ResponseFlag.NoRouteFound, 'route_not_found');
      return FilterHeadersStatus.StopIteration;
    }
    const action = route.snap.action;
    if (action.kind === 'direct') {
      cb.stats.v[this.hcmStats.rq_direct_response]++;
      cb.sendLocalReply(action.status, action.body ?? '', '', 'direct_response');
      return FilterHeadersStatus.StopIteration;
    }
    const cluster = this.cm.get(action.clusterIndex);
    if (cluster === undefined) {
      cb.stats.v[this.hcmStats.no_cluster]++;
      cb.sendLocalReply(503, '', ResponseFlag.NoClusterFound, 'cluster_not_found');
      return FilterHeadersStatus.StopIteration;
    }
    this.cluster = cluster;
    cb.streamInfo.upstreamCluster = cluster.name;
    const host = cluster.lb.chooseHost();
    if (host === null) {
      cluster.stats.v[cluster.s.upstream_cx_none_healthy]++;
      cb.sendLocalReply(503, BODY_NO_HEALTHY, ResponseFlag.NoHealthyUpstream, 'no_healthy_upstream');
      return FilterHeadersStatus.StopIteration;
    }
    if (cluster.activeRequests >= cluster.maxRequests) {
      // Envoy's max_requests circuit breaker: upstream_rq_pending_overflow counts it too.
      cluster.stats.v[cluster.s.upstream_rq_pending_overflow]++;
      cb.sendLocalReply(503, BODY_OVERFLOW, ResponseFlag.UpstreamOverflow, 'overflow');
      return FilterHeadersStatus.StopIteration;
    }
    // The max_requests slot is taken now, not when a connection is ready, so a burst that queues
    // behind connection setup cannot overshoot the breaker.
    cluster.activeRequests++;
    this.reserved = true;
    this.host = host;
    cb.streamInfo.upstreamHost = host.hostString;
    if (action.prefixRewrite !== null) {
      const m = route.value;
      headers.set('x-envoy-original-path', headers.path);
      headers.path = action.prefixRewrite + headers.path.slice(m.length);
    }
    if (action.hostRewrite !== null) headers.authority = action.hostRewrite;
    this.headers = headers;
    this.headersEnd = endStream;
    this.timeoutMs = action.timeoutMs;
    cb.setDownstreamWatermarkCallbacks(this);
    if (endStream) this.#startTimer();
    this.queued = host.newStream(this);
    return FilterHeadersStatus.StopIteration;
  }

  decodeData(data: Buffer, endStream: boolean): FilterDataStatus {
    if (this.done) return FilterDataStatus.StopIterationNoBuffer;
    if (endStream) this.#startTimer();
    const conn = this.conn;
    if (conn !== null) {
      conn.encodeData(data, endStream);
    } else {
      // Waiting for a connection: hold the body, and stop reading more (bounded buffering).
      if (this.buffered === null) {
        this.buffered = [];
        this.cb.readDisable(true);
      }
      if (data.length > 0) this.buffered.push(retain(data));
      if (endStream) this.bufferedEnd = true;
    }
    return FilterDataStatus.StopIterationNoBuffer;
  }

  /** Request trailers are not forwarded upstream yet (the HTTP/1 client codec has no trailers):
   *  they end the request body. */
  decodeTrailers(_trailers: HeaderMap): FilterTrailersStatus {
    this.decodeData(EMPTY, true);
    return FilterTrailersStatus.StopIteration;
  }

  #startTimer(): void {
    // Envoy's route timeout runs from the end of the downstream request (0 disables it).
    if (this.timerTick === -1 && this.timeoutMs > 0 && !this.done) schedule(this, this.timeoutMs);
  }

  onPoolReady(conn: Http1ClientConnection, host: HostPool): void {
    this.queued = false;
    if (this.done) {
      host.release(conn);
      return;
    }
    this.conn = conn;
    const c = this.cluster!;
    const v = c.stats.v;
    v[c.s.upstream_rq_total]++;
    v[c.s.upstream_rq_active]++;
    v[host.hs.rq_total]++;
    v[host.hs.rq_active]++;
    this.counted = true;
    this.upstreamStart = monotonicNow();
    const h = this.headers!;
    const cl = h.get('content-length');
    const contentLength = cl === undefined ? -1 : Number(cl);
    const chunked = !this.headersEnd && contentLength < 0;
    const buffered = this.buffered;
    const end = this.headersEnd;
    conn.encodeHeaders(this, h, end, contentLength, chunked);
    if (buffered !== null) {
      this.buffered = null;
      for (let i = 0; i < buffered.length; i++) {
        conn.encodeData(buffered[i], this.bufferedEnd && i === buffered.length - 1);
      }
      if (this.bufferedEnd && buffered.length === 0) conn.encodeData(Buffer.alloc(0), true);
      this.cb.readDisable(false);
    }
  }

  onPoolFailure(reason: 'overflow' | 'connection_failure', _host: HostPool): void {
    this.queued = false;
    if (this.done) return;
    if (reason === 'overflow') {
      this.cb.sendLocalReply(503, BODY_OVERFLOW, ResponseFlag.UpstreamOverflow, 'overflow');
    } else {
      this.cb.sendLocalReply(503, BODY_CONNECT_FAILURE, ResponseFlag.UpstreamConnectionFailure, 'connection_failure');
    }
  }

  decodeResponseHeaders(h: ResponseHeaders, endStream: boolean): void {
    const now = monotonicNow();
    const svc = Math.round(now - this.upstreamStart);
    this.cb.streamInfo.upstreamServiceTimeMs = svc;
    h.set('x-envoy-upstream-service-time', String(svc));
    this.responseStarted = true;
    if (endStream) this.#upstreamDone(h.status);
    else this.#status = h.status;
    this.cb.encodeHeaders(h, endStream);
  }

  #status = 0;

  decodeResponseData(b: Buffer, endStream: boolean): void {
    if (endStream) this.#upstreamDone(this.#status);
    this.cb.encodeData(b, endStream);
  }

  #upstreamDone(status: number): void {
    this.#clearTimer();
    const c = this.cluster!;
    const v = c.stats.v;
    const cls = (status / 100) | 0;
    if (cls === 2) v[c.s.upstream_rq_2xx]++;
    else if (cls === 5) v[c.s.upstream_rq_5xx]++;
    else if (cls === 4) v[c.s.upstream_rq_4xx]++;
    else if (cls === 3) v[c.s.upstream_rq_3xx]++;
    else v[c.s.upstream_rq_1xx]++;
    v[c.s.upstream_rq_completed]++;
    const hs = this.host!.hs;
    if (cls === 5) v[hs.rq_error]++;
    else v[hs.rq_success]++;
    c.stats.record(c.s.upstream_rq_time, monotonicNow() - this.upstreamStart);
    this.#release();
    this.conn = null; // the codec returns the connection to the pool itself
  }

  #release(): void {
    const c = this.cluster!;
    if (this.reserved) {
      this.reserved = false;
      c.activeRequests--;
    }
    if (!this.counted) return;
    this.counted = false;
    c.stats.v[c.s.upstream_rq_active]--;
    c.stats.v[this.host!.hs.rq_active]--;
  }

  onUpstreamReset(reason: 'remote' | 'protocol', responseStarted: boolean): void {
    this.conn = null;
    this.#clearTimer();
    if (this.done) return;
    const c = this.cluster!;
    c.stats.v[c.s.upstream_rq_rx_reset]++;
    c.stats.v[this.host!.hs.rq_error]++;
    this.#release();
    if (responseStarted || this.responseStarted) {
      this.cb.stats.v[this.hcmStats.rq_reset_after_downstream_response_started]++;
      // The flag says why, as Envoy derives it from the reset reason.
      this.cb.streamInfo.responseFlags = reason === 'protocol'
        ? ResponseFlag.UpstreamProtocolError : ResponseFlag.UpstreamConnectionTermination;
      this.cb.resetStream();
    } else if (reason === 'protocol') {
      this.cb.sendLocalReply(502, BODY_PROTOCOL, ResponseFlag.UpstreamProtocolError, 'upstream_protocol_error');
    } else {
      this.cb.sendLocalReply(503, BODY_TERMINATION, ResponseFlag.UpstreamConnectionTermination, 'upstream_reset');
    }
  }

  onUpstreamAboveWriteBufferHighWatermark(): void {
    this.cb.readDisable(true);
  }
  onUpstreamBelowWriteBufferLowWatermark(): void {
    this.cb.readDisable(false);
  }
  onAboveWriteBufferHighWatermark(): void {
    this.conn?.readDisable(true);
  }
  onBelowWriteBufferLowWatermark(): void {
    this.conn?.readDisable(false);
  }

  onExpire(): void {
    if (this.done) return;
    const c = this.cluster!;
    c.stats.v[c.s.upstream_rq_timeout]++;
    if (this.host !== null) c.stats.v[this.host.hs.rq_timeout]++;
    this.#abandonUpstream();
    if (this.responseStarted) {
      this.cb.streamInfo.responseFlags = ResponseFlag.UpstreamRequestTimeout;
      this.cb.resetStream();
    } else {
      this.cb.sendLocalReply(504, BODY_TIMEOUT, ResponseFlag.UpstreamRequestTimeout, 'upstream_response_timeout');
    }
  }

  #clearTimer(): void {
    cancel(this);
  }

  /** Drop whatever we hold upstream: a queued request is cancelled, a connection in use dies
   *  (an HTTP/1 connection mid-request cannot be reused). */
  #abandonUpstream(): void {
    if (this.queued && this.host !== null) {
      this.queued = false;
      this.host.cancel(this);
    }
    const conn = this.conn;
    if (conn !== null) {
      this.conn = null;
      const c = this.cluster!;
      c.stats.v[c.s.upstream_rq_tx_reset]++;
      conn.destroy();
    }
    this.#release();
  }

  onDestroy(): void {
    if (this.done) return;
    this.done = true;
    this.#clearTimer();
    this.#abandonUpstream();
    this.buffered = null;
  }
}
