// The worker's client of a rate limit service: the unary call
// envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit (common/grpc-unary.ts, ext_authz's
// client too) to a host of the configured cluster picked by that cluster's load balancer (Envoy's
// envoy_grpc: an async client on the cluster). One HTTP/2 session per host, kept and shared by
// every call of the worker, closed after a minute without a stream.
//
// Why node:http2 and not @grpc/grpc-js: the call is one request frame and one answer frame with a
// grpc-status trailer, as the gRPC health checker's (extensions/health-checkers/grpc); going through
// the cluster manager keeps host choice, health and outlier ejection the cluster's own, where
// grpc-js would resolve and balance on its own channel, and it would be a runtime dependency loaded
// by every worker.
import type { Buffer } from 'node:buffer';
import { GrpcChannels, GrpcStatus, type GrpcCall, type GrpcUnaryCallbacks, type GrpcUnaryResult } from '../../../../common/grpc-unary.ts';
import type { ClusterManager } from '../../../../upstream/cluster-manager.ts';
import { decodeResponse, type RlsResponse } from './rls-codec.ts';

const PATH = '/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit';
/** A session with no stream for this long is closed (a host that left the cluster, a quiet filter). */
const SESSION_IDLE_MS = 60_000;

export interface RlsCallbacks {
  /** The answer (null with `error` on any failure: no host, connection, timeout, a non-OK
   *  grpc-status, a malformed message). Called once, never after cancel(). */
  onRlsComplete(res: RlsResponse | null, error: string): void;
}

export type RlsCall = GrpcCall;

/** Decodes the answer for the filter. */
class Call implements GrpcUnaryCallbacks {
  readonly cb: RlsCallbacks;
  constructor(cb: RlsCallbacks) {
    this.cb = cb;
  }

  onGrpcComplete(r: GrpcUnaryResult): void {
    if (r.status !== GrpcStatus.Ok || r.body === null) {
      this.cb.onRlsComplete(null, r.message === '' ? `grpc-status ${r.status}` : r.message);
      return;
    }
    let res: RlsResponse;
    try {
      res = decodeResponse(r.body);
    } catch (e) {
      this.cb.onRlsComplete(null, (e as Error).message);
      return;
    }
    this.cb.onRlsComplete(res, '');
  }
}

const NO_CALL: RlsCall = { cancel: () => {} };

export class RlsClient {
  readonly #cm: ClusterManager;
  readonly #cluster: string;
  readonly #authority: string;
  readonly #channels: GrpcChannels;

  constructor(cm: ClusterManager, cluster: string, authority: string) {
    this.#cm = cm;
    this.#cluster = cluster;
    this.#authority = authority === '' ? cluster : authority;
    this.#channels = new GrpcChannels(SESSION_IDLE_MS);
  }

  /** Start a call with a RateLimitRequest (rls-codec.ts); `cb` may be called before this returns
   *  (no host). */
  limit(request: Buffer, timeoutMs: number, cb: RlsCallbacks): RlsCall {
    const cluster = this.#cm.getThreadLocalCluster(this.#cluster);
    const host = cluster?.loadBalancer.chooseHost(null) ?? null;
    if (host === null) {
      cb.onRlsComplete(null, cluster === undefined ? `unknown cluster ${this.#cluster}` : 'no healthy host');
      return NO_CALL;
    }
    return this.#channels.call(host.address, host.port, this.#authority, PATH, request, timeoutMs, new Call(cb));
  }

  close(): void {
    this.#channels.close();
  }
}

const clients = new WeakMap<ClusterManager, Map<string, RlsClient>>();

/** The worker's client for a cluster and authority: one per worker, kept across config updates
 *  (its sessions with it). */
export function rlsClient(cm: ClusterManager, cluster: string, authority: string): RlsClient {
  let m = clients.get(cm);
  if (m === undefined) clients.set(cm, m = new Map());
  const key = `${cluster}\n${authority}`;
  let c = m.get(key);
  if (c === undefined) m.set(key, c = new RlsClient(cm, cluster, authority));
  return c;
}
