// envoy.health_checkers.grpc (HealthCheck.grpc_health_check), Envoy's GrpcHealthCheckerImpl: the
// grpc.health.v1.Health/Check call over HTTP/2 (node:http2, one session per host kept between
// checks with reuse_connection) with `service_name` and :authority `authority` (default: the
// cluster's name). SERVING is healthy; another status, a non-OK grpc-status or a malformed answer
// is an active failure; a connection or stream error and a timeout are network failures.
import http2 from 'node:http2';
import { Buffer } from 'node:buffer';
import type { CheckOutcome, CheckTarget, HealthCheck } from '../../../upstream/health-check.ts';
import { ExtensionCategory, type CompileContext, type HealthCheckerModule } from '../../types.ts';

export const NAME = 'envoy.health_checkers.grpc';
const MSG = 'envoy.config.core.v3.HealthCheck.GrpcHealthCheck';
const SERVING = 1;

export interface GrpcCheckSnap {
  service: string;
  authority: string;
}

type Obj = Record<string, any>;

/** A length-prefixed gRPC message carrying HealthCheckRequest { string service = 1 }. */
function requestFrame(service: string): Buffer {
  const s = Buffer.from(service, 'utf8');
  const msg = s.length === 0 ? Buffer.alloc(0) : Buffer.concat([Buffer.from([0x0a]), varint(s.length), s]);
  const head = Buffer.alloc(5);
  head.writeUInt32BE(msg.length, 1);
  return Buffer.concat([head, msg]);
}

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return Buffer.from(out);
}

/** HealthCheckResponse.status (field 1, an enum), or -1 when the frame does not hold one. */
function responseStatus(body: Buffer): number {
  if (body.length < 5 || body[0] !== 0) return -1;
  const len = body.readUInt32BE(1);
  const msg = body.subarray(5, 5 + len);
  if (msg.length === 0) return 0; // UNKNOWN, the default
  let i = 0;
  while (i < msg.length) {
    const tag = msg[i++];
    if (tag === 0x08) {
      let v = 0;
      let shift = 0;
      while (i < msg.length) {
        const b = msg[i++];
        v |= (b & 0x7f) << shift;
        if ((b & 0x80) === 0) return v;
        shift += 7;
      }
      return -1;
    }
    return -1;
  }
  return 0;
}

class GrpcCheck implements HealthCheck {
  readonly type = 'GRPC';
  readonly #frame: Buffer;
  readonly #authority: string;
  readonly #reuse: boolean;
  readonly #sessions: Map<string, http2.ClientHttp2Session>;

  constructor(c: GrpcCheckSnap, cluster: string, reuse: boolean) {
    this.#frame = requestFrame(c.service);
    this.#authority = c.authority === '' ? cluster : c.authority;
    this.#reuse = reuse;
    this.#sessions = new Map();
  }

  #session(t: CheckTarget): http2.ClientHttp2Session {
    const key = `${t.address}:${t.port}`;
    const have = this.#sessions.get(key);
    if (have !== undefined && !have.closed && !have.destroyed) return have;
    const host = t.address.includes(':') ? `[${t.address}]` : t.address;
    const s = http2.connect(`http://${host}:${t.port}`);
    s.on('error', () => {});
    s.on('close', () => { if (this.#sessions.get(key) === s) this.#sessions.delete(key); });
    this.#sessions.set(key, s);
    return s;
  }

  check(t: CheckTarget, timeoutMs: number): Promise<CheckOutcome> {
    const session = this.#session(t);
    return new Promise<CheckOutcome>((resolve) => {
      let settled = false;
      const chunks: Buffer[] = [];
      let grpcStatus: string | undefined;
      const done = (o: CheckOutcome): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (!o.ok && o.network) session.destroy();
        if (!this.#reuse) session.close();
        resolve(o);
      };
      const net = (reason: string): void => done({ ok: false, network: true, retriable: false, reason });
      const active = (reason: string): void => done({ ok: false, network: false, retriable: false, reason });
      const timer = setTimeout(() => net('timeout'), timeoutMs);
      let req: http2.ClientHttp2Stream;
      try {
        req = session.request({
          ':method': 'POST', ':path': '/grpc.health.v1.Health/Check', ':authority': this.#authority,
          'content-type': 'application/grpc', te: 'trailers', 'user-agent': 'Envoy/HC',
        });
      } catch (err) {
        net((err as Error).message);
        return;
      }
      req.on('response', (h) => {
        grpcStatus = h['grpc-status'] as string | undefined;
        if (String(h[':status']) !== '200') active(`HTTP status ${h[':status']}`);
      });
      req.on('trailers', (h) => { grpcStatus = h['grpc-status'] as string | undefined; });
      req.on('data', (d: Buffer) => chunks.push(d));
      req.on('error', (err) => net(err.message));
      req.on('close', () => {
        if (grpcStatus === undefined) return net('stream closed without grpc-status');
        if (grpcStatus !== '0') return active(`grpc-status ${grpcStatus}`);
        const status = responseStatus(Buffer.concat(chunks));
        if (status === SERVING) done({ ok: true, degraded: false });
        else active(status < 0 ? 'malformed HealthCheckResponse' : `status ${status}`);
      });
      req.end(this.#frame);
    });
  }

  release(t: CheckTarget): void {
    const key = `${t.address}:${t.port}`;
    this.#sessions.get(key)?.destroy();
    this.#sessions.delete(key);
  }

  stop(): void {
    for (const s of this.#sessions.values()) s.destroy();
    this.#sessions.clear();
  }
}

const grpcChecker: HealthCheckerModule<GrpcCheckSnap> = {
  name: NAME,
  category: ExtensionCategory.HealthChecker,
  field: 'grpc_health_check',
  types: [],
  fields: { 'envoy.config.core.v3.HealthCheck': ['grpc_health_check'], [MSG]: ['service_name', 'authority'] },
  protos: [],
  compile: (c: Obj, _ctx: CompileContext): GrpcCheckSnap => ({ service: c.service_name ?? '', authority: c.authority ?? '' }),
  createCheck: (c, o) => new GrpcCheck(c, o.cluster, o.reuseConnection),
};
export default grpcChecker;
