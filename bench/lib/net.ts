// Free ports and readiness checks, both on 127.0.0.1.

import { createServer, connect } from 'node:net';
import type { Server } from 'node:net';
import { request } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';

/**
 * `n` distinct free ports. All are held open until the last is bound, so one call never returns the same
 * port twice; another process can still take one before our child binds it, which on a bench box is
 * rare enough to accept (the readiness check then fails loudly).
 */
export async function freePorts(n: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    const ports: number[] = [];
    for (let i = 0; i < n; i++) {
      const server = createServer();
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', resolve);
      });
      const addr = server.address();
      if (addr === null || typeof addr === 'string') throw new Error('unexpected server address');
      ports.push(addr.port);
    }
    return ports;
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
}

function tcpConnects(port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.setTimeout(timeoutMs, () => { socket.destroy(); resolve(false); });
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
  });
}

/** Status code of one GET on a fresh connection (over TLS, not verified, if `tls`), or an error message. */
export function httpGet(port: number, path: string, timeoutMs: number, tls = false): Promise<number | string> {
  return new Promise((resolve) => {
    const opts = { host: '127.0.0.1', port, path, agent: false, timeout: timeoutMs };
    const send = tls ? httpsRequest : request;
    const req = send(tls ? { ...opts, rejectUnauthorized: false } : opts, (res) => {
      res.resume();
      res.once('end', () => resolve(res.statusCode ?? 0));
      res.once('error', (err) => resolve(err.message));
    });
    req.once('timeout', () => req.destroy(new Error(`no response in ${timeoutMs} ms`)));
    req.once('error', (err) => resolve(err.message));
    req.end();
  });
}

export interface FetchedResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  /** The body as received (not decoded). */
  readonly body: Buffer;
}

/** One GET with `headers` on a fresh connection: the whole response, or an error. */
export function httpFetch(port: number, path: string, headers: Readonly<Record<string, string>>,
    timeoutMs: number): Promise<FetchedResponse> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers, agent: false, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.once('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.once('error', reject);
    });
    req.once('timeout', () => req.destroy(new Error(`no response in ${timeoutMs} ms`)));
    req.once('error', reject);
    req.end();
  });
}

export interface ReadyOptions {
  readonly path: string;
  readonly timeoutMs: number;
  /** The GET goes over TLS. */
  readonly tls?: boolean;
  /** Returns a reason to give up early (the process died), or null to keep polling. */
  readonly giveUp?: () => string | null;
}

/** Polls until a TCP connect succeeds and a GET answers 200. Throws with the last observation. */
export async function waitReady(port: number, opts: ReadyOptions): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  let last = 'nothing listening';
  for (;;) {
    const reason = opts.giveUp?.() ?? null;
    if (reason !== null) throw new Error(reason);
    if (await tcpConnects(port, 500)) {
      const status = await httpGet(port, opts.path, 1000, opts.tls === true);
      if (status === 200) return;
      last = typeof status === 'number' ? `GET ${opts.path} answered ${status}` : `GET ${opts.path}: ${status}`;
    }
    if (Date.now() >= deadline) {
      throw new Error(`not ready on 127.0.0.1:${port} after ${opts.timeoutMs / 1000} s (${last})`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
