// Envoy's BackOffStrategy (source/common/common/backoff_strategy.cc): how long to wait before the
// next attempt after a failure, and back to the start after a success. Used by DNS refresh on
// failure (Cluster.dns_failure_refresh_rate); retries will use the jittered one too.

export interface BackOffStrategy {
  /** Milliseconds to wait before the next attempt. */
  nextBackOffMs(): number;
  /** A success: the next failure starts from the beginning again. */
  reset(): void;
}

/** Full jitter: uniform in [0, interval), the interval doubling from `baseMs` after each call up to
 *  `maxMs` (Envoy's JitteredExponentialBackOffStrategy). */
export class JitteredExponentialBackOff implements BackOffStrategy {
  readonly baseMs: number;
  readonly maxMs: number;
  #next: number;
  readonly #random: () => number;

  constructor(baseMs: number, maxMs: number, random: () => number = Math.random) {
    this.baseMs = baseMs;
    this.maxMs = maxMs;
    this.#next = baseMs;
    this.#random = random;
  }

  nextBackOffMs(): number {
    const backoff = this.#next;
    this.#next = this.#next < this.maxMs / 2 ? this.#next * 2 : this.maxMs;
    return Math.floor(this.#random() * backoff);
  }

  reset(): void {
    this.#next = this.baseMs;
  }
}

/** Always the same interval (Envoy's FixedBackOffStrategy). */
export class FixedBackOff implements BackOffStrategy {
  readonly ms: number;
  constructor(ms: number) {
    this.ms = ms;
  }
  nextBackOffMs(): number {
    return this.ms;
  }
  reset(): void {}
}
