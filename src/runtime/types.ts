// The runtime as the data plane reads it (Envoy's Runtime::Snapshot and Runtime::Loader,
// envoy/runtime/runtime.h). This file has no runtime imports: worker-side code (filters, the
// router, load balancers) depends on these interfaces only, never on the main-thread loader.
//
// How values get here: the main thread owns the layers (src/runtime/loader.ts: the bootstrap's
// `layered_runtime`, static, disk and admin layers), parses every value once when its layer
// loads, merges the layers and sends the merged values to every worker; each worker swaps in a
// new immutable Snapshot (src/runtime/snapshot.ts). Reading is a Map lookup and a field read:
// nothing is parsed or allocated per call.
//
// Reaching it from worker code: `WorkerContext.runtime` (filters, the HCM's route table: HcmConfig
// has the context) and the `runtime` argument of LoadBalancerFactory.create; import the types only
// (`import type { Loader, FractionalPercent } from '<...>/runtime/types.ts'`). Tests and code
// without a runtime use NULL_LOADER (runtime/snapshot.ts), whose reads all give their defaults. Call `runtime.snapshot()` when the value is
// needed (per request, per pick), not once at construction: the loader returns the current
// snapshot, replaced whenever a layer changes (an admin /runtime_modify, a disk symlink swap).
// Keep the Loader, not a Snapshot.
//
// The reading API, with Envoy's semantics (source/common/runtime/runtime_impl.cc SnapshotImpl):
//
//   const s = ctx.runtime.snapshot();
//   s.get('my.key')                          // the raw string, or null when no layer sets it
//   s.getInteger('upstream.weight', 10)      // a non-negative number value, floored (3.7 -> 3);
//                                            // a negative, non-numeric or boolean value gives
//                                            // the default
//   s.getDouble('lb.bias', 1.0)              // any number value
//   s.getBoolean('feature.on', false)        // true/false (YAML booleans, yes/no/on/off in disk
//                                            // and admin values), or an integer value (non-zero
//                                            // is true); a string "true" in a static layer is not
//                                            // a boolean (Envoy's reject_invalid_yaml)
//   s.featureEnabled('feature.pct', 50)      // percent 0-100: getInteger(key, 50) capped at 100,
//                                            // compared with a random number % 100
//   s.featureEnabled('feature.pct', 50, r)   // ... with your random value `r`
//
// Route matches (`runtime_fraction`) and other FractionalPercent defaults:
//
//   s.featureEnabledFractional(route.runtimeKey, { numerator: 5, denominator: 'TEN_THOUSAND' }, random)
//
// The runtime value wins when it is a FractionalPercent (`{numerator: 50, denominator:
// TEN_THOUSAND}`; the denominator defaults to HUNDRED) or a non-negative number (a percentage:
// `25` is 25/100; above 100 is always true); otherwise the default applies. The result is
// `random % denominator < numerator` (a numerator above its denominator is always true). Pass
// the stream's random value (a non-negative integer number, or a bigint for a 64-bit hash such as
// Envoy's x-request-id hash, reduced exactly); omit it to draw one.
//
// Weighted clusters' `runtime_key_prefix`: `s.getInteger(`${prefix}.${cluster}`, weight)`.

/** envoy.type.v3.FractionalPercent.DenominatorType. */
export type DenominatorType = 'HUNDRED' | 'TEN_THOUSAND' | 'MILLION';

/** envoy.type.v3.FractionalPercent. */
export interface FractionalPercent {
  /** A non-negative integer (uint32). */
  readonly numerator: number;
  readonly denominator: DenominatorType;
}

/** One runtime value, parsed once when its layer loads (Envoy's Snapshot::Entry): every reading
 *  it supports, null where it is not of that kind. Plain data: it crosses to the workers by
 *  structured clone. */
export interface RuntimeEntry {
  /** The value as given (a disk file's text, the admin parameter, a static value printed): what
   *  get() returns and GET /runtime shows. */
  readonly raw: string;
  readonly bool: boolean | null;
  readonly double: number | null;
  /** A number value >= 0, floored (Envoy's uint_value_). */
  readonly uint: number | null;
  readonly fraction: FractionalPercent | null;
}

/** The merged values of every layer, as the main thread sends them to the workers. */
export type RuntimeValues = ReadonlyMap<string, RuntimeEntry>;

/** An immutable view of the runtime (Envoy's Runtime::Snapshot). */
export interface Snapshot {
  /** The raw value, or null when no layer sets `key`. */
  get(key: string): string | null;
  getInteger(key: string, defaultValue: number): number;
  getDouble(key: string, defaultValue: number): number;
  getBoolean(key: string, defaultValue: boolean): boolean;
  /** Envoy's featureEnabled(key, default_value[, random_value]): `defaultPercent` 0-100. */
  featureEnabled(key: string, defaultPercent: number, random?: number | bigint): boolean;
  /** Envoy's featureEnabled(key, FractionalPercent default[, random_value]). */
  featureEnabledFractional(key: string, defaultValue: FractionalPercent, random?: number | bigint): boolean;
}

/** Where the current Snapshot is (Envoy's Runtime::Loader::snapshot()). */
export interface Loader {
  snapshot(): Snapshot;
}
