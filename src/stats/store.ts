// Main side of the stats: owns the main thread's block, one block per worker slot and an
// accumulator for retired workers; sums them when the admin asks. Envoy's ThreadLocalStore merges
// per-worker histograms on each stats flush; here counters and gauges are summed on demand and the
// "interval" histogram statistics are cut at flush() (Envoy's stats_flush_interval, 5 s).
import {
  HIST_BINS, HIST_COUNT, HIST_NBINS, HIST_STRIDE, HIST_SUM, INITIAL_HISTOGRAM_SLOTS,
  INITIAL_VALUE_SLOTS, SLOT_BYTES,
} from './indexes.ts';
import { StatKind, StatsLayout, type HistogramUnit } from './layout.ts';
import { WorkerStats, type WorkerStatsTransfer } from './worker-stats.ts';

// The worker side lives in worker-stats.ts; re-exported so main and worker import one module.
export { WorkerStats, type WorkerStatsTransfer };
import {
  EMPTY_SPARSE, statistics, subtractSparse, toSparse, type HistogramStatistics, type SparseBins,
} from './histogram.ts';

export interface StatEntry {
  readonly slot: number;
  readonly name: string;
  readonly kind: StatKind;
  readonly value: number;
  /** Envoy's used(): a counter was incremented, a gauge was ever non-zero (seen by a snapshot
   *  or a flush). */
  readonly used: boolean;
}

export interface HistogramSummary {
  readonly slot: number;
  readonly name: string;
  readonly unit: HistogramUnit;
  /** Any sample since start. */
  readonly used: boolean;
  /** Since start (all workers, including retired ones). */
  readonly cumulative: HistogramStatistics;
  /** Between the last two flush() calls; NaN quantiles when nothing was recorded then. */
  readonly interval: HistogramStatistics;
}

interface Block {
  readonly values: SharedArrayBuffer;
  readonly histograms: SharedArrayBuffer;
  readonly view: WorkerStats;
}

const EMPTY_STATS = statistics(EMPTY_SPARSE);

export class StatsStore {
  readonly layout: StatsLayout;
  /** The main thread's own block: `store.main.inc(slot)`, `store.main.set(slot, n)`. */
  readonly main: WorkerStats;
  #valueCap: number;
  #histCap: number;
  #mainBlock: Block;
  #retired: Block;
  #workers: (Block | undefined)[];
  #attached: boolean[];
  #gaugeUsed: Uint8Array;
  #prevFlush: (SparseBins | undefined)[];
  #interval: (HistogramStatistics | undefined)[];
  #scratch: Float64Array;
  #flushHooks: (() => void)[];
  #readHooks: (() => void)[];
  #timer: ReturnType<typeof setInterval> | null;
  #unsubscribe: () => void;
  #sortedValues: number[] | null;
  #sortedHistograms: number[] | null;

  /** `workers`: worker slots to create blocks for up front (attachWorker() creates them anyway). */
  constructor(layout: StatsLayout = new StatsLayout(), workers = 0) {
    this.layout = layout;
    this.#valueCap = Math.max(INITIAL_VALUE_SLOTS, layout.valueCount);
    this.#histCap = Math.max(INITIAL_HISTOGRAM_SLOTS, layout.histogramCount);
    this.#mainBlock = this.#newBlock(-1);
    this.#retired = this.#newBlock(-2);
    this.main = this.#mainBlock.view;
    this.#workers = [];
    this.#attached = [];
    this.#gaugeUsed = new Uint8Array(this.#valueCap);
    this.#prevFlush = [];
    this.#interval = [];
    this.#scratch = new Float64Array(HIST_NBINS);
    this.#flushHooks = [];
    this.#readHooks = [];
    this.#timer = null;
    this.#sortedValues = null;
    this.#sortedHistograms = null;
    this.#unsubscribe = layout.subscribe((values, histograms) => this.#grow(values, histograms));
    for (let i = 0; i < workers; i++) this.#workers[i] = this.#newBlock(i);
  }

  /** The transferable for worker slot `index`; post it in workerData or a message. The same slot
   *  always gets the same block, so a replacement worker continues where the dead one stopped. */
  attachWorker(index: number): WorkerStatsTransfer {
    let b = this.#workers[index];
    if (b === undefined) {
      b = this.#newBlock(index);
      this.#workers[index] = b;
    }
    this.#attached[index] = true;
    return { index, values: b.values, histograms: b.histograms };
  }

