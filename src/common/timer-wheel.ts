// Coarse timeouts for the data plane (route timeouts and the like).
//
// Design note: a Node Timeout per request (setTimeout + clearTimeout) allocates and relinks timer
// lists on every request, and nearly all of them are cancelled. Here a deadline is rounded up to
// a tick (TICK_MS) and the object is pushed onto that tick's bucket; cancelling swap-removes it
// (O(1), and a cancelled object is not kept alive until its tick); an emptied bucket up to a minute
// ahead stays until its tick passes, so the common schedule-then-cancel per request does not churn
// the map. One
// unref'd interval per thread runs while anything is scheduled. A timeout fires between its
// deadline and one tick after it (deadlines count from the read dispatch's clock, common/clock.ts).
import { performance } from 'node:perf_hooks';
import { monotonicNow } from './clock.ts';

export const TICK_MS = 50;

export interface Expirable {
  /** The tick this object is scheduled for; -1 when not scheduled. */
  timerTick: number;
  /** Its position in that tick's bucket. */
  timerIndex: number;
  onExpire(): void;
}

/** Emptied buckets within this many ticks (60 s) stay until their tick passes. */
const KEEP_EMPTY_TICKS = 1200;

const buckets = new Map<number, Expirable[]>();
let interval: NodeJS.Timeout | null = null;
let lastTick = Math.floor(performance.now() / TICK_MS);
let scheduled = 0;
// The bucket used last: a request's schedule and cancel mostly hit the same tick as the ones just
// before them, so this skips the Map lookup. Reset wherever a bucket leaves the map.
let cachedTick = -1;
let cachedBucket: Expirable[] = [];

/** The cache no longer holds a bucket (nor keeps its objects alive). */
function forgetBucket(): void {
  cachedTick = -1;
  cachedBucket = [];
}

function bucket(tick: number): Expirable[] | undefined {
  if (tick === cachedTick) return cachedBucket;
  const b = buckets.get(tick);
  if (b !== undefined) {
    cachedTick = tick;
    cachedBucket = b;
  }
  return b;
}

export function schedule(obj: Expirable, ms: number): void {
  if (obj.timerTick !== -1) cancel(obj);
  const now = monotonicNow();
  if (interval === null) lastTick = Math.floor(now / TICK_MS);
  // Never a tick that has been (or is being) processed: it would never be visited again.
  const tick = Math.max(Math.ceil((now + ms) / TICK_MS), lastTick + 1);
  obj.timerTick = tick;
  let b = bucket(tick);
  if (b === undefined) {
    b = [];
    buckets.set(tick, b);
    cachedTick = tick;
    cachedBucket = b;
  }
  obj.timerIndex = b.length;
  b.push(obj);
  scheduled++;
  if (interval === null) {
    interval = setInterval(onTick, TICK_MS);
    interval.unref();
  }
}

export function cancel(obj: Expirable): void {
  const tick = obj.timerTick;
  if (tick === -1) return;
  obj.timerTick = -1;
  scheduled--;
  const b = bucket(tick);
  if (b === undefined) return;
  const last = b.pop()!;
  if (last !== obj) {
    b[obj.timerIndex] = last;
    last.timerIndex = obj.timerIndex;
  }
  // A far bucket (an hour's idle timeout) would sit empty for its whole wait: drop it. Near ones
  // are kept, so that routes' timeouts do not create and delete one per request.
  if (b.length === 0 && tick > lastTick + KEEP_EMPTY_TICKS) {
    buckets.delete(tick);
    if (cachedTick === tick) forgetBucket();
  }
}


function onTick(): void {
  const now = Math.floor(performance.now() / TICK_MS);
  for (let t = lastTick + 1; t <= now; t++) {
    // Before the callbacks: anything they schedule lands after this tick.
    lastTick = t;
    const b = buckets.get(t);
    if (b === undefined) continue;
    buckets.delete(t);
    if (cachedTick === t) forgetBucket();
    for (let i = 0; i < b.length; i++) {
      const o = b[i];
      if (o.timerTick !== t) continue; // cancelled by an earlier expiry in this bucket
      o.timerTick = -1;
      scheduled--;
      o.onExpire();
    }
  }
  if (scheduled === 0 && interval !== null) {
    clearInterval(interval);
    interval = null;
    // Only emptied buckets are left; ticks before the next start would never be visited.
    buckets.clear();
    forgetBucket();
  }
}
