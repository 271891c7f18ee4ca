// Access logs (envoy.access_loggers.file / stdout / stderr) with Envoy's format strings.
// The format is compiled once into an array of parts; a log line is one join. Lines go through a
// SonicBoom (pino's destination) in async mode, so a slow disk or pipe never blocks a worker.
import pino from 'pino';
import type { RequestHeaders, ResponseHeaders, StreamInfo } from './types.ts';

/** A compiled access logger (envoy.access_loggers.file / stdout / stderr), as the snapshot carries it. */
export interface AccessLogSnap {
  kind: 'file' | 'stdout' | 'stderr';
  /** The file (kind 'file'), else ''. */
  path: string;
  /** A text format; null: json, or Envoy's default format. */
  format: string | null;
  json: Record<string, unknown> | null;
}

export const DEFAULT_FORMAT =
  '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" ' +
  '%RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% ' +
  '%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" ' +
  '"%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%"\n';

export interface LogContext {
  req: RequestHeaders | null;
  resp: ResponseHeaders | null;
  info: StreamInfo;
  durationMs: number;
  /** Wall-clock ms at request begin. */
  startTime: number;
}
type Part = string | ((c: LogContext) => string);

function reqHeader(name: string): (c: LogContext) => string | undefined {
  switch (name) {
    case ':method': return (c) => c.req?.method;
    case ':path': return (c) => c.req?.path;
    case ':authority': return (c) => c.req?.authority;
    case ':scheme': return (c) => c.req?.scheme;
    default: return (c) => c.req?.get(name);
  }
}

function command(cmd: string, arg: string | null, maxLen: number): (c: LogContext) => string {
  const cut = (s: string | undefined): string => {
    if (s === undefined || s === '') return '-';
    return maxLen > 0 && s.length > maxLen ? s.slice(0, maxLen) : s;
  };
  switch (cmd) {
    case 'START_TIME': return (c) => new Date(c.startTime).toISOString();
    case 'PROTOCOL': return (c) => cut(c.req?.protocol);
    case 'RESPONSE_CODE': return (c) => String(c.info.responseCode);
    case 'RESPONSE_FLAGS': return (c) => cut(c.info.responseFlags);
    case 'BYTES_RECEIVED': return (c) => String(c.info.bytesReceived);
    case 'BYTES_SENT': return (c) => String(c.info.bytesSent);
    case 'DURATION': return (c) => String(Math.round(c.durationMs));
    case 'UPSTREAM_HOST': return (c) => cut(c.info.upstreamHost);
    case 'UPSTREAM_CLUSTER': return (c) => cut(c.info.upstreamCluster);
    case 'ROUTE_NAME': return (c) => cut(c.info.routeName);
    case 'UPSTREAM_TRANSPORT_FAILURE_REASON': return (c) => cut(c.info.upstreamTransportFailureReason);
    case 'DOWNSTREAM_TLS_VERSION': return (c) => cut(c.info.downstreamSsl?.tlsVersion());
    case 'DOWNSTREAM_TLS_CIPHER': return (c) => cut(c.info.downstreamSsl?.ciphersuiteString());
    case 'DOWNSTREAM_PEER_FINGERPRINT_256': return (c) => cut(c.info.downstreamSsl?.sha256PeerCertificateDigest());
    case 'DOWNSTREAM_PEER_SUBJECT': return (c) => cut(c.info.downstreamSsl?.subjectPeerCertificate());
    case 'REQUESTED_SERVER_NAME':
      return (c) => cut(c.info.requestedServerName || c.info.downstreamSsl?.requestedServerName());
    case 'DOWNSTREAM_REMOTE_ADDRESS': return (c) => cut(c.info.downstreamRemoteAddress);
    case 'DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT':
      return (c) => cut(c.info.downstreamRemoteAddress.replace(/:\d+$/, ''));
    case 'DOWNSTREAM_DIRECT_REMOTE_ADDRESS': return (c) => cut(c.info.downstreamDirectRemoteAddress);
    case 'DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT':
      return (c) => cut(c.info.downstreamDirectRemoteAddress.replace(/:\d+$/, ''));
    case 'REQ':
    case 'RESP': {
      const [main, alt] = (arg ?? '').toLowerCase().split('?');
      if (cmd === 'REQ') {
        const a = reqHeader(main);
        const b = alt ? reqHeader(alt) : null;
        return (c) => cut(a(c) ?? (b ? b(c) : undefined));
      }
      return (c) => cut(c.resp?.get(main) ?? (alt ? c.resp?.get(alt) : undefined));
    }
    default: return () => '-';
  }
}

/** Compile an Envoy format string; unknown commands render "-" (Envoy rejects them at load). */
export function compileFormat(format: string): Part[] {
  const parts: Part[] = [];
  const re = /%([A-Z0-9_]+)(?:\(([^)]*)\))?(?::(\d+))?%/g;
  let last = 0;
  for (let m = re.exec(format); m !== null; m = re.exec(format)) {
    if (m.index > last) parts.push(format.slice(last, m.index));
    parts.push(command(m[1], m[2] ?? null, m[3] ? Number(m[3]) : 0));
    last = m.index + m[0].length;
  }
  if (last < format.length) parts.push(format.slice(last));
  return parts;
}

interface Destination { write(s: string): boolean; flushSync?(): void; end?(): void }
const destinations = new Map<string, Destination>();
const failed = new Set<string>();

function destination(snap: AccessLogSnap): Destination {
  const key = snap.kind === 'file' ? `file:${snap.path}` : snap.kind;
  let d = destinations.get(key);
  if (d === undefined) {
    const target = snap.kind === 'file' ? snap.path : snap.kind === 'stdout' ? 1 : 2;
    const sb = pino.destination({ dest: target, sync: false, minLength: 0, mkdir: true });
    // An unwritable path must not take the worker down: report it once, drop the lines.
    sb.on('error', (err: Error) => {
      if (!failed.has(key)) {
        failed.add(key);
        process.stderr.write(`legate: access log ${key}: ${err.message}; its lines are dropped\n`);
      }
    });
    d = sb as unknown as Destination;
    destinations.set(key, d);
  }
  return d;
}

export class AccessLogger {
  #parts: Part[] | null;
  #json: [string, Part[]][] | null;
  #dest: Destination;

  constructor(snap: AccessLogSnap) {
    if (snap.json) {
      this.#parts = null;
      this.#json = Object.entries(snap.json).map(([k, v]) => [k, compileFormat(String(v))]);
    } else {
      this.#parts = compileFormat(snap.format ?? DEFAULT_FORMAT);
      this.#json = null;
    }
    this.#dest = destination(snap);
  }

  log(c: LogContext): void {
    if (this.#parts !== null) {
      this.#dest.write(render(this.#parts, c));
    } else {
      const o: Record<string, string> = {};
      for (const [k, parts] of this.#json!) o[k] = render(parts, c);
      this.#dest.write(JSON.stringify(o) + '\n');
    }
  }
}

function render(parts: Part[], c: LogContext): string {
  let s = '';
  for (const p of parts) s += typeof p === 'string' ? p : p(c);
  return s;
}

/** Flush every access log (worker shutdown). */
export function flushAccessLogs(): void {
  for (const d of destinations.values()) {
    try { d.flushSync?.(); } catch { /* not yet open, or closed: nothing to flush */ }
  }
}
