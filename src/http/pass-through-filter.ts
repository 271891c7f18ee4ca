// A filter that passes everything on unless it says otherwise (Envoy's PassThroughFilter,
// source/extensions/filters/http/common/pass_through_filter.h): a filter extends it and overrides
// only the calls it acts on. One class for both sides: a filter added as a decoder only (or an
// encoder only) is never called on the other side's methods.
import type { Buffer } from 'node:buffer';
import {
  FilterDataStatus, FilterHeadersStatus, FilterTrailersStatus, type StreamDecoderFilterCallbacks,
  type StreamEncoderFilterCallbacks, type StreamFilter,
} from './filter.ts';
import type { HeaderMap, RequestHeaders, ResponseHeaders } from './types.ts';

export class PassThroughFilter implements StreamFilter {
  setDecoderFilterCallbacks(_cb: StreamDecoderFilterCallbacks): void {}
  setEncoderFilterCallbacks(_cb: StreamEncoderFilterCallbacks): void {}
  decodeHeaders(_headers: RequestHeaders, _endStream: boolean): FilterHeadersStatus {
    return FilterHeadersStatus.Continue;
  }
  decodeData(_data: Buffer, _endStream: boolean): FilterDataStatus {
    return FilterDataStatus.Continue;
  }
  decodeTrailers(_trailers: HeaderMap): FilterTrailersStatus {
    return FilterTrailersStatus.Continue;
  }
  encodeHeaders(_headers: ResponseHeaders, _endStream: boolean): FilterHeadersStatus {
    return FilterHeadersStatus.Continue;
  }
  encodeData(_data: Buffer, _endStream: boolean): FilterDataStatus {
    return FilterDataStatus.Continue;
  }
  encodeTrailers(_trailers: HeaderMap): FilterTrailersStatus {
    return FilterTrailersStatus.Continue;
  }
  onDestroy(): void {}
}
