// The compressor filter's per-stream part (Envoy's CompressorFilter,
// source/extensions/filters/http/compressor/compressor_filter.cc): the request's Accept-Encoding is
// kept at decodeHeaders, the response decided at encodeHeaders, and a chosen direction's body runs
// through an asynchronous coder (src/compression/filter-pump.ts).
//
// Several compressor filters in one chain (gzip, br, zstd) decide together, once per stream, as
// Envoy's do through the stream's filter state: each registers its config when the chain is built
// and the first to see the response picks the encoding for all (chooseEncoding below). Legate has
// no filter state; the stream's registry is found by its StreamInfo in a WeakMap.
import type { CodecFactory } from '../../../../compression/types.ts';
import { CodingFilter, type PumpStats } from '../../../../compression/filter-pump.ts';
import {
  FilterHeadersStatus, type StreamDecoderFilterCallbacks, type StreamEncoderFilterCallbacks, type StreamFilter,
} from '../../../../http/filter.ts';
import type { HeaderMap, RequestHeaders, ResponseHeaders, StreamInfo } from '../../../../http/types.ts';
import type { Loader } from '../../../../runtime/types.ts';
import type { CompiledExtension } from '../../../types.ts';

/** A RuntimeFeatureFlag: `runtime_key`'s boolean, else `default`. */
export interface FeatureFlagSnap {
  key: string | null;
  default: boolean;
}

export interface DirectionSnap {
  enabled: FeatureFlagSnap;
  minContentLength: number;
  /** Lowercased. */
  contentTypes: string[];
  stats: Record<'compressed' | 'not_compressed' | 'total_uncompressed_bytes' | 'total_compressed_bytes'
    | 'content_length_too_small', number>;
}

export interface CompressorSnap {
  /** The filter's http_filters[i].name (its typed_per_filter_config key). */
  configName: string;
  library: CompiledExtension;
  contentEncoding: string;
  chooseFirst: boolean;
  request: DirectionSnap & { set: boolean };
  response: DirectionSnap & {
    disableOnEtag: boolean;
    removeAcceptEncoding: boolean;
    responseStats: Record<'no_accept_header' | 'header_identity' | 'header_compressor_used'
      | 'header_compressor_overshadowed' | 'header_wildcard' | 'header_not_valid' | 'not_compressed_etag', number>;
  };
}

/** CompressorPerRoute: null leaves the filter's own setting. */
export interface CompressorPerRouteSnap {
  responseEnabled: boolean | null;
  removeAcceptEncoding: boolean | null;
}

class Direction {
  readonly snap: DirectionSnap;
  readonly types: ReadonlySet<string>;
  readonly pumpStats: PumpStats;
  constructor(snap: DirectionSnap) {
    this.snap = snap;
    this.types = new Set(snap.contentTypes);
    this.pumpStats = { in: snap.stats.total_uncompressed_bytes, out: snap.stats.total_compressed_bytes };
  }
}

/** What every stream of one filter config shares (Envoy's CompressorFilterConfig). */
export class CompressorConfig {
  readonly snap: CompressorSnap;
  readonly factory: CodecFactory;
  readonly runtime: Loader;
  readonly request: Direction;
  readonly response: Direction;
  readonly encoding: string;
  readonly encodingLower: string;
  constructor(snap: CompressorSnap, factory: CodecFactory, runtime: Loader) {
    this.snap = snap;
    this.factory = factory;
    this.runtime = runtime;
    this.request = new Direction(snap.request);
    this.response = new Direction(snap.response);
    this.encoding = snap.contentEncoding;
    this.encodingLower = snap.contentEncoding.toLowerCase();
  }
  newFilter(): CompressorFilter {
    return new CompressorFilter(this);
  }
  enabled(f: FeatureFlagSnap): boolean {
    return f.key === null ? f.default : this.runtime.snapshot().getBoolean(f.key, f.default);
  }
}

// Which Accept-Encoding case decided (Envoy's EncodingDecision::HeaderStat).
const NOT_VALID = 0;
const IDENTITY = 1;
const WILDCARD = 2;
const VALID_COMPRESSOR = 3;

interface Decision {
  encoding: string;
  stat: number;
}

/** The compressor filters of one stream, in chain order, and their decision once made. */
interface Registry {
  configs: CompressorConfig[];
  decision: Decision | null;
}

const registries = new WeakMap<StreamInfo, Registry>();

/** The media type of a Content-Type value: before any `;`, trimmed, lowercased. */
function mediaType(v: string | undefined): string {
  if (v === undefined) return '';
  const semi = v.indexOf(';');
  return (semi < 0 ? v : v.slice(0, semi)).trim().toLowerCase();
}

/** Whether a comma-separated header value has `token` (case-insensitive, trimmed). */
export function hasToken(v: string, token: string): boolean {
  for (const part of v.split(',')) if (part.trim().toLowerCase() === token) return true;
  return false;
}

