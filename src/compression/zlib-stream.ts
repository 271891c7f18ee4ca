// Streaming coding on node:zlib (deflate/gzip, brotli and zstd) in the worker's own thread, as
// Envoy's compressor filter codes each data frame in its worker and nginx's gzip filter in its
// process: a frame is coded when it arrives and its output handed on in the same call.
//
// Why not node:zlib's asynchronous streams (libuv's threadpool), which Legate used first: under
// proxy load the workers already keep the cores busy, so the pool adds no parallelism, only a
// thread hop per write (a futex wake, the coder's ~300 KB of state moving between cores' caches),
// the Transform machinery and a copy of every input frame. Measured on the gzip bench scenario
// (100 KiB JSON, level 1): the pool's threads spent 1.3 ms of CPU per response on what costs
// 0.6 ms coded here (docs/bench.md).
//
// The loop is never held for long: one call codes at most `sliceBytes` of input, sized from the
// measured cost per byte of this config on this worker so that a step takes about STEP_BUDGET_MS;
// the rest of a larger frame is coded a slice per loop turn (setImmediate), in order, and
// `pendingBytes` lets the caller pause its source meanwhile. So a 20 MiB body or brotli at quality
// 11 is coded in bounded steps with other streams served in between.
//
// A frame's output is handed on as a view of the config's output buffer (valid during the call,
// as a read's data is: retain() copies it), so coding allocates nothing per frame: the copy a
// socket write needs is the codec's (http/http1/framing.ts), not a second one here.
//
// Every frame is flushed (Z_SYNC_FLUSH, BROTLI_OPERATION_FLUSH, ZSTD_e_flush: the stream's `flush`
// option), as Envoy's filter compresses each data frame with State::Flush: what was written so far
// can be decoded by the client, so a streamed response (server-sent events) is not held back.
//
// The synchronous streaming call is node:zlib's native handle (`stream._handle.writeSync`): the
// public sync functions code a whole buffer and close their stream. That is internal API, so its
// shape is checked when a factory is made (a clear error, not a broken stream, on a Node that
// changed it), and Node is pinned (package.json). Coders are reused: a finished or abandoned
// stream's coder is reset (deflateReset and the like) and kept for the next, up to MAX_IDLE per
// config and worker, which saves allocating and initialising its state per response.
import { Buffer } from 'node:buffer';
import { performance } from 'node:perf_hooks';
import zlib from 'node:zlib';
import type { Transform } from 'node:stream';
import { retain, volatileBuffer } from '../network/socket-owner.ts';
import type { CodecFactory, CodecSink, CodecStream } from './types.ts';

/** node:zlib's native handle (the C++ CompressionStream behind every zlib, brotli and zstd stream). */
interface NativeHandle {
  writeSync(flush: number, input: Buffer, inOff: number, inLen: number, out: Buffer, outOff: number, outLen: number): void;
  reset(): void;
  /** Called during writeSync when the library fails (corrupt input, a truncated stream). */
  onerror: (message: string, errno: number, code: string) => void;
}

/** The internals of a node:zlib stream this file uses. */
interface ZlibInternals {
  _handle: NativeHandle | null;
  /** [avail_out, avail_in] after each write. */
  _writeState: Uint32Array;
  _defaultFlushFlag: number;
  _finishFlushFlag: number;
  close(): void;
}

/** Makes one zlib stream (its options fixed at config time). */
export type ZlibMaker = () => Transform;

/** A step codes input for about this long before the loop gets a turn. */
const STEP_BUDGET_MS = 2;
/** The smallest slice, whatever the measured cost (brotli at quality 11 is ~1 us a byte). */
const MIN_SLICE = 4 * 1024;
/** The slice before this config has been measured on this worker. */
const FIRST_SLICE = 64 * 1024;
/** Idle coders kept per config and worker (a deflate with window 15 and memory level 8 holds ~300 KB). */
const MAX_IDLE = 16;
/** Input below this is not timed (a flush-only call says nothing about the cost per byte). */
const MIN_TIMED = 4 * 1024;
/** Not a flush: zlib's Z_NO_FLUSH, brotli's BROTLI_OPERATION_PROCESS and zstd's ZSTD_e_continue are all 0. */
const PROCESS = 0;

const EMPTY = Buffer.alloc(0);

// The error reported by the handle during the last writeSync (handles report synchronously).
let errorCode: string | null = null;
let errorMessage = '';
function onHandleError(message: string, _errno: number, code: string): void {
  errorCode = code;
  errorMessage = message;
}

