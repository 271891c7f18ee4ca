// request_mirror_policies: a copy of the request goes to the shadow cluster, its authority
// suffixed `-shadow` (Envoy's ShadowWriterImpl), and its response is read and dropped. A shadow
// never holds the primary up: it has its own upstream stream and timer, it applies no
// backpressure to the client (a shadow whose upstream cannot take the body as fast as the client
// sends it is reset, where Envoy's streaming shadow would slow the client down), and whatever
// happens to it is not the primary's business. Once the request is complete the shadow lives on
// by itself after the primary's stream ends; one whose request is still arriving when the
// primary's stream ends is reset (it could never be complete).
import { Buffer } from 'node:buffer';
import { monotonicNow } from '../common/clock.ts';
import { cancel, schedule, type Expirable } from '../common/timer-wheel.ts';
import { RequestHeaders, type ResponseHeaders } from '../http/types.ts';
import type { ClusterManager, ThreadLocalCluster } from '../upstream/cluster-manager.ts';
import {
  Protocol, StreamResetReason, type Cancellable, type PoolCallbacks, type PoolFailureReason, type RequestEncoder,
  type ResponseDecoder, type StreamCallbacks,
} from '../upstream/conn-pool.ts';
import type { Host } from '../upstream/host.ts';
import type { LoadBalancerContext } from '../upstream/load-balancer.ts';
import { retain } from '../network/socket-owner.ts';
import type { Loader } from '../runtime/types.ts';
import type { RuntimeFractionSnap } from './config.ts';
import { countUpstreamResponse } from '../upstream/cluster-info.ts';

/** A RequestMirrorPolicy. */
export interface ShadowPolicySnap {
  /** '' when clusterHeader names it. */
  cluster: string;
  /** cluster_header, lowercased (null: none): the request names the shadow cluster. */
  clusterHeader: string | null;
  /** disable_shadow_host_suffix_append. */
  disableHostSuffix: boolean;
  /** runtime_fraction (null: none, every request is mirrored, as Envoy's default 100%). */
  runtimeFraction: RuntimeFractionSnap | null;
}

/** Envoy's FilterUtility::shouldShadow: the policy's runtime fraction, on the stream's random
 *  value. */
export function shouldShadow(p: ShadowPolicySnap, runtime: Loader, random: number): boolean {
  const f = p.runtimeFraction;
  return f === null || runtime.snapshot().featureEnabledFractional(f.runtimeKey, f.defaultValue, random);
}

const EMPTY = Buffer.alloc(0);

/** Envoy's shadow authority: `-shadow` before the port (`a:80` -> `a-shadow:80`). As Envoy's
 *  splitToken(host, ":"), an authority with more than one colon (an IPv6 literal) gets the
 *  suffix at its end. */
export function shadowHost(host: string): string {
  const parts = host.split(':').filter((p) => p !== '');
  return parts.length === 2 ? `${parts[0]}-shadow:${parts[1]}` : `${host}-shadow`;
}

/** The shadow cluster's name for this request (null: the header names none). */
export function shadowClusterName(p: ShadowPolicySnap, h: RequestHeaders): string | null {
  if (p.clusterHeader === null) return p.cluster;
  const v = h.get(p.clusterHeader);
  return v === undefined || v === '' ? null : v;
}

/** A copy of the request headers as they go upstream. */
function copyHeaders(h: RequestHeaders): RequestHeaders {
  const c = new RequestHeaders(h.method, h.path, h.authority, h.scheme, h.protocol, h.headers.slice());
  c.upgrade = h.upgrade;
  return c;
}

/** One mirrored request (Envoy sends it through the cluster's async client). */
export class ShadowRequest implements ResponseDecoder, StreamCallbacks, PoolCallbacks, Expirable, LoadBalancerContext {
  readonly cluster: ThreadLocalCluster;
  readonly headers: RequestHeaders;
  host: Host | null;
  cancellable: Cancellable | null;
  encoder: RequestEncoder | null;
  /** Body held until the stream is ready (null: none). */
  buffered: Buffer[] | null;
  bufferedBytes: number;
  readonly bufferLimit: number;
  headersEnd: boolean;
  requestEnd: boolean;
  done: boolean;
  start: number;
  timerTick: number;
  timerIndex: number;

  constructor(cluster: ThreadLocalCluster, headers: RequestHeaders, bufferLimit: number) {
    this.cluster = cluster;
    this.headers = headers;
    this.host = null;
    this.cancellable = null;
    this.encoder = null;
    this.buffered = null;
    this.bufferedBytes = 0;
    this.bufferLimit = bufferLimit;
    this.headersEnd = false;
    this.requestEnd = false;
    this.done = false;
    this.start = 0;
    this.timerTick = -1;
    this.timerIndex = -1;
  }

