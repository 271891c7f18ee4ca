// The data plane's stats: plain writes into this thread's own block (see indexes.ts). Built from
// what StatsStore.attachWorker() posts; the main thread uses the same class for its own block.
import type { StatSink } from '../common/stat-sink.ts';
import { HIST_BINS, HIST_COUNT, HIST_STRIDE, HIST_SUM, SLOT_BYTES, binIndex } from './indexes.ts';

/** What the main thread posts to a worker (SharedArrayBuffers are shared, not copied). */
export interface WorkerStatsTransfer {
  readonly index: number;
  readonly values: SharedArrayBuffer;
  readonly histograms: SharedArrayBuffer;
}

export class WorkerStats implements StatSink {
  /** Counters and gauges by slot. Hot path: `stats.v[slot] += 1`. Read it through `stats.v`
   *  (do not keep the array): refresh() replaces it after the block grew. */
  v: Float64Array;
  /** Histogram doubles (layout in indexes.ts); use record(). */
  h: Float64Array;
  readonly index: number;
  readonly #values: SharedArrayBuffer;
  readonly #histograms: SharedArrayBuffer;

  constructor(t: WorkerStatsTransfer) {
    this.index = t.index;
    this.#values = t.values;
    this.#histograms = t.histograms;
    this.v = new Float64Array(t.values, 0, t.values.byteLength / SLOT_BYTES);
    this.h = new Float64Array(t.histograms, 0, t.histograms.byteLength / SLOT_BYTES);
  }

  /** Re-view the block after the main thread grew it. Call when a new config arrives (cheap when
   *  nothing grew). Returns whether the views changed. */
  refresh(): boolean {
    let changed = false;
    const vn = this.#values.byteLength / SLOT_BYTES;
    if (vn !== this.v.length) {
      this.v = new Float64Array(this.#values, 0, vn);
      changed = true;
    }
    const hn = this.#histograms.byteLength / SLOT_BYTES;
    if (hn !== this.h.length) {
      this.h = new Float64Array(this.#histograms, 0, hn);
      changed = true;
    }
    return changed;
  }

  inc(slot: number): void {
    this.v[slot] += 1;
  }
  dec(slot: number): void {
    this.v[slot] -= 1;
  }
  add(slot: number, n: number): void {
    this.v[slot] += n;
  }
  sub(slot: number, n: number): void {
    this.v[slot] -= n;
  }
  /** Gauges only. Remember the admin sums threads: set this thread's share. */
  set(slot: number, n: number): void {
    this.v[slot] = n;
  }

  /** Record one histogram sample (Envoy records durations in whole ms; fractions are kept). */
  record(slot: number, value: number): void {
    const h = this.h;
    const base = slot * HIST_STRIDE;
    h[base + HIST_COUNT] += 1;
    if (value === value) h[base + HIST_SUM] += value;
    h[base + HIST_BINS + binIndex(value)] += 1;
  }
}
