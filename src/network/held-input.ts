// Bytes read from a socket and held for later parsing (HTTP/1 pipelining while a response is in
// flight), in order, with memory that stays close to the bytes held whatever sizes the reads have.
//
// Reads are views of the thread's shared read buffer (socket-owner.ts), so what is held must be
// copied. Copying each read on its own (Buffer.from) is what a peer sending one byte per TCP
// segment exploits: every copy is an object, a queue slot, and a slice of Node's shared 8 KiB
// allocation pool that keeps the whole slab alive (measured: 110 to 8,000 bytes of heap per byte
// held). Small reads are therefore appended to a tail block of TAIL_BYTES allocated outside the
// pool; a full tail joins the queue. A large read is copied whole into a buffer of its own size.
// The rest of a chunk the parser stopped in goes in front of everything else, copied only if it
// is still in the shared read buffer (a rest of held bytes is a view of them: copying it again at
// every pipelined request would be quadratic).
import { Buffer } from 'node:buffer';
import { RingQueue } from '../common/ring-queue.ts';
import { inReadBuffer } from './socket-owner.ts';

const TAIL_BYTES = 16 * 1024;

export class HeldInput {
  /** Bytes held. */
  bytes: number;
  #front: Buffer | null;
  #queue: RingQueue<Buffer> | null;
  #tail: Buffer | null;
  #tailUsed: number;

  constructor() {
    this.bytes = 0;
    this.#front = null;
    this.#queue = null;
    this.#tail = null;
    this.#tailUsed = 0;
  }

  /** Hold `b` after everything held (a copy: `b` may be a view of the shared read buffer). */
  push(b: Buffer): void {
    const n = b.length;
    if (n === 0) return;
    this.bytes += n;
    let tail = this.#tail;
    if (tail !== null && TAIL_BYTES - this.#tailUsed >= n) {
      b.copy(tail, this.#tailUsed);
      this.#tailUsed += n;
      return;
    }
    if (n >= TAIL_BYTES / 2) {
      // Large: a buffer of its own, after what the tail holds.
      this.#sealTail();
      this.#enqueue(copyOf(b));
      return;
    }
    this.#sealTail();
    tail = Buffer.allocUnsafeSlow(TAIL_BYTES);
    b.copy(tail, 0);
    this.#tail = tail;
    this.#tailUsed = n;
  }

  /** Hold `b` before everything held (the rest of the chunk the parser stopped in). */
  pushFront(b: Buffer): void {
    const n = b.length;
    if (n === 0) return;
    this.bytes += n;
    const c = inReadBuffer(b) ? copyOf(b) : b;
    this.#front = this.#front === null ? c : Buffer.concat([c, this.#front]);
  }

  /** The next bytes to parse, in order (null when nothing is held). */
  shift(): Buffer | null {
    let b = this.#front;
    if (b !== null) {
      this.#front = null;
    } else {
      b = this.#queue?.shift() ?? null;
      if (b === null && this.#tail !== null) {
        b = this.#tail.subarray(0, this.#tailUsed);
        this.#tail = null;
        this.#tailUsed = 0;
      }
      if (b === null) return null;
    }
    this.bytes -= b.length;
    return b;
  }

  #sealTail(): void {
    const tail = this.#tail;
    if (tail === null) return;
    this.#enqueue(tail.subarray(0, this.#tailUsed));
    this.#tail = null;
    this.#tailUsed = 0;
  }

  #enqueue(b: Buffer): void {
    (this.#queue ??= new RingQueue()).push(b);
  }
}

/** A copy of `b` in memory of its own (not a slice of Node's shared allocation pool). */
function copyOf(b: Buffer): Buffer {
  const c = Buffer.allocUnsafeSlow(b.length);
  b.copy(c, 0);
  return c;
}
