// A gRPC unary call over node:http2 (the gRPC over HTTP/2 protocol,
// https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md): one length-prefixed message
// out, one back, the status from grpc-status (trailers, or the head of a trailers-only answer).
// What a data-plane filter needs to call a service (ext_authz's Authorization/Check), without
// @grpc/grpc-js at run time: the message is encoded by the caller (common/proto-wire.ts).
//
// One HTTP/2 session per address per thread, kept while it lives (unref'd: an idle session does
// not keep a worker alive), replaced when it closes or fails. A call that fails below gRPC
// (connect, reset, a malformed answer) gets UNAVAILABLE, one that runs out of time
// DEADLINE_EXCEEDED, as Envoy's gRPC client reports them.
import http2 from 'node:http2';
import { Buffer } from 'node:buffer';

export const GrpcStatus = { Ok: 0, DeadlineExceeded: 4, Internal: 13, Unavailable: 14 } as const;

export interface GrpcUnaryResult {
  /** grpc-status. */
  status: number;
  message: string;
  /** The response message (status Ok), else null. */
  body: Buffer | null;
}

export type GrpcUnaryCallback = (r: GrpcUnaryResult) => void;

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

export class GrpcChannels {
  readonly #sessions: Map<string, http2.ClientHttp2Session>;
  constructor() {
    this.#sessions = new Map();
  }

  #session(address: string, port: number): http2.ClientHttp2Session {
    const key = `${address}:${port}`;
    const have = this.#sessions.get(key);
    if (have !== undefined && !have.closed && !have.destroyed) return have;
    const host = address.includes(':') ? `[${address}]` : address;
    const s = http2.connect(`http://${host}:${port}`);
    s.unref();
    s.on('error', () => {});
    s.on('close', () => { if (this.#sessions.get(key) === s) this.#sessions.delete(key); });
    s.on('goaway', () => { if (this.#sessions.get(key) === s) this.#sessions.delete(key); });
    this.#sessions.set(key, s);
    return s;
  }

  /** Call `path` (`/package.Service/Method`) on address:port; `cb` runs once, later. */
  call(address: string, port: number, authority: string, path: string, message: Buffer, timeoutMs: number,
    cb: GrpcUnaryCallback): GrpcCall {
    let settled = false;
    let timer: NodeJS.Timeout | null = null;
    let req: http2.ClientHttp2Stream | null = null;
    const done = (r: GrpcUnaryResult): void => {
      if (settled) return;
      settled = true;
      if (timer !== null) clearTimeout(timer);
      if (req !== null && !req.closed) req.close(http2.constants.NGHTTP2_CANCEL);
      cb(r);
    };
    const fail = (status: number, msg: string): void => done({ status, message: msg, body: null });
    const headers: http2.OutgoingHttpHeaders = {
      ':method': 'POST', ':path': path, ':authority': authority, 'content-type': 'application/grpc', te: 'trailers',
    };
    if (timeoutMs > 0) {
      headers['grpc-timeout'] = `${Math.ceil(timeoutMs)}m`;
      timer = setTimeout(fail, timeoutMs, GrpcStatus.DeadlineExceeded, 'deadline exceeded');
    }
    try {
      req = this.#session(address, port).request(headers);
    } catch (err) {
      process.nextTick(fail, GrpcStatus.Unavailable, (err as Error).message);
      return { cancel: () => { settled = true; if (timer !== null) clearTimeout(timer); } };
    }
    const chunks: Buffer[] = [];
    let status: string | undefined;
    let statusMessage: unknown;
    let httpStatus = 0;
    req.on('response', (h) => {
      httpStatus = Number(h[':status']);
      if (h['grpc-status'] !== undefined) {
        status = String(h['grpc-status']);
        statusMessage = h['grpc-message'];
      }
    });
    req.on('trailers', (h) => {
      status = h['grpc-status'] === undefined ? status : String(h['grpc-status']);
      statusMessage = h['grpc-message'] ?? statusMessage;
    });
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('error', (err) => fail(GrpcStatus.Unavailable, err.message));
    req.on('close', () => {
      if (settled) return;
      if (httpStatus !== 200) return fail(GrpcStatus.Unavailable, `HTTP status ${httpStatus}`);
      if (status === undefined) return fail(GrpcStatus.Internal, 'stream closed without grpc-status');
      const code = Number(status);
      if (code !== GrpcStatus.Ok) return fail(code, decodeMessage(statusMessage));
      const body = unframe(Buffer.concat(chunks));
      if (body === null) return fail(GrpcStatus.Internal, 'no response message');
      done({ status: GrpcStatus.Ok, message: '', body });
    });
    req.end(frame(message));
    return {
      cancel: () => {
        if (settled) return;
        settled = true;
        if (timer !== null) clearTimeout(timer);
        if (!req!.closed) req!.close(http2.constants.NGHTTP2_CANCEL);
      },
    };
  }

  close(): void {
    for (const s of this.#sessions.values()) s.destroy();
    this.#sessions.clear();
  }
}
