// envoy.filters.http.router: the terminal HTTP filter. Takes the route the connection manager
// picked, answers direct responses, otherwise looks its cluster up by name, picks a host (the
// cluster's load balancer), asks the host's connection pool for a stream, forwards the request and
// streams the response back with flow control both ways. It speaks only the codec-neutral
// upstream interface (upstream/conn-pool.ts); the pool holds the circuit breakers.
import { Buffer } from 'node:buffer';
import { monotonicNow } from '../../../../common/clock.ts';
import { cancel, schedule, type Expirable } from '../../../../common/timer-wheel.ts';
import {
  FilterHeadersStatus, FilterDataStatus, FilterTrailersStatus, ResponseFlag, addResponseFlag, streamIdOf, type HeaderMap,
  type RequestHeaders,
  type ResponseHeaders, type DownstreamWatermarkCallbacks,
} from '../../../../http/types.ts';
import type { StreamDecoderFilter, StreamDecoderFilterCallbacks } from '../../../../http/filter.ts';
import type { ClusterManager, ThreadLocalCluster } from '../../../../upstream/cluster-manager.ts';
import {
  Protocol, StreamResetReason, type Cancellable, type PoolCallbacks, type PoolFailureReason, type RequestEncoder,
  type ResponseDecoder, type Stream, type StreamCallbacks,
} from '../../../../upstream/conn-pool.ts';
import type { Host } from '../../../../upstream/host.ts';
import type { LoadBalancerContext, RetryPriority } from '../../../../upstream/load-balancer.ts';
import { retryPriority } from '../../../registry.ts';
import type { HcmStats } from '../../../../http/stats.ts';
import { retain } from '../../../../network/socket-owner.ts';
import {
  generateHash, generatedCookieValue, type HashMethodSnap, type HashPolicyCallbacks, type HashPolicySnap,
} from '../../../../http/hash-policy.ts';
import {
  AttemptFailure, DEFAULT_BACKOFF_BASE_MS, parseRetryOn, wouldRetryFromHeaders, wouldRetryFromReset,
  type RetryPolicySnap,
} from '../../../../http/retry-policy.ts';
import { headerValue } from '../../../../router/matchers.ts';
import { JitteredExponentialBackOff } from '../../../../common/backoff.ts';
import { OutlierEvent } from '../../../../upstream/outlier.ts';
import { NO_REDIRECT, newUri } from '../../../../router/redirect.ts';
import { redirectPath, rewriteHost, rewrittenPath } from '../../../../router/route-action.ts';
import { pickWeightedCluster } from '../../../../router/weighted-clusters.ts';
import { ShadowRequest, shadowClusterName, shouldShadow, type ShadowPolicySnap } from '../../../../router/shadow.ts';
import type { Loader } from '../../../../runtime/types.ts';
import { finalizeRequestHeaders, finalizeResponseHeaders } from '../../../../router/header-parser.ts';
import { countUpstreamResponse } from '../../../../upstream/cluster-info.ts';

// Envoy's local reply bodies.
const BODY_CONNECT_FAILURE = 'upstream connect error or disconnect/reset before headers. reset reason: connection failure';
const BODY_OVERFLOW = 'upstream connect error or disconnect/reset before headers. reset reason: overflow';
const BODY_TERMINATION = 'upstream connect error or disconnect/reset before headers. reset reason: connection termination';
const BODY_PROTOCOL = 'upstream connect error or disconnect/reset before headers. reset reason: protocol error';
const BODY_TIMEOUT = 'upstream request timeout';
const BODY_NO_HEALTHY = 'no healthy upstream';
const EMPTY = Buffer.alloc(0);
/** A request that asks for retries (x-envoy-retry-on) on a route without a retry policy. */
const HEADER_ONLY_POLICY: RetryPolicySnap = {
  retryOn: 0, numRetries: 1, perTryTimeoutMs: 0, perTryIdleTimeoutMs: 0, backoffBaseMs: DEFAULT_BACKOFF_BASE_MS,
  backoffMaxMs: DEFAULT_BACKOFF_BASE_MS * 10, retriableStatusCodes: [], retriableHeaders: [], previousHosts: false,
  hostSelectionMaxAttempts: 1, retryPriority: null,
};

