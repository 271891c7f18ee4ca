// Access logs (envoy.access_loggers.file / stdout / stderr) with Envoy's format strings, compiled
// once by the substitution formatter (formatter/substitution-formatter.ts; checked when the config
// is loaded, by access-loggers/log-format.ts). Lines go through a SonicBoom (pino's destination)
// in async mode, so a slow disk or pipe never blocks a worker.
import pino from 'pino';
import {
  JsonFormatter, SubstitutionFormatter, parseFormat, parseJsonFormat, type FormatContext,
} from '../formatter/substitution-formatter.ts';

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

/** What a log line is formatted from (the formatter's context). */
export type LogContext = FormatContext;

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

/** The snapshot's formats were checked in main: a worker parsing them again cannot fail. */
function cannotFail(path: string, message: string): never {
  throw new Error(`access log format ${path}: ${message}`);
}

export class AccessLogger {
  readonly #formatter: SubstitutionFormatter | JsonFormatter;
  readonly #dest: Destination;

  constructor(snap: AccessLogSnap) {
    this.#formatter = snap.json
      ? new JsonFormatter(parseJsonFormat(snap.json, 'json_format', cannotFail), false)
      : new SubstitutionFormatter(parseFormat(snap.format ?? DEFAULT_FORMAT, 'format', cannotFail), false);
    this.#dest = destination(snap);
  }

  log(c: LogContext): void {
    this.#dest.write(this.#formatter.format(c));
  }
}

/** Flush every access log (worker shutdown). */
export function flushAccessLogs(): void {
  for (const d of destinations.values()) {
    try { d.flushSync?.(); } catch { /* not yet open, or closed: nothing to flush */ }
  }
}
