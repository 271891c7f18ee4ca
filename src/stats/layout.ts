// Stat name -> slot, resolved once when config arrives (main thread). Idempotent per name, so a
// config reload or a cluster added again at runtime gets the slots it had before. Workers never see
// names: they get slot numbers inside their config snapshot and write by index.
import { LegateError } from '../common/errors.ts';
import { DEFAULT_MAX_HISTOGRAM_SLOTS, DEFAULT_MAX_VALUE_SLOTS } from './indexes.ts';

/** Kind of a value slot (counters and gauges share one numbering). */
export const StatKind = { Counter: 0, Gauge: 1 } as const;
export type StatKind = (typeof StatKind)[keyof typeof StatKind];

/** Envoy's Gauge::ImportMode: what a hot restart does with the parent's value. */
export type GaugeImportMode = 'accumulate' | 'neverImport';
/** Envoy's Histogram::Unit, the ones Legate uses. */
export type HistogramUnit = 'unspecified' | 'bytes' | 'ms' | 'us' | 'percent';

export interface StatOptions {
  /** Not listed by /stats or /stats/prometheus (per-host stats shown by /clusters). */
  hidden?: boolean;
}
export interface GaugeOptions extends StatOptions {
  mode?: GaugeImportMode;
}
export interface HistogramOptions extends StatOptions {
  unit?: HistogramUnit;
}

export interface StatsLayoutLimits {
  maxValueSlots?: number;
  maxHistogramSlots?: number;
}

/** Plain, structured-cloneable copy of a layout (names and kinds; no buffers). */
export interface StatsLayoutTransfer {
  readonly valueNames: string[];
  /** Per value slot: bit 0 gauge, bit 1 hidden, bit 2 neverImport. */
  readonly valueFlags: number[];
  readonly histogramNames: string[];
  readonly histogramUnits: HistogramUnit[];
  readonly histogramHidden: boolean[];
  readonly maxValueSlots: number;
  readonly maxHistogramSlots: number;
}

/** Called after slots were added: the store grows its blocks before the call returns. */
export type LayoutListener = (valueCount: number, histogramCount: number) => void;

const F_GAUGE = 1;
const F_HIDDEN = 2;
const F_NEVER_IMPORT = 4;

export class StatsLayout {
  readonly maxValueSlots: number;
  readonly maxHistogramSlots: number;
  #valueNames: string[];
  #valueFlags: number[];
  #valueIndex: Map<string, number>;
  #histNames: string[];
  #histUnits: HistogramUnit[];
  #histHidden: boolean[];
  #histIndex: Map<string, number>;
  #listeners: LayoutListener[];

  constructor(limits: StatsLayoutLimits = {}) {
    this.maxValueSlots = limits.maxValueSlots ?? DEFAULT_MAX_VALUE_SLOTS;
    this.maxHistogramSlots = limits.maxHistogramSlots ?? DEFAULT_MAX_HISTOGRAM_SLOTS;
    this.#valueNames = [];
    this.#valueFlags = [];
    this.#valueIndex = new Map();
    this.#histNames = [];
    this.#histUnits = [];
    this.#histHidden = [];
    this.#histIndex = new Map();
    this.#listeners = [];
  }

  /** Slot of a counter; the same name always gives the same slot. */
  counter(name: string, opts?: StatOptions): number {
    return this.#value(name, 0, opts?.hidden === true, false);
  }

  /** Slot of a gauge. A worker's gauge is its share: the admin shows the sum over threads, so a
   *  gauge describing global state (membership_total) must be set by the main thread only. */
  gauge(name: string, modeOrOpts?: GaugeImportMode | GaugeOptions): number {
    const opts: GaugeOptions = typeof modeOrOpts === 'string' ? { mode: modeOrOpts } : modeOrOpts ?? {};
    return this.#value(name, F_GAUGE, opts.hidden === true, opts.mode === 'neverImport');
  }