function internals(z: Transform): ZlibInternals {
  const i = z as unknown as ZlibInternals;
  const h = i._handle;
  if (h === null || typeof h?.writeSync !== 'function' || typeof h.reset !== 'function'
      || !(i._writeState instanceof Uint32Array) || typeof i._defaultFlushFlag !== 'number'
      || typeof i._finishFlushFlag !== 'number') {
    throw new Error(`this Node's zlib (${process.version}) lacks the native handle Legate codes with ` +
      '(stream._handle.writeSync, _writeState, _defaultFlushFlag, _finishFlushFlag): ' +
      'run Legate on the Node it pins (npm start)');
  }
  h.onerror = onHandleError;
  return i;
}

/** One config's coders on one worker: the idle ones, the output buffer, the measured cost. */
export class ZlibCodecFactory implements CodecFactory {
  readonly #make: ZlibMaker;
  readonly maxRatio: number;
  /** Where every coder of this factory writes (one call at a time: coding never re-enters), and
   *  what its output is handed on in: like a read buffer, valid only during that call (retain()
   *  copies it), so a frame's output costs no allocation of its own. */
  readonly scratch: Buffer;
  readonly flushFlag: number;
  readonly finishFlag: number;
  readonly #idle: ZlibInternals[];
  #nsPerByte: number;
  /** Input one step may code. */
  sliceBytes: number;

  constructor(make: ZlibMaker, outputBytes: number, maxRatio: number) {
    this.#make = make;
    this.maxRatio = maxRatio;
    this.scratch = volatileBuffer(outputBytes);
    const first = internals(make());
    this.flushFlag = first._defaultFlushFlag;
    this.finishFlag = first._finishFlushFlag;
    this.#idle = [first];
    this.#nsPerByte = 0;
    this.sliceBytes = FIRST_SLICE;
  }

  create(sink: CodecSink): ZlibCodec {
    return new ZlibCodec(this, sink);
  }

  take(): ZlibInternals {
    return this.#idle.pop() ?? internals(this.#make());
  }

  /** A coder back from a stream: reset for the next, or closed (failed, or enough are idle). */
  give(z: ZlibInternals, failed: boolean): void {
    if (!failed && this.#idle.length < MAX_IDLE) {
      z._handle!.reset();
      this.#idle.push(z);
    } else {
      z.close();
    }
  }

  /** A timed call: the cost per byte (a moving average) sets the slice. */
  observe(bytes: number, ms: number): void {
    const ns = (ms * 1e6) / bytes;
    const avg = this.#nsPerByte === 0 ? ns : this.#nsPerByte * 0.875 + ns * 0.125;
    this.#nsPerByte = avg;
    this.sliceBytes = Math.max(MIN_SLICE, Math.floor((STEP_BUDGET_MS * 1e6) / avg));
  }

  /** Idle coders (tests). */
  get idle(): number { return this.#idle.length; }
}

function runStep(c: ZlibCodec): void {
  c.step();
}

export class ZlibCodec implements CodecStream {
  readonly #f: ZlibCodecFactory;
  readonly #sink: CodecSink;
  #z: ZlibInternals | null;
  /** Input waiting for a later step, oldest first from #head; #off into the oldest. */
  #bufs: Buffer[];
  /** Whether the input ends after that buffer. */
  #ends: boolean[];
  #head: number;
  #off: number;
  #pending: number;
  #scheduled: boolean;
  /** Input coded and output made so far (a decompressor's inflate ratio). */
  #coded: number;
  #total: number;
  /** The input's end was written. */
  #ended: boolean;
  /** Finished, failed or destroyed: nothing more is reported. */
  #done: boolean;

  constructor(f: ZlibCodecFactory, sink: CodecSink) {
    this.#f = f;
    this.#sink = sink;
    this.#z = f.take();
    this.#bufs = [];
    this.#ends = [];
    this.#head = 0;
    this.#off = 0;
    this.#pending = 0;
    this.#scheduled = false;
    this.#coded = 0;
    this.#total = 0;
    this.#ended = false;
    this.#done = false;
  }