/** A non-negative integer header value, or -1. */
function parseMs(v: string): number {
  return /^\d{1,10}$/.test(v.trim()) ? Number(v.trim()) : -1;
}
/** Until setDecoderFilterCallbacks (the filter manager calls it right after construction). */
const NO_CALLBACKS = { hcmStats: null } as unknown as StreamDecoderFilterCallbacks;

/** One attempt upstream (Envoy's UpstreamRequest): receives the pool's, the response's and the
 *  stream's callbacks and hands them to its router under names that do not collide with the
 *  router's own decoder-filter and downstream-watermark methods. An attempt the router has given up
 *  (a retry replaced it) is no longer its `upstream`: what it still hears is dropped. It is also
 *  the per-try timeout's timer entry. */
class UpstreamRequest implements ResponseDecoder, StreamCallbacks, PoolCallbacks, Expirable {
  readonly router: RouterFilter;
  timerTick: number;
  timerIndex: number;
  /** Its per_try_idle_timeout, once armed (null: none). */
  idle: PerTryIdleTimer | null;
  constructor(router: RouterFilter) {
    this.router = router;
    this.timerTick = -1;
    this.timerIndex = -1;
    this.idle = null;
  }
  onPoolReady(encoder: RequestEncoder, host: Host): void {
    if (this.router.upstream !== this) {
      encoder.getStream().resetStream(StreamResetReason.LocalReset);
      return;
    }
    this.router.onPoolReady(encoder, host);
  }
  onPoolFailure(reason: PoolFailureReason, _host: Host, transportFailureReason: string): void {
    if (this.router.upstream === this) this.router.onPoolFailure(reason, transportFailureReason);
  }
  decodeHeaders(headers: ResponseHeaders, endStream: boolean): void {
    if (this.idle !== null) this.idle.last = monotonicNow();
    if (this.router.upstream === this) this.router.onUpstreamHeaders(headers, endStream);
  }
  decodeData(data: Buffer, endStream: boolean): void {
    if (this.idle !== null) this.idle.last = monotonicNow();
    if (this.router.upstream === this) this.router.onUpstreamData(data, endStream);
  }
  onResetStream(reason: StreamResetReason): void {
    if (this.router.upstream === this) this.router.onUpstreamReset(reason);
  }
  onAboveWriteBufferHighWatermark(): void {
    if (this.router.upstream === this) this.router.cb.readDisable(true);
  }
  onBelowWriteBufferLowWatermark(): void {
    if (this.router.upstream === this) this.router.cb.readDisable(false);
  }
  /** The per-try timeout. */
  onExpire(): void {
    if (this.router.upstream === this) this.router.onPerTryTimeout();
  }
}

/** An attempt's per_try_idle_timeout (Envoy's per-try idle timer): armed with the per-try timeout,
 *  pushed back by every response event. An event only stamps `last`; the wheel entry moves when
 *  it comes due early, so a streamed response costs no timer work per chunk. */
class PerTryIdleTimer implements Expirable {
  readonly up: UpstreamRequest;
  readonly ms: number;
  last: number;
  timerTick: number;
  timerIndex: number;
  constructor(up: UpstreamRequest, ms: number) {
    this.up = up;
    this.ms = ms;
    this.last = monotonicNow();
    this.timerTick = -1;
    this.timerIndex = -1;
  }
  onExpire(): void {
    const quiet = monotonicNow() - this.last;
    if (quiet < this.ms) schedule(this, this.ms - quiet);
    else if (this.up.router.upstream === this.up) this.up.router.onPerTryIdleTimeout();
  }
}

/** A retry's backoff timer fired (setTimeout's argument, no closure). */
function retryNow(r: RouterFilter): void {
  r.onRetryTimer();
}

