// A single-producer single-consumer ring of int32 pairs in a SharedArrayBuffer: a worker pushes
// events (outlier detection's per-request outcomes, active health checking's immediate failures),
// the main thread drains them. No locks: the producer owns `tail`, the consumer owns `head`, each
// published with Atomics.store after the data it covers. A full ring drops the event and counts it
// (`dropped`): the data plane never waits for the control plane.

const HEAD = 0;
const TAIL = 1;
const DROPPED = 2;
const HEADER = 4;

export class SabRing {
  readonly sab: SharedArrayBuffer;
  readonly #a: Int32Array;
  /** Capacity in pairs (a power of two). */
  readonly #cap: number;

  /** A new ring of `capacity` pairs (rounded up to a power of two), or a view of `sab`. */
  constructor(capacityOrSab: number | SharedArrayBuffer) {
    if (typeof capacityOrSab === 'number') {
      let cap = 1;
      while (cap < capacityOrSab) cap *= 2;
      this.sab = new SharedArrayBuffer((HEADER + 2 * cap) * 4);
    } else {
      this.sab = capacityOrSab;
    }
    this.#a = new Int32Array(this.sab);
    this.#cap = (this.#a.length - HEADER) / 2;
  }

  /** Producer: add (a, b); false when the ring is full (the event is dropped and counted). */
  push(a: number, b: number): boolean {
    const arr = this.#a;
    const tail = arr[TAIL];
    // (int32 arithmetic: the counters wrap.)
    if (((tail - Atomics.load(arr, HEAD)) | 0) >= this.#cap) {
      Atomics.add(arr, DROPPED, 1);
      return false;
    }
    const i = HEADER + 2 * (tail & (this.#cap - 1));
    arr[i] = a;
    arr[i + 1] = b;
    Atomics.store(arr, TAIL, (tail + 1) | 0);
    return true;
  }

  /** Consumer: every pair pushed so far, in order; returns how many. */
  drain(each: (a: number, b: number) => void): number {
    const arr = this.#a;
    let head = arr[HEAD];
    const tail = Atomics.load(arr, TAIL);
    let n = 0;
    while (head !== tail) {
      const i = HEADER + 2 * (head & (this.#cap - 1));
      each(arr[i], arr[i + 1]);
      head = (head + 1) | 0;
      n++;
    }
    Atomics.store(arr, HEAD, head);
    return n;
  }

  /** Events dropped because the ring was full. */
  get dropped(): number {
    return Atomics.load(this.#a, DROPPED);
  }
}
