// The admin HTTP server (main thread, plain node:http) and its dispatch, after Envoy's AdminImpl:
// exact path match (query string excluded), 405 for a state-mutating handler reached without POST,
// 404 "invalid path." with the handler list otherwise. Handlers are one per file and pure: they
// get the parsed request and return status, body and content type.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { certsHandler } from './certs.ts';
import { clustersHandler } from './clusters.ts';
import { configDumpHandler } from './config-dump.ts';
import { explainHandler } from './explain.ts';
import { healthcheckFailHandler, healthcheckOkHandler } from './healthcheck.ts';
import { listenersHandler } from './listeners.ts';
import { prometheusHandler } from './prometheus.ts';
import { quitHandler } from './quit.ts';
import { readyHandler } from './ready.ts';
import { reloadHandler } from './reload.ts';
import { runtimeHandler } from './runtime.ts';
import { FORM_URLENCODED, runtimeModifyHandler } from './runtime-modify.ts';
import { serverInfoHandler } from './server-info.ts';
import { statsHandler } from './stats.ts';
import {
  CONTENT_TEXT, type AdminHandler, type AdminOptions, type AdminRequest, type AdminResponse,
  type AdminServer,
} from './types.ts';

export type * from './types.ts';

const helpHandler: AdminHandler = {
  prefix: '/help',
  help: 'print out list of admin commands',
  mutatesState: false,
  handle: () => ({ status: 200, body: helpText() }),
};

const homeHandler: AdminHandler = {
  prefix: '/',
  help: 'Admin home page',
  mutatesState: false,
  handle: () => ({ status: 200, body: helpText() }),
};

/** Every handler, sorted by path as Envoy lists them. */
export const HANDLERS: readonly AdminHandler[] = [
  homeHandler, certsHandler, clustersHandler, configDumpHandler, explainHandler, healthcheckFailHandler,
  healthcheckOkHandler, helpHandler, listenersHandler, quitHandler,
  readyHandler, reloadHandler, runtimeHandler, runtimeModifyHandler, serverInfoHandler, statsHandler, prometheusHandler,
].sort((a, b) => (a.prefix < b.prefix ? -1 : 1));

const BY_PATH = new Map(HANDLERS.map((h) => [h.prefix, h]));

function helpText(): string {
  let out = 'admin commands are:\n';
  for (const h of HANDLERS) out += `  ${h.prefix}: ${h.help}\n`;
  return out;
}

/** Route one request (exported for tests and for an in-process admin). */
export function dispatch(req: AdminRequest, opts: AdminOptions): AdminResponse | Promise<AdminResponse> {
  // (onRequest catches what a handler throws.)
  const handler = BY_PATH.get(req.path);
  if (handler === undefined) return { status: 404, body: `invalid path. ${helpText()}` };
  if (handler.mutatesState && req.method !== 'POST') {
    return { status: 405, body: `Method ${req.method} not allowed, POST required.` };
  }
  return handler.handle(req, opts);
}

/** Path and query of a request target (origin-form, or absolute-form as a proxy client sends
 *  it); null when it is neither. Never throws: any target a client sends gets an answer. */
export function parseTarget(target: string): { path: string; query: URLSearchParams } | null {
  if (target.charCodeAt(0) === 47 /* '/' */) {
    // (A fragment, which clients should not send, ends the target.)
    const hash = target.indexOf('#');
    const end = hash < 0 ? target.length : hash;
    const q = target.indexOf('?');
    if (q < 0 || q > end) return { path: target.slice(0, end), query: new URLSearchParams() };
    return { path: target.slice(0, q), query: new URLSearchParams(target.slice(q + 1, end)) };
  }
  if (!/^https?:\/\//i.test(target)) return null;
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    return null;
  }
  return { path: url.pathname, query: url.searchParams };
}

/** The most of a form body read (POST /runtime_modify's parameters). */
const MAX_FORM_BODY = 1024 * 1024;

function onRequest(opts: AdminOptions, req: http.IncomingMessage, res: http.ServerResponse): void {
  const contentType = req.headers['content-type'];
  if (req.method === 'POST' && contentType === FORM_URLENCODED) {
    // A form's parameters are the request's (Envoy's AdminFilter::queryParams): read it first.
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= MAX_FORM_BODY) chunks.push(c);
    });
    req.on('end', () => {
      if (size > MAX_FORM_BODY) {
        respond(opts, req, res, { status: 413, body: 'request body too large\n' });
        return;
      }
      handle(opts, req, res, contentType, Buffer.concat(chunks).toString('utf8'));
    });
    return;
  }
  // Drain any other request body (POST /quitquitquit may carry one) so keep-alive works.
  req.resume();
  handle(opts, req, res, contentType, undefined);
}

function handle(opts: AdminOptions, req: http.IncomingMessage, res: http.ServerResponse,
  contentType: string | undefined, body: string | undefined): void {
  let out: AdminResponse | Promise<AdminResponse>;
  try {
    const target = parseTarget(req.url ?? '/');
    out = target === null
      ? { status: 400, body: 'invalid request target\n' }
      : dispatch({ method: req.method ?? 'GET', path: target.path, query: target.query, contentType, body }, opts);
  } catch (err) {
    // A handler bug answers 500; it never takes the main thread (and every listener) down.
    opts.onHandlerError?.(err, req.url ?? '');
    out = { status: 500, body: 'admin handler failed\n' };
  }
  if (out instanceof Promise) {
    out.then((r) => respond(opts, req, res, r), (err: unknown) => {
      opts.onHandlerError?.(err, req.url ?? '');
      respond(opts, req, res, { status: 500, body: 'admin handler failed\n' });
    });
    return;
  }
  respond(opts, req, res, out);
}

function respond(opts: AdminOptions, req: http.IncomingMessage, res: http.ServerResponse, out: AdminResponse): void {
  try {
    res.writeHead(out.status, {
      'content-type': out.contentType ?? CONTENT_TEXT,
      'cache-control': 'no-cache, max-age=0',
      'x-content-type-options': 'nosniff',
      'content-length': Buffer.byteLength(out.body),
    });
    const after = out.after;
    res.end(out.body, after === undefined ? undefined : () => setImmediate(runAfter, after, opts));
  } catch (err) {
    opts.onHandlerError?.(err, req.url ?? '');
    res.destroy();
  }
}

function runAfter(after: () => void, opts: AdminOptions): void {
  try {
    after();
  } catch (err) {
    opts.onHandlerError?.(err, '');
  }
}

export function startAdmin(opts: AdminOptions): Promise<AdminServer> {
  const server = http.createServer((req, res) => onRequest(opts, req, res));
  server.keepAliveTimeout = 5000;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      const a = server.address() as AddressInfo;
      resolve({
        address: { address: a.address, port: a.port },
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}
