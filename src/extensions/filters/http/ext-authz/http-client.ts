// ext_authz's HTTP service client (Envoy's RawHttpClientImpl, filters/common/ext_authz/
// ext_authz_http_impl.cc): the check is a request to the service's cluster, through the cluster's
// load balancer and connection pools as any upstream request (circuit breakers, upstream_rq_*
// stats), with the client's method, the path behind path_prefix, the host, the authorization
// header and the allowed headers, the headers_to_add, and the buffered body if any. The answer:
// a 5xx (or no answer) is an error; 200 allows, with the allowed_upstream_headers set on the
// request (allowed_upstream_headers_to_append added to it), allowed_client_headers_on_success
// added to the response and x-envoy-auth-headers-to-remove's names removed from the request;
// any other status denies, with that status, the body and the allowed_client_headers.
import { Buffer } from 'node:buffer';
import { cancel, schedule, type Expirable } from '../../../../common/timer-wheel.ts';
import { RequestHeaders, type ResponseHeaders } from '../../../../http/types.ts';
import type { ClusterManager, ThreadLocalCluster } from '../../../../upstream/cluster-manager.ts';
import {
  Protocol, StreamResetReason, type Cancellable, type PoolCallbacks, type PoolFailureReason, type RequestEncoder,
  type ResponseDecoder, type StreamCallbacks,
} from '../../../../upstream/conn-pool.ts';
import type { Host } from '../../../../upstream/host.ts';
import type { LoadBalancerContext } from '../../../../upstream/load-balancer.ts';
import { retain } from '../../../../network/socket-owner.ts';
import {
  AuthzResponse, CheckStatus, ERROR_RESPONSE, KeyMatcher, type CheckCall, type CheckCallbacks, type ExtAuthzSnap,
} from './config.ts';
import { countUpstreamResponse } from '../../../../upstream/cluster-info.ts';

/** The answer's body is kept up to this (a larger one is an error). */
const MAX_RESPONSE_BODY = 1024 * 1024;
const HEADERS_TO_REMOVE = 'x-envoy-auth-headers-to-remove';
/** Per hop, or the local reply's own framing: never copied from the service's answer. */
const NOT_COPIED = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection', 'te',
  'trailer', 'content-length']);

export class HttpAuthzClient {
  readonly snap: ExtAuthzSnap;
  readonly cm: ClusterManager;
  readonly request: KeyMatcher;
  readonly upstream: KeyMatcher;
  readonly upstreamAppend: KeyMatcher;
  readonly client: KeyMatcher;
  readonly clientOnSuccess: KeyMatcher;

  constructor(snap: ExtAuthzSnap, cm: ClusterManager) {
    this.snap = snap;
    this.cm = cm;
    this.request = new KeyMatcher(snap.allowedHeaders, ['authorization']);
    this.upstream = new KeyMatcher(snap.allowedUpstreamHeaders);
    this.upstreamAppend = new KeyMatcher(snap.allowedUpstreamHeadersToAppend);
    // Not set: every header of the answer but the host; set: those, and Envoy's always-allowed
    // www-authenticate and location.
    this.client = snap.allowedClientHeaders === null ? new KeyMatcher([], ['host'], true)
      : new KeyMatcher(snap.allowedClientHeaders, ['www-authenticate', 'location']);
    this.clientOnSuccess = new KeyMatcher(snap.allowedClientHeadersOnSuccess);
  }

  /** Ask the service about `h` (with `body`, the buffered request body, or null). Completes
   *  through `cb`, now (an unknown cluster, no host: then null is returned) or later. */
  check(cb: CheckCallbacks, h: RequestHeaders, body: Buffer | null): CheckCall | null {
    const cluster = this.cm.getThreadLocalCluster(this.snap.cluster);
    if (cluster === undefined) {
      cb.onComplete(ERROR_RESPONSE);
      return null;
    }
    const list = ['content-length', String(body === null ? 0 : body.length)];
    const m = this.request;
    const src = h.headers;
    for (let i = 0; i < src.length; i += 2) {
      const k = src[i];
      if (k !== 'content-length' && m.matches(k)) list.push(k, src[i + 1]);
    }
    const req = new RequestHeaders(h.method, this.snap.pathPrefix + h.path, h.authority, 'http', 'HTTP/1.1', list);
    const add = this.snap.headersToAdd;
    for (let i = 0; i < add.length; i += 2) req.set(add[i], add[i + 1]);
    const call = new HttpCheckRequest(this, cb, cluster, req, body);
    const host = cluster.loadBalancer.chooseHost(call);
    const pool = host === null ? null : cluster.httpConnPool(host, Protocol.Http11);
    if (pool === null) {
      const info = cluster.info;
      info.stats.v[info.s.upstream_cx_none_healthy]++;
      cb.onComplete(ERROR_RESPONSE);
      return null;
    }
    if (this.snap.timeoutMs > 0) schedule(call, this.snap.timeoutMs);
    call.cancellable = pool.newStream(call, call);
    return call.done ? null : call;
  }

