// Token buckets of envoy.filters.http.local_ratelimit, one per filter config (and per descriptor),
// shared by every worker of the process.
//
// Design note. Envoy's local rate limit keeps one bucket per filter config for all its worker
// threads (AtomicTokenBucketImpl: refilled lazily, continuously, at tokens_per_fill / fill_interval,
// up to max_tokens). Legate's workers are threads too, so the bucket lives in the process's shared
// memory (upstream/resource-slots.ts: a slice handed out by main when the config is compiled, kept
// across reloads while the bucket's config is unchanged) and every worker takes tokens from it with
// Atomics: --concurrency 2 admits the configured rate, not twice it.
//
// The state is ONE 64-bit word: the instant (ns, on the process's CLOCK_MONOTONIC timeline) at which
// the bucket would have held zero tokens, `emptyAt` (the GCRA form of a token bucket; Envoy's
// first AtomicTokenBucketImpl kept the same single time). Tokens now = min(max, (now - emptyAt) *
// rate); taking one moves emptyAt forward by 1 / rate, from no earlier than now - max / rate (a full
// bucket). A take is one load and one compareExchange, retried if another worker won the race: the
// refill is a function of the clock, so there is no separate "last refill" to race on (a tokens +
// last-refill pair refilled lazily by whoever comes first would need both words changed together,
// or a lock; a refill timer in main would tie admission to main's event loop, which stalls while it
// compiles a config or answers a large /stats). Under contention every successful exchange is one
// token, so no token is ever handed out twice and none is lost.
//
// A new slice is zero, which means "never taken from": a new bucket starts full, as Envoy's (0 is
// not "long ago": the timeline starts at boot, and a bucket's max / rate may be longer than that).
import process from 'node:process';
import { performance } from 'node:perf_hooks';

/** Int32 slots one bucket takes (a BigInt64), and their alignment. */
export const BUCKET_SLOTS = 2;
export const BUCKET_ALIGN = 2;

/** One token bucket's configuration (type.v3.TokenBucket with Envoy's defaults). */
export interface TokenBucketSnap {
  maxTokens: number;
  tokensPerFill: number;
  fillIntervalMs: number;
  /** Its slice of the process's shared memory (int32 offset), -1: none (a bucket of its own). */
  offset: number;
}

/** What a take tells the x-ratelimit-* headers (Envoy's TokenBucketContext). */
export interface BucketState {
  maxTokens: number;
  /** Whole tokens left after the take. */
  remaining: number;
  /** Seconds until the next token (0 while one is there), rounded up. */
  resetSeconds: number;
}

// ns on the CLOCK_MONOTONIC timeline (process.hrtime) = this thread's performance.now() ms,
// shifted: both come from uv_hrtime, so the shift is the same for the thread's whole life, and
// every thread of the process lands on the same timeline.
const SHIFT_MS = Number(process.hrtime.bigint()) / 1e6 - performance.now();

/** `nowMs` (common/clock.ts monotonicNow) on the shared timeline, in ns. */
export function sharedNs(nowMs: number): number {
  return Math.round((nowMs + SHIFT_MS) * 1e6);
}

export interface TokenBucket {
  readonly maxTokens: number;
  /** tokens_per_fill / fill_interval, per second (orders descriptor buckets, Envoy's fillRate). */
  readonly fillRate: number;
  /** Take one token at `nowNs`; false when there is none. */
  consume(nowNs: number): boolean;
  /** The state after the last consume (read right after it, same instant). */
  state(nowNs: number, out: BucketState): void;
}

abstract class BucketBase {
  readonly maxTokens: number;
  readonly fillRate: number;
  /** ns per token, a whole number (at least 1: a rate above 10^9 tokens a second is 10^9). */
  readonly #per: bigint;
  /** ns a full bucket holds. */
  readonly #cap: bigint;
  constructor(s: TokenBucketSnap) {
    this.maxTokens = s.maxTokens;
    this.fillRate = s.tokensPerFill / (s.fillIntervalMs / 1000);
    // (Exact integers: a bucket's span, max_tokens / rate, may pass 2^53 ns (104 days), where a
    // double no longer holds every nanosecond and adding one token's time would round.)
    this.#per = BigInt(Math.max(1, Math.round(1e9 / this.fillRate)));
    this.#cap = this.#per * BigInt(s.maxTokens);
  }

  /** The emptyAt after taking one token from `emptyAt` at `now`, or null when there is none. */
  protected take(emptyAt: bigint, now: bigint): bigint | null {
    const full = now - this.#cap;
    const next = (emptyAt === 0n || emptyAt < full ? full : emptyAt) + this.#per;
    return next > now ? null : next;
  }

  protected describe(emptyAt: bigint, now: bigint, out: BucketState): void {
    const full = now - this.#cap;
    const from = emptyAt === 0n || emptyAt < full ? full : emptyAt;
    const tokens = Number(now - from) / Number(this.#per);
    out.maxTokens = this.maxTokens;
    out.remaining = Math.floor(tokens);
    out.resetSeconds = tokens >= 1 ? 0 : Math.ceil(Number(from + this.#per - now) / 1e9);
  }
}

/** A bucket in the process's shared memory. */
export class SharedTokenBucket extends BucketBase implements TokenBucket {
  readonly #words: BigInt64Array;
  readonly #i: number;

  /** `memory`: a length-tracking view of the shared buffer; `int32Offset` from sharedSlots. */
  constructor(s: TokenBucketSnap, memory: BigInt64Array, int32Offset: number) {
    super(s);
    this.#words = memory;
    this.#i = int32Offset >> 1;
  }

  consume(now: number): boolean {
    const w = this.#words;
    const i = this.#i;
    const t = BigInt(now);
    for (;;) {
      const old = Atomics.load(w, i);
      const next = this.take(old, t);
      if (next === null) return false;
      if (Atomics.compareExchange(w, i, old, next) === old) return true;
    }
  }

  state(now: number, out: BucketState): void {
    this.describe(Atomics.load(this.#words, this.#i), BigInt(now), out);
  }
}

/** A bucket of one thread (a downstream connection's, or when the process has no shared memory). */
export class LocalTokenBucket extends BucketBase implements TokenBucket {
  #emptyAt: bigint;
  constructor(s: TokenBucketSnap) {
    super(s);
    this.#emptyAt = 0n;
  }

  consume(now: number): boolean {
    const next = this.take(this.#emptyAt, BigInt(now));
    if (next === null) return false;
    this.#emptyAt = next;
    return true;
  }

  state(now: number, out: BucketState): void {
    this.describe(this.#emptyAt, BigInt(now), out);
  }
}

/** The process's shared memory as 64-bit words (length-tracking), or null. */
export function sharedWords(sab: SharedArrayBuffer | null | undefined): BigInt64Array | null {
  return sab === null || sab === undefined ? null : new BigInt64Array(sab);
}
