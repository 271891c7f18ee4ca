import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { HIST_NBINS, binIndex, binLower, binWidth } from '../../src/stats/indexes.ts';
import { DEFAULT_BUCKETS, statistics, toSparse, type HistogramStatistics } from '../../src/stats/histogram.ts';

function stats(values: number[]): HistogramStatistics {
  const bins = new Float64Array(HIST_NBINS);
  let sum = 0;
  for (const v of values) {
    bins[binIndex(v)]++;
    sum += v;
  }
  return statistics(toSparse(bins, sum));
}

// The exact quantile of sorted data (nearest rank).
function exact(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

const Q = [0, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 1];

describe('histogram bins', () => {
  test('two significant digits: integers below 100 are exact, bins are contiguous', () => {
    for (let v = 1; v < 100; v++) assert.equal(binLower(binIndex(v)), v, `integer ${v}`);
    assert.equal(binIndex(0), 0);
    assert.equal(binIndex(-5), 0);
    assert.equal(binIndex(NaN), 0);
    assert.equal(binLower(binIndex(1.05)), 1);
    assert.equal(binLower(binIndex(1.1)), 1.1);
    assert.equal(binLower(binIndex(0.29)), 0.29, '0.29*100 rounding slip handled');
    assert.equal(binLower(binIndex(1000)), 1000, 'a power of ten starts its decade');
    assert.equal(binLower(binIndex(999.99)), 990);
    assert.equal(binLower(binIndex(123456)), 120000);
    assert.equal(binIndex(1e20), HIST_NBINS - 1);
    for (let i = 1; i < HIST_NBINS - 1; i++) {
      const upper = binLower(i) + binWidth(i);
      assert.ok(Math.abs(upper - binLower(i + 1)) <= 1e-9 * upper, `bin ${i} meets bin ${i + 1}`);
      assert.equal(binIndex(binLower(i)), i, `lower edge of ${i} is in ${i}`);
    }
  });
});

describe('histogram statistics (circllhist algorithm)', () => {
  test('one sample of 1 gives Envoy\'s documented quantiles', () => {
    const s = stats([1]);
    assert.deepEqual(s.quantiles, [1, 1.025, 1.05, 1.075, 1.09, 1.095, 1.099, 1.0995, 1.0999, 1.1]);
    assert.equal(s.sampleCount, 1);
    assert.equal(s.sampleSum, 1);
  });

  test('empty: NaN quantiles, zero counts', () => {
    const s = stats([]);
    assert.ok(s.quantiles.every(Number.isNaN));
    assert.equal(s.sampleCount, 0);
    assert.ok(s.buckets.every((b) => b === 0));
  });

  test('zero values are quantile 0', () => {
    assert.deepEqual(stats([0, 0, 0]).quantiles, Q.map(() => 0));
  });

  test('Prometheus buckets as Envoy\'s expected output (le includes the bin starting at the bound)', () => {
    const s = stats([50, 20, 30, 70, 100, 5000, 200]);
    assert.deepEqual(s.buckets, [0, 0, 0, 0, 1, 3, 5, 6, 6, 6, 6, 7, 7, 7, 7, 7, 7, 7, 7]);
    assert.equal(s.buckets.length, DEFAULT_BUCKETS.length);
  });

  test('uniform 1..10000 (integers): every quantile within its bin\'s error', () => {
    const values = Array.from({ length: 10000 }, (_, i) => i + 1);
    const s = stats(values);
    Q.forEach((q, i) => {
      const want = exact(values, q);
      const got = s.quantiles[i];
      assert.ok(Math.abs(got - want) <= binWidth(binIndex(want)) + 1, `P${q * 100}: ${got} vs ${want}`);
    });
    assert.equal(s.sampleSum, 50005000);
  });

  test('log-normal latencies (deterministic): within 10% of the exact quantile', () => {
    let seed = 42;
    const rnd = (): number => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    const values: number[] = [];
    for (let i = 0; i < 50000; i++) {
      const u1 = rnd() || 1e-9;
      const u2 = rnd();
      const z = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
      values.push(Math.exp(3 + 1.2 * z)); // median ~20 ms, long tail
    }
    const sorted = values.slice().sort((a, b) => a - b);
    const s = stats(values);
    Q.forEach((q, i) => {
      const want = exact(sorted, q);
      const got = s.quantiles[i];
      assert.ok(Math.abs(got - want) <= 0.1 * want, `P${q * 100}: ${got} vs ${want}`);
    });
  });
});
