// ext_authz's gRPC service client (Envoy's GrpcClientImpl and CheckRequestUtils,
// filters/common/ext_authz/): envoy.service.auth.v3.Authorization/Check with a CheckRequest built
// from the stream (envoy/service/auth/v3/attribute_context.proto: the peers, the request's id,
// method, headers, path, host, scheme, size, protocol and body, the route's context_extensions),
// over one HTTP/2 session per host and worker (common/grpc-unary.ts) to a host the cluster's load
// balancer picks. The CheckResponse: status OK allows (ok_response's headers: `append` true appends
// to an existing value, else sets; headers_to_remove; response_headers_to_add by append /
// append_action), any other status denies (denied_response: status, default 403, headers, body);
// a failed call is an error. Field numbers are the protos'; test/integration/ext-authz.test.ts
// checks them against @grpc/grpc-js decoding the real proto.
import { Buffer } from 'node:buffer';
import { GrpcChannels, GrpcStatus, type GrpcCall, type GrpcUnaryCallbacks, type GrpcUnaryResult } from '../../../../common/grpc-unary.ts';
import { ProtoWriter, protoFields } from '../../../../common/proto-wire.ts';
import type { RequestHeaders, StreamInfo } from '../../../../http/types.ts';
import type { NetworkConnection } from '../../../../network/filter.ts';
import type { ClusterManager } from '../../../../upstream/cluster-manager.ts';
import type { LoadBalancerContext } from '../../../../upstream/load-balancer.ts';
import {
  AuthzResponse, CheckStatus, ERROR_RESPONSE, KeyMatcher, type BodySettings, type CheckCall, type CheckCallbacks, type ExtAuthzSnap,
} from './config.ts';

const CHECK_PATH = '/envoy.service.auth.v3.Authorization/Check';

/** One set of HTTP/2 sessions per worker thread. */
const channels = new GrpcChannels();

/** What the filter knows of the stream when it checks. */
export interface CheckInput {
  headers: RequestHeaders;
  streamInfo: StreamInfo;
  connection: NetworkConnection | null;
  /** The buffered body (null: none) and whether it was cut at max_request_bytes. */
  body: Buffer | null;
  partial: boolean;
  /** [key, value, ...]. */
  contextExtensions: readonly string[];
  streamId: number;
}

/** "ip:port" / "[ip]:port" as an envoy.config.core.v3.Address. */
function address(s: string): ProtoWriter {
  const i = s.lastIndexOf(':');
  const ip = i < 0 ? s : s.slice(0, i).replace(/^\[(.*)\]$/, '$1');
  const port = i < 0 ? 0 : Number(s.slice(i + 1)) || 0;
  return new ProtoWriter().message(1, new ProtoWriter().string(2, ip).varint(3, port));
}

const allowedMatchers = new WeakMap<ExtAuthzSnap, KeyMatcher>();
/** allowed_headers' matcher, built once per config (and worker). */
function allowedMatcher(snap: ExtAuthzSnap): KeyMatcher {
  let m = allowedMatchers.get(snap);
  if (m === undefined) allowedMatchers.set(snap, m = new KeyMatcher(snap.allowedHeaders));
  return m;
}