  /** Start a shadow of `h` (the request as it goes upstream) to `clusterName`; null when the
   *  cluster is unknown or has no host (Envoy: nothing is sent). `timeoutMs` is the primary's
   *  route timeout (0: none). */
  static start(cm: ClusterManager, clusterName: string, policy: ShadowPolicySnap, h: RequestHeaders,
    endStream: boolean, timeoutMs: number, bufferLimit: number): ShadowRequest | null {
    const cluster = cm.getThreadLocalCluster(clusterName);
    if (cluster === undefined) return null;
    const headers = copyHeaders(h);
    if (!policy.disableHostSuffix && headers.authority !== '') headers.authority = shadowHost(headers.authority);
    const s = new ShadowRequest(cluster, headers, bufferLimit);
    const host = cluster.loadBalancer.chooseHost(s);
    const pool = host === null ? null : cluster.httpConnPool(host, Protocol.Http11);
    if (pool === null) {
      const info = cluster.info;
      info.stats.v[info.s.upstream_cx_none_healthy]++;
      return null;
    }
    s.host = host;
    s.headersEnd = endStream;
    s.requestEnd = endStream;
    s.start = monotonicNow();
    if (timeoutMs > 0) schedule(s, timeoutMs);
    s.cancellable = pool.newStream(s, s);
    return s.done ? null : s;
  }

  // LoadBalancerContext: no hash policy for a shadow.
  downstreamHeaders(): RequestHeaders | null { return this.headers; }
  computeHashKey(): bigint | null { return null; }

  /** More of the request body (the router passes on what the client sends). */
  sendData(data: Buffer, endStream: boolean): void {
    if (this.done) return;
    if (endStream) this.requestEnd = true;
    const enc = this.encoder;
    if (enc !== null) {
      enc.encodeData(data, endStream);
      return;
    }
    this.bufferedBytes += data.length;
    if (this.bufferLimit > 0 && this.bufferedBytes > this.bufferLimit) {
      // (Envoy: retry_or_shadow_abandoned.)
      const c = this.cluster.info;
      c.stats.v[c.s.retry_or_shadow_abandoned]++;
      this.abandon();
      return;
    }
    if (data.length > 0) (this.buffered ??= []).push(retain(data));
  }

  onPoolReady(encoder: RequestEncoder, _host: Host): void {
    this.cancellable = null;
    if (this.done) {
      encoder.getStream().resetStream(StreamResetReason.LocalReset);
      return;
    }
    this.encoder = encoder;
    encoder.getStream().addCallbacks(this);
    encoder.encodeHeaders(this.headers, this.headersEnd);
    if (this.headersEnd) return;
    const b = this.buffered;
    this.buffered = null;
    if (b !== null) for (let i = 0; i < b.length; i++) encoder.encodeData(b[i], this.requestEnd && i === b.length - 1);
    if (this.requestEnd && (b === null || b.length === 0)) encoder.encodeData(EMPTY, true);
  }

  onPoolFailure(_reason: PoolFailureReason, _host: Host, _transportFailureReason: string): void {
    this.cancellable = null;
    this.finish();
  }

  decodeHeaders(h: ResponseHeaders, endStream: boolean): void {
    if (this.done) return;
    countUpstreamResponse(this.cluster.info, h.status, this.start);
    if (endStream) this.responseDone();
  }

  decodeData(_data: Buffer, endStream: boolean): void {
    if (endStream) this.responseDone();
  }

  /** The response is over (the connection goes back to its pool by itself). */
  responseDone(): void {
    this.encoder = null;
    this.finish();
  }

  onResetStream(_reason: StreamResetReason): void {
    this.encoder = null;
    this.finish();
  }

  // Backpressure from the shadow's upstream is not passed to the client: the shadow goes.
  onAboveWriteBufferHighWatermark(): void {
    if (!this.requestEnd) this.abandon();
  }
  onBelowWriteBufferLowWatermark(): void {}

  /** The primary's route timeout ran out for the shadow. */
  onExpire(): void {
    if (this.done) return;
    const c = this.cluster.info;
    c.stats.v[c.s.upstream_rq_timeout]++;
    this.abandon();
  }

  /** Give the shadow up: a queued request is cancelled, a stream in progress reset. */
  abandon(): void {
    if (this.done) return;
    const waiting = this.cancellable;
    this.cancellable = null;
    if (waiting !== null) waiting.cancel();
    const enc = this.encoder;
    this.encoder = null;
    if (enc !== null) {
      const c = this.cluster.info;
      c.stats.v[c.s.upstream_rq_tx_reset]++;
      enc.getStream().resetStream(StreamResetReason.LocalReset);
    }
    this.finish();
  }

  finish(): void {
    if (this.done) return;
    this.done = true;
    this.buffered = null;
    if (this.timerTick !== -1) cancel(this);
  }
}
