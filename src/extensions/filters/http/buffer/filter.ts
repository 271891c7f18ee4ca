// envoy.filters.http.buffer's per-stream filter (Envoy's BufferFilter): a request with a body stops
// at its headers and its body is buffered by the filter manager (StopIterationAndBuffer) until the
// end of the stream, which passes headers, the whole body and trailers on at once. The buffer
// limit is set to max_request_bytes for the stream, so the manager answers 413 past it (and the
// rest of the body is never read: the connection closes after the 413). A request without
// content-length gets one for the buffered size (Envoy's maybeAddContentLength).
import type { Buffer } from 'node:buffer';
import {
  FilterDataStatus, FilterHeadersStatus, FilterTrailersStatus, type StreamDecoderFilter,
  type StreamDecoderFilterCallbacks,
} from '../../../../http/filter.ts';
import type { HeaderMap, RequestHeaders } from '../../../../http/types.ts';

/** The filter's settings: its own, or a route's BufferPerRoute. */
export interface BufferSettings {
  disabled: boolean;
  maxRequestBytes: number;
}

export class BufferFilter implements StreamDecoderFilter {
  readonly #config: BufferSettings;
  #cb: StreamDecoderFilterCallbacks | null;
  /** The request head while buffering (null: not buffering). */
  #headers: RequestHeaders | null;
  #length: number;

  constructor(config: BufferSettings) {
    this.#config = config;
    this.#cb = null;
    this.#headers = null;
    this.#length = 0;
  }

  setDecoderFilterCallbacks(cb: StreamDecoderFilterCallbacks): void {
    this.#cb = cb;
  }

  decodeHeaders(headers: RequestHeaders, endStream: boolean): FilterHeadersStatus {
    // A header-only request has nothing to buffer.
    if (endStream) return FilterHeadersStatus.Continue;
    const cb = this.#cb!;
    const settings = (cb.perFilterConfig() as BufferSettings | null) ?? this.#config;
    if (settings.disabled) return FilterHeadersStatus.Continue;
    cb.setDecoderBufferLimit(settings.maxRequestBytes);
    this.#headers = headers;
    return FilterHeadersStatus.StopIteration;
  }

  decodeData(data: Buffer, endStream: boolean): FilterDataStatus {
    if (this.#headers === null) return FilterDataStatus.Continue;
    this.#length += data.length;
    if (endStream) {
      this.#addContentLength();
      return FilterDataStatus.Continue;
    }
    // Buffered until the end of the request, or a 413 past the limit.
    return FilterDataStatus.StopIterationAndBuffer;
  }

  decodeTrailers(_trailers: HeaderMap): FilterTrailersStatus {
    this.#addContentLength();
    return FilterTrailersStatus.Continue;
  }

  onDestroy(): void {
    this.#headers = null;
  }

  #addContentLength(): void {
    const h = this.#headers;
    if (h === null) return;
    this.#headers = null;
    if (h.get('content-length') === undefined) h.set('content-length', String(this.#length));
  }
}
