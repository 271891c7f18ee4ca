// Where each cluster's circuit-breaker counts live (resource-manager.ts): slices of one growable
// SharedArrayBuffer, handed out by the main thread when a config is compiled and sent to every
// worker once (WorkerInit); a worker's view tracks the buffer's length as it grows. A cluster config
// keeps its slice across reloads; a changed cluster gets a new one (its old connections drain on the
// old counts, as an Envoy cluster that is replaced keeps its own ResourceManager).
//
// Other process-wide state of the data plane takes slices of the same buffer by key and size: the
// local rate limit's token buckets (extensions/filters/http/local-ratelimit/token-bucket.ts, two
// int32 each, 8-byte aligned for a BigInt64Array view) through CompileContext.sharedSlots.
import { RESOURCE_SLOTS } from './resource-manager.ts';

const INITIAL_BYTES = 4096;
const MAX_BYTES = 64 * 1024 * 1024;

export class ResourceSlots {
  readonly sab: SharedArrayBuffer;
  /** Length-tracking view of `sab`. */
  readonly counts: Int32Array;
  readonly #byKey: Map<string, number>;
  #next: number;

  constructor() {
    this.sab = new SharedArrayBuffer(INITIAL_BYTES, { maxByteLength: MAX_BYTES });
    this.counts = new Int32Array(this.sab);
    this.#byKey = new Map();
    this.#next = 0;
  }

  /** The offset (in int32s) of `key`'s slice of `size` int32s (the same for the same key; keys of
   *  different users must not collide: cluster keys start with the cluster's name, others with a
   *  prefix of their own). `align`: the offset is a multiple of it (2 for a 64-bit view). New
   *  slices are zero. */
  offsetFor(key: string, size: number = RESOURCE_SLOTS, align = 1): number {
    const have = this.#byKey.get(key);
    if (have !== undefined) return have;
    const off = Math.ceil(this.#next / align) * align;
    this.#next = off + size;
    const need = this.#next * Int32Array.BYTES_PER_ELEMENT;
    if (need > this.sab.byteLength) {
      this.sab.grow(Math.min(MAX_BYTES, Math.max(need, this.sab.byteLength * 2)));
    }
    this.#byKey.set(key, off);
    return off;
  }
}
