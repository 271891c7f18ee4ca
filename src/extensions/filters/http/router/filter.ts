// envoy.filters.http.router: the terminal HTTP filter. Takes the route the connection manager
// picked, answers direct responses, otherwise looks its cluster up by name, picks a host (the
// cluster's load balancer), asks the host's connection pool for a stream, forwards the request and
// streams the response back with flow control both ways. It speaks only the codec-neutral
// upstream interface (upstream/conn-pool.ts); the pool holds the circuit breakers.
import { Buffer } from 'node:buffer';
import { monotonicNow } from '../../../../common/clock.ts';
import { cancel, schedule, type Expirable } from '../../../../common/timer-wheel.ts';
import {
  FilterHeadersStatus, FilterDataStatus, FilterTrailersStatus, ResponseFlag, type HeaderMap, type RequestHeaders,
  type ResponseHeaders, type DownstreamWatermarkCallbacks,
} from '../../../../http/types.ts';
import type { StreamDecoderFilter, StreamDecoderFilterCallbacks } from '../../../../http/filter.ts';
import type { ClusterManager, ThreadLocalCluster } from '../../../../upstream/cluster-manager.ts';
import {
  Protocol, StreamResetReason, type Cancellable, type PoolCallbacks, type PoolFailureReason, type RequestEncoder,
  type ResponseDecoder, type Stream, type StreamCallbacks,
} from '../../../../upstream/conn-pool.ts';
import type { Host } from '../../../../upstream/host.ts';
import type { LoadBalancerContext } from '../../../../upstream/load-balancer.ts';
import type { HcmStats } from '../../../../http/stats.ts';
import { retain } from '../../../../network/socket-owner.ts';
import { statusClass } from '../../../../http/status.ts';
import {
  generateHash, generatedCookieValue, type HashMethodSnap, type HashPolicyCallbacks, type HashPolicySnap,
} from '../../../../http/hash-policy.ts';

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

/** The upstream side of a request (Envoy's UpstreamRequest): receives the pool's, the response's
 *  and the stream's callbacks and hands them to its router under names that do not collide with
 *  the router's own decoder-filter and downstream-watermark methods. */
class UpstreamRequest implements ResponseDecoder, StreamCallbacks, PoolCallbacks {
  readonly router: RouterFilter;
  constructor(router: RouterFilter) {
    this.router = router;
  }
  onPoolReady(encoder: RequestEncoder, host: Host): void {
    this.router.onPoolReady(encoder, host);
  }
  onPoolFailure(reason: PoolFailureReason, _host: Host, transportFailureReason: string): void {
    this.router.onPoolFailure(reason, transportFailureReason);
  }
  decodeHeaders(headers: ResponseHeaders, endStream: boolean): void {
    this.router.onUpstreamHeaders(headers, endStream);
  }
  decodeData(data: Buffer, endStream: boolean): void {
    this.router.onUpstreamData(data, endStream);
  }
  onResetStream(reason: StreamResetReason): void {
    this.router.onUpstreamReset(reason);
  }
  onAboveWriteBufferHighWatermark(): void {
    this.router.cb.readDisable(true);
  }
  onBelowWriteBufferLowWatermark(): void {
    this.router.cb.readDisable(false);
  }
}

