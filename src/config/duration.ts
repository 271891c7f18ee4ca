// google.protobuf.Duration in its proto3 JSON form ("0.25s", "-1.5s", "15s") and as Legate's
// normalized `{ seconds, nanos }`.
import type { Duration } from './types.ts';

export type { Duration };

// Proto3 JSON: an optional sign, whole seconds, up to 9 fractional digits, then "s".
const DURATION_RE = /^(-)?(\d+)(?:\.(\d{1,9}))?s$/;
// google/protobuf/duration.proto: +-10,000 years.
const MAX_SECONDS = 315_576_000_000;

/** Parses "1.5s" into `{ seconds: 1, nanos: 500000000 }`; null when malformed or out of range. */
export function parseDuration(text: string): Duration | null {
  const m = DURATION_RE.exec(text);
  if (m === null) return null;
  const seconds = Number(m[2]);
  if (seconds > MAX_SECONDS) return null;
  const nanos = m[3] === undefined ? 0 : Number(m[3].padEnd(9, '0'));
  // Both parts carry the sign, as in the proto.
  if (m[1] === '-') return { seconds: seconds === 0 ? 0 : -seconds, nanos: nanos === 0 ? 0 : -nanos };
  return { seconds, nanos };
}

/** The proto3 JSON form: "1.500s", "15s", "0.000000001s". */
export function formatDuration(d: Duration): string {
  const neg = d.seconds < 0 || d.nanos < 0;
  const s = Math.abs(d.seconds);
  const n = Math.abs(d.nanos);
  let frac = '';
  if (n !== 0) {
    frac = String(n).padStart(9, '0');
    // Like protobuf: 3, 6 or 9 digits.
    if (frac.endsWith('000000')) frac = frac.slice(0, 3);
    else if (frac.endsWith('000')) frac = frac.slice(0, 6);
    frac = '.' + frac;
  }
  return `${neg ? '-' : ''}${s}${frac}s`;
}

/** Total nanoseconds as a bigint, for exact comparisons (PGV duration rules). */
export function durationNanos(d: Duration): bigint {
  return BigInt(d.seconds) * 1_000_000_000n + BigInt(d.nanos);
}

/**
 * Milliseconds in a duration, or `dflt` when it is unset. Truncates toward zero like Envoy's
 * PROTOBUF_GET_MS_OR_DEFAULT (DurationUtil::durationToMilliseconds), so "0.0005s" is 0.
 */
export function durationMs(d: Duration | undefined, dflt: number): number {
  if (d === undefined || d === null) return dflt;
  return Math.trunc(d.seconds * 1000 + d.nanos / 1e6);
}