  get pendingBytes(): number { return this.#pending; }

  write(data: Buffer, end: boolean): void {
    if (this.#ended || this.#done) return;
    if (end) this.#ended = true;
    const n = data.length;
    if (n === 0 && !end) return;
    if (this.#head === this.#bufs.length) {
      // Nothing waiting: code now, up to a slice.
      const f = this.#f;
      const slice = f.sliceBytes;
      if (n <= slice) {
        this.#code(data, 0, n, end ? f.finishFlag : f.flushFlag, end);
        return;
      }
      this.#code(data, 0, slice, PROCESS, false);
      if (this.#done) return;
      data = data.subarray(slice);
    }
    // Kept past this call: a view of the read buffer is copied.
    this.#bufs.push(retain(data));
    this.#ends.push(end);
    this.#pending += data.length;
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(runStep, this);
    }
  }

  /** Code the next slice of what waits (a loop turn after the last). */
  step(): void {
    this.#scheduled = false;
    if (this.#done || this.#head === this.#bufs.length) return;
    const f = this.#f;
    const b = this.#bufs[this.#head]!;
    const off = this.#off;
    const rest = b.length - off;
    const n = Math.min(rest, f.sliceBytes);
    let flag = PROCESS;
    let end = false;
    if (n === rest) {
      end = this.#ends[this.#head]!;
      flag = end ? f.finishFlag : f.flushFlag;
      if (++this.#head === this.#bufs.length) {
        this.#bufs = [];
        this.#ends = [];
        this.#head = 0;
      }
      this.#off = 0;
    } else {
      this.#off = off + n;
    }
    this.#pending -= n;
    this.#code(b, off, n, flag, end);
    if (!this.#done && this.#head < this.#bufs.length && !this.#scheduled) {
      this.#scheduled = true;
      setImmediate(runStep, this);
    }
  }

  destroy(): void {
    if (this.#done) return;
    this.#done = true;
    this.#release(false);
    this.#bufs = [];
    this.#ends = [];
    this.#head = 0;
    this.#pending = 0;
  }

  /** Code `len` bytes of `buf` from `off` with `flag`, and hand the output on (`end`: the last). */
  #code(buf: Buffer, off: number, len: number, flag: number, end: boolean): void {
    const z = this.#z!;
    const h = z._handle!;
    const state = z._writeState;
    const f = this.#f;
    const out = f.scratch;
    const size = out.length;
    const maxRatio = f.maxRatio;
    let parts: Buffer[] | null = null;
    let partsLength = 0;
    let outOff = 0;
    let inOff = off;
    let inLen = len;
    const t0 = len >= MIN_TIMED ? performance.now() : 0;
    for (;;) {
      h.writeSync(flag, buf, inOff, inLen, out, outOff, size - outOff);
      if (errorCode !== null) {
        const code = errorCode;
        errorCode = null;
        this.#fail(code, errorMessage);
        return;
      }
      const availOut = state[0]!;
      const availIn = state[1]!;
      const made = size - outOff - availOut;
      outOff += made;
      this.#total += made;
      if (maxRatio > 0 && this.#total > (this.#coded + inLen - availIn + (inOff - off)) * maxRatio) {
        this.#fail('RATIO', `output exceeds ${maxRatio} times the input (max_inflate_ratio)`);
        return;
      }
      // Room left in the output: the library took what it could of the input.
      if (availOut !== 0) break;
      // The output buffer is full: move it out and go on with the rest.
      (parts ??= []).push(Buffer.from(out.subarray(0, outOff)));
      partsLength += outOff;
      outOff = 0;
      inOff += inLen - availIn;
      inLen = availIn;
    }
    this.#coded += len;
    if (t0 !== 0) f.observe(len, performance.now() - t0);
    let result: Buffer;
    if (parts === null) {
      result = outOff === 0 ? EMPTY : out.subarray(0, outOff);
    } else {
      if (outOff > 0) parts.push(Buffer.from(out.subarray(0, outOff)));
      result = Buffer.concat(parts, partsLength + outOff);
    }
    if (end) {
      this.#done = true;
      this.#release(false);
    }
    if (result.length > 0 || end) this.#sink.onCodecOutput(result, end);
  }

  #fail(code: string, message: string): void {
    this.#done = true;
    this.#release(true);
    this.#bufs = [];
    this.#ends = [];
    this.#head = 0;
    this.#pending = 0;
    this.#sink.onCodecError(code, message);
  }

  #release(failed: boolean): void {
    const z = this.#z;
    if (z === null) return;
    this.#z = null;
    this.#f.give(z, failed);
  }
}

/** A factory of ZlibCodecs over `make`'s streams (made once per config and worker); `chunkSize`
 *  is the config's output buffer size (see outputChunk); `maxRatio` 0: no inflate ratio limit. */
export function zlibCodecFactory(make: ZlibMaker, chunkSize: number, maxRatio = 0): ZlibCodecFactory {
  return new ZlibCodecFactory(make, outputChunk(chunkSize), maxRatio);
}

/** The output buffer for a library's chunk_size: Envoy's default (4 KiB) would cost a native call
 *  per 4 KiB of output, so Legate never goes below 64 KiB; the bytes produced are the same. */
export function outputChunk(chunkSize: number): number {
  return Math.max(chunkSize, 64 * 1024);
}

export { zlib };
