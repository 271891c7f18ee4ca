// A gRPC unary call over node:http2 (the gRPC over HTTP/2 protocol,
// https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md): one length-prefixed message
// out, one back, the status from grpc-status (trailers, or the head of a trailers-only answer).
// What a data-plane filter needs to call a service (ext_authz's Authorization/Check, ratelimit's
// RateLimitService/ShouldRateLimit) without @grpc/grpc-js at run time: the caller picks the host
// through its cluster's load balancer (host choice, health and outlier ejection stay the
// cluster's) and encodes and decodes the messages (common/proto-wire.ts).
//
// One HTTP/2 session per address per GrpcChannels (common/h2c-sessions.ts), unref'd: an idle
// session does not keep a worker alive. A call that fails below gRPC (connect, reset, a malformed
// answer) gets UNAVAILABLE, one that runs out of time DEADLINE_EXCEEDED, as Envoy's gRPC client
// reports them. The stream's handlers are module-level functions reading the call from the
// stream (no closures per call).
import http2 from 'node:http2';
import { Buffer } from 'node:buffer';
import { H2cSessions } from './h2c-sessions.ts';

export const GrpcStatus = { Ok: 0, DeadlineExceeded: 4, Internal: 13, Unavailable: 14 } as const;

export interface GrpcUnaryResult {
  /** grpc-status. */
  status: number;
  message: string;
  /** The response message (status Ok), else null. */
  body: Buffer | null;
}

export interface GrpcUnaryCallbacks {
  /** Called once, later (never from call() itself), never after cancel(). */
  onGrpcComplete(r: GrpcUnaryResult): void;
}

export interface GrpcCall {
  cancel(): void;
}

/** The frame of one message (uncompressed). */
function frame(message: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(message.length, 1);
  return Buffer.concat([head, message]);
}

/** The first message of a response body, or null when it holds none (or a compressed one). */
function unframe(body: Buffer): Buffer | null {
  if (body.length < 5 || body[0] !== 0) return null;
  const len = body.readUInt32BE(1);
  if (body.length < 5 + len) return null;
  return body.subarray(5, 5 + len);
}

/** grpc-message is percent-encoded (PROTOCOL-HTTP2.md). */
function decodeMessage(v: unknown): string {
  if (typeof v !== 'string') return '';
  try {
    return decodeURIComponent(v);
  } catch {
    return v;
  }
}

const kCall = Symbol('grpcUnaryCall');

class UnaryCall implements GrpcCall {
  readonly cb: GrpcUnaryCallbacks;
  req: http2.ClientHttp2Stream | null;
  timer: NodeJS.Timeout | null;
  settled: boolean;
  chunks: Buffer[];
  httpStatus: number;
  /** grpc-status as received (undefined: none yet) and grpc-message. */
  status: string | undefined;
  statusMessage: unknown;
  constructor(cb: GrpcUnaryCallbacks) {
    this.cb = cb;
    this.req = null;
    this.timer = null;
    this.settled = false;
    this.chunks = [];
    this.httpStatus = 0;
    this.status = undefined;
    this.statusMessage = undefined;
  }

  cancel(): void {
    if (this.settled) return;
    this.settled = true;
    if (this.timer !== null) clearTimeout(this.timer);
    const req = this.req;
    if (req !== null && !req.closed) req.close(http2.constants.NGHTTP2_CANCEL);
  }

  done(status: number, message: string, body: Buffer | null): void {
    if (this.settled) return;
    this.cancel();
    this.cb.onGrpcComplete({ status, message, body });
  }
}

function onTimeout(call: UnaryCall): void {
  call.timer = null;
  call.done(GrpcStatus.DeadlineExceeded, 'deadline exceeded', null);
}
function onRequestFailed(call: UnaryCall, message: string): void {
  call.done(GrpcStatus.Unavailable, message, null);
}
function onResponse(this: http2.ClientHttp2Stream, h: http2.IncomingHttpHeaders): void {
  const call = (this as any)[kCall] as UnaryCall;
  call.httpStatus = Number(h[':status']);
  if (h['grpc-status'] !== undefined) {
    call.status = String(h['grpc-status']);
    call.statusMessage = h['grpc-message'];
  }
}
function onTrailers(this: http2.ClientHttp2Stream, h: http2.IncomingHttpHeaders): void {
  const call = (this as any)[kCall] as UnaryCall;
  if (h['grpc-status'] !== undefined) call.status = String(h['grpc-status']);
  call.statusMessage = h['grpc-message'] ?? call.statusMessage;
}
function onData(this: http2.ClientHttp2Stream, d: Buffer): void {
  ((this as any)[kCall] as UnaryCall).chunks.push(d);
}
function onError(this: http2.ClientHttp2Stream, err: Error): void {
  ((this as any)[kCall] as UnaryCall).done(GrpcStatus.Unavailable, err.message, null);
}
function onClose(this: http2.ClientHttp2Stream): void {
  const call = (this as any)[kCall] as UnaryCall;
  if (call.settled) return;
  if (call.httpStatus !== 200) return call.done(GrpcStatus.Unavailable, `HTTP status ${call.httpStatus}`, null);
  if (call.status === undefined) return call.done(GrpcStatus.Internal, 'stream closed without grpc-status', null);
  const code = Number(call.status);
  if (code !== GrpcStatus.Ok) return call.done(code, decodeMessage(call.statusMessage), null);
  const body = unframe(call.chunks.length === 1 ? call.chunks[0] : Buffer.concat(call.chunks));
  if (body === null) return call.done(GrpcStatus.Internal, 'no response message', null);
  call.done(GrpcStatus.Ok, '', body);
}

export class GrpcChannels {
  readonly #sessions: H2cSessions;
  /** `idleMs`: close a session with no stream for this long (0: keep it while it lives). */
  constructor(idleMs = 0) {
    this.#sessions = new H2cSessions({ unref: true, idleMs });
  }

  /** Call `path` (`/package.Service/Method`) on address:port with `message` (unframed); a
   *  positive `timeoutMs` is sent as grpc-timeout and ends the call with DEADLINE_EXCEEDED. */
  call(address: string, port: number, authority: string, path: string, message: Buffer, timeoutMs: number,
    cb: GrpcUnaryCallbacks): GrpcCall {
    const call = new UnaryCall(cb);
    const headers: http2.OutgoingHttpHeaders = {
      ':method': 'POST', ':path': path, ':authority': authority, 'content-type': 'application/grpc', te: 'trailers',
    };
    if (timeoutMs > 0) {
      headers['grpc-timeout'] = `${Math.ceil(timeoutMs)}m`;
      call.timer = setTimeout(onTimeout, timeoutMs, call);
    }
    let req: http2.ClientHttp2Stream;
    try {
      req = this.#sessions.get(address, port).request(headers);
    } catch (err) {
      process.nextTick(onRequestFailed, call, (err as Error).message);
      return call;
    }
    (req as any)[kCall] = call;
    call.req = req;
    req.on('response', onResponse);
    req.on('trailers', onTrailers);
    req.on('data', onData);
    req.on('error', onError);
    req.on('close', onClose);
    req.end(frame(message));
    return call;
  }

  close(): void {
    this.#sessions.close();
  }
}