export class RouterFilter implements StreamDecoderFilter, DownstreamWatermarkCallbacks, Expirable, LoadBalancerContext,
  HashPolicyCallbacks {
  cb: StreamDecoderFilterCallbacks;
  readonly cm: ClusterManager;
  /** The worker's runtime (mirror policies' runtime_fraction; weighted cluster weights). */
  readonly runtime: Loader;
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
  /** The route's retry policy (null: none), with the request's x-envoy-retry-on bits merged. */
  retryPolicy: RetryPolicySnap | null;
  retryOn: number;
  retriesLeft: number;
  perTryTimeoutMs: number;
  /** The retry policy's per_try_idle_timeout (0: none). */
  perTryIdleTimeoutMs: number;
  /** The request body kept for a retry (null: no retry possible any more, or none needed). */
  retryBody: Buffer[] | null;
  retryBodyBytes: number;
  /** The downstream request has ended (a retry needs all of it). */
  requestComplete: boolean;
  /** Attempts made so far (x-envoy-attempt-count). */
  attempts: number;
  /** The hosts tried (previous_hosts), or null. */
  triedHosts: Set<Host> | null;
  /** The route's retry_priority for this request (LoadBalancerContext), or null. */
  retryPriority: RetryPriority | null;
  backoff: JitteredExponentialBackOff | null;
  retryTimer: NodeJS.Timeout | null;
  /** A retry holds a max_retries circuit-breaker slot while it waits. */
  retryHeld: boolean;
  /** We stopped reading the downstream (waiting for a connection). */
  readPaused: boolean;
  /** Mirrored copies of a request whose body is still coming (null: none). */
  shadows: ShadowRequest[] | null;

  constructor(cm: ClusterManager, runtime: Loader) {
    this.cb = NO_CALLBACKS;
    this.cm = cm;
    this.runtime = runtime;
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
    this.retryPolicy = null;
    this.retryOn = 0;
    this.retriesLeft = 0;
    this.perTryTimeoutMs = 0;
    this.perTryIdleTimeoutMs = 0;
    this.retryBody = null;
    this.retryBodyBytes = 0;
    this.requestComplete = false;
    this.attempts = 0;
    this.triedHosts = null;
    this.retryPriority = null;
    this.backoff = null;
    this.retryTimer = null;
    this.retryHeld = false;
    this.readPaused = false;
    this.shadows = null;
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
    if (action.kind !== 'cluster') {
      // A direct response or a redirect (Envoy's DirectResponseEntry): the route's path rewrite,
      // then the Location of a redirect, or of a 201 / 3xx direct response, from the request.
      cb.stats.v[this.hcmStats.rq_direct_response]++;
      let status: number;
      let body = '';
      let redirect = NO_REDIRECT;
      if (action.kind === 'redirect') {
        redirect = action.redirect;
        status = redirect.status;
        const to = redirectPath(route.snap, redirect.prefixRewrite, route.action.regexRewrite, headers.path);
        if (to !== null) {
          headers.set('x-envoy-original-path', headers.path);
          headers.path = to;
        }
      } else {
        status = action.status;
        body = action.body ?? '';
      }
      const location = status === 201 || (status >= 300 && status < 400) ? ['location', newUri(redirect, headers)] : null;
      cb.sendLocalReply(status, body, '', 'direct_response', location);
      return FilterHeadersStatus.StopIteration;
    }
    // The cluster: named by the route, by a request header, or picked by weight.
    let clusterName = action.cluster;
    let clusterHostRewrite: string | null = null;
    let customHeaders = route.snap.requestHeaderParsers;
    if (action.clusterHeader !== null) {
      clusterName = headers.get(action.clusterHeader) ?? '';
    } else if (action.weightedClusters !== null) {
      // (The connection manager picked it with the route, as Envoy's route lookup does.)
      const info = cb.streamInfo;
      const wc = info.weightedCluster ?? pickWeightedCluster(action.weightedClusters, headers, streamIdOf(info), this.runtime);
      if (wc === null) {
        cb.stats.v[this.hcmStats.no_route]++;
        cb.sendLocalReply(404, '', ResponseFlag.NoRouteFound, 'route_not_found');
        return FilterHeadersStatus.StopIteration;
      }
      info.weightedCluster = wc;
      clusterName = wc.clusterHeader === null ? wc.name : headers.get(wc.clusterHeader) ?? '';
      clusterHostRewrite = wc.hostRewrite;
      customHeaders = wc.requestHeaderParsers;
    }
    const cluster = clusterName === '' ? undefined : this.cm.getThreadLocalCluster(clusterName);
    if (cluster === undefined) {
      cb.stats.v[this.hcmStats.no_cluster]++;
      cb.sendLocalReply(action.clusterNotFoundStatus, '', ResponseFlag.NoClusterFound, 'cluster_not_found');
      return FilterHeadersStatus.StopIteration;
    }
    this.cluster = cluster;
    const info = cluster.info;
    cb.streamInfo.upstreamCluster = info.name;
    this.headers = headers;
    this.hashPolicy = action.hashPolicy;
    this.timeoutMs = action.timeoutMs;
    this.#envoyRequestHeaders(headers, action.retryPolicy);
    const host = cluster.loadBalancer.chooseHost(this);
    if (host === null || cluster.httpConnPool(host, Protocol.Http11) === null) {
      info.stats.v[info.s.upstream_cx_none_healthy]++;
      cb.sendLocalReply(503, BODY_NO_HEALTHY, ResponseFlag.NoHealthyUpstream, 'no_healthy_upstream');
      return FilterHeadersStatus.StopIteration;
    }
    // The route's (or its weighted cluster's) custom request headers (Envoy's
    // finalizeRequestHeaders, before the rewrites).
    if (customHeaders != null) finalizeRequestHeaders(customHeaders, headers, cb.streamInfo);
    // Envoy's finalizeRequestHeaders: the host, then the path; auto_host_rewrite takes the
    // chosen host's name (DNS clusters: the name resolved; STATIC: endpoint.hostname) when it has one.
    rewriteHost(action, route.action, headers);
    if (clusterHostRewrite !== null) headers.authority = clusterHostRewrite;
    const to = rewrittenPath(route.snap, action.prefixRewrite ?? '', route.action.regexRewrite, headers.path);
    if (to !== null) {
      headers.set('x-envoy-original-path', headers.path);
      headers.path = to;
    }
    if (action.autoHostRewrite && host.hostname !== '') headers.authority = host.hostname;
    if (action.mirrors.length > 0 && headers.method !== 'CONNECT') this.#startShadows(action.mirrors, headers, endStream);
    this.headersEnd = endStream;
    this.requestComplete = endStream;
    cb.setDownstreamWatermarkCallbacks(this);
    if (endStream) this.#startTimer();
    this.#startAttempt(host, action.includeAttemptCount);
    return FilterHeadersStatus.StopIteration;
  }

  /** The router's request headers (Envoy's x-envoy-retry-on, x-envoy-max-retries,
   *  x-envoy-upstream-rq-timeout-ms, x-envoy-upstream-rq-per-try-timeout-ms): read, then removed
   *  from what goes upstream; and the retry state the route's policy and they give. */
  #envoyRequestHeaders(headers: RequestHeaders, policy: RetryPolicySnap | null): void {
    let retryOn = policy === null ? 0 : policy.retryOn;
    let retries = policy === null ? 0 : policy.numRetries;
    let perTry = policy === null ? 0 : policy.perTryTimeoutMs;
    const on = headers.get('x-envoy-retry-on');
    if (on !== undefined) {
      headers.remove('x-envoy-retry-on');
      const bits = parseRetryOn(on);
      if (bits !== 0 && policy === null) retries = 1;
      retryOn |= bits;
    }
    const max = headers.get('x-envoy-max-retries');
    if (max !== undefined) {
      headers.remove('x-envoy-max-retries');
      const n = parseMs(max);
      if (n >= 0) retries = n;
    }
    const rq = headers.get('x-envoy-upstream-rq-timeout-ms');
    if (rq !== undefined) {
      headers.remove('x-envoy-upstream-rq-timeout-ms');
      const n = parseMs(rq);
      if (n >= 0) this.timeoutMs = n;
    }
    const pt = headers.get('x-envoy-upstream-rq-per-try-timeout-ms');
    if (pt !== undefined) {
      headers.remove('x-envoy-upstream-rq-per-try-timeout-ms');
      const n = parseMs(pt);
      if (n >= 0) perTry = n;
    }
    // (A per-try timeout longer than the route's is the route's, as Envoy.)
    this.perTryTimeoutMs = this.timeoutMs > 0 && perTry >= this.timeoutMs ? 0 : perTry;
    if (policy !== null) this.perTryIdleTimeoutMs = policy.perTryIdleTimeoutMs;
    if (retryOn === 0 || retries === 0) return;
    this.retryPolicy = policy ?? HEADER_ONLY_POLICY;
    this.retryOn = retryOn;
    this.retriesLeft = retries;
    this.retryBody = [];
    if (this.retryPolicy.previousHosts) this.triedHosts = new Set();
    if (this.retryPolicy.retryPriority !== null) this.retryPriority = retryPriority(this.retryPolicy.retryPriority);
  }

  /** Send the request to `host` (a new attempt: the first, or a retry). */
  #startAttempt(host: Host, countAttempts: boolean): void {
    const cluster = this.cluster!;
    const pool = cluster.httpConnPool(host, Protocol.Http11)!;
    this.host = host;
    this.triedHosts?.add(host);
    this.retryPriority?.onHostAttempted(host);
    this.cb.streamInfo.upstreamHost = pool.host.hostString;
    this.attempts++;
    if (countAttempts) this.headers!.set('x-envoy-attempt-count', String(this.attempts));
    const up = new UpstreamRequest(this);
    this.upstream = up;
    this.cancellable = pool.newStream(up, up);
  }

  /** request_mirror_policies: a copy of the request (as it goes upstream) to each shadow
   *  cluster; one whose body is still coming gets it from decodeData. */
  #startShadows(policies: readonly ShadowPolicySnap[], h: RequestHeaders,
    endStream: boolean): void {
    for (const p of policies) {
      if (!shouldShadow(p, this.runtime, streamIdOf(this.cb.streamInfo))) continue;
      const name = shadowClusterName(p, h);
      if (name === null) continue;
      const s = ShadowRequest.start(this.cm, name, p, h, endStream, this.timeoutMs, this.cb.decoderBufferLimit);
      if (s !== null && !endStream) (this.shadows ??= []).push(s);
    }
  }

  decodeData(data: Buffer, endStream: boolean): FilterDataStatus {
    if (this.done) return FilterDataStatus.StopIterationNoBuffer;
    const shadows = this.shadows;
    if (shadows !== null) {
      for (let i = 0; i < shadows.length; i++) shadows[i].sendData(data, endStream);
      if (endStream) this.shadows = null;
    }
    if (endStream) {
      this.requestComplete = true;
      this.#startTimer();
      if (this.encoder !== null) this.#startPerTry();
    }
    const keep = this.retryBody;
    if (keep !== null && data.length > 0) {
      // Kept for a retry up to the buffer limit; past it the request is not retried (Envoy's
      // retry_or_shadow_abandoned).
      this.retryBodyBytes += data.length;
      const limit = this.cb.decoderBufferLimit;
      if (limit > 0 && this.retryBodyBytes > limit) {
        this.retryBody = null;
        this.retriesLeft = 0;
        const c = this.cluster!.info;
        c.stats.v[c.s.retry_or_shadow_abandoned]++;
      } else {
        keep.push(retain(data));
      }
    }
    const enc = this.encoder;
    if (enc !== null) {
      enc.encodeData(data, endStream);
    } else if (this.upstream !== null || this.retryTimer === null) {
      // Waiting for a connection: hold the body, and stop reading more (bounded buffering).
      if (this.buffered === null) {
        this.buffered = [];
        this.#pauseReading(true);
      }
      if (data.length > 0) this.buffered.push(retain(data));
      if (endStream) this.bufferedEnd = true;
    }
    return FilterDataStatus.StopIterationNoBuffer;
  }

  #pauseReading(pause: boolean): void {
    if (this.readPaused === pause) return;
    this.readPaused = pause;
    this.cb.readDisable(pause);
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
    if (this.requestComplete) this.#startPerTry();
    this.upstreamStart = monotonicNow();
    const buffered = this.buffered;
    encoder.encodeHeaders(this.headers!, this.headersEnd);
    if (buffered !== null) {
      this.buffered = null;
      for (let i = 0; i < buffered.length; i++) {
        encoder.encodeData(buffered[i], this.bufferedEnd && i === buffered.length - 1);
      }
      if (this.bufferedEnd && buffered.length === 0) encoder.encodeData(EMPTY, true);
      this.#pauseReading(false);
    }
  }

  onPoolFailure(reason: PoolFailureReason, transportFailureReason: string): void {
    this.cancellable = null;
    if (this.done) return;
    if (reason !== 'overflow') this.#reportOutlier(OutlierEvent.ConnectFailed);
    if (reason !== 'overflow' && this.#retryAfterReset(AttemptFailure.ConnectFailure)) return;
    this.#clearPerTry();
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
    this.#reportOutlier(h.status);
    // Envoy: the host fails its active health check at once (upstream/health-check.ts); forwarded as is.
    const hce = this.cluster!.info.hcEvents;
    if (hce != null && h.get('x-envoy-immediate-health-check-fail') !== undefined) hce.push(this.host!.hs.rq_total, OutlierEvent.ImmediateHealthCheckFail);
    if (this.retryPolicy !== null && h.status !== 101 && this.#retryFromHeaders(h, endStream)) return;
    // (The per-try timeout ends with the response head; the per-try idle timeout goes on.)
    const up = this.upstream;
    if (up !== null && up.timerTick !== -1) cancel(up);
    const now = monotonicNow();
    const svc = Math.round(now - this.upstreamStart);
    this.cb.streamInfo.upstreamServiceTimeMs = svc;
    h.set('x-envoy-upstream-service-time', String(svc));
    const wc = this.cb.streamInfo.weightedCluster;
    const customHeaders = wc !== null ? wc.responseHeaderParsers : this.cb.route?.snap.responseHeaderParsers;
    if (customHeaders != null) finalizeResponseHeaders(customHeaders, h, this.headers, this.cb.streamInfo);
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
    this.#clearPerTry();
    this.#countResponse(status);
    // The stream is over (the pool has its slot back; the connection returns itself).
    this.encoder = null;
    this.stream = null;
  }

  /** An attempt's response, counted (status class, completion, the host's success or error). */
  #countResponse(status: number): void {
    const c = this.cluster!.info;
    const cls = countUpstreamResponse(c, status, this.upstreamStart);
    const hs = this.host!.hs;
    if (cls === 5) c.stats.v[hs.rq_error]++;
    else c.stats.v[hs.rq_success]++;
  }

  onUpstreamReset(reason: StreamResetReason): void {
    this.encoder = null;
    this.stream = null;
    if (this.done) return;
    const c = this.cluster!.info;
    c.stats.v[c.s.upstream_rq_rx_reset]++;
    c.stats.v[this.host!.hs.rq_error]++;
    if (!this.responseStarted) this.#reportOutlier(OutlierEvent.Reset);
    if (!this.responseStarted && reason !== StreamResetReason.ProtocolError
      && this.#retryAfterReset(AttemptFailure.Reset)) return;
    this.#clearTimer();
    this.#clearPerTry();
    if (this.responseStarted) {
      this.cb.stats.v[this.hcmStats.rq_reset_after_downstream_response_started]++;
      // The flag says why, as Envoy derives it from the reset reason.
      addResponseFlag(this.cb.streamInfo, reason === StreamResetReason.ProtocolError
        ? ResponseFlag.UpstreamProtocolError : ResponseFlag.UpstreamConnectionTermination);
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
    if (this.encoder !== null && !this.responseStarted) this.#reportOutlier(OutlierEvent.Timeout);
    this.#stopRetry();
    this.#abandonUpstream();
    if (this.responseStarted) {
      addResponseFlag(this.cb.streamInfo, ResponseFlag.UpstreamRequestTimeout);
      this.cb.resetStream();
    } else {
      this.cb.sendLocalReply(504, BODY_TIMEOUT, ResponseFlag.UpstreamRequestTimeout, 'upstream_response_timeout');
    }
  }

  #clearTimer(): void {
    cancel(this);
  }

  /** The attempt's outcome for outlier detection (upstream/outlier.ts), when the cluster has it:
   *  the host by its rq_total slot, and the status or a local-origin event. */
  #reportOutlier(code: number): void {
    // (`!= null`: a hand-built ClusterInfo in tests may not carry the field.)
    const ring = this.cluster!.info.outlier;
    if (ring != null && this.host !== null) ring.push(this.host.hs.rq_total, code);
  }

  /** Envoy arms per_try_timeout and per_try_idle_timeout once the whole request is in and the
   *  attempt has a connection. */
  #startPerTry(): void {
    const up = this.upstream;
    if (up === null) return;
    if (this.perTryTimeoutMs > 0 && up.timerTick === -1) schedule(up, this.perTryTimeoutMs);
    if (this.perTryIdleTimeoutMs > 0 && up.idle === null) {
      up.idle = new PerTryIdleTimer(up, this.perTryIdleTimeoutMs);
      schedule(up.idle, this.perTryIdleTimeoutMs);
    }
  }

  /** The attempt's timers stop (it ended, or was given up). */
  #clearPerTry(): void {
    const up = this.upstream;
    if (up === null) return;
    if (up.timerTick !== -1) cancel(up);
    if (up.idle !== null && up.idle.timerTick !== -1) cancel(up.idle);
  }

  /** The attempt ran past per_try_timeout: it is given up, and retried if the policy says so
   *  (Envoy retries a per-try timeout as a reset), else 504. */
  onPerTryTimeout(): void {
    if (this.done || this.responseStarted) return;
    const c = this.cluster!.info;
    c.stats.v[c.s.upstream_rq_per_try_timeout]++;
    if (this.host !== null) c.stats.v[this.host.hs.rq_timeout]++;
    if (this.encoder !== null) this.#reportOutlier(OutlierEvent.Timeout);
    this.#abandonUpstream();
    if (this.#retryAfterReset(AttemptFailure.Reset)) return;
    this.#clearTimer();
    this.cb.sendLocalReply(504, BODY_TIMEOUT, ResponseFlag.UpstreamRequestTimeout, 'upstream_per_try_timeout');
  }

  /** The attempt heard nothing from its upstream for per_try_idle_timeout (before or during the
   *  response): given up, and retried as a per-try timeout is when nothing went downstream yet;
   *  else 504, or a reset once the response has started (Envoy's onPerTryIdleTimeout). */
  onPerTryIdleTimeout(): void {
    if (this.done) return;
    const c = this.cluster!.info;
    c.stats.v[c.s.upstream_rq_per_try_idle_timeout]++;
    if (this.host !== null) c.stats.v[this.host.hs.rq_timeout]++;
    if (this.encoder !== null) this.#reportOutlier(OutlierEvent.Timeout);
    this.#abandonUpstream();
    if (this.#retryAfterReset(AttemptFailure.Reset)) return;
    this.#clearTimer();
    if (this.responseStarted) {
      addResponseFlag(this.cb.streamInfo, ResponseFlag.UpstreamRequestTimeout);
      this.cb.resetStream();
    } else {
      this.cb.sendLocalReply(504, BODY_TIMEOUT, ResponseFlag.UpstreamRequestTimeout, 'upstream_per_try_idle_timeout');
    }
  }

  /** Whether a retry may be made now (the request complete and kept, none answered downstream). */
  #retryable(): boolean {
    return this.retryPolicy !== null && this.retryBody !== null && this.requestComplete && !this.responseStarted;
  }

  /** An attempt failed without a response: retried (true) if the policy covers `why` and the
   *  limits allow; false: the caller answers. */
  #retryAfterReset(why: AttemptFailure): boolean {
    if (!this.#retryable() || !wouldRetryFromReset(this.retryOn, why)) return false;
    if (!this.#scheduleRetry()) return false;
    this.#clearPerTry();
    this.upstream = null;
    this.#abandonUpstream();
    return true;
  }

  /** A response the policy retries: its attempt is given up (a complete one returns its
   *  connection; one still coming is reset) and a retry scheduled. False: it goes downstream
   *  (URX when the retries ran out). */
  #retryFromHeaders(h: ResponseHeaders, endStream: boolean): boolean {
    const p = this.retryPolicy!;
    if (!this.#retryable()) return false;
    if (!wouldRetryFromHeaders(
      { retryOn: this.retryOn, retriableStatusCodes: p.retriableStatusCodes, retriableHeaders: p.retriableHeaders },
      h.status, (n) => headerValue(h, n))) {
      // A retried request ends with an answer its policy takes (Envoy's upstream_rq_retry_success).
      if (this.attempts > 1) {
        const c = this.cluster!.info;
        c.stats.v[c.s.upstream_rq_retry_success]++;
      }
      return false;
    }
    if (!this.#scheduleRetry()) return false;
    // The attempt's response counts as an upstream response (Envoy's per-attempt stats); the
    // route timeout goes on for the retry. A complete response leaves its connection to the pool;
    // one still coming is reset.
    this.#countResponse(h.status);
    this.#clearPerTry();
    this.upstream = null;
    if (endStream) {
      this.encoder = null;
      this.stream = null;
    }
    this.#abandonUpstream();
    return true;
  }

  /** Count the retry and arm its backoff; false when none may be made, counted and flagged why
   *  (URX: the retries ran out; UO: the max_retries breaker), as Envoy's maybeRetryReset and
   *  retry-from-headers do, whatever the answer that follows adds. */
  #scheduleRetry(): boolean {
    const c = this.cluster!.info;
    const v = c.stats.v;
    // The slot is held from here through the retried attempt, until the next retry decision (which
    // gives it back and asks again, as a retry budget may have shrunk: Envoy's resetRetry()) or
    // the end of the request (Envoy's RetryStateImpl).
    this.#releaseRetrySlot();
    if (this.retriesLeft === 0) {
      v[c.s.upstream_rq_retry_limit_exceeded]++;
      addResponseFlag(this.cb.streamInfo, ResponseFlag.UpstreamRetryLimitExceeded);
      return false;
    }
    const rm = c.resourceManager.retries;
    if (!rm.canCreate()) {
      v[c.s.upstream_rq_retry_overflow]++;
      addResponseFlag(this.cb.streamInfo, ResponseFlag.UpstreamOverflow);
      return false;
    }
    rm.inc();
    this.retryHeld = true;
    this.retriesLeft--;
    v[c.s.upstream_rq_retry]++;
    v[c.s.upstream_rq_retry_backoff_exponential]++;
    const p = this.retryPolicy!;
    const b = this.backoff ??= new JitteredExponentialBackOff(p.backoffBaseMs, p.backoffMaxMs);
    this.retryTimer = setTimeout(retryNow, b.nextBackOffMs(), this);
    return true;
  }

  /** The backoff is over: a new attempt, on another host when previous_hosts says so. */
  onRetryTimer(): void {
    this.retryTimer = null;
    if (this.done) return;
    const cluster = this.cluster!;
    const p = this.retryPolicy!;
    let host = cluster.loadBalancer.chooseHost(this);
    const tried = this.triedHosts;
    for (let i = 0; tried !== null && host !== null && tried.has(host) && i < p.hostSelectionMaxAttempts; i++) {
      host = cluster.loadBalancer.chooseHost(this);
    }
    if (host === null || cluster.httpConnPool(host, Protocol.Http11) === null) {
      const info = cluster.info;
      info.stats.v[info.s.upstream_cx_none_healthy]++;
      this.#clearTimer();
      this.cb.sendLocalReply(503, BODY_NO_HEALTHY, ResponseFlag.NoHealthyUpstream, 'no_healthy_upstream');
      return;
    }
    // The whole request again: headers, then the kept body.
    // (headersEnd: the request had no body at all; else the body, maybe empty, ends the request.)
    this.buffered = this.headersEnd ? null : this.retryBody!.slice();
    this.bufferedEnd = true;
    this.#startAttempt(host, this.headers!.get('x-envoy-attempt-count') !== undefined);
  }

  #releaseRetrySlot(): void {
    if (!this.retryHeld) return;
    this.retryHeld = false;
    this.cluster!.info.resourceManager.retries.dec();
  }

  #stopRetry(): void {
    if (this.retryTimer !== null) {
      clearTimeout(this.retryTimer);
      this.retryTimer = null;
    }
    this.#releaseRetrySlot();
  }

  /** Drop whatever we hold upstream: a queued request is cancelled, a stream in progress is
   *  reset (an HTTP/1 connection mid-request cannot be reused). */
  #abandonUpstream(): void {
    this.#clearPerTry();
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
    const shadows = this.shadows;
    if (shadows !== null) {
      // Their request can never be complete now.
      this.shadows = null;
      for (const s of shadows) s.abandon();
    }
    this.#clearTimer();
    this.#stopRetry();
    this.#abandonUpstream();
    this.buffered = null;
    this.retryBody = null;
  }
}
