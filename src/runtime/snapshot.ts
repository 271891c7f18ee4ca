// The runtime Snapshot a thread reads (types.ts has the API and its semantics), and the loader
// that holds the current one. Built from the merged values the main thread parsed; a snapshot
// never changes, a new one replaces it whole (ThreadLoader.update, once per runtime change), so
// a request that read one keeps a consistent view. Imports nothing but types: worker code may
// depend on it.
import type { DenominatorType, FractionalPercent, Loader, RuntimeEntry, RuntimeValues, Snapshot } from './types.ts';

const DENOMINATORS: Readonly<Record<DenominatorType, number>> = { HUNDRED: 100, TEN_THOUSAND: 10_000, MILLION: 1_000_000 };

/** A random value for a caller that gives none (Envoy draws a uint64; 32 bits keep `% 1e6`
 *  within 0.03% of uniform). */
function randomValue(): number {
  return Math.floor(Math.random() * 0x1_0000_0000);
}

/** `random % n` for a number or a 64-bit bigint hash. */
function mod(random: number | bigint, n: number): number {
  return typeof random === 'bigint' ? Number(random % BigInt(n)) : random % n;
}

/** ProtobufPercentHelper::evaluateFractionalPercent: `random % denominator < numerator`. */
export function evaluateFractionalPercent(p: FractionalPercent, random: number | bigint): boolean {
  return mod(random, DENOMINATORS[p.denominator]) < p.numerator;
}

export class RuntimeSnapshot implements Snapshot {
  readonly #values: RuntimeValues;

  constructor(values: RuntimeValues) {
    this.#values = values;
  }

  #entry(key: string): RuntimeEntry | undefined {
    // (Envoy answers an empty key with the default, whatever the layers hold.)
    return key.length === 0 ? undefined : this.#values.get(key);
  }

  get(key: string): string | null {
    const e = this.#entry(key);
    return e === undefined ? null : e.raw;
  }

  getInteger(key: string, defaultValue: number): number {
    const e = this.#entry(key);
    return e === undefined || e.uint === null ? defaultValue : e.uint;
  }

  getDouble(key: string, defaultValue: number): number {
    const e = this.#entry(key);
    return e === undefined || e.double === null ? defaultValue : e.double;
  }

  getBoolean(key: string, defaultValue: boolean): boolean {
    const e = this.#entry(key);
    return e === undefined || e.bool === null ? defaultValue : e.bool;
  }

  featureEnabled(key: string, defaultPercent: number, random?: number | bigint): boolean {
    const cutoff = Math.min(this.getInteger(key, defaultPercent), 100);
    if (random !== undefined) return mod(random, 100) < cutoff;
    // (Envoy skips the random draw at the ends.)
    if (cutoff <= 0) return false;
    if (cutoff >= 100) return true;
    return randomValue() % 100 < cutoff;
  }

  featureEnabledFractional(key: string, defaultValue: FractionalPercent, random?: number | bigint): boolean {
    const e = this.#entry(key);
    let p = defaultValue;
    if (e !== undefined && e.fraction !== null) {
      p = e.fraction;
    } else if (e !== undefined && e.uint !== null) {
      // A plain number is a percentage (Envoy's legacy reading); above 100 it is always on.
      if (e.uint > 100) return true;
      return mod(random ?? randomValue(), 100) < e.uint;
    }
    return evaluateFractionalPercent(p, random ?? randomValue());
  }
}

export const EMPTY_SNAPSHOT: RuntimeSnapshot = new RuntimeSnapshot(new Map());

/** A thread's loader: the current snapshot, replaced when the main thread sends new values. */
export class ThreadLoader implements Loader {
  #current: RuntimeSnapshot;

  constructor(values: RuntimeValues | null = null) {
    this.#current = values === null ? EMPTY_SNAPSHOT : new RuntimeSnapshot(values);
  }

  snapshot(): RuntimeSnapshot {
    return this.#current;
  }

  update(values: RuntimeValues): void {
    this.#current = new RuntimeSnapshot(values);
  }
}

/** A loader whose snapshot is always empty: every read gives its default (Envoy without a
 *  runtime; tests that build clusters or filters by hand). */
export const NULL_LOADER: Loader = { snapshot: () => EMPTY_SNAPSHOT };
