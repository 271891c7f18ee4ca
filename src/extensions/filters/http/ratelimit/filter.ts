// envoy.filters.http.ratelimit, per stream (Envoy's RateLimitFilter::Filter): decodeHeaders gathers
// the route's descriptors and, when there are any, calls the rate limit service and stops the
// request (its body is held with a watermark) until the answer; onRlsComplete continues it or
// answers locally. encodeHeaders adds what the service asked to add to the response and the
// x-ratelimit-* headers.
import type { Buffer } from 'node:buffer';
import {
  FilterDataStatus, FilterHeadersStatus, FilterTrailersStatus, type StreamDecoderFilterCallbacks,
  type StreamFilter,
} from '../../../../http/filter.ts';
import type { HeaderMap, RequestHeaders, ResponseHeaders } from '../../../../http/types.ts';
import type { WorkerContext } from '../../../types.ts';
import type { StatSink } from '../../../../common/stat-sink.ts';
import { HeaderParser } from '../../../../router/header-parser.ts';
import { VhRateLimits, addressWithoutPort, populateDescriptors, type Descriptor } from '../../../../router/rate-limits.ts';
import { rlsClient, type RlsClient, type RlsCall, type RlsCallbacks } from './rls-client.ts';
import { RlsCode, encodeRequest, xRateLimitHeaders, type RlsResponse } from './rls-codec.ts';
import type { RateLimitSnap } from './index.ts';
import { PassThroughFilter } from '../../../../http/pass-through-filter.ts';

export interface RateLimitStats {
  ok: number;
  over_limit: number;
  error: number;
  failure_mode_allowed: number;
}

/** A worker's view of one filter config: its RLS client and parsers. */
export class RateLimitConfig {
  readonly snap: RateLimitSnap;
  readonly ctx: WorkerContext;
  readonly stats: StatSink;
  readonly client: RlsClient;
  readonly responseHeaders: HeaderParser | null;
  constructor(snap: RateLimitSnap, ctx: WorkerContext) {
    this.snap = snap;
    this.ctx = ctx;
    this.stats = ctx.stats;
    this.client = rlsClient(ctx.clusterManager, snap.cluster, snap.authority);
    this.responseHeaders = snap.responseHeaders === null ? null : new HeaderParser(snap.responseHeaders);
  }
}

/** request_type. */
export const RequestType = { Both: 0, Internal: 1, External: 2 } as const;

const State = { NotStarted: 0, Calling: 1, Complete: 2, Responded: 3 } as const;

export class RateLimitFilter extends PassThroughFilter implements StreamFilter, RlsCallbacks {
  readonly #config: RateLimitConfig;
  #cb: StreamDecoderFilterCallbacks | null;
  #state: number;
  #initiating: boolean;
  #call: RlsCall | null;
  #headers: RequestHeaders | null;
  /** Answered 429 for the service (the filter's response_headers_to_add go on that reply only). */
  #overLimit: boolean;
  /** [name, value, ...] for the response (null: none). */
  #responseHeaders: string[] | null;

  constructor(config: RateLimitConfig) {
    super();
    this.#config = config;
    this.#cb = null;
    this.#state = State.NotStarted;
    this.#initiating = false;
    this.#call = null;
    this.#headers = null;
    this.#overLimit = false;
    this.#responseHeaders = null;
  }

  setDecoderFilterCallbacks(cb: StreamDecoderFilterCallbacks): void {
    this.#cb = cb;
  }

  decodeHeaders(headers: RequestHeaders, _endStream: boolean): FilterHeadersStatus {
    const c = this.#config;
    const snap = c.snap;
    const cb = this.#cb!;
    const policies = cb.route?.snap.rateLimits;
    if (policies === null || policies === undefined) return FilterHeadersStatus.Continue;
    if (!c.ctx.runtime.snapshot().featureEnabled('ratelimit.http_filter_enabled', 100)) {
      return FilterHeadersStatus.Continue;
    }
    if (snap.requestType !== RequestType.Both) {
      const internal = headers.get('x-envoy-internal') === 'true';
      if (internal !== (snap.requestType === RequestType.Internal)) return FilterHeadersStatus.Continue;
    }
    const ds: Descriptor[] = [];
    const action = cb.route!.snap.action;
    populateDescriptors(policies, snap.stage, VhRateLimits.Override, headers, {
      cluster: action.kind === 'cluster' ? action.cluster : '',
      remoteAddress: remoteAddress(cb),
    }, ds);
    if (ds.length === 0) return FilterHeadersStatus.Continue;
    this.#headers = headers;
    this.#state = State.Calling;
    this.#initiating = true;
    this.#call = c.client.limit(encodeRequest(snap.domain, ds, 0), snap.timeoutMs, this);
    this.#initiating = false;
    return this.#state === State.Calling || this.#state === State.Responded
      ? FilterHeadersStatus.StopIteration : FilterHeadersStatus.Continue;
  }

