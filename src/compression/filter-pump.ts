// Runs one direction of a stream's body through a CodecStream for an HTTP filter (the compressor
// and decompressor filters). The coder takes each data frame (StopIterationNoBuffer) and hands its
// output to the filters after it with inject*DataToFilterChain, in order, the stream's end with the
// last output: usually within the same call (src/compression/zlib-stream.ts codes a frame in
// place, as Envoy's filters do), or a loop turn or more later for what it codes in slices. Trailers
// pass at once when the coder has finished by then, else wait (StopIteration) and follow its end.
//
// Memory stays bounded: past `high` input bytes waiting in the coder, the source is paused (the
// client read-disabled for a request, the upstream paused through the downstream watermark
// callbacks for a response) and resumed below half of it; on the output side the client's own
// watermarks pause the upstream as for any response.
//
// CodingFilter is what both filters share around their pumps: a filter decides at a direction's
// headers whether to code it (codeRequest / codeResponse), and the direction's data and trailers
// then go to that pump, or pass when there is none.
import { Buffer } from 'node:buffer';
import {
  FilterDataStatus, FilterTrailersStatus, type StreamDecoderFilterCallbacks, type StreamEncoderFilterCallbacks,
} from '../http/filter.ts';
import type { HeaderMap } from '../http/types.ts';
import type { StatSink } from '../common/stat-sink.ts';
import type { CodecFactory, CodecSink, CodecStream } from './types.ts';

const EMPTY = Buffer.alloc(0);
/** Pending input that pauses the source when the stream has no buffer limit. */
const DEFAULT_HIGH = 1024 * 1024;

/** The byte counters a pump adds to (slots). */
export interface PumpStats {
  /** Input bytes (total_uncompressed_bytes for a compressor, total_compressed_bytes for a decompressor). */
  in: number;
  out: number;
}

export class CodingPump implements CodecSink {
  readonly #stream: CodecStream;
  /** Exactly one of them is set: the request (decoder) or response (encoder) side. */
  readonly #dcb: StreamDecoderFilterCallbacks | null;
  readonly #ecb: StreamEncoderFilterCallbacks | null;
  readonly #stats: StatSink;
  readonly #inSlot: number;
  readonly #outSlot: number;
  readonly #high: number;
  #paused: boolean;
  /** The input ended with trailers, which wait for the last output. */
  #trailers: boolean;
  /** In trailers(): the coder's end there means they pass at once (#trailersPass). */
  #inTrailers: boolean;
  #trailersPass: boolean;
  #onError: ((code: string) => void) | null;

  constructor(factory: CodecFactory, dcb: StreamDecoderFilterCallbacks | null, ecb: StreamEncoderFilterCallbacks | null,
    stats: StatSink, slots: PumpStats, onError: ((code: string) => void) | null = null) {
    this.#dcb = dcb;
    this.#ecb = ecb;
    this.#stats = stats;
    this.#inSlot = slots.in;
    this.#outSlot = slots.out;
    const limit = dcb !== null ? dcb.decoderBufferLimit : ecb!.encoderBufferLimit;
    this.#high = limit > 0 ? limit : DEFAULT_HIGH;
    this.#paused = false;
    this.#trailers = false;
    this.#inTrailers = false;
    this.#trailersPass = false;
    this.#onError = onError;
    this.#stream = factory.create(this);
  }

  /** A data frame of the direction: taken; its coded form follows by injection. */
  data(data: Buffer, endStream: boolean): FilterDataStatus {
    this.#stats.v[this.#inSlot] += data.length;
    this.#stream.write(data, endStream);
    if (!this.#paused && this.#stream.pendingBytes > this.#high) {
      this.#paused = true;
      this.#pause(true);
    }
    return FilterDataStatus.StopIterationNoBuffer;
  }

  /** The direction's trailers: the input ends; they pass once the last output has. */
  trailers(): FilterTrailersStatus {
    this.#trailers = true;
    this.#inTrailers = true;
    this.#stream.write(EMPTY, true);
    this.#inTrailers = false;
    return this.#trailersPass ? FilterTrailersStatus.Continue : FilterTrailersStatus.StopIteration;
  }

  destroy(): void {
    this.#stream.destroy();
  }

  onCodecOutput(data: Buffer, end: boolean): void {
    this.#stats.v[this.#outSlot] += data.length;
    if (this.#paused && this.#stream.pendingBytes <= this.#high >>> 1) {
      this.#paused = false;
      this.#pause(false);
    }
    const dcb = this.#dcb;
    if (end && this.#trailers) {
      if (data.length > 0) {
        if (dcb !== null) dcb.injectDecodedDataToFilterChain(data, false);
        else this.#ecb!.injectEncodedDataToFilterChain(data, false);
      }
      if (this.#inTrailers) {
        this.#trailersPass = true;
        return;
      }
      if (dcb !== null) dcb.continueDecoding();
      else this.#ecb!.continueEncoding();
      return;
    }
    if (data.length === 0 && !end) return;
    if (dcb !== null) dcb.injectDecodedDataToFilterChain(data, end);
    else this.#ecb!.injectEncodedDataToFilterChain(data, end);
  }

  onCodecError(code: string): void {
    if (this.#paused) {
      this.#paused = false;
      this.#pause(false);
    }
    this.#onError?.(code);
    // Part of the body has gone on already: all that is left is to abort the stream.
    if (this.#dcb !== null) this.#dcb.resetStream();
    else this.#ecb!.resetStream();
  }

  #pause(pause: boolean): void {
    const dcb = this.#dcb;
    if (dcb !== null) {
      dcb.readDisable(pause);
    } else if (pause) {
      this.#ecb!.onEncoderFilterAboveWriteBufferHighWatermark();
    } else {
      this.#ecb!.onEncoderFilterBelowWriteBufferLowWatermark();
    }
  }
}

/** The body side of the compressor and decompressor filters: at most one pump per direction,
 *  started by the subclass from its headers call. */
export abstract class CodingFilter {
  #request: CodingPump | null;
  #response: CodingPump | null;

  constructor() {
    this.#request = null;
    this.#response = null;
  }

  /** Code the request body from here on. */
  protected codeRequest(factory: CodecFactory, cb: StreamDecoderFilterCallbacks, slots: PumpStats,
    onError: ((code: string) => void) | null = null): void {
    this.#request = new CodingPump(factory, cb, null, cb.stats, slots, onError);
  }

  /** Code the response body from here on. */
  protected codeResponse(factory: CodecFactory, cb: StreamEncoderFilterCallbacks, slots: PumpStats,
    onError: ((code: string) => void) | null = null): void {
    this.#response = new CodingPump(factory, null, cb, cb.stats, slots, onError);
  }

  decodeData(data: Buffer, endStream: boolean): FilterDataStatus {
    const p = this.#request;
    return p === null ? FilterDataStatus.Continue : p.data(data, endStream);
  }

  decodeTrailers(_trailers: HeaderMap): FilterTrailersStatus {
    const p = this.#request;
    return p === null ? FilterTrailersStatus.Continue : p.trailers();
  }

  encodeData(data: Buffer, endStream: boolean): FilterDataStatus {
    const p = this.#response;
    return p === null ? FilterDataStatus.Continue : p.data(data, endStream);
  }

  encodeTrailers(_trailers: HeaderMap): FilterTrailersStatus {
    const p = this.#response;
    return p === null ? FilterTrailersStatus.Continue : p.trailers();
  }

  onDestroy(): void {
    this.#request?.destroy();
    this.#response?.destroy();
    this.#request = null;
    this.#response = null;
  }
}