/** The CheckRequest message. */
export function checkRequest(snap: ExtAuthzSnap, body: BodySettings | null, x: CheckInput): Buffer {
  const h = x.headers;
  const conn = x.connection;
  const source = new ProtoWriter();
  const destination = new ProtoWriter();
  if (conn !== null) {
    source.message(1, address(conn.remoteAddress));
    destination.message(1, address(conn.localAddress));
    const ssl = conn.ssl();
    if (ssl !== null) {
      const uri = ssl.uriSanPeerCertificate();
      source.string(4, uri.length > 0 ? uri[0] : ssl.subjectPeerCertificate());
      const local = ssl.uriSanLocalCertificate();
      if (local.length > 0) destination.string(4, local[0]);
      if (snap.includePeerCertificate) source.string(5, ssl.urlEncodedPemEncodedPeerCertificate());
    }
  }
  const service = h.get('x-envoy-downstream-service-cluster');
  if (service !== undefined) source.string(2, service);
  // The headers as Envoy's map has them: the pseudo-headers too, a repeated name joined with ','.
  const map = new Map<string, string>([
    [':authority', h.authority], [':path', h.path], [':method', h.method], [':scheme', h.scheme],
  ]);
  const list = h.headers;
  const allowed = snap.allowedHeadersSet ? allowedMatcher(snap) : null;
  for (let i = 0; i < list.length; i += 2) {
    const k = list[i];
    if (allowed !== null && !allowed.matches(k)) continue;
    const have = map.get(k);
    map.set(k, have === undefined ? list[i + 1] : `${have},${list[i + 1]}`);
  }
  if (body !== null) map.set('x-envoy-auth-partial-body', x.partial ? 'true' : 'false');
  const q = h.path.indexOf('?');
  const cl = h.get('content-length');
  const size = x.body !== null ? x.body.length : cl !== undefined && /^\d+$/.test(cl) ? Number(cl) : -1;
  const http = new ProtoWriter()
    .string(1, h.get('x-request-id') ?? String(x.streamId))
    .string(2, h.method)
    .stringMap(3, map)
    .string(4, h.path)
    .string(5, h.authority)
    .string(6, h.scheme)
    .string(7, q < 0 ? '' : h.path.slice(q + 1))
    .varint(9, size)
    .string(10, h.protocol);
  if (x.body !== null && x.body.length > 0) {
    if (body !== null && body.packAsBytes) http.bytes(12, x.body);
    else http.string(11, x.body.toString('utf8'));
  }
  const now = Date.now();
  const time = new ProtoWriter().varint(1, Math.floor(now / 1000)).varint(2, (now % 1000) * 1e6);
  const request = new ProtoWriter().message(1, time).message(2, http);
  const ext: [string, string][] = [];
  for (let i = 0; i < x.contextExtensions.length; i += 2) ext.push([x.contextExtensions[i], x.contextExtensions[i + 1]]);
  const attributes = new ProtoWriter()
    .message(1, source)
    .message(2, destination)
    .message(4, request)
    .stringMap(10, ext);
  return new ProtoWriter().message(1, attributes).finish();
}

/** A HeaderValueOption: [key, value, append (BoolValue, null: unset), append_action]. */
function headerValueOption(b: Buffer): [string, string, boolean | null, number] {
  let key = '';
  let value = '';
  let append: boolean | null = null;
  let action = 0;
  for (const f of protoFields(b)) {
    if (f.field === 1) {
      for (const g of protoFields(f.bytes)) {
        if (g.field === 1) key = g.bytes.toString('utf8').toLowerCase();
        else if (g.field === 2) value = g.bytes.toString('utf8');
        else if (g.field === 3 && value === '') value = g.bytes.toString('utf8');
      }
    } else if (f.field === 2) {
      append = false;
      for (const g of protoFields(f.bytes)) if (g.field === 1) append = g.varint !== 0;
    } else if (f.field === 3) {
      action = f.varint;
    }
  }
  return [key, value, append, action];
}

/** Envoy's copyHeaderFieldIntoResponse: append true appends, else sets. */
function requestHeaders(r: AuthzResponse, b: Buffer): void {
  const [k, v, append] = headerValueOption(b);
  if (k === '') return;
  if (append === true) r.headersToAppend.push(k, v);
  else r.headersToSet.push(k, v);
}

