// The worker's client of a rate limit service: the unary call
// envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit over HTTP/2 (node:http2), to a host
// of the configured cluster picked by that cluster's load balancer (Envoy's envoy_grpc: an async
// client on the cluster). One HTTP/2 session per host, kept and shared by every call of the worker.
//
// Why node:http2 and not @grpc/grpc-js: the call is one request frame and one answer frame with a
// grpc-status trailer, as the gRPC health checker's (extensions/health-checkers/grpc); going through
// the cluster manager keeps host choice, health and outlier ejection the cluster's own, where
// grpc-js would resolve and balance on its own channel, and it would be a runtime dependency loaded
// by every worker.
import http2 from 'node:http2';
import { Buffer } from 'node:buffer';
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

export interface RlsCall {
  cancel(): void;
}

class Call implements RlsCall {
  readonly cb: RlsCallbacks;
  req: http2.ClientHttp2Stream | null;
  timer: NodeJS.Timeout | null;
  done: boolean;
  chunks: Buffer[];
  grpcStatus: string | undefined;
  httpStatus: number;
  constructor(cb: RlsCallbacks) {
    this.cb = cb;
    this.req = null;
    this.timer = null;
    this.done = false;
    this.chunks = [];
    this.grpcStatus = undefined;
    this.httpStatus = 0;
  }

  finish(res: RlsResponse | null, error: string): void {
    if (this.done) return;
    this.done = true;
    if (this.timer !== null) clearTimeout(this.timer);
    const req = this.req;
    this.req = null;
    if (req !== null && !req.closed) req.close(http2.constants.NGHTTP2_CANCEL);
    this.cb.onRlsComplete(res, error);
  }

  cancel(): void {
    if (this.done) return;
    this.done = true;
    if (this.timer !== null) clearTimeout(this.timer);
    const req = this.req;
    this.req = null;
    if (req !== null && !req.closed) req.close(http2.constants.NGHTTP2_CANCEL);
  }
}

function onTimeout(this: Call): void {
  this.timer = null;
  this.finish(null, 'timeout');
}
function onResponse(this: http2.ClientHttp2Stream, h: http2.IncomingHttpHeaders): void {
  const call = (this as any)[kCall] as Call;
  call.httpStatus = Number(h[':status']);
  const gs = h['grpc-status'];
  if (gs !== undefined) call.grpcStatus = String(gs);
}
function onTrailers(this: http2.ClientHttp2Stream, h: http2.IncomingHttpHeaders): void {
  const gs = h['grpc-status'];
  if (gs !== undefined) ((this as any)[kCall] as Call).grpcStatus = String(gs);
}
function onData(this: http2.ClientHttp2Stream, d: Buffer): void {
  ((this as any)[kCall] as Call).chunks.push(d);
}
function onError(this: http2.ClientHttp2Stream, err: Error): void {
  ((this as any)[kCall] as Call).finish(null, err.message);
}
function onClose(this: http2.ClientHttp2Stream): void {
  const call = (this as any)[kCall] as Call;
  if (call.done) return;
  if (call.httpStatus !== 200) return call.finish(null, `HTTP status ${call.httpStatus}`);
  if (call.grpcStatus !== '0') return call.finish(null, `grpc-status ${call.grpcStatus ?? 'absent'}`);
  let res: RlsResponse;
  try {
    res = decodeResponse(call.chunks.length === 1 ? call.chunks[0] : Buffer.concat(call.chunks));
  } catch (e) {
    return call.finish(null, (e as Error).message);
  }
  call.finish(res, '');
}

const kCall = Symbol('rlsCall');

export class RlsClient {
  readonly #cm: ClusterManager;
  readonly #cluster: string;
  readonly #authority: string;
  readonly #sessions: Map<string, http2.ClientHttp2Session>;

  constructor(cm: ClusterManager, cluster: string, authority: string) {
    this.#cm = cm;
    this.#cluster = cluster;
    this.#authority = authority === '' ? cluster : authority;
    this.#sessions = new Map();
  }

  #session(address: string, port: number): http2.ClientHttp2Session {
    const key = `${address}:${port}`;
    const have = this.#sessions.get(key);
    if (have !== undefined && !have.closed && !have.destroyed) return have;
    const host = address.includes(':') ? `[${address}]` : address;
    const s = http2.connect(`http://${host}:${port}`);
    s.on('error', () => {});
    s.setTimeout(SESSION_IDLE_MS, () => s.close());
    s.on('close', () => { if (this.#sessions.get(key) === s) this.#sessions.delete(key); });
    // Idle sessions must not keep a draining worker alive.
    s.unref();
    this.#sessions.set(key, s);
    return s;
  }

  /** Start a call; `cb` may be called before this returns (no host). */
  limit(frame: Buffer, timeoutMs: number, cb: RlsCallbacks): RlsCall {
    const call = new Call(cb);
    const cluster = this.#cm.getThreadLocalCluster(this.#cluster);
    const host = cluster?.loadBalancer.chooseHost(null) ?? null;
    if (host === null) {
      call.finish(null, cluster === undefined ? `unknown cluster ${this.#cluster}` : 'no healthy host');
      return call;
    }
    let req: http2.ClientHttp2Stream;
    try {
      req = this.#session(host.address, host.port).request({
        ':method': 'POST', ':path': PATH, ':authority': this.#authority, ':scheme': 'http',
        'content-type': 'application/grpc', te: 'trailers', 'grpc-timeout': `${Math.max(1, Math.ceil(timeoutMs))}m`,
      });
    } catch (e) {
      call.finish(null, (e as Error).message);
      return call;
    }
    (req as any)[kCall] = call;
    call.req = req;
    req.on('response', onResponse);
    req.on('trailers', onTrailers);
    req.on('data', onData);
    req.on('error', onError);
    req.on('close', onClose);
    req.end(frame);
    if (timeoutMs > 0) call.timer = setTimeout(onTimeout.bind(call), timeoutMs);
    return call;
  }

  close(): void {
    for (const s of this.#sessions.values()) s.destroy();
    this.#sessions.clear();
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
