// A FIFO on a power-of-two ring: O(1) push/shift without Array.shift()'s copying. Grows by doubling.
export class RingQueue<T> {
  #buf: (T | undefined)[];
  #head: number;
  #len: number;
  #mask: number;

  constructor(capacity = 16) {
    let cap = 16;
    while (cap < capacity) cap <<= 1;
    this.#buf = new Array(cap);
    this.#head = 0;
    this.#len = 0;
    this.#mask = cap - 1;
  }

  get length(): number {
    return this.#len;
  }

  push(v: T): void {
    if (this.#len === this.#buf.length) this.#grow();
    this.#buf[(this.#head + this.#len) & this.#mask] = v;
    this.#len++;
  }

  shift(): T | undefined {
    if (this.#len === 0) return undefined;
    const v = this.#buf[this.#head];
    this.#buf[this.#head] = undefined;
    this.#head = (this.#head + 1) & this.#mask;
    this.#len--;
    return v;
  }

  peek(): T | undefined {
    return this.#len === 0 ? undefined : this.#buf[this.#head];
  }

  /** Remove one element wherever it is (rare: a pending request cancelled). */
  remove(v: T): boolean {
    for (let i = 0; i < this.#len; i++) {
      const idx = (this.#head + i) & this.#mask;
      if (this.#buf[idx] === v) {
        for (let j = i; j < this.#len - 1; j++) {
          this.#buf[(this.#head + j) & this.#mask] = this.#buf[(this.#head + j + 1) & this.#mask];
        }
        this.#buf[(this.#head + this.#len - 1) & this.#mask] = undefined;
        this.#len--;
        return true;
      }
    }
    return false;
  }

  #grow(): void {
    const old = this.#buf;
    const n = old.length;
    const next: (T | undefined)[] = new Array(n * 2);
    for (let i = 0; i < this.#len; i++) next[i] = old[(this.#head + i) & this.#mask];
    this.#buf = next;
    this.#head = 0;
    this.#mask = n * 2 - 1;
  }
}
