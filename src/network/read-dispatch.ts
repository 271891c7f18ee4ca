// A "read dispatch" is everything one socket read sets off, synchronously: parsing, filters,
// writes to other sockets. Bracketing it lets per-read work be done once: the clock is read once
// (common/clock.ts), and message heads a codec held back for body bytes (http/http1/framing.ts)
// are flushed when it ends, so the usual case (head and body parsed from one upstream read)
// needs no process.nextTick; a head held outside any read (a filter answering later) gets a tick.
import { freezeClock, thawClock } from '../common/clock.ts';

/** A codec holding a message head back for the first body bytes (see writeMessage). */
export interface HeadHolder {
  flushHead(): void;
}

const deferred: HeadHolder[] = [];
let readDepth = 0;

export function deferHead(h: HeadHolder): void {
  if (readDepth > 0) deferred.push(h);
  else process.nextTick(flushDeferred, h);
}

function flushDeferred(h: HeadHolder): void {
  h.flushHead();
}

/** Bracket a socket read's dispatch (parser execute and everything it calls). */
export function enterRead(): void {
  if (readDepth++ === 0) freezeClock();
}
export function leaveRead(): void {
  if (--readDepth === 0) {
    if (deferred.length > 0) {
      for (let i = 0; i < deferred.length; i++) deferred[i].flushHead();
      deferred.length = 0;
    }
    thawClock();
  }
}