  decodeData(_data: Buffer, _endStream: boolean): FilterDataStatus {
    // While the call is out the body waits, the client paused past the buffer limit.
    return this.#state === State.Calling ? FilterDataStatus.StopIterationAndWatermark : FilterDataStatus.Continue;
  }

  decodeTrailers(_trailers: HeaderMap): FilterTrailersStatus {
    return this.#state === State.Calling ? FilterTrailersStatus.StopIteration : FilterTrailersStatus.Continue;
  }

  onRlsComplete(res: RlsResponse | null, _error: string): void {
    this.#call = null;
    if (this.#state !== State.Calling) return;
    this.#state = State.Complete;
    const c = this.#config;
    const snap = c.snap;
    const v = c.stats.v;
    const overLimit = res !== null && res.overallCode === RlsCode.OverLimit;
    let add: string[] | null = res === null || res.responseHeadersToAdd.length === 0 ? null : res.responseHeadersToAdd;
    if (res === null) v[snap.stats.error]++;
    else if (overLimit) {
      v[snap.stats.over_limit]++;
      if (snap.xEnvoyRateLimited) (add ??= []).push('x-envoy-ratelimited', 'true');
    } else v[snap.stats.ok]++;
    if (res !== null && snap.xRateLimitHeaders) {
      const x = xRateLimitHeaders(res.statuses);
      if (x !== null) (add ??= []).push('x-ratelimit-limit', x[0], 'x-ratelimit-remaining', x[1], 'x-ratelimit-reset', x[2]);
    }
    this.#responseHeaders = add;
    const cb = this.#cb!;
    if (overLimit && c.ctx.runtime.snapshot().featureEnabled('ratelimit.http_filter_enforcing', 100)) {
      this.#state = State.Responded;
      this.#overLimit = true;
      cb.sendLocalReply(snap.rateLimitedStatus, res!.rawBody, 'RL', 'request_rate_limited');
      return;
    }
    if (res === null) {
      if (snap.failureModeDeny) {
        this.#state = State.Responded;
        cb.sendLocalReply(snap.statusOnError, '', 'RLSE', 'rate_limiter_error');
        return;
      }
      v[snap.stats.failure_mode_allowed]++;
    } else {
      const rq = res.requestHeadersToAdd;
      const h = this.#headers!;
      for (let i = 0; i < rq.length; i += 2) h.add(rq[i], rq[i + 1]);
    }
    if (!this.#initiating) cb.continueDecoding();
  }

  encodeHeaders(headers: ResponseHeaders, _endStream: boolean): FilterHeadersStatus {
    const add = this.#responseHeaders;
    if (add !== null) {
      this.#responseHeaders = null;
      const local = this.#state === State.Responded;
      // The service's content-type wins over the local reply's text/plain (Envoy's).
      if (local) for (let i = 0; i < add.length; i += 2) if (add[i] === 'content-type') headers.remove('content-type');
      for (let i = 0; i < add.length; i += 2) headers.add(add[i], add[i + 1]);
    }
    if (this.#overLimit && this.#config.responseHeaders !== null) {
      this.#config.responseHeaders.evaluateHeaders(headers, null);
    }
    return FilterHeadersStatus.Continue;
  }

  onDestroy(): void {
    if (this.#state === State.Calling) {
      this.#state = State.Complete;
      this.#call?.cancel();
    }
    this.#call = null;
    this.#cb = null;
    this.#headers = null;
  }
}

function remoteAddress(cb: StreamDecoderFilterCallbacks): string {
  const a = cb.streamInfo.downstreamRemoteAddress;
  if (a !== '') return addressWithoutPort(a);
  return cb.connection()?.remoteIp ?? '';
}