const COMPRESSION_CODINGS = new Set(['gzip', 'br', 'deflate', 'compress', 'zstd']);

function transferEncodingAllowed(h: HeaderMap, encoding: string): boolean {
  const te = h.get('transfer-encoding');
  if (te === undefined) return true;
  for (const part of te.split(',')) {
    const t = part.trim().toLowerCase();
    if (COMPRESSION_CODINGS.has(t) || t === encoding) return false;
  }
  return true;
}

function isUpgrade(h: HeaderMap): boolean {
  const c = h.get('connection');
  return c !== undefined && h.get('upgrade') !== undefined && hasToken(c, 'upgrade');
}

const DIGITS = /^\d+$/;

function contentTypeAllowed(d: Direction, h: HeaderMap): boolean {
  const ct = h.get('content-type');
  return ct === undefined || d.types.has(mediaType(ct));
}

/** Envoy's chooseEncoding: the encoding for the response among the chain's compressors and the
 *  client's Accept-Encoding (q-values; `identity`; `*` takes the first registered). */
export function chooseEncoding(configs: readonly CompressorConfig[], acceptEncoding: string, contentType: string): Decision {
  // Compressors for this content type, first registration per encoding (a later filter with the
  // same encoding is ignored).
  const allowed = new Map<string, { order: number; chooseFirst: boolean }>();
  for (const c of configs) {
    if (contentType !== '' && !c.response.types.has(contentType)) continue;
    if (!allowed.has(c.encoding)) allowed.set(c.encoding, { order: allowed.size, chooseFirst: c.snap.chooseFirst });
  }
  const names: string[] = [];
  const qs: number[] = [];
  for (const token of acceptEncoding.split(',')) {
    if (token === '') continue;
    const semi = token.indexOf(';');
    const name = (semi < 0 ? token : token.slice(0, semi)).trim();
    let q = 1;
    if (semi >= 0) {
      const params = token.slice(semi + 1);
      const eq = params.indexOf('=');
      if (eq >= 0 && params.slice(0, eq).trim().toLowerCase() === 'q') {
        const text = params.slice(eq + 1).trim();
        q = text === '' ? NaN : Number(text);
        if (Number.isNaN(q)) continue; // an unparseable q-value: the token is skipped
      }
    }
    names.push(name);
    qs.push(q);
    // q=0 refuses that compressor, but stays in the list: `gzip;q=0, *` must not pick gzip by `*`.
    if (q === 0) allowed.delete(name);
  }
  if (names.length === 0 || allowed.size === 0) return { encoding: 'identity', stat: NOT_VALID };
  let choice = 'identity';
  let best = 0;
  for (let i = 0; i < names.length; i++) {
    const n = names[i];
    const a = allowed.get(n);
    if (a === undefined && n !== 'identity' && n !== '*') continue;
    if (qs[i] > best || (qs[i] === best && a !== undefined && a.chooseFirst)) {
      choice = n;
      best = qs[i];
    }
  }
  if (best === 0) return { encoding: 'identity', stat: NOT_VALID };
  if (choice === 'identity') return { encoding: 'identity', stat: IDENTITY };
  if (choice === '*') {
    let first = '';
    let order = Infinity;
    for (const [n, a] of allowed) if (a.order < order) { first = n; order = a.order; }
    return { encoding: first, stat: WILDCARD };
  }
  return { encoding: choice, stat: VALID_COMPRESSOR };
}

export class CompressorFilter extends CodingFilter implements StreamFilter {
  readonly #c: CompressorConfig;
  #dcb: StreamDecoderFilterCallbacks | null;
  #ecb: StreamEncoderFilterCallbacks | null;
  #registry: Registry | null;
  #acceptEncoding: string | null;
  #perRoute: CompressorPerRouteSnap | null;

  constructor(c: CompressorConfig) {
    super();
    this.#c = c;
    this.#dcb = null;
    this.#ecb = null;
    this.#registry = null;
    this.#acceptEncoding = null;
    this.#perRoute = null;
  }

