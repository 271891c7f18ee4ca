// The decompressor filter's per-stream part (Envoy's DecompressorFilter,
// source/extensions/filters/http/decompressor/decompressor_filter.cc): each direction whose
// Content-Encoding starts with the library's coding is decoded through an asynchronous coder
// (src/compression/filter-pump.ts), its Content-Length removed and that coding taken off
// Content-Encoding.
import type { CodecFactory } from '../../../../compression/types.ts';
import { CodingFilter, type PumpStats } from '../../../../compression/filter-pump.ts';
import {
  FilterHeadersStatus, type StreamDecoderFilterCallbacks, type StreamEncoderFilterCallbacks, type StreamFilter,
} from '../../../../http/filter.ts';
import type { HeaderMap, RequestHeaders, ResponseHeaders } from '../../../../http/types.ts';
import type { StatSink } from '../../../../common/stat-sink.ts';
import type { Loader } from '../../../../runtime/types.ts';
import type { CompiledExtension } from '../../../types.ts';

export interface DecompressorDirectionSnap {
  enabled: { key: string | null; default: boolean };
  ignoreNoTransform: boolean;
  stats: Record<'decompressed' | 'not_decompressed' | 'total_uncompressed_bytes' | 'total_compressed_bytes', number>;
}

export interface DecompressorSnap {
  library: CompiledExtension;
  contentEncoding: string;
  request: DecompressorDirectionSnap & { advertise: boolean };
  response: DecompressorDirectionSnap;
  /** The library's error stats by name (decompressor_library.<name>). */
  libraryStats: Record<string, number>;
}

export class DecompressorShared {
  readonly snap: DecompressorSnap;
  readonly factory: CodecFactory;
  readonly runtime: Loader;
  readonly encoding: string;
  readonly requestPumpStats: PumpStats;
  readonly responsePumpStats: PumpStats;
  readonly #errorStat: ((code: string) => string) | null;
  constructor(snap: DecompressorSnap, factory: CodecFactory, runtime: Loader, errorStat: ((code: string) => string) | null) {
    this.snap = snap;
    this.factory = factory;
    this.runtime = runtime;
    this.encoding = snap.contentEncoding.toLowerCase();
    this.requestPumpStats = { in: snap.request.stats.total_compressed_bytes, out: snap.request.stats.total_uncompressed_bytes };
    this.responsePumpStats = { in: snap.response.stats.total_compressed_bytes, out: snap.response.stats.total_uncompressed_bytes };
    this.#errorStat = errorStat;
  }
  enabled(d: DecompressorDirectionSnap): boolean {
    const f = d.enabled;
    return f.key === null ? f.default : this.runtime.snapshot().getBoolean(f.key, f.default);
  }
  countError(stats: StatSink, code: string): void {
    const slot = this.#errorStat === null ? undefined : this.snap.libraryStats[this.#errorStat(code)];
    if (slot !== undefined) stats.v[slot]++;
  }
}

function hasNoTransform(h: HeaderMap): boolean {
  const cc = h.get('cache-control');
  if (cc === undefined) return false;
  for (const part of cc.split(',')) if (part.trim().toLowerCase() === 'no-transform') return true;
  return false;
}

export class DecompressorFilter extends CodingFilter implements StreamFilter {
  readonly #s: DecompressorShared;
  #dcb: StreamDecoderFilterCallbacks | null;
  #ecb: StreamEncoderFilterCallbacks | null;
  readonly #onError: (code: string) => void;

  constructor(s: DecompressorShared) {
    super();
    this.#s = s;
    this.#dcb = null;
    this.#ecb = null;
    this.#onError = this.#countError.bind(this);
  }

  setDecoderFilterCallbacks(cb: StreamDecoderFilterCallbacks): void { this.#dcb = cb; }
  setEncoderFilterCallbacks(cb: StreamEncoderFilterCallbacks): void { this.#ecb = cb; }

  decodeHeaders(headers: RequestHeaders, endStream: boolean): FilterHeadersStatus {
    // A headers-only request: left alone, as in Envoy.
    if (endStream) return FilterHeadersStatus.Continue;
    const s = this.#s;
    if (s.snap.request.advertise && s.enabled(s.snap.response)) {
      const ae = headers.get('accept-encoding');
      headers.set('accept-encoding', ae === undefined ? s.snap.contentEncoding : `${ae},${s.snap.contentEncoding}`);
    }
    if (this.#start(s.snap.request, headers)) {
      this.codeRequest(s.factory, this.#dcb!, s.requestPumpStats, this.#onError);
    }
    return FilterHeadersStatus.Continue;
  }

  encodeHeaders(headers: ResponseHeaders, endStream: boolean): FilterHeadersStatus {
    if (endStream) return FilterHeadersStatus.Continue;
    if (this.#start(this.#s.snap.response, headers)) {
      this.codeResponse(this.#s.factory, this.#ecb!, this.#s.responsePumpStats, this.#onError);
    }
    return FilterHeadersStatus.Continue;
  }

  /** Envoy's maybeInitDecompress: whether to decode this direction (its headers updated if so). */
  #start(d: DecompressorDirectionSnap, h: HeaderMap): boolean {
    const v = this.#dcb!.stats.v;
    const ce = h.get('content-encoding');
    // The first coding listed must be the library's (Envoy's contentEncodingMatches).
    const comma = ce === undefined ? -1 : ce.indexOf(',');
    const first = ce === undefined ? '' : (comma < 0 ? ce : ce.slice(0, comma)).trim().toLowerCase();
    if (!this.#s.enabled(d) || (!d.ignoreNoTransform && hasNoTransform(h)) || first !== this.#s.encoding) {
      v[d.stats.not_decompressed]++;
      return false;
    }
    v[d.stats.decompressed]++;
    h.remove('content-length');
    const rest = comma < 0 ? '' : ce!.slice(comma + 1).trim();
    if (rest === '') h.remove('content-encoding');
    else h.set('content-encoding', rest);
    return true;
  }

  #countError(code: string): void {
    this.#s.countError(this.#dcb!.stats, code);
  }
}