export class RouterFilter implements StreamDecoderFilter, DownstreamWatermarkCallbacks, Expirable, LoadBalancerContext,
  HashPolicyCallbacks {
  cb: StreamDecoderFilterCallbacks;
  readonly cm: ClusterManager;
  hcmStats: HcmStats;
  cluster: ThreadLocalCluster | null;
  host: Host | null;
  upstream: UpstreamRequest | null;
  /** The request waiting in the pool's queue. */
  cancellable: Cancellable | null;
  encoder: RequestEncoder | null;
  stream: Stream | null;
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
  status: number;
  /** The route's hash_policy (null: none, and computeHashKey answers null at once). */
  hashPolicy: HashPolicySnap | null;
  /** computeHashKey's answer, once asked (a load balancer may ask more than once). */
  hashKey: bigint | null;
  hashComputed: boolean;
  /** Set-Cookie values a cookie hash policy generated, added to the upstream's response head. */
  setCookies: string[] | null;

  constructor(cm: ClusterManager) {
    this.cb = NO_CALLBACKS;
    this.cm = cm;
    this.hcmStats = NO_CALLBACKS.hcmStats;
    this.cluster = null;
    this.host = null;
    this.upstream = null;
    this.cancellable = null;
    this.encoder = null;
    this.stream = null;
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
    this.status = 0;
    this.hashPolicy = null;
    this.hashKey = null;
    this.hashComputed = false;
    this.setCookies = null;
  }

  // LoadBalancerContext.
  downstreamHeaders(): RequestHeaders | null {
    return this.headers;
  }
  /** The route's hash_policy applied to the request, computed when a load balancer first asks (a
   *  generated cookie is made at most once). */
  computeHashKey(): bigint | null {
    const policy = this.hashPolicy;
    if (policy === null || this.headers === null) return null;
    if (!this.hashComputed) {
      this.hashComputed = true;
      this.hashKey = generateHash(policy, this.headers, this.cb.streamInfo.downstreamRemoteAddress, this);
    }
    return this.hashKey;
  }

  /** A cookie hash policy with a ttl and a request without the cookie (Envoy's
   *  addDownstreamSetCookie): the value comes from the downstream connection's addresses, so every
   *  stream of the connection gets the same one; the response sets it. */
  addDownstreamSetCookie(m: HashMethodSnap): string {
    const conn = this.cb.connection();
    if (conn === null) return '';
    const value = generatedCookieValue(conn.remoteAddress, conn.localAddress);
    (this.setCookies ??= []).push(`${m.name}="${value}"${m.setCookieAttributes}`);
    return value;
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
    const cluster = this.cm.getThreadLocalCluster(action.cluster);
    if (cluster === undefined) {
      cb.stats.v[this.hcmStats.no_cluster]++;
      cb.sendLocalReply(503, '', ResponseFlag.NoClusterFound, 'cluster_not_found');
      return FilterHeadersStatus.StopIteration;
    }
    this.cluster = cluster;
    const info = cluster.info;
    cb.streamInfo.upstreamCluster = info.name;
    this.headers = headers;
    this.hashPolicy = action.hashPolicy;
    const host = cluster.loadBalancer.chooseHost(this);
    const pool = host === null ? null : cluster.httpConnPool(host, Protocol.Http11);
    if (pool === null) {
      info.stats.v[info.s.upstream_cx_none_healthy]++;
      cb.sendLocalReply(503, BODY_NO_HEALTHY, ResponseFlag.NoHealthyUpstream, 'no_healthy_upstream');
      return FilterHeadersStatus.StopIteration;
    }
    this.host = host;
    cb.streamInfo.upstreamHost = pool.host.hostString;
    if (action.prefixRewrite !== null) {
      const m = route.value;
      headers.set('x-envoy-original-path', headers.path);
      headers.path = action.prefixRewrite + headers.path.slice(m.length);
    }
    if (action.hostRewrite !== null) headers.authority = action.hostRewrite;
    this.headersEnd = endStream;
    this.timeoutMs = action.timeoutMs;
    cb.setDownstreamWatermarkCallbacks(this);
    if (endStream) this.#startTimer();
    const up = new UpstreamRequest(this);
    this.upstream = up;
    this.cancellable = pool.newStream(up, up);
    return FilterHeadersStatus.StopIteration;
  }

  decodeData(data: Buffer, endStream: boolean): FilterDataStatus {
    if (this.done) return FilterDataStatus.StopIterationNoBuffer;
    if (endStream) this.#startTimer();
    const enc = this.encoder;
    if (enc !== null) {
      enc.encodeData(data, endStream);
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

  onPoolReady(encoder: RequestEncoder, _host: Host): void {
    this.cancellable = null;
    const stream = encoder.getStream();
    if (this.done) {
      // Cannot happen (a destroyed router cancels its wait): give the stream up.
      stream.resetStream(StreamResetReason.LocalReset);
      return;
    }
    this.encoder = encoder;
    this.stream = stream;
    stream.addCallbacks(this.upstream!);
    this.upstreamStart = monotonicNow();
    const buffered = this.buffered;
    encoder.encodeHeaders(this.headers!, this.headersEnd);
    if (buffered !== null) {
      this.buffered = null;
      for (let i = 0; i < buffered.length; i++) {
        encoder.encodeData(buffered[i], this.bufferedEnd && i === buffered.length - 1);
      }
      if (this.bufferedEnd && buffered.length === 0) encoder.encodeData(EMPTY, true);
      this.cb.readDisable(false);
    }
  }

  onPoolFailure(reason: PoolFailureReason, transportFailureReason: string): void {
    this.cancellable = null;
    if (this.done) return;
    if (reason === 'overflow') {
      this.cb.sendLocalReply(503, BODY_OVERFLOW, ResponseFlag.UpstreamOverflow, 'overflow');
    } else if (transportFailureReason !== '') {
      // Envoy's body names the transport's reason (a TLS handshake or verification error).
      this.cb.streamInfo.upstreamTransportFailureReason = transportFailureReason;
      this.cb.sendLocalReply(503, `${BODY_CONNECT_FAILURE}, transport failure reason: ${transportFailureReason}`,
        ResponseFlag.UpstreamConnectionFailure, 'connection_failure');
    } else {
      this.cb.sendLocalReply(503, BODY_CONNECT_FAILURE, ResponseFlag.UpstreamConnectionFailure, 'connection_failure');
    }
  }

  onUpstreamHeaders(h: ResponseHeaders, endStream: boolean): void {
    const now = monotonicNow();
    const svc = Math.round(now - this.upstreamStart);
    this.cb.streamInfo.upstreamServiceTimeMs = svc;
    h.set('x-envoy-upstream-service-time', String(svc));
    const cookies = this.setCookies;
    if (cookies !== null) for (let i = 0; i < cookies.length; i++) h.add('set-cookie', cookies[i]);
    this.responseStarted = true;
    if (h.status === 101 && this.headers!.upgrade !== '') {
      this.#onUpgraded(h);
      return;
    }
    if (endStream) this.#upstreamDone(h.status);
    else this.status = h.status;
    this.cb.encodeHeaders(h, endStream);
  }

  /** The upstream accepted the upgrade: the 101 goes downstream, and the connection manager joins
   *  the two connections in a byte relay; the request is over as far as the router goes. */
  #onUpgraded(h: ResponseHeaders): void {
    const enc = this.encoder!;
    this.#upstreamDone(101);
    this.cb.encodeHeaders(h, false);
    if (this.done) {
      enc.getStream().resetStream(StreamResetReason.LocalReset);
      return;
    }
    this.cb.upgradeToRelay(enc);
  }

  onUpstreamData(b: Buffer, endStream: boolean): void {
    if (endStream) this.#upstreamDone(this.status);
    this.cb.encodeData(b, endStream);
  }

  #upstreamDone(status: number): void {
    this.#clearTimer();
    const c = this.cluster!.info;
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
    const hs = this.host!.hs;
    if (cls === 5) v[hs.rq_error]++;
    else v[hs.rq_success]++;
    c.stats.record(c.s.upstream_rq_time, monotonicNow() - this.upstreamStart);
    // The stream is over (the pool has its slot back; the connection returns itself).
    this.encoder = null;
    this.stream = null;
  }

  onUpstreamReset(reason: StreamResetReason): void {
    this.encoder = null;
    this.stream = null;
    this.#clearTimer();
    if (this.done) return;
    const c = this.cluster!.info;
    c.stats.v[c.s.upstream_rq_rx_reset]++;
    c.stats.v[this.host!.hs.rq_error]++;
    if (this.responseStarted) {
      this.cb.stats.v[this.hcmStats.rq_reset_after_downstream_response_started]++;
      // The flag says why, as Envoy derives it from the reset reason.
      this.cb.streamInfo.responseFlags = reason === StreamResetReason.ProtocolError
        ? ResponseFlag.UpstreamProtocolError : ResponseFlag.UpstreamConnectionTermination;
      this.cb.resetStream();
    } else if (reason === StreamResetReason.ProtocolError) {
      this.cb.sendLocalReply(502, BODY_PROTOCOL, ResponseFlag.UpstreamProtocolError, 'upstream_protocol_error');
    } else {
      this.cb.sendLocalReply(503, BODY_TERMINATION, ResponseFlag.UpstreamConnectionTermination, 'upstream_reset');
    }
  }

  // DownstreamWatermarkCallbacks: the client reads slowly, so stop reading the response.
  onAboveWriteBufferHighWatermark(): void {
    this.stream?.readDisable(true);
  }
  onBelowWriteBufferLowWatermark(): void {
    this.stream?.readDisable(false);
  }

  onExpire(): void {
    if (this.done) return;
    const c = this.cluster!.info;
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

  /** Drop whatever we hold upstream: a queued request is cancelled, a stream in progress is
   *  reset (an HTTP/1 connection mid-request cannot be reused). */
  #abandonUpstream(): void {
    const waiting = this.cancellable;
    if (waiting !== null) {
      this.cancellable = null;
      waiting.cancel();
    }
    const stream = this.stream;
    if (stream !== null) {
      this.encoder = null;
      this.stream = null;
      const c = this.cluster!.info;
      c.stats.v[c.s.upstream_rq_tx_reset]++;
      stream.resetStream(StreamResetReason.LocalReset);
    }
  }

  onDestroy(): void {
    if (this.done) return;
    this.done = true;
    this.#clearTimer();
    this.#abandonUpstream();
    this.buffered = null;
  }
}