  /** A worker died (call after its 'exit' event, never while it runs): its counters and histogram
   *  samples move to the accumulator so totals never go backwards, its gauges are dropped (its
   *  connections died with it), and the block is zeroed for the replacement. */
  retireWorker(index: number): void {
    const b = this.#workers[index];
    if (b === undefined || this.#attached[index] !== true) return;
    this.#attached[index] = false;
    const src = b.view;
    const acc = this.#retired.view;
    src.refresh();
    acc.refresh();
    const n = this.layout.valueCount;
    for (let s = 0; s < n; s++) {
      if (this.layout.kindOf(s) === StatKind.Counter) acc.v[s] += src.v[s];
      src.v[s] = 0;
    }
    const hn = this.layout.histogramCount;
    for (let h = 0; h < hn; h++) {
      const base = h * HIST_STRIDE;
      if (src.h[base + HIST_COUNT] === 0) continue; // untouched: leave its pages alone
      for (let i = 0; i < HIST_STRIDE; i++) {
        acc.h[base + i] += src.h[base + i];
        src.h[base + i] = 0;
      }
    }
  }

  /** Sum of one counter or gauge over all threads (cheap; for the control plane). */
  value(slot: number): number {
    let sum = this.#mainBlock.view.v[slot] + this.#retired.view.v[slot];
    for (const b of this.#workers) if (b !== undefined) sum += b.view.v[slot];
    return sum;
  }

  snapshot(): StatsSnapshot {
    for (const hook of this.#readHooks) hook();
    const values = this.#sumValues();
    return new StatsSnapshot(this, values);
  }

  /** Cut the interval histograms (Envoy's stats flush). Runs the flush hooks first, so gauges such
   *  as server.uptime are current. */
  flush(): void {
    for (const hook of this.#readHooks) hook();
    for (const hook of this.#flushHooks) hook();
    this.#sumValues();
    const hn = this.layout.histogramCount;
    for (let h = 0; h < hn; h++) {
      const now = this.#mergeHistogram(h);
      const before = this.#prevFlush[h] ?? EMPTY_SPARSE;
      this.#interval[h] = statistics(subtractSparse(now, before));
      this.#prevFlush[h] = now;
    }
  }

  /** Called at each flush(), before the histograms are cut. */
  addFlushHook(hook: () => void): void {
    this.#flushHooks.push(hook);
  }

  /** Called before every snapshot() and flush(): for cheap gauges main computes from shared state
   *  (circuit breakers), so they are current whenever they are read. */
  addReadHook(hook: () => void): void {
    this.#readHooks.push(hook);
  }

  /** Flush every `ms` (Envoy's stats_flush_interval defaults to 5 s). The timer is unref'd. */
  startFlushTimer(ms = 5000): void {
    this.stopFlushTimer();
    this.#timer = setInterval(() => this.flush(), ms);
    this.#timer.unref();
  }

  stopFlushTimer(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }

  close(): void {
    this.stopFlushTimer();
    this.#unsubscribe();
  }

  /** @internal for StatsSnapshot */
  histogramSummary(slot: number): HistogramSummary {
    const cumulative = statistics(this.#mergeHistogram(slot));
    return {
      slot,
      name: this.layout.histogramName(slot),
      unit: this.layout.histogramUnit(slot),
      used: cumulative.sampleCount > 0,
      cumulative,
      interval: this.#interval[slot] ?? EMPTY_STATS,
    };
  }

  /** @internal for StatsSnapshot */
  gaugeUsed(slot: number): boolean {
    return this.#gaugeUsed[slot] === 1;
  }

  /** @internal value slots, not hidden, sorted by name (cached until the layout grows) */
  sortedValueSlots(): number[] {
    if (this.#sortedValues === null) {
      const l = this.layout;
      const slots: number[] = [];
      for (let s = 0; s < l.valueCount; s++) if (!l.isHidden(s)) slots.push(s);
      slots.sort((a, b) => compareNames(l.nameOf(a), l.nameOf(b)));
      this.#sortedValues = slots;
    }
    return this.#sortedValues;
  }

  /** @internal histogram slots, not hidden, sorted by name */
  sortedHistogramSlots(): number[] {
    if (this.#sortedHistograms === null) {
      const l = this.layout;
      const slots: number[] = [];
      for (let h = 0; h < l.histogramCount; h++) if (!l.isHistogramHidden(h)) slots.push(h);
      slots.sort((a, b) => compareNames(l.histogramName(a), l.histogramName(b)));
      this.#sortedHistograms = slots;
    }
    return this.#sortedHistograms;
  }

  #sumValues(): Float64Array {
    const n = this.layout.valueCount;
    const out = new Float64Array(n);
    const add = (v: Float64Array): void => {
      for (let i = 0; i < n; i++) out[i] += v[i];
    };
    add(this.#mainBlock.view.v);
    add(this.#retired.view.v);
    for (const b of this.#workers) if (b !== undefined) add(b.view.v);
    for (let i = 0; i < n; i++) {
      if (out[i] !== 0 && this.layout.kindOf(i) === StatKind.Gauge) this.#gaugeUsed[i] = 1;
    }
    return out;
  }

  #mergeHistogram(h: number): SparseBins {
    const bins = this.#scratch;
    bins.fill(0);
    const base = h * HIST_STRIDE;
    let sum = 0;
    const add = (src: Float64Array): void => {
      if (src[base + HIST_COUNT] === 0) return;
      sum += src[base + HIST_SUM];
      const from = base + HIST_BINS;
      for (let i = 0; i < HIST_NBINS; i++) bins[i] += src[from + i];
    };
    add(this.#mainBlock.view.h);
    add(this.#retired.view.h);
    for (const b of this.#workers) if (b !== undefined) add(b.view.h);
    return toSparse(bins, sum);
  }

  #newBlock(index: number): Block {
    const l = this.layout;
    const values = new SharedArrayBuffer(this.#valueCap * SLOT_BYTES, {
      maxByteLength: l.maxValueSlots * SLOT_BYTES,
    });
    const histograms = new SharedArrayBuffer(this.#histCap * HIST_STRIDE * SLOT_BYTES, {
      maxByteLength: l.maxHistogramSlots * HIST_STRIDE * SLOT_BYTES,
    });
    return { values, histograms, view: new WorkerStats({ index, values, histograms }) };
  }

  #blocks(): Block[] {
    const out = [this.#mainBlock, this.#retired];
    for (const b of this.#workers) if (b !== undefined) out.push(b);
    return out;
  }

  // Runs synchronously inside layout.counter()/gauge()/histogram(), so a slot is always backed by
  // memory in every block before anyone can hand it to a worker.
  #grow(valueCount: number, histogramCount: number): void {
    this.#sortedValues = null;
    this.#sortedHistograms = null;
    if (valueCount > this.#valueCap) {
      const cap = Math.min(Math.max(this.#valueCap * 2, valueCount), this.layout.maxValueSlots);
      for (const b of this.#blocks()) b.values.grow(cap * SLOT_BYTES);
      const used = new Uint8Array(cap);
      used.set(this.#gaugeUsed);
      this.#gaugeUsed = used;
      this.#valueCap = cap;
    }
    if (histogramCount > this.#histCap) {
      const cap = Math.min(Math.max(this.#histCap * 2, histogramCount), this.layout.maxHistogramSlots);
      for (const b of this.#blocks()) b.histograms.grow(cap * HIST_STRIDE * SLOT_BYTES);
      this.#histCap = cap;
    }
    for (const b of this.#blocks()) b.view.refresh();
  }
}

/** Summed counters and gauges at one instant; histograms are merged when first asked for. */
export class StatsSnapshot {
  readonly layout: StatsLayout;
  /** By value slot. */
  readonly values: Float64Array;
  readonly #store: StatsStore;
  #histograms: HistogramSummary[] | null;

  constructor(store: StatsStore, values: Float64Array) {
    this.layout = store.layout;
    this.values = values;
    this.#store = store;
    this.#histograms = null;
  }

  value(slot: number): number {
    return slot < this.values.length ? this.values[slot] : 0;
  }

  used(slot: number): boolean {
    const v = this.value(slot);
    return this.layout.kindOf(slot) === StatKind.Counter ? v > 0 : v !== 0 || this.#store.gaugeUsed(slot);
  }

  /** Counters and gauges that are not hidden, sorted by name (Envoy's /stats order). */
  entries(): StatEntry[] {
    const out: StatEntry[] = [];
    for (const slot of this.#store.sortedValueSlots()) {
      if (slot >= this.values.length) continue;
      out.push({
        slot,
        name: this.layout.nameOf(slot),
        kind: this.layout.kindOf(slot),
        value: this.values[slot],
        used: this.used(slot),
      });
    }
    return out;
  }

  histogram(slot: number): HistogramSummary {
    return this.#store.histogramSummary(slot);
  }

  /** Histograms that are not hidden, sorted by name. */
  histograms(): HistogramSummary[] {
    if (this.#histograms === null) {
      this.#histograms = this.#store.sortedHistogramSlots().map((h) => this.#store.histogramSummary(h));
    }
    return this.#histograms;
  }
}

/** Code-unit order: Envoy's std::string-keyed maps sort bytes, the same for ASCII stat names. */
function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