  setDecoderFilterCallbacks(cb: StreamDecoderFilterCallbacks): void {
    this.#dcb = cb;
    let r = registries.get(cb.streamInfo);
    if (r === undefined) {
      r = { configs: [], decision: null };
      registries.set(cb.streamInfo, r);
    }
    r.configs.push(this.#c);
    this.#registry = r;
  }

  setEncoderFilterCallbacks(cb: StreamEncoderFilterCallbacks): void {
    this.#ecb = cb;
  }

  decodeHeaders(headers: RequestHeaders, endStream: boolean): FilterHeadersStatus {
    const c = this.#c;
    const ae = headers.get('accept-encoding');
    if (ae !== undefined) this.#acceptEncoding = ae;
    const name = c.snap.configName;
    if (name !== '') this.#perRoute = this.#dcb!.perFilterConfig(name) as CompressorPerRouteSnap | null;
    if (ae !== undefined && this.#responseEnabled() && this.#removeAcceptEncoding()) headers.remove('accept-encoding');

    const req = c.request;
    const v = this.#dcb!.stats.v;
    if (!endStream && c.snap.request.set && c.enabled(req.snap.enabled) && headers.upgrade === ''
        && this.#minimumLength(req, headers) && contentTypeAllowed(req, headers)
        && headers.get('content-encoding') === undefined && transferEncodingAllowed(headers, c.encodingLower)) {
      headers.remove('content-length');
      headers.set('content-encoding', c.encoding);
      v[req.snap.stats.compressed]++;
      this.codeRequest(c.factory, this.#dcb!, req.pumpStats);
    } else {
      v[req.snap.stats.not_compressed]++;
    }
    return FilterHeadersStatus.Continue;
  }

  encodeHeaders(headers: ResponseHeaders, endStream: boolean): FilterHeadersStatus {
    const c = this.#c;
    const resp = c.response;
    const v = this.#ecb!.stats.v;
    const enabledAndBigEnough = this.#responseEnabled() && this.#minimumLength(resp, headers);
    const compressible = enabledAndBigEnough && !isUpgrade(headers) && contentTypeAllowed(resp, headers)
      && !this.#noTransform(headers) && this.#etagAllowed(headers) && headers.get('content-encoding') === undefined;
    if (!endStream && this.#acceptEncodingAllowed(enabledAndBigEnough, headers) && compressible
        && transferEncodingAllowed(headers, c.encodingLower)) {
      // A strong ETag no longer matches the bytes sent; a weak one still holds (Envoy keeps it).
      const etag = headers.get('etag');
      if (etag !== undefined && etag.length > 2 && !((etag[0] === 'W' || etag[0] === 'w') && etag[1] === '/')) {
        headers.remove('etag');
      }
      headers.remove('content-length');
      headers.set('content-encoding', c.encoding);
      v[resp.snap.stats.compressed]++;
      this.codeResponse(c.factory, this.#ecb!, resp.pumpStats);
    } else {
      v[resp.snap.stats.not_compressed]++;
    }
    // Even uncompressed (an Accept-Encoding this response could not use), the response varies by
    // Accept-Encoding for a cache in front.
    if (compressible) {
      const vary = headers.get('vary');
      if (vary === undefined) headers.set('vary', 'accept-encoding');
      else if (!hasToken(vary, 'accept-encoding')) headers.set('vary', `${vary}, accept-encoding`);
    }
    return FilterHeadersStatus.Continue;
  }

  #responseEnabled(): boolean {
    const r = this.#perRoute?.responseEnabled;
    return r !== undefined && r !== null ? r : this.#c.enabled(this.#c.response.snap.enabled);
  }

  #removeAcceptEncoding(): boolean {
    const r = this.#perRoute?.removeAcceptEncoding;
    return r !== undefined && r !== null ? r : this.#c.snap.response.removeAcceptEncoding;
  }

  #minimumLength(d: Direction, h: HeaderMap): boolean {
    const cl = h.get('content-length');
    if (cl === undefined) return true;
    const t = cl.trim();
    if (DIGITS.test(t) && Number(t) >= d.snap.minContentLength) return true;
    this.#dcb!.stats.v[d.snap.stats.content_length_too_small]++;
    return false;
  }

  #noTransform(h: HeaderMap): boolean {
    const cc = h.get('cache-control');
    return cc !== undefined && hasToken(cc, 'no-transform');
  }

  #etagAllowed(h: HeaderMap): boolean {
    if (!this.#c.snap.response.disableOnEtag || h.get('etag') === undefined) return true;
    this.#ecb!.stats.v[this.#c.snap.response.responseStats.not_compressed_etag]++;
    return false;
  }

  /** Envoy's isAcceptEncodingAllowed: whether this filter is the one to compress, counting the
   *  Accept-Encoding stats. */
  #acceptEncodingAllowed(maybe: boolean, h: ResponseHeaders): boolean {
    if (!maybe) return false;
    const c = this.#c;
    const rs = c.snap.response.responseStats;
    const v = this.#ecb!.stats.v;
    const ae = this.#acceptEncoding;
    if (ae === null) {
      v[rs.no_accept_header]++;
      return false;
    }
    const reg = this.#registry!;
    let d = reg.decision;
    if (d === null) {
      d = chooseEncoding(reg.configs, ae, mediaType(h.get('content-type')));
      reg.decision = d;
    }
    const mine = d.encoding.toLowerCase() === c.encodingLower;
    switch (d.stat) {
      case VALID_COMPRESSOR:
        v[mine ? rs.header_compressor_used : rs.header_compressor_overshadowed]++;
        break;
      case IDENTITY:
        v[rs.header_identity]++;
        break;
      case WILDCARD:
        v[rs.header_wildcard]++;
        break;
      default:
        v[rs.header_not_valid]++;
    }
    return mine;
  }
}
