// A FilterManager with one HTTP filter under test and a terminal filter that records what it got
// (the router's place), owned by a recorder of what reaches the codec: unit tests of HTTP filters
// without sockets.
import { Buffer } from 'node:buffer';
import { FilterManager, type FilterManagerCallbacks } from '../../../../src/http/filter-manager.ts';
import {
  FilterDataStatus, FilterHeadersStatus, FilterTrailersStatus, type FilterFactory, type StreamDecoderFilter,
  type StreamDecoderFilterCallbacks,
} from '../../../../src/http/filter.ts';
import { HeaderMap, RequestHeaders, ResponseHeaders, newStreamInfo, type StreamInfo } from '../../../../src/http/types.ts';
import type { CompiledRoute } from '../../../../src/router/route-table.ts';
import type { HcmStats } from '../../../../src/http/stats.ts';
import type { StatSink } from '../../../../src/common/stat-sink.ts';

/** The last filter: answers 200 'done' at the end of the request, recording what it saw. */
export class Terminal implements StreamDecoderFilter {
  cb: StreamDecoderFilterCallbacks | null = null;
  events: string[] = [];
  body: Buffer[] = [];
  setDecoderFilterCallbacks(cb: StreamDecoderFilterCallbacks): void { this.cb = cb; }
  decodeHeaders(_h: RequestHeaders, end: boolean): FilterHeadersStatus {
    this.events.push(`headers${end ? ' end' : ''}`);
    if (end) this.#respond();
    return FilterHeadersStatus.StopIteration;
  }
  decodeData(d: Buffer, end: boolean): FilterDataStatus {
    this.events.push(`data ${d.length}${end ? ' end' : ''}`);
    this.body.push(Buffer.from(d));
    if (end) this.#respond();
    return FilterDataStatus.StopIterationNoBuffer;
  }
  decodeTrailers(): FilterTrailersStatus {
    this.events.push('trailers');
    this.#respond();
    return FilterTrailersStatus.StopIteration;
  }
  onDestroy(): void {}
  #respond(): void {
    this.cb!.encodeHeaders(new ResponseHeaders(200, ['x-upstream', '1']), false);
    this.cb!.encodeData(Buffer.from('done'), true);
  }
}

export class Owner implements FilterManagerCallbacks {
  readonly streamInfo: StreamInfo = newStreamInfo(0, '', '', null);
  readonly route: CompiledRoute | null = null;
  readonly hcmStats = { downstream_rq_too_large: 0, rs_too_large: 1 } as HcmStats;
  readonly stats = { v: new Float64Array(2), record() {} } as unknown as StatSink;
  readonly requestHeaders: RequestHeaders;
  /** Config name -> the route's compiled per-filter config. */
  perRoute: Record<string, object> = {};
  fm: FilterManager | null = null;
  status = 0;
  headers: ResponseHeaders | null = null;
  body = '';
  ended = false;
  reset = false;
  readDisabled = 0;
  constructor(method: string, path: string, headers: string[]) {
    this.requestHeaders = new RequestHeaders(method, path, 'example.com', 'http', 'HTTP/1.1', headers);
  }
  upgradeToRelay(): void {}
  connection(): null { return null; }
  perFilterConfig(name: string): object | null { return this.perRoute[name] ?? null; }
  encodeHeaders(h: ResponseHeaders): void { this.headers = h; this.status = h.status; }
  encodeData(b: Buffer): void { this.body += b.toString(); }
  encodeTrailers(): void {}
  endStream(): void { this.ended = true; this.fm!.destroy(); }
  readDisable(d: boolean): void { this.readDisabled += d ? 1 : -1; }
  onLocalReply(_h: ResponseHeaders, body: string, details: string): string {
    this.streamInfo.responseCodeDetails = details;
    return body;
  }
  onRequestDataTooLarge(): void { this.stats.v[0]++; }
  onResponseDataTooLarge(): void { this.stats.v[1]++; }
  resetStream(): void { this.reset = true; }
}

/** A stream through `factory` (config name `name`) then a Terminal, with a `limit` buffer limit. */
export function stream(factory: FilterFactory, opts: { name?: string; method?: string; path?: string; headers?: string[]; limit?: number } = {}) {
  const owner = new Owner(opts.method ?? 'POST', opts.path ?? '/', opts.headers ?? []);
  const fm = new FilterManager(owner, opts.limit ?? 0);
  owner.fm = fm;
  const terminal = new Terminal();
  fm.createFilterChain([
    { name: opts.name ?? 'f', factory, disabled: false },
    { name: 'router', factory: (cb) => cb.addStreamDecoderFilter(terminal), disabled: false },
  ]);
  return { owner, fm, terminal };
}

export const b = (s: string): Buffer => Buffer.from(s);
export const trailers = (): HeaderMap => new HeaderMap(['t', 'v']);
