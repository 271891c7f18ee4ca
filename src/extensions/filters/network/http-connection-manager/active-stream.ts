// One request/response exchange in the HTTP connection manager (Envoy's ActiveStream): the
// codec's RequestDecoder for one stream (http/codec.ts). Runs the decoder filter chain on the
// request, the encoder filter chain on the response, sends local replies, keeps its own timeouts
// (stream idle, request) on the timer wheel, keeps stats and writes the access log.
// Codec-neutral: it writes through the codec's ResponseEncoder and hears of resets and
// watermarks through StreamCallbacks.
// Upgrades (WebSocket ...): a request the codec marks as one (RequestHeaders.upgrade) is allowed
// by the route's upgrade_configs, else the HCM's (Envoy's rule), or answered 403. When the
// upstream's 101 has gone out, the router hands over its upstream stream (upgradeToRelay) and the
// two connections become a network/relay.ts ByteRelay with the stream idle timeout; the stream
// ends (access log, stats) when the relay does.
import { Buffer } from 'node:buffer';
import net from 'node:net';
import { trimOws } from '../../../../http/whitespace.ts';
import { monotonicNow } from '../../../../common/clock.ts';
import type { HcmConfig } from './config.ts';
import type { HttpConnectionManager } from './filter.ts';
import { statusClass } from '../../../../http/status.ts';
import {
  StreamResetReason, type RequestDecoder, type RequestEncoder, type ResponseEncoder, type StreamCallbacks,
} from '../../../../http/codec.ts';
import { ByteRelay, RelayEnd, type RelayCallbacks } from '../../../../network/relay.ts';
import { uuidV4 } from '../../../../common/uuid.ts';
import {
  RequestHeaders, ResponseFlag, addResponseFlag, newStreamInfo, startTimeOf, streamIdOf, type HeaderMap, type ResponseHeaders,
  type StreamInfo,
} from '../../../../http/types.ts';
import { FilterManager, type FilterManagerCallbacks } from '../../../../http/filter-manager.ts';
import type { CompiledRoute } from '../../../../router/route-table.ts';
import type { HcmStats } from '../../../../http/stats.ts';
import type { StatSink } from '../../../../common/stat-sink.ts';
import type { NetworkConnection } from '../../../../network/filter.ts';
import { ForwardClientCert, mutateXfcc } from './xfcc.ts';
import {
  PathAction, StripPort, maybeNormalizePath, stripPort, stripTrailingHostDot,
} from '../../../../http/path-normalize.ts';
import { isGrpcContentType } from '../../../../router/matchers.ts';
import { pickWeightedCluster } from '../../../../router/weighted-clusters.ts';
import { isInternalRequest } from './internal-request.ts';
import { finishLocalReply } from '../../../../http/local-reply.ts';

/** Envoy's response code details for a path normalization refused or redirected. */
const PATH_NORMALIZATION_FAILED = 'path_normalization_failed';

export class ActiveStream implements RequestDecoder, FilterManagerCallbacks, StreamCallbacks, RelayCallbacks {
  readonly config: HcmConfig;
  readonly hcm: HttpConnectionManager;
  readonly encoder: ResponseEncoder;
  /** Set when the codec decodes the head (null for a request refused before it). */
  requestHeaders: RequestHeaders;
  readonly streamInfo: StreamInfo;
  readonly hcmStats: HcmStats;
  readonly stats: StatSink;
  responseHeaders: ResponseHeaders | null;
  route: CompiledRoute | null;
  readonly filterManager: FilterManager;
  remoteComplete: boolean;
  responseStarted: boolean;
  destroyed: boolean;
  /** Stream idle timeout (stream_idle_timeout, or the route's idle_timeout), 0 = off. */
  idleTimeoutMs: number;
  /** request_timeout deadline (monotonic ms) until the request is complete, 0 = none. */
  requestDeadline: number;
  /** The route's max_stream_duration deadline (monotonic ms, from the stream's start), 0 = none. */
  durationDeadline: number;
  lastActivity: number;
  /** readDisable(true) calls of this stream not yet undone: undone when the stream ends, so a
   *  stream that dies while holding reads off cannot leave its connection paused. */
  readDisables: number;
  /** Its place in the HCM's list of active streams. */
  index: number;
  /** An upgrade the config allows (downstream_cx_upgrades_active counts it until the end). */
  upgradeAccepted: boolean;
  /** After the 101: the relay the stream has become. */
  relay: ByteRelay | null;