  /** Slot of a histogram (its own numbering, separate from counters and gauges). */
  histogram(name: string, unitOrOpts?: HistogramUnit | HistogramOptions): number {
    const opts: HistogramOptions = typeof unitOrOpts === 'string' ? { unit: unitOrOpts } : unitOrOpts ?? {};
    const have = this.#histIndex.get(name);
    if (have !== undefined) return have;
    if (this.#valueIndex.has(name)) kindClash(name, 'histogram');
    const slot = this.#histNames.length;
    if (slot >= this.maxHistogramSlots) full('histogram', this.maxHistogramSlots);
    this.#histNames.push(name);
    this.#histUnits.push(opts.unit ?? 'unspecified');
    this.#histHidden.push(opts.hidden === true);
    this.#histIndex.set(name, slot);
    this.#notify();
    return slot;
  }

  /** Resolve a component's const stat lists under a prefix (`cluster.<name>.`), Envoy-style. */
  resolve<C extends string, G extends string, H extends string>(
    prefix: string,
    lists: { counters?: readonly C[]; gauges?: readonly G[]; histograms?: readonly H[]; unit?: HistogramUnit },
    opts?: StatOptions,
  ): Record<C | G | H, number> {
    const out = {} as Record<C | G | H, number>;
    for (const n of lists.counters ?? []) out[n] = this.counter(prefix + n, opts);
    for (const n of lists.gauges ?? []) out[n] = this.gauge(prefix + n, opts);
    for (const n of lists.histograms ?? []) {
      out[n] = this.histogram(prefix + n, { unit: lists.unit ?? 'ms', hidden: opts?.hidden });
    }
    return out;
  }

  get valueCount(): number {
    return this.#valueNames.length;
  }
  get histogramCount(): number {
    return this.#histNames.length;
  }

  /** Value slot of a name, or -1 (admin and tests; never on the data path). */
  find(name: string): number {
    return this.#valueIndex.get(name) ?? -1;
  }
  findHistogram(name: string): number {
    return this.#histIndex.get(name) ?? -1;
  }

  nameOf(slot: number): string {
    return this.#valueNames[slot];
  }
  kindOf(slot: number): StatKind {
    return (this.#valueFlags[slot] & F_GAUGE) !== 0 ? StatKind.Gauge : StatKind.Counter;
  }
  isHidden(slot: number): boolean {
    return (this.#valueFlags[slot] & F_HIDDEN) !== 0;
  }
  importMode(slot: number): GaugeImportMode {
    return (this.#valueFlags[slot] & F_NEVER_IMPORT) !== 0 ? 'neverImport' : 'accumulate';
  }
  histogramName(slot: number): string {
    return this.#histNames[slot];
  }
  histogramUnit(slot: number): HistogramUnit {
    return this.#histUnits[slot];
  }
  isHistogramHidden(slot: number): boolean {
    return this.#histHidden[slot];
  }

  /** The store subscribes here to grow its blocks as slots are added. */
  subscribe(listener: LayoutListener): () => void {
    this.#listeners.push(listener);
    return () => {
      const i = this.#listeners.indexOf(listener);
      if (i >= 0) this.#listeners.splice(i, 1);
    };
  }

  toTransfer(): StatsLayoutTransfer {
    return {
      valueNames: this.#valueNames.slice(),
      valueFlags: this.#valueFlags.slice(),
      histogramNames: this.#histNames.slice(),
      histogramUnits: this.#histUnits.slice(),
      histogramHidden: this.#histHidden.slice(),
      maxValueSlots: this.maxValueSlots,
      maxHistogramSlots: this.maxHistogramSlots,
    };
  }

  static fromTransfer(t: StatsLayoutTransfer): StatsLayout {
    const layout = new StatsLayout({ maxValueSlots: t.maxValueSlots, maxHistogramSlots: t.maxHistogramSlots });
    for (let i = 0; i < t.valueNames.length; i++) {
      const f = t.valueFlags[i];
      layout.#value(t.valueNames[i], f & F_GAUGE, (f & F_HIDDEN) !== 0, (f & F_NEVER_IMPORT) !== 0);
    }
    for (let i = 0; i < t.histogramNames.length; i++) {
      layout.histogram(t.histogramNames[i], { unit: t.histogramUnits[i], hidden: t.histogramHidden[i] });
    }
    return layout;
  }

  #value(name: string, gauge: number, hidden: boolean, neverImport: boolean): number {
    const have = this.#valueIndex.get(name);
    if (have !== undefined) {
      if ((this.#valueFlags[have] & F_GAUGE) !== gauge) kindClash(name, gauge ? 'gauge' : 'counter');
      return have;
    }
    if (this.#histIndex.has(name)) kindClash(name, gauge ? 'gauge' : 'counter');
    const slot = this.#valueNames.length;
    if (slot >= this.maxValueSlots) full('counter/gauge', this.maxValueSlots);
    this.#valueNames.push(name);
    this.#valueFlags.push(gauge | (hidden ? F_HIDDEN : 0) | (neverImport ? F_NEVER_IMPORT : 0));
    this.#valueIndex.set(name, slot);
    this.#notify();
    return slot;
  }

  #notify(): void {
    for (const l of this.#listeners) l(this.#valueNames.length, this.#histNames.length);
  }
}

function kindClash(name: string, wanted: string): never {
  throw new LegateError('LEGATE_ERR_STATS_KIND', `stat "${name}" is already defined with another kind than ${wanted}`);
}

function full(what: string, max: number): never {
  throw new LegateError('LEGATE_ERR_STATS_CAPACITY', `too many ${what} stats: the limit is ${max} slots`);
}
