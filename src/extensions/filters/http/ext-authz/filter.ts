// envoy.filters.http.ext_authz (Envoy's ExtAuthz::Filter, source/extensions/filters/http/ext_authz/):
// each request is held (StopAllIterationAndWatermark) while the authorization service is asked,
// after the body when with_request_body asks for it (buffered up to max_request_bytes: past it a
// 413, or with allow_partial_message the check goes with what was buffered). Then:
//   - allowed: the service's headers are set on / added to / appended to / removed from the
//     request, which continues; headers for the client's response are added when it comes back;
//   - denied: the client gets the service's status, body and allowed headers (flag UAEX);
//   - error (no answer, a 5xx, a failed call): with failure_mode_allow the request continues
//     (with x-envoy-auth-failure-mode-allowed: true under failure_mode_allow_header_add), else
//     status_on_error (403 by default, flag UAEX).
// Counted in http.<stat_prefix>.ext_authz.* and in cluster.<route's cluster>.ext_authz.*.
import { Buffer } from 'node:buffer';
import {
  FilterDataStatus, FilterHeadersStatus, FilterTrailersStatus, type StreamDecoderFilterCallbacks,
  type StreamEncoderFilterCallbacks, type StreamFilter,
} from '../../../../http/filter.ts';
import { ResponseFlag, type HeaderMap, type RequestHeaders, type ResponseHeaders } from '../../../../http/types.ts';
import {
  CheckStatus, type AuthzResponse, type CheckCall, type CheckCallbacks, type ExtAuthzPerRouteSnap, type ExtAuthzSnap,
} from './config.ts';
import type { HttpAuthzClient } from './http-client.ts';
import type { GrpcAuthzClient } from './grpc-client.ts';
import { PassThroughFilter } from '../../../../http/pass-through-filter.ts';

const DENIED = 'ext_authz_denied';
const ERROR = 'ext_authz_error';
const FAILURE_MODE_ALLOWED = 'x-envoy-auth-failure-mode-allowed';
const NO_CONTEXT: readonly string[] = [];
/** Never removed from the request (Envoy's isRemovableHeader). */
const NOT_REMOVABLE = new Set(['host', 'content-length', 'transfer-encoding', 'connection']);

const State = { NotStarted: 0, Calling: 1, Complete: 2 } as const;

let streamIds = 0;

/** What the streams of one filter config share (per worker). */
export interface ExtAuthzConfig {
  snap: ExtAuthzSnap;
  http: HttpAuthzClient | null;
  grpc: GrpcAuthzClient | null;
}

const NO_DECODER = null as unknown as StreamDecoderFilterCallbacks;
const NO_ENCODER = null as unknown as StreamEncoderFilterCallbacks;

export class ExtAuthzFilter extends PassThroughFilter implements StreamFilter, CheckCallbacks {
  readonly config: ExtAuthzConfig;
  dcb: StreamDecoderFilterCallbacks;
  ecb: StreamEncoderFilterCallbacks;
  headers: RequestHeaders | null;
  state: number;
  /** Buffering the body before the check. */
  bufferData: boolean;
  /** The check completed inside check() (the filter returns Continue instead of continuing). */
  initiating: boolean;
  /** The request may go on (set when the check allowed it during initiation). */
  allowed: boolean;
  call: CheckCall | null;
  perRoute: ExtAuthzPerRouteSnap | null;
  responseHeadersToAdd: string[] | null;
  responseHeadersToSet: string[] | null;

  constructor(config: ExtAuthzConfig) {
    super();
    this.config = config;
    this.dcb = NO_DECODER;
    this.ecb = NO_ENCODER;
    this.headers = null;
    this.state = State.NotStarted;
    this.bufferData = false;
    this.initiating = false;
    this.allowed = false;
    this.call = null;
    this.perRoute = null;
    this.responseHeadersToAdd = null;
    this.responseHeadersToSet = null;
  }

  setDecoderFilterCallbacks(cb: StreamDecoderFilterCallbacks): void { this.dcb = cb; }
  setEncoderFilterCallbacks(cb: StreamEncoderFilterCallbacks): void { this.ecb = cb; }

  decodeHeaders(headers: RequestHeaders, endStream: boolean): FilterHeadersStatus {
    const cb = this.dcb;
    // No route: nothing to authorize for (Envoy skips the check).
    if (cb.route === null) return FilterHeadersStatus.Continue;
    const pr = cb.perFilterConfig(this.config.snap.filterName) as ExtAuthzPerRouteSnap | null;
    if (pr !== null && pr.disabled) return FilterHeadersStatus.Continue;
    this.perRoute = pr;
    this.headers = headers;
    const body = this.config.snap.withRequestBody;
    this.bufferData = body !== null && !(pr !== null && pr.disableRequestBodyBuffering) && !endStream
      && headers.upgrade === '';
    if (this.bufferData) {
      if (!body!.allowPartialMessage) cb.setDecoderBufferLimit(body!.maxRequestBytes);
      return FilterHeadersStatus.StopIteration;
    }
    this.#initiateCall(null, false);
    return this.allowed ? FilterHeadersStatus.Continue : FilterHeadersStatus.StopAllIterationAndWatermark;
  }