  constructor(hcm: HttpConnectionManager, encoder: ResponseEncoder) {
    const config = hcm.config;
    this.config = config;
    this.hcm = hcm;
    this.encoder = encoder;
    this.requestHeaders = NO_HEADERS;
    const now = monotonicNow();
    // getpeername(2) only when something reads the address (x-forwarded-for, access logs).
    const remote = config.needsRemoteAddress;
    const conn = hcm.connection!;
    this.streamInfo = newStreamInfo(now, remote ? conn.remoteAddress : '', remote ? conn.directRemoteAddress : '',
      hcm.ssl, conn.requestedServerName);
    this.streamInfo.downstreamConnection = conn;
    this.hcmStats = config.s;
    this.stats = config.stats;
    this.responseHeaders = null;
    this.route = null;
    this.filterManager = new FilterManager(this, hcm.connection!.bufferLimit);
    this.remoteComplete = false;
    this.responseStarted = false;
    this.destroyed = false;
    this.idleTimeoutMs = config.snap.streamIdleTimeoutMs;
    this.requestDeadline = config.snap.requestTimeoutMs > 0 ? now + config.snap.requestTimeoutMs : 0;
    this.durationDeadline = 0;
    this.lastActivity = now;
    this.readDisables = 0;
    this.index = -1;
    this.upgradeAccepted = false;
    this.relay = null;
    encoder.getStream().addCallbacks(this);
    const v = config.stats.v;
    const s = config.s;
    v[s.downstream_rq_total]++;
    v[s.downstream_rq_active]++;
  }

  // ---- request path (RequestDecoder) --------------------------------------------------------

