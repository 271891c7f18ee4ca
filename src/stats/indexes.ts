// Design note: the shared-memory layout of a stats block. This is the ONE file that knows
// SharedArrayBuffer offsets (thread-stream's lib/indexes.js does the same).
//
// A block is what one thread writes: each worker has its own, the main thread has one, and the
// store keeps one more on the side for the totals of retired (crashed) workers. A block is two
// growable SharedArrayBuffers:
//
//   values      Float64Array, one double per counter or gauge slot. Slot numbers come from
//               StatsLayout; counters and gauges share this one numbering, so the hot path is
//               `v[slot] += 1` whatever the kind.
//   histograms  Float64Array, HIST_STRIDE doubles per histogram slot:
//                 [base + HIST_COUNT]   samples recorded
//                 [base + HIST_SUM]     sum of the recorded values
//                 [base + HIST_BINS + i] samples that fell in bin i (i < HIST_NBINS)
//
// Doubles, not 32-bit integers: a worker at 50k rq/s wraps a Uint32 in a day, and a total going
// backwards is worse than the memory. Only the owning thread writes a block, with plain
// (non-atomic) stores; the main thread reads all blocks and sums. Aligned 8-byte loads and stores
// do not tear on the 64-bit platforms Node supports, and a sum that misses the last few
// increments is fine for stats.
//
// Bins are log-linear with two significant digits, the layout of circllhist (the histogram Envoy
// uses), so quantiles come out as Envoy computes them: bin 0 holds zero (and anything below
// HIST_MIN_VALUE, negatives, NaN); every decade [10^e, 10^(e+1)) for e in HIST_MIN_EXP..
// HIST_MAX_EXP has 90 bins [m*10^(e-1), (m+1)*10^(e-1)) for m = 10..99. Integers below 100 are
// therefore exact, 1.05 is told apart from 1.1, and the relative error stays under 10% (1% at the
// top of a decade). Values at or above HIST_MAX_VALUE land in the last bin.
//
// Growth: the buffers are created with a large maxByteLength and grown in place by the main
// thread when the layout outgrows them; SharedArrayBuffer.grow() is visible to every thread. The
// views are fixed-length on purpose: V8 does not optimise length-tracking views over growable
// buffers (20x slower element access when measured on Node 26), so a worker rebuilds its views
// (WorkerStats.refresh()) when a new config arrives. New slots are only used by a config posted
// after the growth, and postMessage orders the two.

/** Bytes per value slot and per histogram double. */
export const SLOT_BYTES = 8;

/** Offsets inside one histogram's region. */
export const HIST_COUNT = 0;
export const HIST_SUM = 1;
export const HIST_BINS = 2;

/** Decades covered by bins: [10^HIST_MIN_EXP, 10^(HIST_MAX_EXP+1)). */
export const HIST_MIN_EXP = -3;
export const HIST_MAX_EXP = 12;
export const HIST_BINS_PER_DECADE = 90;
export const HIST_MIN_VALUE = 1e-3;
export const HIST_MAX_VALUE = 1e13;
export const HIST_NBINS = 1 + (HIST_MAX_EXP - HIST_MIN_EXP + 1) * HIST_BINS_PER_DECADE;
/** Doubles per histogram slot. */
export const HIST_STRIDE = HIST_BINS + HIST_NBINS;

/** Capacity a block starts with, and the most it may grow to (its maxByteLength). */
export const INITIAL_VALUE_SLOTS = 1024;
export const INITIAL_HISTOGRAM_SLOTS = 32;
export const DEFAULT_MAX_VALUE_SLOTS = 1 << 20;
export const DEFAULT_MAX_HISTOGRAM_SLOTS = 1 << 13;

// Exact powers of ten (every 10^k with k <= 22 is exactly representable).
const POW10 = new Float64Array(23);
for (let k = 0, p = 1; k < POW10.length; k++, p *= 10) POW10[k] = p;

/** m = the two leading digits of v (10..99) given its decade e, without a rounding slip at bin
 *  edges (0.29 * 100 is 28.999999999999996 in doubles; circllhist adds the same 1e-13). */
function mantissa(v: number, e: number): number {
  return Math.floor((e >= 1 ? v / POW10[e - 1] : v * POW10[1 - e]) + 1e-13);
}

/** Bin of a value. A few comparisons and arithmetic operations, no allocation: this is on the hot
 *  path. The decade comes from a comparison ladder for 0.001..100000 (sub-millisecond to 100 s
 *  latencies) and from log10 beyond. Bins are numbered contiguously across decades, so when log10
 *  or the digits are off by one at a power of ten (m = 100, or m = 9 under the next decade) the
 *  formula still names the right neighbouring bin, and no fix-up is needed. */
export function binIndex(v: number): number {
  let e: number;
  if (v >= 1) {
    if (v < 10) e = 0;
    else if (v < 100) e = 1;
    else if (v < 1e3) e = 2;
    else if (v < 1e4) e = 3;
    else if (v < 1e5) e = 4;
    else if (v < HIST_MAX_VALUE) e = Math.floor(Math.log10(v));
    else return HIST_NBINS - 1;
  } else if (v >= 0.1) e = -1;
  else if (v >= 0.01) e = -2;
  else if (v >= HIST_MIN_VALUE) e = -3; // the ladder's lowest rung is HIST_MIN_EXP
  else return 0; // zero, negatives, NaN and anything too small to tell from zero
  const i = 1 + (e - HIST_MIN_EXP) * HIST_BINS_PER_DECADE + mantissa(v, e) - 10;
  return i < 1 ? 1 : i > HIST_NBINS - 1 ? HIST_NBINS - 1 : i;
}

/** Lower edge of bin i. */
export function binLower(i: number): number {
  if (i === 0) return 0;
  const k = i - 1;
  const e = HIST_MIN_EXP + Math.floor(k / HIST_BINS_PER_DECADE);
  const m = 10 + (k % HIST_BINS_PER_DECADE);
  return e >= 1 ? m * POW10[e - 1] : m / POW10[1 - e];
}

/** Width of bin i (0 for the zero bin, as in circllhist). */
export function binWidth(i: number): number {
  if (i === 0) return 0;
  const e = HIST_MIN_EXP + Math.floor((i - 1) / HIST_BINS_PER_DECADE);
  return e >= 1 ? POW10[e - 1] : 1 / POW10[1 - e];
}

/** First double of histogram slot h in a block's histogram view. */
export function histBase(h: number): number {
  return h * HIST_STRIDE;
}