  decodeData(data: Buffer, endStream: boolean): FilterDataStatus {
    if (!this.bufferData || this.state !== State.NotStarted) return FilterDataStatus.Continue;
    const max = this.config.snap.withRequestBody!;
    const buffered = this.dcb.decodingBuffer();
    const have = buffered === null ? 0 : buffered.length;
    const full = max.allowPartialMessage && have + data.length >= max.maxRequestBytes;
    if (!endStream && !full) return FilterDataStatus.StopIterationAndBuffer;
    // The body so far and this data (the manager buffers it when we stop).
    let body = have === 0 ? data : Buffer.concat([buffered!.toBuffer(), data]);
    let partial = false;
    if (body.length > max.maxRequestBytes) {
      body = body.subarray(0, max.maxRequestBytes);
      partial = true;
    } else if (full && !endStream) {
      partial = body.length === max.maxRequestBytes;
    }
    this.#initiateCall(body, partial);
    return this.allowed ? FilterDataStatus.Continue : FilterDataStatus.StopIterationAndWatermark;
  }

  decodeTrailers(_trailers: HeaderMap): FilterTrailersStatus {
    if (!this.bufferData) return FilterTrailersStatus.Continue;
    if (this.state === State.NotStarted) {
      const b = this.dcb.decodingBuffer();
      this.#initiateCall(b === null ? Buffer.alloc(0) : b.toBuffer(), false);
    }
    return this.allowed ? FilterTrailersStatus.Continue : FilterTrailersStatus.StopIteration;
  }

  #initiateCall(body: Buffer | null, partial: boolean): void {
    if (this.state !== State.NotStarted) return;
    this.state = State.Calling;
    this.initiating = true;
    const c = this.config;
    const h = this.headers!;
    if (c.grpc !== null) {
      this.call = c.grpc.check(this, c.snap.withRequestBody, {
        headers: h, streamInfo: this.dcb.streamInfo, connection: this.dcb.connection(), body, partial,
        contextExtensions: this.perRoute?.contextExtensions ?? NO_CONTEXT, streamId: ++streamIds,
      });
    } else {
      this.call = c.http!.check(this, h, body);
    }
    this.initiating = false;
  }

  /** The service answered (or the call failed). */
  onComplete(r: AuthzResponse): void {
    this.state = State.Complete;
    this.call = null;
    const cb = this.dcb;
    const snap = this.config.snap;
    const v = cb.stats.v;
    switch (r.status) {
      case CheckStatus.Ok: {
        this.#applyOk(r);
        v[snap.stats.ok]++;
        this.#continue();
        return;
      }
      case CheckStatus.Denied: {
        v[snap.stats.denied]++;
        cb.sendLocalReply(r.statusCode, r.body, ResponseFlag.UnauthorizedExternalService, DENIED,
          r.headersToSet.length === 0 ? null : r.headersToSet);
        return;
      }
      default: {
        v[snap.stats.error]++;
        if (snap.failureModeAllow) {
          v[snap.stats.failure_mode_allowed]++;
          if (snap.failureModeAllowHeaderAdd) this.headers!.add(FAILURE_MODE_ALLOWED, 'true');
          this.#continue();
          return;
        }
        cb.sendLocalReply(snap.statusOnError, '', ResponseFlag.UnauthorizedExternalService, ERROR);
      }
    }
  }

  #applyOk(r: AuthzResponse): void {
    const h = this.headers!;
    const set = r.headersToSet;
    for (let i = 0; i < set.length; i += 2) h.set(set[i], set[i + 1]);
    const add = r.headersToAdd;
    for (let i = 0; i < add.length; i += 2) h.add(add[i], add[i + 1]);
    const app = r.headersToAppend;
    for (let i = 0; i < app.length; i += 2) {
      const have = h.get(app[i]);
      if (have !== undefined) h.set(app[i], `${have},${app[i + 1]}`);
    }
    const rm = r.headersToRemove;
    for (let i = 0; i < rm.length; i++) {
      const n = rm[i];
      if (n.charCodeAt(0) !== 58 /* ':' */ && !NOT_REMOVABLE.has(n)) h.remove(n);
    }
    if (r.responseHeadersToAdd.length > 0) this.responseHeadersToAdd = r.responseHeadersToAdd;
    if (r.responseHeadersToSet.length > 0) this.responseHeadersToSet = r.responseHeadersToSet;
  }

  #continue(): void {
    this.bufferData = false;
    this.allowed = true;
    if (!this.initiating) this.dcb.continueDecoding();
  }

  encodeHeaders(headers: ResponseHeaders, _endStream: boolean): FilterHeadersStatus {
    const add = this.responseHeadersToAdd;
    if (add !== null) for (let i = 0; i < add.length; i += 2) headers.add(add[i], add[i + 1]);
    const set = this.responseHeadersToSet;
    if (set !== null) for (let i = 0; i < set.length; i += 2) headers.set(set[i], set[i + 1]);
    return FilterHeadersStatus.Continue;
  }

  onDestroy(): void {
    if (this.state === State.Calling) {
      this.state = State.Complete;
      this.call?.cancel();
      this.call = null;
    }
  }
}
