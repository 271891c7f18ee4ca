// Envoy's EdfScheduler (source/common/upstream/edf_scheduler.h): earliest deadline first over
// weighted entries. An entry added at time `now` with weight w gets the deadline now + 1/w; a pick
// takes the earliest deadline (ties: the entry added first) and puts it back with its weight as it
// is then. Over many picks each entry's share is its weight's share: weighted round robin with
// floating-point weights and O(log n) picks. Used for hosts (least request's dynamic weights) and
// for localities (locality-weighted balancing, upstream/locality.ts).
//
// A binary heap of (deadline, order) with the entries in a parallel array; no object per entry.
export class EdfScheduler<T> {
  readonly #deadline: number[];
  readonly #order: number[];
  readonly #entry: T[];
  #now: number;
  #seq: number;

  constructor(entries: readonly T[], weight: (e: T) => number) {
    this.#deadline = [];
    this.#order = [];
    this.#entry = [];
    this.#now = 0;
    this.#seq = 0;
    for (const e of entries) this.#add(e, weight(e));
  }

  /** Envoy's createWithPicks: a scheduler over `entries` in the state `picks` picks (taken modulo
   *  429496729) from a fresh one would leave it in, computed without making them one by one (each
   *  entry first gets the whole picks its weight's share of them gives it, then the few left over
   *  are made). A random `picks` starts the schedule at a random point, so that workers, and the
   *  schedules rebuilt on each update, do not all begin with the same entry. As in Envoy, each
   *  weight gets 1e-13 added for this step (weights that are multiples of each other would
   *  otherwise tie differently from the picks made one by one). */
  static createWithPicks<T>(entries: readonly T[], weight: (e: T) => number, picks: number): EdfScheduler<T> {
    picks %= 429496729;
    const s = new EdfScheduler<T>([], weight);
    if (entries.length === 0) return s;
    const aug = (e: T): number => weight(e) + 1e-13;
    let sum = 0;
    for (const e of entries) sum += aug(e);
    let picksSoFar = 0;
    let maxPickTime = 0;
    for (let i = 0; i < entries.length; i++) {
      const w = aug(entries[i]);
      let floorPicks = Math.trunc((w * picks) / sum);
      // (Envoy: floating point may make floor(A * B) exceed A * B; one pick fewer is then made
      // here and left to the one-by-one step.)
      if (floorPicks > 0 && floorPicks / w >= picks / sum) floorPicks--;
      const pickTime = floorPicks / w;
      s.#deadline.push((floorPicks + 1) / w);
      s.#order.push(i);
      s.#entry.push(entries[i]);
      s.#siftUp(i);
      if (pickTime > maxPickTime) maxPickTime = pickTime;
      picksSoFar += floorPicks;
    }
    s.#now = maxPickTime;
    s.#seq = entries.length;
    for (; picksSoFar < picks; picksSoFar++) s.pickAndAdd(weight);
    return s;
  }

  /** The entry with the earliest deadline, put back with its current weight; null when empty. */
  pickAndAdd(weight: (e: T) => number): T | null {
    if (this.#entry.length === 0) return null;
    const e = this.#entry[0];
    this.#now = this.#deadline[0];
    this.#pop();
    this.#add(e, weight(e));
    return e;
  }

  #add(e: T, w: number): void {
    const d = this.#deadline;
    const o = this.#order;
    const es = this.#entry;
    const i = es.length;
    d.push(this.#now + 1 / Math.max(w, 1e-9));
    o.push(this.#seq++);
    es.push(e);
    this.#siftUp(i);
  }

  #siftUp(i: number): void {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#less(i, parent)) break;
      this.#swap(i, parent);
      i = parent;
    }
  }

  #pop(): void {
    const last = this.#entry.length - 1;
    this.#swap(0, last);
    this.#deadline.pop();
    this.#order.pop();
    this.#entry.pop();
    let i = 0;
    const n = this.#entry.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n && this.#less(l, m)) m = l;
      if (r < n && this.#less(r, m)) m = r;
      if (m === i) break;
      this.#swap(i, m);
      i = m;
    }
  }

  #less(a: number, b: number): boolean {
    const d = this.#deadline;
    return d[a] < d[b] || (d[a] === d[b] && this.#order[a] < this.#order[b]);
  }

  #swap(a: number, b: number): void {
    const d = this.#deadline;
    const o = this.#order;
    const e = this.#entry;
    const td = d[a]; d[a] = d[b]; d[b] = td;
    const to = o[a]; o[a] = o[b]; o[b] = to;
    const te = e[a]; e[a] = e[b]; e[b] = te;
  }
}
