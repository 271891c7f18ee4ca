// A monotonic millisecond clock for the data plane. Everything a socket read dispatches happens at
// one instant as far as request timing cares, so the value is read once when a dispatch starts
// (enterRead in network/read-dispatch.ts) and reused until it ends; outside a dispatch it is read fresh.
import { performance } from 'node:perf_hooks';
let frozen = -1;

export function monotonicNow(): number {
  return frozen >= 0 ? frozen : performance.now();
}

export function freezeClock(): void {
  frozen = performance.now();
}

export function thawClock(): void {
  frozen = -1;
}
