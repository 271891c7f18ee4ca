// envoy.health_checkers.grpc (HealthCheck.grpc_health_check), Envoy's GrpcHealthCheckerImpl: the
// grpc.health.v1.Health/Check call over HTTP/2 (../common/h2.ts: one session per host kept between
// checks with reuse_connection) with `service_name` and :authority the endpoint's
// health_check_config.hostname, else `authority`, else the cluster's name. SERVING is healthy;
// another status, a non-OK grpc-status or a malformed answer is an active failure; a connection or
// stream error and a timeout are network failures.
import { Buffer } from 'node:buffer';
import type { CheckOutcome, CheckTarget, HealthCheck } from '../../../upstream/health-check.ts';
import { ExtensionCategory, type CompileContext, type HealthCheckerModule } from '../../types.ts';
import { H2Checks, type H2Response } from '../common/h2.ts';

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
  readonly #h2: H2Checks;

  constructor(c: GrpcCheckSnap, cluster: string, reuse: boolean) {
    this.#frame = requestFrame(c.service);
    this.#authority = c.authority === '' ? cluster : c.authority;
    this.#h2 = new H2Checks(reuse);
  }

  check(t: CheckTarget, timeoutMs: number): Promise<CheckOutcome> {
    return this.#h2.exchange(t, timeoutMs, {
      ':method': 'POST', ':path': '/grpc.health.v1.Health/Check',
      // (Envoy: the endpoint's health_check_config.hostname, else `authority`, else the cluster.)
      ':authority': t.hostname === '' ? this.#authority : t.hostname,
      'content-type': 'application/grpc', te: 'trailers', 'user-agent': 'Envoy/HC',
    }, this.#frame, true, judge);
  }

  release(t: CheckTarget): void {
    this.#h2.release(t);
  }

  stop(): void {
    this.#h2.stop();
  }
}

function judge(r: H2Response): CheckOutcome {
  const active = (reason: string): CheckOutcome => ({ ok: false, network: false, retriable: false, reason });
  if (r.status !== 200) return active(`HTTP status ${r.status}`);
  // (A trailers-only answer carries grpc-status in its headers.)
  const grpcStatus = r.trailers?.['grpc-status'] ?? r.headers['grpc-status'];
  if (grpcStatus === undefined) return { ok: false, network: true, retriable: false, reason: 'stream closed without grpc-status' };
  if (grpcStatus !== '0') return active(`grpc-status ${String(grpcStatus)}`);
  const status = responseStatus(r.body);
  if (status === SERVING) return { ok: true, degraded: false };
  return active(status < 0 ? 'malformed HealthCheckResponse' : `status ${status}`);
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
