// Envoy's retry policy (RetryPolicy on a route or virtual host, and the x-envoy-retry-on /
// x-envoy-max-retries request headers): which failures a request is retried on, how many times,
// after what backoff. Compiled in main (RetryPolicySnap); the router asks wouldRetryFromHeaders /
// wouldRetryFromReset per attempt (Envoy's RetryStateImpl).
import { headerMatcherOf } from '../router/matchers.ts';
import type { HeaderMatchSnap } from '../router/config.ts';

/** retry_on conditions (bits). */
export const RetryOn = {
  '5xx': 1 << 0,
  'gateway-error': 1 << 1,
  'connect-failure': 1 << 2,
  'retriable-4xx': 1 << 3,
  'refused-stream': 1 << 4,
  'retriable-status-codes': 1 << 5,
  reset: 1 << 6,
  'retriable-headers': 1 << 7,
} as const;

export interface RetryPolicySnap {
  retryOn: number;
  /** num_retries (Envoy's default 1). */
  numRetries: number;
  /** 0: none (the route timeout alone). */
  perTryTimeoutMs: number;
  /** per_try_idle_timeout: an attempt that hears nothing from its upstream for this long is given
   *  up (0: none). */
  perTryIdleTimeoutMs: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  retriableStatusCodes: number[];
  /** Response headers that make a response retriable (retriable-headers). */
  retriableHeaders: HeaderMatchSnap[];
  /** retry_host_predicate envoy.retry_host_predicates.previous_hosts: a retry avoids the hosts
   *  tried before, re-picking up to hostSelectionMaxAttempts times. */
  previousHosts: boolean;
  hostSelectionMaxAttempts: number;
  /** retry_priority (envoy.retry_priorities.previous_priorities) as its extension compiled it (a
   *  CompiledExtension: its name and config); null: none. */
  retryPriority: { name: string; config: unknown } | null;
}

export const DEFAULT_BACKOFF_BASE_MS = 25;

/** The bits of a comma-separated retry_on list; unknown tokens go to `unknown` (a header's are
 *  ignored, as Envoy does; a config's are refused). */
export function parseRetryOn(list: string, unknown: string[] | null = null): number {
  let bits = 0;
  for (const raw of list.split(',')) {
    const t = raw.trim();
    if (t === '') continue;
    const b = (RetryOn as Record<string, number>)[t];
    if (b !== undefined) bits |= b;
    else unknown?.push(t);
  }
  return bits;
}

/** Why an attempt failed without a response (the reset reasons a retry policy looks at). */
export const AttemptFailure = {
  ConnectFailure: 0,
  /** The upstream reset or closed the stream before a response (or a per-try timeout). */
  Reset: 1,
  /** The circuit breaker (never retried). */
  Overflow: 2,
} as const;
export type AttemptFailure = (typeof AttemptFailure)[keyof typeof AttemptFailure];

/** Envoy's wouldRetryFromReset. */
export function wouldRetryFromReset(retryOn: number, why: AttemptFailure): boolean {
  if (why === AttemptFailure.Overflow) return false;
  if ((retryOn & (RetryOn['5xx'] | RetryOn['gateway-error'] | RetryOn.reset)) !== 0) return true;
  return why === AttemptFailure.ConnectFailure && (retryOn & RetryOn['connect-failure']) !== 0;
}

/** Envoy's wouldRetryFromHeaders: a response status (and headers, for retriable-headers) the
 *  policy retries. `header(name)`: the response's value of a header, or undefined. */
export function wouldRetryFromHeaders(p: { retryOn: number; retriableStatusCodes: readonly number[];
  retriableHeaders: readonly HeaderMatchSnap[] }, status: number, header: (name: string) => string | undefined): boolean {
  const on = p.retryOn;
  // An upstream that says it is overloaded is not retried (Envoy's x-envoy-overloaded).
  if (header('x-envoy-overloaded') !== undefined) return false;
  if ((on & RetryOn['5xx']) !== 0 && status >= 500 && status < 600) return true;
  if ((on & RetryOn['gateway-error']) !== 0 && (status === 502 || status === 503 || status === 504)) return true;
  if ((on & RetryOn['retriable-4xx']) !== 0 && status === 409) return true;
  if ((on & RetryOn['retriable-status-codes']) !== 0 && p.retriableStatusCodes.includes(status)) return true;
  if ((on & RetryOn['retriable-headers']) !== 0) {
    for (const m of p.retriableHeaders) {
      // (The same matcher as a route's headers; compiled on first use, kept with the snapshot.)
      if (headerMatcherOf(m).matchesValue(header(m.name))) return true;
    }
  }
  return false;
}
