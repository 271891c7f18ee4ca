// A "read dispatch" is everything one socket read sets off, synchronously: parsing, filters,
// writes to other sockets. Bracketing it lets per-read work be done once: the clock is read once
// (common/clock.ts), and message heads a codec held back for body bytes (http/http1/framing.ts)
// are flushed when it ends, so the usual case (head and body parsed from one upstream read)
// needs no process.nextTick; a head held outside any read (a filter answering later) gets a tick.
// Data that points into the read chunk is told when the dispatch ends (atEndOfRead).
import process from 'node:process';
import { freezeClock, thawClock } from '../common/clock.ts';

/** A codec holding a message head back for the first body bytes (see writeMessage). */
export interface HeadHolder {
  flushHead(): void;
}

// Held heads of the current dispatch: deferred[0, deferredCount). The array is reused, not
// truncated (setting an array's length is a runtime call).
const deferred: (HeadHolder | null)[] = [];
let deferredCount = 0;
let readDepth = 0;

export function deferHead(h: HeadHolder): void {
  if (readDepth > 0) deferred[deferredCount++] = h;
  else process.nextTick(flushDeferred, h);
}

/** Something that must act when the current read dispatch ends (data that points into the read
 *  chunk, http/raw-headers.ts). */
export interface ReadScoped {
  onEndOfRead(): void;
}

const scoped: (ReadScoped | null)[] = [];
let scopedCount = 0;

/** Call o.onEndOfRead() when this read dispatch ends; false (and nothing is kept) outside one. */
export function atEndOfRead(o: ReadScoped): boolean {
  if (readDepth === 0) return false;
  scoped[scopedCount++] = o;
  return true;
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
    // (readDepth is 0 here: a head deferred while flushing would take the nextTick path.)
    for (let i = 0; i < deferredCount; i++) {
      const h = deferred[i]!;
      deferred[i] = null;
      h.flushHead();
    }
    deferredCount = 0;
    // After the heads: they may still read what points into the chunk.
    for (let i = 0; i < scopedCount; i++) {
      const o = scoped[i]!;
      scoped[i] = null;
      o.onEndOfRead();
    }
    scopedCount = 0;
    thawClock();
  }
}
