// Histogram statistics from merged bins, computed the way Envoy computes them with circllhist
// (hist_approx_quantile: linear interpolation inside a bin; bucket counts for Prometheus `le`).
// Main thread only; works on a sparse copy (bin indexes and counts in ascending bin order) so an
// interval snapshot costs as many entries as bins that were hit.
import { binLower, binWidth } from './indexes.ts';

/** Envoy's HistogramStatisticsImpl::supportedQuantiles(). */
export const SUPPORTED_QUANTILES: readonly number[] = [0, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 1];
/** Envoy's HistogramSettingsImpl::defaultBuckets(), the Prometheus `le` bounds. */
export const DEFAULT_BUCKETS: readonly number[] = [
  0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000,
  1800000, 3600000,
];

/** Non-empty bins of one histogram, ascending. */
export interface SparseBins {
  readonly index: Int32Array;
  readonly count: Float64Array;
  readonly sum: number;
}

export interface HistogramStatistics {
  readonly sampleCount: number;
  readonly sampleSum: number;
  /** One per SUPPORTED_QUANTILES; NaN when there is no sample. */
  readonly quantiles: readonly number[];
  /** Samples at or below each DEFAULT_BUCKETS bound (cumulative, Prometheus `le`). */
  readonly buckets: readonly number[];
}

export const EMPTY_SPARSE: SparseBins = { index: new Int32Array(0), count: new Float64Array(0), sum: 0 };

/** Sparse copy of dense bins. */
export function toSparse(bins: Float64Array, sum: number): SparseBins {
  let n = 0;
  for (let i = 0; i < bins.length; i++) if (bins[i] > 0) n++;
  const index = new Int32Array(n);
  const count = new Float64Array(n);
  for (let i = 0, j = 0; i < bins.length; i++) {
    if (bins[i] > 0) {
      index[j] = i;
      count[j++] = bins[i];
    }
  }
  return { index, count, sum };
}

/** now - before, bin by bin (both cumulative, so every difference is >= 0). */
export function subtractSparse(now: SparseBins, before: SparseBins): SparseBins {
  const idx: number[] = [];
  const cnt: number[] = [];
  let j = 0;
  for (let i = 0; i < now.index.length; i++) {
    const b = now.index[i];
    while (j < before.index.length && before.index[j] < b) j++;
    const prev = j < before.index.length && before.index[j] === b ? before.count[j] : 0;
    const d = now.count[i] - prev;
    if (d > 0) {
      idx.push(b);
      cnt.push(d);
    }
  }
  return { index: Int32Array.from(idx), count: Float64Array.from(cnt), sum: now.sum - before.sum };
}

/** Quantiles, count, sum and bucket counts of a sparse histogram. */
export function statistics(s: SparseBins, bounds: readonly number[] = DEFAULT_BUCKETS): HistogramStatistics {
  let total = 0;
  for (let i = 0; i < s.count.length; i++) total += s.count[i];
  return {
    sampleCount: total,
    sampleSum: total === 0 ? 0 : s.sum,
    quantiles: quantiles(s, total),
    buckets: bucketCounts(s, bounds),
  };
}

// circllhist's hist_approx_quantile, on our bins.
function quantiles(s: SparseBins, total: number): number[] {
  const out = new Array<number>(SUPPORTED_QUANTILES.length);
  const used = s.index.length;
  if (total === 0 || used === 0) return out.fill(NaN);
  let ib = 0;
  let left = binLower(s.index[0]);
  let width = binWidth(s.index[0]);
  let lower = 0;
  let upper = s.count[0];
  for (let iq = 0; iq < SUPPORTED_QUANTILES.length; iq++) {
    const q = total * SUPPORTED_QUANTILES[iq];
    while (ib < used - 1 && upper < q) {
      ib++;
      left = binLower(s.index[ib]);
      width = binWidth(s.index[ib]);
      lower = upper;
      upper = lower + s.count[ib];
    }
    if (lower === q) out[iq] = left;
    else if (upper === q) out[iq] = left + width;
    else if (width === 0) out[iq] = left;
    else out[iq] = left + ((q - lower) / (upper - lower)) * width;
  }
  return out;
}

// A bin counts toward `le=b` when its lower edge is <= b: a sample of 50 is in le="50", as in
// Envoy's own expected Prometheus output.
function bucketCounts(s: SparseBins, bounds: readonly number[]): number[] {
  const out = new Array<number>(bounds.length);
  let running = 0;
  let i = 0;
  for (let k = 0; k < bounds.length; k++) {
    while (i < s.index.length && binLower(s.index[i]) <= bounds[k]) running += s.count[i++];
    out[k] = running;
  }
  return out;
}

/** Disjoint counts (per bucket, not cumulative), as Envoy's computeDisjointBuckets. */
export function disjoint(cumulative: readonly number[]): number[] {
  const out = new Array<number>(cumulative.length);
  for (let i = 0; i < cumulative.length; i++) out[i] = cumulative[i] - (i === 0 ? 0 : cumulative[i - 1]);
  return out;
}
