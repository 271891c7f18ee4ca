// envoy.health_checkers.http (HealthCheck.http_health_check), Envoy's HttpHealthCheckerImpl: a GET
// (`method`) of `path` with Host (HTTP/2: :authority) the endpoint's health_check_config.hostname,
// else `host`, else the cluster's name, and user-agent Envoy/HC, plus request_headers_to_add /
// _to_remove; healthy when the status is in `expected_statuses` (200 by default; ranges
// [start, end)), degraded when the answer carries x-envoy-degraded. A status in
// `retriable_statuses` counts toward unhealthy_threshold like a network failure; any other is an
// active failure (ejects at once). HTTP/1.1, or with codec_client_type HTTP2 prior-knowledge h2c
// (../common/h2.ts, the gRPC checker's). With reuse_connection (the default) a host's connection
// stays open between checks.
import http from 'node:http';
import type { OutgoingHttpHeaders } from 'node:http2';
import type { CheckOutcome, CheckTarget, HealthCheck } from '../../../upstream/health-check.ts';
import { ExtensionCategory, type CompileContext, type HealthCheckerModule } from '../../types.ts';
import { H2Checks, type H2Response } from '../common/h2.ts';

export const NAME = 'envoy.health_checkers.http';
const MSG = 'envoy.config.core.v3.HealthCheck.HttpHealthCheck';

export interface HttpCheckSnap {
  host: string;
  path: string;
  method: string;
  headers: [string, string][];
  remove: string[];
  /** [start, end) ranges. */
  expected: [number, number][];
  retriable: [number, number][];
  /** codec_client_type HTTP2. */
  http2: boolean;
}

/** Connection-specific headers, which HTTP/2 forbids (RFC 9113 section 8.2.2). */
const H2_FORBIDDEN = ['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade'];

type Obj = Record<string, any>;

function ranges(list: Obj[] | undefined, path: string, ctx: CompileContext): [number, number][] {
  return (list ?? []).map((r, i) => {
    const start = Number(r.start ?? 0);
    const end = Number(r.end ?? 0);
    if (start < 100 || end > 600 || start >= end) {
      ctx.fail(`${path}[${i}]`, `a status range must lie within [100, 600) with start < end, got [${start}, ${end})`);
    }
    return [start, end];
  });
}

function inRanges(status: number, list: readonly [number, number][]): boolean {
  for (const [a, b] of list) if (status >= a && status < b) return true;
  return false;
}

class HttpCheck implements HealthCheck {
  readonly type = 'HTTP';
  readonly #c: HttpCheckSnap;
  readonly #host: string;
  readonly #reuse: boolean;
  /** HTTP/1.1: a keep-alive agent per target (reuse_connection). */
  readonly #agents: Map<string, http.Agent>;
  /** HTTP/2 (null: HTTP/1.1). */
  readonly #h2: H2Checks | null;
  readonly #judge: (r: H2Response) => CheckOutcome;

  constructor(c: HttpCheckSnap, cluster: string, reuse: boolean) {
    this.#c = c;
    this.#host = c.host === '' ? cluster : c.host;
    this.#reuse = reuse;
    this.#agents = new Map();
    this.#h2 = c.http2 ? new H2Checks(reuse) : null;
    this.#judge = (r) => this.#outcome(r.status, r.headers['x-envoy-degraded'] !== undefined);
  }

  /** The request's headers: Host first (Envoy: the endpoint's health_check_config.hostname, else
   *  `host`, else the cluster's name), then the added ones, less the removed ones. */
  #headers(t: CheckTarget): Record<string, string | string[]> {
    const c = this.#c;
    const headers: Record<string, string | string[]> = { host: t.hostname === '' ? this.#host : t.hostname, 'user-agent': 'Envoy/HC' };
    for (const [k, v] of c.headers) {
      const had = headers[k];
      headers[k] = had === undefined ? v : [...(Array.isArray(had) ? had : [had]), v];
    }
    for (const k of c.remove) delete headers[k];
    return headers;
  }

