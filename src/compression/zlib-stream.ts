// Streaming coding on node:zlib (deflate/gzip, brotli and zstd), asynchronous: each write is coded
// on libuv's threadpool, so a worker's event loop keeps serving other streams while a large body is
// compressed (perf/compress-offload.ts measures this against offloading to a worker-thread pool and
// against coding in the loop; docs/bench.md has the figures).
//
// Every write is flushed (Z_SYNC_FLUSH, BROTLI_OPERATION_FLUSH, ZSTD_e_flush), as Envoy's compressor
// filter compresses each data frame with State::Flush: what was written so far can be decoded by
// the client, so a streamed response (server-sent events) is not held back. The output of one
// write is handed on as one Buffer once the write completes (zlib pushes its output in pieces of
// its output buffer size first); the last output comes with the stream's end.
//
// Handlers are module-level functions reached through the zlib stream (`this`), which holds its
// ZlibCodec under a symbol: no closure per stream but the one write callback bound at creation.
import { Buffer } from 'node:buffer';
import zlib from 'node:zlib';
import type { Transform } from 'node:stream';
import { retain } from '../network/socket-owner.ts';
import type { CodecFactory, CodecSink, CodecStream } from './types.ts';

const kCodec = Symbol('legate.zlibCodec');

type ZStream = Transform & { [kCodec]?: ZlibCodec };

/** Makes one zlib stream (its options fixed at config time). */
export type ZlibMaker = () => Transform;

function onData(this: ZStream, chunk: Buffer): void {
  const c = this[kCodec];
  if (c !== undefined) c.collect(chunk);
}

function onEnd(this: ZStream): void {
  const c = this[kCodec];
  if (c !== undefined) c.finished();
}

function onError(this: ZStream, err: Error): void {
  const c = this[kCodec];
  if (c !== undefined) c.failed(String((err as { code?: unknown }).code ?? ''), err.message);
}

export class ZlibCodec implements CodecStream {
  readonly #z: ZStream;
  readonly #sink: CodecSink;
  /** Output of the write in progress, in zlib's pieces. */
  #out: Buffer[];
  #outLength: number;
  /** Sizes of the writes not yet completed, oldest first (#head is the oldest's index). */
  #sizes: number[];
  #head: number;
  #pending: number;
  /** Input bytes and output bytes so far (a decompressor's inflate ratio). */
  #in: number;
  #total: number;
  /** 0: no limit; else output may be at most this many times the input (a decompression bomb). */
  readonly #maxRatio: number;
  #done: boolean;
  #destroyed: boolean;
  readonly #written: () => void;

  constructor(z: Transform, sink: CodecSink, maxRatio = 0) {
    this.#z = z as ZStream;
    this.#sink = sink;
    this.#out = [];
    this.#outLength = 0;
    this.#sizes = [];
    this.#head = 0;
    this.#pending = 0;
    this.#in = 0;
    this.#total = 0;
    this.#maxRatio = maxRatio;
    this.#done = false;
    this.#destroyed = false;
    this.#written = this.#onWritten.bind(this);
    this.#z[kCodec] = this;
    z.on('data', onData);
    z.on('end', onEnd);
    z.on('error', onError);
  }

  get pendingBytes(): number { return this.#pending; }

  write(data: Buffer, end: boolean): void {
    if (this.#done) return;
    const n = data.length;
    this.#in += n;
    if (n > 0) {
      this.#pending += n;
      this.#sizes.push(n);
      this.#z.write(retain(data), this.#written);
    }
    if (end) this.#z.end();
  }

  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#done = true;
    this.#z[kCodec] = undefined;
    this.#z.destroy();
    this.#out = [];
  }

  collect(chunk: Buffer): void {
    if (this.#done) return;
    this.#out.push(chunk);
    this.#outLength += chunk.length;
    this.#total += chunk.length;
    if (this.#maxRatio > 0 && this.#total > this.#in * this.#maxRatio) {
      this.failed('RATIO', `output exceeds ${this.#maxRatio} times the input (max_inflate_ratio)`);
    }
  }

  #onWritten(): void {
    if (this.#done) return;
    this.#pending -= this.#sizes[this.#head]!;
    if (++this.#head === this.#sizes.length) {
      this.#sizes.length = 0;
      this.#head = 0;
    }
    if (this.#outLength > 0) this.#deliver(false);
  }

  finished(): void {
    if (this.#done) return;
    this.#done = true;
    this.#pending = 0;
    this.#z[kCodec] = undefined;
    this.#deliver(true);
  }

  failed(code: string, message: string): void {
    if (this.#done) return;
    this.destroy();
    this.#sink.onCodecError(code, message);
  }

  /** Hands on what was collected: small pieces as one Buffer (one write downstream), pieces
   *  already as large as a read as they are (no copy). `end` goes with the last. */
  #deliver(end: boolean): void {
    const out = this.#out;
    const n = this.#outLength;
    this.#out = [];
    this.#outLength = 0;
    if (out.length <= 1 || n <= COALESCE_BYTES) {
      this.#sink.onCodecOutput(out.length === 0 ? EMPTY : out.length === 1 ? out[0]! : Buffer.concat(out, n), end);
      return;
    }
    for (let i = 0; i < out.length; i++) {
      // A destroy from the sink (the stream reset) stops the rest.
      if (this.#destroyed) return;
      this.#sink.onCodecOutput(out[i]!, end && i === out.length - 1);
    }
  }
}

const EMPTY = Buffer.alloc(0);
/** Output up to this size is joined into one Buffer before it is handed on. */
const COALESCE_BYTES = 16 * 1024;

/** A factory of ZlibCodecs over `make`'s streams. */
export function zlibCodecFactory(make: ZlibMaker, maxRatio = 0): CodecFactory {
  return { create: (sink) => new ZlibCodec(make(), sink, maxRatio) };
}

/** zlib's output buffer for a library's chunk_size: Envoy's default (4 KiB) costs a threadpool
 *  round trip per 4 KiB of output in Node (zlib's output loop re-enters the pool whenever its
 *  buffer fills), so Legate never goes below 64 KiB; the bytes produced are the same. */
export function outputChunk(chunkSize: number): number {
  return Math.max(chunkSize, 64 * 1024);
}

export { zlib };
