// The compression library seam (Envoy's envoy/compression/{compressor,decompressor}/): what the
// compressor and decompressor HTTP filters ask of a library extension (gzip, brotli, zstd under
// src/extensions/compression/). A library turns a stream's body into its coded form, or back,
// chunk by chunk; a chunk's result usually comes within the call, but part of a large one may come a
// loop turn or more later (src/compression/zlib-stream.ts codes in bounded slices), so results are
// reported to a sink instead of returned.
import type { Buffer } from 'node:buffer';

/** Where a coding stream reports: within write() or later, never after destroy(). */
export interface CodecSink {
  /** The output for the input written so far (flushed: a compressor's output can be decoded up
   *  to there), in order; `end` on the last, after the input's end was written. `data` may be a
   *  view of the coder's own buffer, valid only during the call, as body data handed to a filter
   *  is (http/filter.ts): keep retain(data). */
  onCodecOutput(data: Buffer, end: boolean): void;
  /** The stream failed (corrupt input, a decompression bomb): nothing more is reported. `code` is
   *  node:zlib's error code (`Z_DATA_ERROR`, `ZSTD_error_checksum_wrong` ...), `RATIO` for output
   *  past the library's inflate ratio. */
  onCodecError(code: string, message: string): void;
}

/** One stream's compressor or decompressor (Envoy's Compressor / Decompressor). */
export interface CodecStream {
  /** Code `data` (retained by the callee when it must outlive the call); `end`: the input ends
   *  here (`data` may be empty). */
  write(data: Buffer, end: boolean): void;
  /** Input bytes written and not yet coded: the caller's backpressure measure. */
  readonly pendingBytes: number;
  /** Release it; no sink call follows. */
  destroy(): void;
}

/** Made once per config in the worker (Envoy's CompressorFactory / DecompressorFactory). */
export interface CodecFactory {
  create(sink: CodecSink): CodecStream;
}