  /** Headers arrived from the codec. Envoy's request mutations, routing, then the filter chain. */
  decodeHeaders(h: RequestHeaders, endStream: boolean): void {
    if (this.destroyed) return;
    const cfg = this.config;
    const snap = cfg.snap;
    this.requestHeaders = h;
    this.lastActivity = monotonicNow();
    if (endStream) {
      this.remoteComplete = true;
      this.requestDeadline = 0;
    }
    // x-forwarded-for / x-forwarded-proto (Envoy: use_remote_address appends the peer address).
    // The client's address as the stream knows it (%DOWNSTREAM_REMOTE_ADDRESS%) is the peer's,
    // or with xff_num_trusted_hops one from x-forwarded-for (Envoy's trusted client address):
    // the Nth from the right with use_remote_address (before the peer is appended), else the
    // (N+1)th; the peer's when x-forwarded-for has no valid address there.
    const hops = snap.xffNumTrustedHops;
    const ssl = this.hcm.ssl;
    if (ssl !== null) h.scheme = 'https';
    // internal_only_headers go from requests of external clients (Envoy's cleanInternalHeaders),
    // judged before x-forwarded-for is appended to.
    const internalOnly = cfg.internalOnlyHeaders;
    if (internalOnly !== null && !isInternalRequest(h.get('x-forwarded-for'), this.hcm.connection!.remoteIp,
      snap.useRemoteAddress, hops)) {
      for (const name of internalOnly) h.remove(name);
    }
    if (snap.useRemoteAddress) {
      const peer = this.hcm.connection!.remoteIp;
      const xff = h.get('x-forwarded-for');
      if (hops > 0 && cfg.needsRemoteAddress) this.#trustXff(xff, hops - 1);
      h.set('x-forwarded-for', xff === undefined ? peer : `${xff},${peer}`);
      h.set('x-forwarded-proto', h.scheme);
    } else {
      if (cfg.needsRemoteAddress) this.#trustXff(h.get('x-forwarded-for'), hops);
      if (h.get('x-forwarded-proto') === undefined) h.set('x-forwarded-proto', h.scheme);
    }
    if (snap.generateRequestId && h.get('x-request-id') === undefined) h.set('x-request-id', uuidV4());
    if (snap.forwardClientCert !== ForwardClientCert.AlwaysForwardOnly) mutateXfcc(h, snap, ssl);
    if (h.path.charCodeAt(0) !== 47 /* '/' */) {
      // Only origin-form paths are served (`*`, of OPTIONS * or anything else, included), as
      // Envoy answers them: 404 and downstream_rq_non_relative_path.
      this.stats.v[this.hcmStats.downstream_rq_non_relative_path]++;
      this.sendLocalReply(404, '', '', 'absolute_path');
      return;
    }
    // Path, then host normalization, before anything reads them (Envoy's order).
    if ((snap.normalizesPath || h.path.includes('#')) && !this.#normalizePath(h)) return;
    if (snap.stripTrailingHostDot) h.authority = stripTrailingHostDot(h.authority);
    if (snap.stripPort !== StripPort.None) h.authority = stripPort(h.authority, this.#listenerPort(snap.stripPort));

    this.route = cfg.routes.route(h, ssl, this.streamInfo);
    const wc = this.route !== null && this.route.snap.action.kind === 'cluster' ? this.route.snap.action.weightedClusters : null;
    if (wc !== null) {
      // Envoy's route lookup picks the weighted cluster (with the stream's id, as the route's
      // runtime_fraction); weights from the runtime that sum to 0 leave the stream with no route.
      this.streamInfo.weightedCluster = pickWeightedCluster(wc, h, streamIdOf(this.streamInfo), cfg.ctx.runtime);
      if (this.streamInfo.weightedCluster === null) this.route = null;
    }
    if (this.route !== null) {
      this.streamInfo.routeName = this.route.snap.name;
      const a = this.route.snap.action;
      if (a.kind === 'cluster' && a.idleTimeoutMs > 0) {
        this.idleTimeoutMs = a.idleTimeoutMs;
        this.hcm.armBy(this.nextDeadline());
      }
      if (a.kind === 'cluster' && a.maxStreamDurationMs > 0) {
        // (Envoy's refreshDurationTimeout: counted from the stream's start.)
        this.durationDeadline = this.streamInfo.startHr + a.maxStreamDurationMs;
        this.hcm.armBy(this.nextDeadline());
      }
      if (h.upgrade !== '' && !this.#acceptUpgrade(h.upgrade)) return;
    }

    const fm = this.filterManager;
    fm.createFilterChain(cfg.filterChain, this.route === null ? null : this.route.snap.filterDisabled ?? null);
    fm.decodeHeaders(endStream);
  }

  /** Envoy's maybeNormalizePath and what the HCM does with its answer: false when the request
   *  was answered (400 for a path refused, or any path changed for a gRPC request, which cannot
   *  follow a redirect; 307 to the unescaped path with UNESCAPE_AND_REDIRECT). */
  #normalizePath(h: RequestHeaders): boolean {
    const action = maybeNormalizePath(h, this.config.snap.pathNormalization);
    if (action === PathAction.Continue) return true;
    const v = this.stats.v;
    if (action === PathAction.Reject || isGrpcContentType(h.get('content-type'))) {
      v[this.hcmStats.downstream_rq_failed_path_normalization]++;
      this.hcm.closeAfterResponse();
      this.sendLocalReply(400, '', '', PATH_NORMALIZATION_FAILED);
    } else {
      v[this.hcmStats.downstream_rq_redirected_with_normalized_path]++;
      this.sendLocalReply(307, '', '', PATH_NORMALIZATION_FAILED);
    }
    return false;
  }

  /** The port of the listener the connection came in on (strip_matching_host_port); null with
   *  strip_any_host_port. */
  #listenerPort(mode: StripPort): number | null {
    if (mode === StripPort.Any) return null;
    const local = this.hcm.connection!.localAddress;
    return Number(local.slice(local.lastIndexOf(':') + 1));
  }

  /** Whether the config allows this upgrade (Envoy's createUpgradeFilterChain): a route's entry
   *  for the type decides; without one, the HCM's. Refused: 403, and the connection closes after
   *  it (the codec closes after any upgrade that is not answered 101). */
  #acceptUpgrade(type: string): boolean {
    const c = this.config;
    const v = c.stats.v;
    let allowed: boolean | null = null;
    const a = this.route!.snap.action;
    if (a.kind === 'cluster' && a.upgrades !== null) {
      for (const u of a.upgrades) if (u.type === type) { allowed = u.enabled; break; }
    }
    if (allowed === null) {
      allowed = false;
      for (const u of c.snap.upgrades) if (u.type === type) { allowed = u.enabled; break; }
    }
    if (!allowed) {
      v[c.s.downstream_rq_ws_on_non_ws_route]++;
      this.sendLocalReply(403, '', '', 'upgrade_failed');
      return false;
    }
    this.upgradeAccepted = true;
    v[c.s.downstream_cx_upgrades_total]++;
    v[c.s.downstream_cx_upgrades_active]++;
    return true;
  }