/** The CheckResponse as an AuthzResponse. */
export function checkResponse(body: Buffer): AuthzResponse {
  let code = 0;
  let denied: Buffer | null = null;
  let ok: Buffer | null = null;
  for (const f of protoFields(body)) {
    if (f.field === 1) {
      for (const g of protoFields(f.bytes)) if (g.field === 1) code = g.varint;
    } else if (f.field === 2) {
      denied = f.bytes;
    } else if (f.field === 3) {
      ok = f.bytes;
    }
  }
  if (code === GrpcStatus.Ok) {
    const r = new AuthzResponse(CheckStatus.Ok, 200);
    if (ok !== null) {
      for (const f of protoFields(ok)) {
        if (f.field === 2) {
          requestHeaders(r, f.bytes);
        } else if (f.field === 5) {
          r.headersToRemove.push(f.bytes.toString('utf8').toLowerCase());
        } else if (f.field === 6) {
          const [k, v, append, action] = headerValueOption(f.bytes);
          if (k === '') continue;
          // append (deprecated) wins when set; else append_action: APPEND_IF_EXISTS_OR_ADD (0)
          // adds, OVERWRITE_IF_EXISTS_OR_ADD (2) sets (the others are refused as mutations Legate
          // does not make: ADD_IF_ABSENT and OVERWRITE_IF_EXISTS are treated as add and set).
          const add = append !== null ? append : action === 0 || action === 1;
          if (add) r.responseHeadersToAdd.push(k, v);
          else r.responseHeadersToSet.push(k, v);
        }
      }
    }
    return r;
  }
  const r = new AuthzResponse(CheckStatus.Denied, 403);
  if (denied !== null) {
    for (const f of protoFields(denied)) {
      if (f.field === 1) {
        for (const g of protoFields(f.bytes)) if (g.field === 1 && g.varint > 0) r.statusCode = g.varint;
      } else if (f.field === 2) {
        requestHeaders(r, f.bytes);
      } else if (f.field === 3) {
        r.body = f.bytes.toString('utf8');
      }
    }
    // (Envoy's denied reply takes the headers to set; those marked append are dropped.)
  }
  return r;
}

const NO_HASH: LoadBalancerContext = { downstreamHeaders: () => null, computeHashKey: () => null };

/** A check in flight. */
class GrpcCheck implements CheckCall, GrpcUnaryCallbacks {
  cb: CheckCallbacks | null;
  call: GrpcCall | null;
  constructor(cb: CheckCallbacks) {
    this.cb = cb;
    this.call = null;
  }
  onGrpcComplete(r: GrpcUnaryResult): void {
    const cb = this.cb;
    this.cb = null;
    this.call = null;
    if (cb === null) return;
    if (r.status !== GrpcStatus.Ok || r.body === null) {
      cb.onComplete(ERROR_RESPONSE);
      return;
    }
    let resp: AuthzResponse;
    try {
      resp = checkResponse(r.body);
    } catch {
      resp = ERROR_RESPONSE;
    }
    cb.onComplete(resp);
  }
  cancel(): void {
    this.cb = null;
    this.call?.cancel();
    this.call = null;
  }
}

export class GrpcAuthzClient {
  readonly snap: ExtAuthzSnap;
  readonly cm: ClusterManager;
  constructor(snap: ExtAuthzSnap, cm: ClusterManager) {
    this.snap = snap;
    this.cm = cm;
  }

  /** As HttpAuthzClient.check. */
  check(cb: CheckCallbacks, body: BodySettings | null, x: CheckInput): CheckCall | null {
    const cluster = this.cm.getThreadLocalCluster(this.snap.cluster);
    const host = cluster === undefined ? null : cluster.loadBalancer.chooseHost(NO_HASH);
    if (host === null) {
      if (cluster !== undefined) cluster.info.stats.v[cluster.info.s.upstream_cx_none_healthy]++;
      cb.onComplete(ERROR_RESPONSE);
      return null;
    }
    const c = new GrpcCheck(cb);
    c.call = channels.call(host.address, host.port, this.snap.authority, CHECK_PATH, checkRequest(this.snap, body, x),
      this.snap.timeoutMs, c);
    return c;
  }
}
