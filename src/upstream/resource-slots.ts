// Where each cluster's circuit-breaker counts live (resource-manager.ts): slices of one growable
// SharedArrayBuffer, handed out by the main thread when a config is compiled and sent to every
// worker once (WorkerInit); a worker's view tracks the buffer's length as it grows. A cluster config
// keeps its slice across reloads; a changed cluster gets a new one (its old connections drain on the
// old counts, as an Envoy cluster that is replaced keeps its own ResourceManager).
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

  /** The offset of `key`'s slice (the same for the same key). */
  offsetFor(key: string): number {
    const have = this.#byKey.get(key);
    if (have !== undefined) return have;
    const off = this.#next;
    this.#next += RESOURCE_SLOTS;
    const need = this.#next * Int32Array.BYTES_PER_ELEMENT;
    if (need > this.sab.byteLength) {
      this.sab.grow(Math.min(MAX_BYTES, Math.max(need, this.sab.byteLength * 2)));
    }
    this.#byKey.set(key, off);
    return off;
  }
}