  #outcome(status: number, degraded: boolean): CheckOutcome {
    const c = this.#c;
    if (inRanges(status, c.expected)) return { ok: true, degraded };
    return { ok: false, network: false, retriable: inRanges(status, c.retriable), reason: `status ${status}` };
  }

  check(t: CheckTarget, timeoutMs: number): Promise<CheckOutcome> {
    const headers = this.#headers(t);
    if (this.#h2 !== null) {
      const h2: OutgoingHttpHeaders = { ':method': this.#c.method, ':path': this.#c.path };
      for (const k in headers) {
        if (k === 'host') h2[':authority'] = headers[k];
        else h2[k] = headers[k];
      }
      return this.#h2.exchange(t, timeoutMs, h2, null, false, this.#judge);
    }
    return this.#checkHttp1(t, timeoutMs, headers);
  }

  #checkHttp1(t: CheckTarget, timeoutMs: number, headers: Record<string, string | string[]>): Promise<CheckOutcome> {
    const c = this.#c;
    const key = `${t.address}:${t.port}`;
    let agent: http.Agent | false = false;
    if (this.#reuse) {
      agent = this.#agents.get(key) ?? new http.Agent({ keepAlive: true, maxSockets: 1 });
      this.#agents.set(key, agent);
    } else {
      headers.connection = 'close';
    }
    return new Promise<CheckOutcome>((resolve) => {
      let settled = false;
      const done = (o: CheckOutcome): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(o);
      };
      const req = http.request({ host: t.address, port: t.port, method: c.method, path: c.path, headers, agent }, (res) => {
        res.resume();
        res.on('error', () => done({ ok: false, network: true, retriable: false, reason: 'reset' }));
        res.on('end', () => done(this.#outcome(res.statusCode ?? 0, res.headers['x-envoy-degraded'] !== undefined)));
      });
      const timer = setTimeout(() => {
        done({ ok: false, network: true, retriable: false, reason: 'timeout' });
        // (Envoy closes the connection of a check that timed out.)
        req.destroy();
      }, timeoutMs);
      req.on('error', (err) => done({ ok: false, network: true, retriable: false, reason: err.message }));
      req.end();
    });
  }

  release(t: CheckTarget): void {
    const key = `${t.address}:${t.port}`;
    this.#agents.get(key)?.destroy();
    this.#agents.delete(key);
    this.#h2?.release(t);
  }

  stop(): void {
    for (const a of this.#agents.values()) a.destroy();
    this.#agents.clear();
    this.#h2?.stop();
  }
}

const httpChecker: HealthCheckerModule<HttpCheckSnap> = {
  name: NAME,
  category: ExtensionCategory.HealthChecker,
  field: 'http_health_check',
  types: [],
  fields: {
    'envoy.config.core.v3.HealthCheck': ['http_health_check'],
    [MSG]: ['host', 'path', 'request_headers_to_add', 'request_headers_to_remove', 'expected_statuses',
      'retriable_statuses', ['method', { enumValues: ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'TRACE', 'PATCH'] }],
      ['codec_client_type', { enumValues: ['HTTP1', 'HTTP2'] }]],
    'envoy.type.v3.Int64Range': ['start', 'end'],
    'envoy.config.core.v3.HeaderValueOption': ['header'],
    'envoy.config.core.v3.HeaderValue': ['key', 'value'],
  },
  protos: [],
  compile(c: Obj, ctx: CompileContext): HttpCheckSnap {
    const http2 = c.codec_client_type === 'HTTP2';
    const headers: [string, string][] = [];
    ((c.request_headers_to_add ?? []) as Obj[]).forEach((o, i) => {
      const at = `${ctx.path}.request_headers_to_add[${i}]`;
      // (HeaderValueOption's other fields are for proxied requests: a check adds its headers.)
      for (const f of ['append_action', 'keep_empty_value', 'append']) {
        if (o[f] !== undefined) ctx.fail(`${at}.${f}`, 'is not supported on a health check request');
      }
      const h = o.header ?? {};
      const k = String(h.key ?? '').toLowerCase();
      if (k.startsWith(':') || k === 'host') {
        ctx.fail(`${at}.header.key`, `"${k}" cannot be set on a health check (use host)`);
      }
      if (http2 && H2_FORBIDDEN.includes(k)) {
        ctx.fail(`${at}.header.key`, `"${k}" is a connection-specific header, which HTTP/2 does not carry`);
      }
      headers.push([k, String(h.value ?? '')]);
    });
    const expected = ranges(c.expected_statuses, `${ctx.path}.expected_statuses`, ctx);
    return {
      host: c.host ?? '',
      path: c.path,
      method: c.method === undefined || c.method === 'METHOD_UNSPECIFIED' ? 'GET' : c.method,
      headers,
      remove: ((c.request_headers_to_remove ?? []) as string[]).map((h) => h.toLowerCase()),
      expected: expected.length > 0 ? expected : [[200, 201]],
      retriable: ranges(c.retriable_statuses, `${ctx.path}.retriable_statuses`, ctx),
      http2,
    };
  },
  createCheck: (c, o) => new HttpCheck(c, o.cluster, o.reuseConnection),
};
export default httpChecker;