  /** The upstream's 101 went out: the stream becomes a byte relay between the two connections,
   *  with the stream idle timeout (the stream's own timeouts stop). */
  upgradeToRelay(up: RequestEncoder): void {
    const down = this.encoder;
    if (this.destroyed || !this.upgradeAccepted || this.streamInfo.responseCode !== 101
      || down.attachTunnel === undefined || up.attachTunnel === undefined) {
      // (An encoder filter turned the 101 into something else.)
      up.getStream().resetStream(StreamResetReason.LocalReset);
      this.resetStream();
      return;
    }
    const relay = new ByteRelay(this.idleTimeoutMs, this);
    this.relay = relay;
    this.idleTimeoutMs = 0;
    this.requestDeadline = 0;
    // The upstream's bytes after the 101 reach its side once the relay has started.
    const upConn = up.attachTunnel(relay.upstream);
    relay.start(this.hcm.connection!, upConn);
    down.attachTunnel(relay.downstream);
  }

  onDownstreamReadPaused(_paused: boolean): void {}

  onRelayEnd(why: RelayEnd): void {
    const relay = this.relay!;
    const info = this.streamInfo;
    info.bytesReceived += relay.downstream.bytesRead;
    info.bytesSent += relay.upstream.bytesRead;
    if (why === RelayEnd.IdleTimeout) {
      this.stats.v[this.hcmStats.downstream_rq_idle_timeout]++;
      addResponseFlag(info, ResponseFlag.StreamIdleTimeout);
    }
    this.#localDone();
  }

  onClosedAfterEnd(_downstream: boolean): void {}