  /** Envoy's toResponse. `pairs` are the answer's header lines. */
  toResponse(status: number, pairs: readonly string[], body: Buffer): AuthzResponse {
    if (status >= 500 && status < 600) return ERROR_RESPONSE;
    if (status === 200) {
      const r = new AuthzResponse(CheckStatus.Ok, 200);
      for (let i = 0; i < pairs.length; i += 2) {
        const k = pairs[i];
        const v = pairs[i + 1];
        if (k === HEADERS_TO_REMOVE) {
          for (const n of v.split(',')) {
            const name = n.trim().toLowerCase();
            if (name !== '') r.headersToRemove.push(name);
          }
          continue;
        }
        if (NOT_COPIED.has(k)) continue;
        if (this.upstream.matches(k)) r.headersToSet.push(k, v);
        if (this.upstreamAppend.matches(k)) r.headersToAdd.push(k, v);
        if (this.clientOnSuccess.matches(k)) r.responseHeadersToAdd.push(k, v);
      }
      return r;
    }
    const r = new AuthzResponse(CheckStatus.Denied, status);
    r.body = body.toString('utf8');
    for (let i = 0; i < pairs.length; i += 2) {
      const k = pairs[i];
      if (k === HEADERS_TO_REMOVE || NOT_COPIED.has(k)) continue;
      if (this.client.matches(k)) r.headersToSet.push(k, pairs[i + 1]);
    }
    return r;
  }
}

/** One check in flight (the cluster's pool's callbacks, its stream's, and its timeout). */
class HttpCheckRequest implements ResponseDecoder, StreamCallbacks, PoolCallbacks, Expirable, LoadBalancerContext, CheckCall {
  readonly client: HttpAuthzClient;
  cb: CheckCallbacks | null;
  readonly cluster: ThreadLocalCluster;
  readonly headers: RequestHeaders;
  readonly body: Buffer | null;
  cancellable: Cancellable | null;
  encoder: RequestEncoder | null;
  status: number;
  pairs: string[];
  chunks: Buffer[];
  received: number;
  done: boolean;
  timerTick: number;
  timerIndex: number;

  constructor(client: HttpAuthzClient, cb: CheckCallbacks, cluster: ThreadLocalCluster, headers: RequestHeaders,
    body: Buffer | null) {
    this.client = client;
    this.cb = cb;
    this.cluster = cluster;
    this.headers = headers;
    this.body = body;
    this.cancellable = null;
    this.encoder = null;
    this.status = 0;
    this.pairs = [];
    this.chunks = [];
    this.received = 0;
    this.done = false;
    this.timerTick = -1;
    this.timerIndex = -1;
  }

  // LoadBalancerContext: the check request, no hash.
  downstreamHeaders(): RequestHeaders | null { return this.headers; }
  computeHashKey(): bigint | null { return null; }

  onPoolReady(encoder: RequestEncoder, _host: Host): void {
    this.cancellable = null;
    if (this.done) {
      encoder.getStream().resetStream(StreamResetReason.LocalReset);
      return;
    }
    this.encoder = encoder;
    encoder.getStream().addCallbacks(this);
    const body = this.body;
    const empty = body === null || body.length === 0;
    encoder.encodeHeaders(this.headers, empty);
    if (!empty && this.encoder !== null) encoder.encodeData(body, true);
  }

  onPoolFailure(_reason: PoolFailureReason, _host: Host, _transportFailureReason: string): void {
    this.cancellable = null;
    this.#complete(ERROR_RESPONSE);
  }

  decodeHeaders(h: ResponseHeaders, endStream: boolean): void {
    if (this.done) return;
    this.status = h.status;
    // Copied now: a raw head is only valid during its read.
    this.pairs = h.headers.slice();
    if (endStream) this.#responseDone();
  }

  decodeData(data: Buffer, endStream: boolean): void {
    if (this.done) return;
    if (data.length > 0) {
      this.received += data.length;
      if (this.received > MAX_RESPONSE_BODY) {
        this.#reset();
        this.#complete(ERROR_RESPONSE);
        return;
      }
      this.chunks.push(retain(data));
    }
    if (endStream) this.#responseDone();
  }

  #responseDone(): void {
    this.encoder = null;
    const s = this.status;
    countUpstreamResponse(this.cluster.info, s, -1);
    this.#complete(this.client.toResponse(s, this.pairs, Buffer.concat(this.chunks, this.received)));
  }

  onResetStream(_reason: StreamResetReason): void {
    this.encoder = null;
    this.#complete(ERROR_RESPONSE);
  }
  onAboveWriteBufferHighWatermark(): void {}
  onBelowWriteBufferLowWatermark(): void {}

  /** The check's timeout. */
  onExpire(): void {
    if (this.done) return;
    const c = this.cluster.info;
    c.stats.v[c.s.upstream_rq_timeout]++;
    this.#abandon();
    this.#complete(ERROR_RESPONSE);
  }

  /** The filter's stream ended first. */
  cancel(): void {
    this.cb = null;
    this.#abandon();
    this.#finish();
  }

  #abandon(): void {
    const waiting = this.cancellable;
    this.cancellable = null;
    if (waiting !== null) waiting.cancel();
    this.#reset();
  }

  #reset(): void {
    const enc = this.encoder;
    this.encoder = null;
    if (enc !== null) enc.getStream().resetStream(StreamResetReason.LocalReset);
  }

  #finish(): void {
    if (this.done) return;
    this.done = true;
    this.chunks = [];
    if (this.timerTick !== -1) cancel(this);
  }

  #complete(r: AuthzResponse): void {
    if (this.done) return;
    this.#finish();
    const cb = this.cb;
    this.cb = null;
    if (cb !== null) cb.onComplete(r);
  }
}