  #trustXff(xff: string | undefined, skip: number): void {
    if (xff === undefined) return;
    const parts = xff.split(',');
    const i = parts.length - 1 - skip;
    if (i < 0) return;
    const ip = trimOws(parts[i]);
    const family = net.isIP(ip);
    if (family === 0) return;
    // Envoy's address from x-forwarded-for has no port: it prints as port 0.
    this.streamInfo.downstreamRemoteAddress = family === 6 ? `[${ip}]:0` : `${ip}:0`;
  }

  decodeData(data: Buffer, endStream: boolean): void {
    this.streamInfo.bytesReceived += data.length;
    this.lastActivity = monotonicNow();
    if (endStream) {
      this.remoteComplete = true;
      this.requestDeadline = 0;
    }
    if (this.destroyed) return;
    this.filterManager.decodeData(data, endStream);
  }

  decodeTrailers(trailers: HeaderMap): void {
    this.lastActivity = monotonicNow();
    this.remoteComplete = true;
    this.requestDeadline = 0;
    if (this.destroyed) return;
    this.filterManager.decodeTrailers(trailers);
  }

  /** The codec refuses the request, or a reply from the connection manager itself. */
  sendLocalReply(status: number, body: string, flag: string, details: string): void {
    if (this.destroyed) return;
    this.filterManager.sendLocalReply(status, body, flag, details);
  }

  connection(): NetworkConnection | null {
    return this.hcm.connection;
  }

  perFilterConfig(name: string): object | null {
    const m = this.route?.snap.perFilterConfig;
    if (m == null) return null;
    return (m[name] as object | undefined) ?? null;
  }

  // ---- response path ------------------------------------------------------------------------

  // The response as the filter manager hands it on, after the encoder filters: to the codec.

  encodeHeaders(headers: ResponseHeaders, endStream: boolean): void {
    if (this.destroyed) return;
    this.lastActivity = monotonicNow();
    this.responseHeaders = headers;
    this.responseStarted = true;
    this.streamInfo.responseCode = headers.status;
    if (this.streamInfo.responseCodeDetails === '') this.streamInfo.responseCodeDetails = 'via_upstream';
    headers.set('server', this.config.snap.serverName);
    // Envoy's drainClose(): while the server fails health checks, a response closes its
    // connection (an upgrade's 101 is left alone: its connection is no longer HTTP).
    if (this.config.serverState.healthCheckFailed() && headers.status !== 101) this.hcm.drainClose();
    this.encoder.encodeHeaders(headers, endStream);
  }

  encodeData(data: Buffer, endStream: boolean): void {
    if (this.destroyed) return;
    this.streamInfo.bytesSent += data.length;
    this.lastActivity = monotonicNow();
    this.encoder.encodeData(data, endStream);
  }

  encodeTrailers(trailers: HeaderMap): void {
    if (this.destroyed) return;
    this.lastActivity = monotonicNow();
    this.encoder.encodeTrailers(trailers);
  }

  /** The whole response went to the codec. */
  endStream(): void {
    this.#localDone();
  }

  onLocalReply(headers: ResponseHeaders, body: string, details: string): string {
    // UNESCAPE_AND_REDIRECT: the client is sent to the path as unescaped (Envoy's Location is the
    // path alone).
    if (details === PATH_NORMALIZATION_FAILED && headers.status === 307) headers.set('location', this.requestHeaders.path);
    this.streamInfo.responseCodeDetails = details;
    // (A weighted cluster's chain has the route's after its own.)
    const wc = this.streamInfo.weightedCluster;
    const routeHeaders = (wc !== null ? wc.responseHeaderParsers : this.route?.snap.responseHeaderParsers) ?? null;
    const localReply = this.config.localReply;
    if (routeHeaders === null && localReply === null) return body;
    const req = this.requestHeaders === NO_HEADERS ? null : this.requestHeaders;
    return finishLocalReply(headers, body, req, this.streamInfo, routeHeaders, localReply);
  }

  onRequestDataTooLarge(): void {
    this.stats.v[this.hcmStats.downstream_rq_too_large]++;
  }

  onResponseDataTooLarge(): void {
    this.stats.v[this.hcmStats.rs_too_large]++;
  }

  readDisable(disable: boolean): void {
    if (this.destroyed) return;
    if (disable) {
      this.readDisables++;
      this.encoder.getStream().readDisable(true);
    } else if (this.readDisables > 0) {
      this.readDisables--;
      this.encoder.getStream().readDisable(false);
    }
  }

  // ---- timeouts -----------------------------------------------------------------------------

  /** When this stream's next timeout is due (monotonic ms), Infinity when none is set. The HCM's
   *  one timer-wheel entry per connection wakes the stream (checkTimeouts) by then: it is only ever
   *  moved earlier, and activity only moves `lastActivity`, so a request costs no wheel operation
   *  (an entry per stream, scheduled and cancelled per request, measured about 1 us a request). */
  nextDeadline(): number {
    let at = this.idleTimeoutMs > 0 ? this.lastActivity + this.idleTimeoutMs : Infinity;
    const dl = this.requestDeadline;
    if (dl !== 0 && dl < at) at = dl;
    const dd = this.durationDeadline;
    if (dd !== 0 && dd < at) at = dd;
    return at;
  }

  /** Fire request_timeout or the stream idle timeout if due at `now`. */
  checkTimeouts(now: number): void {
    const c = this.config;
    if (this.durationDeadline !== 0 && now >= this.durationDeadline) {
      // Envoy's onStreamMaxDurationReached: 408 while the request is still arriving, else 504.
      this.durationDeadline = 0;
      c.stats.v[c.s.downstream_rq_max_duration_reached]++;
      addResponseFlag(this.streamInfo, ResponseFlag.DurationTimeout);
      if (this.filterManager.responseStarted) this.resetStream();
      else this.sendLocalReply(this.remoteComplete ? 504 : 408, 'downstream duration timeout', '', 'max_duration_timeout');
      return;
    }
    if (this.requestDeadline !== 0 && now >= this.requestDeadline) {
      c.stats.v[c.s.downstream_rq_timeout]++;
      if (this.filterManager.responseStarted) this.resetStream();
      else this.sendLocalReply(408, 'request timeout', '', 'request_overall_timeout');
      return;
    }
    if (this.idleTimeoutMs > 0 && now - this.lastActivity >= this.idleTimeoutMs) {
      c.stats.v[c.s.downstream_rq_idle_timeout]++;
      if (this.filterManager.responseStarted) {
        addResponseFlag(this.streamInfo, ResponseFlag.StreamIdleTimeout);
        this.resetStream();
      } else {
        this.sendLocalReply(408, 'stream timeout', 'SI', 'stream_idle_timeout');
      }
    }
  }

  // ---- watermarks and resets (StreamCallbacks) ----------------------------------------------

  onAboveWriteBufferHighWatermark(): void {
    this.filterManager.onAboveWriteBufferHighWatermark();
  }
  onBelowWriteBufferLowWatermark(): void {
    this.filterManager.onBelowWriteBufferLowWatermark();
  }

  /** Abort the response in flight (upstream died mid-body, ...). */
  resetStream(): void {
    if (this.destroyed) return;
    const v = this.config.stats.v;
    v[this.config.s.downstream_rq_tx_reset]++;
    this.#finish();
    this.encoder.getStream().resetStream(StreamResetReason.LocalReset);
  }

  /** The codec lost the stream (the client went away, or a protocol error after the response
   *  started). */
  onResetStream(_reason: number): void {
    if (this.destroyed) return;
    if (this.streamInfo.responseFlags === '') this.streamInfo.responseFlags = 'DC';
    this.config.stats.v[this.config.s.downstream_rq_rx_reset]++;
    this.#finish();
  }

  #localDone(): void {
    const c = this.config;
    const v = c.stats.v;
    const s = c.s;
    switch (statusClass(this.streamInfo.responseCode)) {
      case 1: v[s.downstream_rq_1xx]++; break;
      case 2: v[s.downstream_rq_2xx]++; break;
      case 3: v[s.downstream_rq_3xx]++; break;
      case 4: v[s.downstream_rq_4xx]++; break;
      case 5: v[s.downstream_rq_5xx]++; break;
    }
    v[s.downstream_rq_completed]++;
    this.#finish();
  }

  #finish(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.encoder.getStream().removeCallbacks(this);
    while (this.readDisables > 0) {
      this.readDisables--;
      this.encoder.getStream().readDisable(false);
    }
    const c = this.config;
    const v = c.stats.v;
    v[c.s.downstream_rq_active]--;
    if (this.upgradeAccepted) v[c.s.downstream_cx_upgrades_active]--;
    const dur = monotonicNow() - this.streamInfo.startHr;
    c.stats.record(c.s.downstream_rq_time, dur);
    this.filterManager.destroy();
    if (c.accessLoggers !== null) {
      // The wall-clock start is derived here, only when something logs it.
      const ctx = {
        req: this.requestHeaders === NO_HEADERS ? null : this.requestHeaders, resp: this.responseHeaders,
        info: this.streamInfo, durationMs: dur, startTime: startTimeOf(this.streamInfo),
      };
      for (const l of c.accessLoggers) l.log(ctx);
    }
    this.responseHeaders?.release();
    this.hcm.onStreamDestroyed(this);
  }
}

/** A stream's request headers before the codec decodes them (never mutated). */
const NO_HEADERS = new RequestHeaders('', '', '', 'http', '', []);
