// HTTP/1.1 client codec: one upstream connection, requests one at a time (no pipelining upstream,
// like Envoy), responses parsed by the thread's llhttp WASM instance (a RESPONSE parser per
// connection). The bytes move over a network/connection.ts Connection (Connection.client), whose
// read filter and connection callbacks this codec is (Envoy's CodecClient): write batching,
// watermarks, byte counters and the close event are the connection's.
// The codec is its one stream's RequestEncoder and Stream (http/codec.ts); the pool that opened it
// (upstream/conn-pool-http1.ts) hears about it through Http1ConnectionOwner.
// An upgrade request (RequestHeaders.upgrade) goes with its upgrade headers and no framing; it
// has no end, so whatever the answer the connection is not reused. A 101 ends the stream for the
// pool and the connection leaves HTTP: attachTunnel() gives its reads (what followed the 101 in
// the same read first), end and events to a byte relay; it never goes back to the pool.
//
// Lifetime (the cluster's HttpProtocolOptions): an idle connection closes after idle_timeout (a
// coarse timer-wheel entry armed when it goes idle and re-armed for what is left when it fires
// early, so a busy connection costs no timer work per request); one older than
// max_connection_duration drains (serves its stream, then closes); max_requests_per_connection is
// the pool's (conn-pool-http1.ts).
//
// The keep-alive race: an upstream may close an idle connection just as a request goes out on it
// (the close and the request cross; Envoy fails such a request with 503 UC unless a retry policy
// says `reset`). When a connection that had served a response or sat idle closes with a request on
// it and not one byte of response, the upstream closed it as idle and did not take the request: it
// is sent again, once, on a new connection (#replay, adoptStream). The stream keeps its identity for
// the router: this object forwards resetStream/readDisable to the new connection. Only a request
// this side holds in full can go again: no body, or a complete body of up to REPLAY_BODY_LIMIT bytes
// (kept, copied out of the read buffer if need be, until the response begins).
import { Buffer } from 'node:buffer';
import { monotonicNow } from '../../common/clock.ts';
import { cancel, schedule, type Expirable } from '../../common/timer-wheel.ts';
import { retain } from '../../network/socket-owner.ts';
import { HttpParser, TYPE, ERROR, type ParserHandler } from '../../../native-wasm/llhttp.ts';
import { ResponseHeaders, type RequestHeaders } from '../types.ts';
import { deferHead, type HeadHolder } from '../../network/read-dispatch.ts';
import { Connection } from '../../network/connection.ts';
import {
  ConnectionCloseType, ConnectionEvent, FilterStatus, type ConnectionCallbacks, type ReadFilter,
} from '../../network/filter.ts';
import { HeaderParsingHandler, isHopByHop, removeConnectionTokens, trimOws } from './header-names.ts';
import { RawHeaderBlock } from '../raw-headers.ts';
import { flushWrites } from '../../network/write-batch.ts';
import {
  StreamResetReason, type RequestEncoder, type ResponseDecoder, type Stream, type StreamCallbacks, type TunnelSink,
} from '../codec.ts';
import type { ClusterInfo } from '../../upstream/cluster-info.ts';
import type { Host } from '../../upstream/host.ts';

const EMPTY = Buffer.alloc(0);
const CRLF = '\r\n';
/** The most request body kept to send a request again after the keep-alive race. */
export const REPLAY_BODY_LIMIT = 16 * 1024;

/** The pool side of a connection. */
export interface Http1ConnectionOwner {
  onConnected(conn: Http1ClientConnection): void;
  /** The stream ended: response complete, reset, or abandoned (called once per stream, before
   *  the decoder hears the end, so a slot it held is free when the response reaches the client). */
  onStreamDone(conn: Http1ClientConnection): void;
  /** A response ended cleanly: the connection can take another request. */
  release(conn: Http1ClientConnection): void;
  onClosed(conn: Http1ClientConnection, hadRequest: boolean): void;
  /** The connection is going away: never hand it out again. */
  removeIdle(conn: Http1ClientConnection): void;
  /** `conn` closed under a request that can go again (see the design note): open a new
   *  connection and give it the stream (adoptStream); false when none can be opened now. */
  replayOnNewConnection(conn: Http1ClientConnection, decoder: ResponseDecoder, callbacks: StreamCallbacks | null): boolean;
}

/** max_connection_duration for one connection (a second timer-wheel entry). */
class DurationTimer implements Expirable {
  readonly conn: Http1ClientConnection;
  timerTick: number;
  timerIndex: number;
  constructor(conn: Http1ClientConnection) {
    this.conn = conn;
    this.timerTick = -1;
    this.timerIndex = -1;
  }
  onExpire(): void {
    this.conn.onMaxDuration();
  }
}


export class Http1ClientConnection extends HeaderParsingHandler
  implements ParserHandler, HeadHolder, ReadFilter, ConnectionCallbacks, RequestEncoder, Stream, Expirable {
  readonly pool: Http1ConnectionOwner;
  readonly info: ClusterInfo;
  readonly connection: Connection;
  readonly parser: HttpParser;
  connected: boolean;
  closed: boolean;
  decoder: ResponseDecoder | null;
  callbacks: StreamCallbacks | null;
  /** A stream is attached and not yet ended (see Http1ConnectionOwner.onStreamDone). */
  streamActive: boolean;
  connectTimer: NodeJS.Timeout | null;
  connectStart: number;
  createdAt: number;
  // Request framing.
  chunkedRequest: boolean;
  headRequest: boolean;
  requestComplete: boolean;
  // Response state.
  responseStarted: boolean;
  responseEndAtHeaders: boolean;
  skipInterim: boolean;
  keepAlive: boolean;
  aboveWatermark: boolean;
  /** readDisable(true) calls not yet undone. */
  readDisabled: number;
  pendingHead: string | null;
  /** The response is complete; release to the pool once the read it came in is checked. */
  releaseAfterParse: boolean;
  /** We closed it (destroy_local), as opposed to the upstream (destroy_remote). */
  localClose: boolean;
  /** A request was in flight when we closed it. */
  activeAtClose: boolean;
  /** The upstream half-closed ('end'). */
  ended: boolean;
  // The response head as it is recorded raw (http/raw-headers.ts): per line, name start/end and
  // value start/end in `rawChunk`. A head that spans reads is turned into strings (`hc`) instead.
  rawPos: number[];
  rawChunk: Buffer | null;
  rawMode: boolean;
  /** The request in flight is an upgrade request. */
  upgradeRequest: boolean;
  /** Its 101 came: the connection is a tunnel (or about to be). */
  upgraded: boolean;
  /** Where the upgraded connection's reads and events go. */
  tunnel: TunnelSink | null;
  // Lifetime.
  /** The idle timeout's timer-wheel entry (Expirable). */
  timerTick: number;
  timerIndex: number;
  /** When it last went idle. */
  idleSince: number;
  durationTimer: DurationTimer | null;
  /** Requests it may still take (max_requests_per_connection; Infinity: no limit). */
  remainingRequests: number;
  /** Not to be given another request (max duration or request count reached). */
  draining: boolean;
  // The keep-alive race (see the design note).
  /** It has sat idle or served a response: a request on it may meet a close it has not seen. */
  reused: boolean;
  /** The stream's request can still be sent again (its bytes below). */
  replayable: boolean;
  replayHead: string | null;
  /** Its body (null: none; [] for an empty one). */
  replayBody: Buffer[] | null;
  replayBytes: number;
  /** The connection the stream moved to; stream calls go there. */
  replacement: Http1ClientConnection | null;

  constructor(pool: Http1ConnectionOwner, info: ClusterInfo, host: Host) {
    super();
    this.pool = pool;
    this.info = info;
    this.connected = false;
    this.closed = false;
    this.decoder = null;
    this.callbacks = null;
    this.streamActive = false;
    this.connectStart = monotonicNow();
    this.createdAt = this.connectStart;
    this.chunkedRequest = false;
    this.headRequest = false;
    this.requestComplete = false;
    this.responseStarted = false;
    this.responseEndAtHeaders = false;
    this.skipInterim = false;
    this.keepAlive = true;
    this.aboveWatermark = false;
    this.readDisabled = 0;
    this.pendingHead = null;
    this.releaseAfterParse = false;
    this.localClose = false;
    this.activeAtClose = false;
    this.ended = false;
    this.rawPos = [];
    this.rawChunk = null;
    this.rawMode = true;
    this.upgradeRequest = false;
    this.upgraded = false;
    this.tunnel = null;
    this.timerTick = -1;
    this.timerIndex = -1;
    this.idleSince = 0;
    this.durationTimer = null;
    this.remainingRequests = info.maxRequestsPerConnection > 0 ? info.maxRequestsPerConnection : Infinity;
    this.draining = false;
    this.reused = false;
    this.replayable = false;
    this.replayHead = null;
    this.replayBody = null;
    this.replayBytes = 0;
    this.replacement = null;
    this.maxHeaderCount = info.maxResponseHeadersCount;
    this.parser = new HttpParser(TYPE.RESPONSE, this);
    const conn = Connection.client(host.address, host.port, info.bufferLimit, info.stats, this.connectStart,
      info.transportSocket, info.tcpKeepaliveMs);
    this.connection = conn;
    conn.setConnectionStats({ rxBytes: info.s.upstream_cx_rx_bytes_total, txBytes: info.s.upstream_cx_tx_bytes_total });
    conn.addReadFilter(this);
    conn.addConnectionCallbacks(this);
    conn.startClient();
    this.connectTimer = setTimeout(onConnectTimeout, info.connectTimeoutMs, this);
  }

  /** The pool gives this connection a stream: its response goes to `decoder`. */
  newStream(decoder: ResponseDecoder): RequestEncoder {
    this.decoder = decoder;
    this.callbacks = null;
    this.streamActive = true;
    this.replayable = this.reused;
    return this;
  }

  /** A request that met the keep-alive race on `old` moves here: its decoder, callbacks and
   *  bytes, sent once this connection is up (onConnect). */
  adoptStream(old: Http1ClientConnection, decoder: ResponseDecoder, callbacks: StreamCallbacks | null): void {
    this.decoder = decoder;
    this.callbacks = callbacks;
    this.streamActive = true;
    this.headRequest = old.headRequest;
    this.chunkedRequest = old.chunkedRequest;
    this.requestComplete = true;
    this.replayHead = old.replayHead;
    this.replayBody = old.replayBody;
    old.replayHead = null;
    old.replayBody = null;
    old.replacement = this;
    if (old.readDisabled > 0) {
      // The downstream is still above its watermark.
      this.readDisabled = old.readDisabled;
      this.connection.readDisable(true);
    }
  }

  /** Stop keeping the request's bytes: it can no longer go again. */
  #dropReplay(): void {
    this.replayable = false;
    this.replayHead = null;
    this.replayBody = null;
    this.replayBytes = 0;
  }

  getStream(): Stream {
    return this;
  }

  addCallbacks(cb: StreamCallbacks): void {
    this.callbacks = cb;
  }

  removeCallbacks(cb: StreamCallbacks): void {
    if (this.callbacks === cb) this.callbacks = null;
  }

  /** Send a request head. Framing follows the downstream request's: its content-length, else
   *  chunked when a body follows. */
  encodeHeaders(req: RequestHeaders, endStream: boolean): void {
    if (req.upgrade !== '') {
      this.#encodeUpgradeRequest(req);
      return;
    }
    const cl = req.get('content-length');
    const contentLength = cl === undefined ? -1 : Number(cl);
    const chunked = !endStream && contentLength < 0;
    this.responseStarted = false;
    this.requestComplete = endStream;
    this.headRequest = req.method === 'HEAD';
    this.chunkedRequest = !endStream && chunked;
    let head = `${req.method} ${req.path} HTTP/1.1${CRLF}host: ${req.authority}${CRLF}`;
    const hs = req.headers;
    for (let i = 0; i < hs.length; i += 2) {
      const n = hs[i];
      if (n.length === 14 && n === 'content-length' && chunked) continue;
      head += `${n}: ${hs[i + 1]}${CRLF}`;
    }
    if (this.chunkedRequest) head += `transfer-encoding: chunked${CRLF}`;
    else if (contentLength < 0 && endStream && (req.method === 'POST' || req.method === 'PUT')) {
      head += `content-length: 0${CRLF}`;
    }
    head += CRLF;
    if (this.replayable) {
      this.replayHead = head;
      this.replayBody = endStream ? null : [];
    }
    if (endStream) {
      // Sent with the other requests of this loop iteration (network/write-batch.ts).
      this.connection.queueWrite(head);
    } else {
      // Held until the first body bytes of this read: head and body leave in one write.
      this.pendingHead = head;
      deferHead(this);
    }
  }

  /** An upgrade request: its headers as they are (Upgrade and `Connection: upgrade` included),
   *  no framing. It never completes (requestComplete stays false), so a response other than 101
   *  leaves the connection unusable (onMessageComplete closes it). */
  #encodeUpgradeRequest(req: RequestHeaders): void {
    this.responseStarted = false;
    this.requestComplete = false;
    this.headRequest = false;
    this.chunkedRequest = false;
    this.upgradeRequest = true;
    // (An upgrade is never sent again: its tunnel may have begun.)
    this.replayable = false;
    let head = `${req.method} ${req.path} HTTP/1.1${CRLF}host: ${req.authority}${CRLF}`;
    const hs = req.headers;
    for (let i = 0; i < hs.length; i += 2) head += `${hs[i]}: ${hs[i + 1]}${CRLF}`;
    this.connection.queueWrite(head + CRLF);
  }

  /** The 101 to our upgrade request: the stream ends for the pool, the router gets the head
   *  (Upgrade kept, framing and Connection dropped) and attaches the tunnel. */
  #onSwitchingProtocols(): number {
    let list: string[];
    if (this.rawMode) {
      const raw = this.#rawBlock();
      list = raw === null ? [] : raw.toList();
      if (raw !== null) raw.released = true;
    } else {
      list = this.hc.finish();
    }
    const out: string[] = [];
    for (let i = 0; i < list.length; i += 2) {
      const n = list[i];
      if (n === 'connection' || n === 'keep-alive' || n === 'proxy-connection' || n === 'transfer-encoding'
        || n === 'content-length') continue;
      out.push(n, list[i + 1]);
    }
    this.upgraded = true;
    // (onMessageComplete comes next; this makes it a no-op.)
    this.skipInterim = true;
    const d = this.decoder!;
    this.#streamDone();
    d.decodeHeaders(new ResponseHeaders(101, out), false);
    return 0;
  }

  attachTunnel(sink: TunnelSink): Connection {
    this.tunnel = sink;
    this.decoder = null;
    this.callbacks = null;
    if (this.readDisabled > 0) {
      this.readDisabled = 0;
      this.connection.readDisable(false);
    }
    return this.connection;
  }

  encodeData(b: Buffer, endStream: boolean): void {
    if (this.replayable) this.#keepForReplay(b);
    const head = this.pendingHead;
    this.pendingHead = null;
    // (Before the write: its watermark check must know the request is all out.)
    if (endStream) this.requestComplete = true;
    this.connection.writeFramed(head ?? '', b, this.chunkedRequest, endStream);
  }

  /** A body chunk of a request that may go again: kept while the body stays small. */
  #keepForReplay(b: Buffer): void {
    const n = this.replayBytes + b.length;
    if (n > REPLAY_BODY_LIMIT || this.replayBody === null) {
      this.#dropReplay();
      return;
    }
    this.replayBytes = n;
    if (b.length > 0) this.replayBody.push(retain(b));
  }

  /** Abandon the stream: an HTTP/1 connection mid-request cannot be reused, so it closes. */
  resetStream(reason: StreamResetReason): void {
    const r = this.replacement;
    if (r !== null) {
      r.resetStream(reason);
      return;
    }
    if (this.decoder !== null) this.activeAtClose = true;
    this.decoder = null;
    this.callbacks = null;
    this.destroy();
  }

  /** The stream's end, told to the pool once. */
  #streamDone(): void {
    if (this.streamActive) {
      this.streamActive = false;
      this.pool.onStreamDone(this);
    }
  }

  /** Flow control from the downstream side: stop/start reading the response. Counted (the
   *  downstream can be above its watermark for more than one reason): n disables need n enables. */
  readDisable(disable: boolean): void {
    const r = this.replacement;
    if (r !== null) {
      r.readDisable(disable);
      return;
    }
    if (this.closed) return;
    if (disable) {
      if (this.readDisabled++ === 0) this.connection.readDisable(true);
    } else if (this.readDisabled > 0 && --this.readDisabled === 0) {
      this.connection.readDisable(false);
    }
  }

  /** Usable for a new request: not closed, closing, draining, or half-closed by the upstream. */
  get reusable(): boolean {
    return !this.closed && !this.localClose && !this.ended && !this.draining;
  }

  /** It went idle (the pool's idle list): the idle timeout runs from now. A timer already
   *  scheduled stays; when it fires it looks at how long the connection has really been idle. */
  armIdleTimer(): void {
    this.reused = true;
    this.idleSince = monotonicNow();
    const ms = this.info.idleTimeoutMs;
    if (ms > 0 && this.timerTick === -1) schedule(this, ms);
  }

  /** The idle timer (Expirable). */
  onExpire(): void {
    if (this.closed || this.localClose || this.streamActive) return; // busy: re-armed when idle
    const left = this.idleSince + this.info.idleTimeoutMs - monotonicNow();
    if (left > 0) {
      schedule(this, left);
      return;
    }
    this.info.stats.v[this.info.s.upstream_cx_idle_timeout]++;
    this.destroy();
  }

  /** max_connection_duration reached: serve what it serves, take nothing more (Envoy's
   *  onConnectionDurationTimeout). */
  onMaxDuration(): void {
    if (this.closed || this.localClose || this.draining) return;
    this.info.stats.v[this.info.s.upstream_cx_max_duration_reached]++;
    this.draining = true;
    if (!this.streamActive) this.destroy();
  }

  /** The upstream sent FIN: never hand this connection out again (Node closes it next). */
  onEnd(): void {
    // Anything queued for it goes out before Node ends our side too.
    flushWrites();
    this.ended = true;
    this.pool.removeIdle(this);
  }

  /** Tear the connection down (request abandoned, timeout, protocol error, drain). */
  destroy(): void {
    if (this.closed || this.localClose) return;
    if (this.decoder !== null) this.activeAtClose = true;
    this.decoder = null;
    this.callbacks = null;
    this.localClose = true;
    this.#streamDone();
    this.pool.removeIdle(this);
    this.info.stats.v[this.info.s.upstream_cx_destroy_local]++;
    this.connection.close(ConnectionCloseType.NoFlush);
  }

  /** Back to the pool: flow-control state belongs to the request that just ended. */
  #release(): void {
    this.reused = true;
    if (this.readDisabled > 0) {
      this.readDisabled = 0;
      this.connection.readDisable(false);
    }
    this.aboveWatermark = false;
    this.pool.release(this);
  }

  // ---- parser callbacks ---------------------------------------------------------------------

  onMessageBegin(): number {
    // A response begins: the request has reached the upstream.
    if (this.replayHead !== null) this.#dropReplay();
    this.hc.reset();
    this.rawPos = [];
    this.rawChunk = null;
    this.rawMode = true;
    return 0;
  }
  onUrl(): number {
    return 0;
  }
  override onHeaderField(chunk: Buffer, start: number, end: number): number {
    if (!this.rawMode) return super.onHeaderField(chunk, start, end);
    const p = this.rawPos;
    this.rawChunk = chunk;
    this.hc.bytes += end - start;
    p.push(start, end, -1, -1);
    return this.checkLimits(p.length >> 2);
  }
  override onHeaderValue(chunk: Buffer, start: number, end: number): number {
    if (!this.rawMode) return super.onHeaderValue(chunk, start, end);
    const p = this.rawPos;
    const n = p.length;
    this.hc.bytes += end - start;
    // (Within one read llhttp reports a value once; pieces come only across reads, see endOfInput.)
    if (end > start) {
      p[n - 2] = start;
      p[n - 1] = end;
    } else {
      // An empty value (llhttp reports it at the next line's start): right after the colon.
      p[n - 2] = p[n - 1] = p[n - 3] + 1;
    }
    return this.checkLimits(n >> 2);
  }

  /** After each read: a head still being recorded lives in the shared read buffer, which the
   *  next read reuses, so it continues as strings (the header collector takes the lines so far). */
  #endOfInput(): void {
    const p = this.rawPos;
    if (!this.rawMode || p.length === 0) return;
    this.rawMode = false;
    this.rawPos = [];
    const c = this.rawChunk!;
    const hc = this.hc;
    for (let k = 0; k < p.length; k += 4) {
      // Counted once already, as they were recorded.
      hc.bytes -= p[k + 1] - p[k] + (p[k + 2] >= 0 ? p[k + 3] - p[k + 2] : 0);
      hc.onField(c, p[k], p[k + 1]);
      if (p[k + 2] >= 0) hc.onValue(c, p[k + 2], p[k + 3]);
    }
  }

  onHeadersComplete(status: number, _upgrade: number, shouldKeepAlive: number): number {
    if (status < 100 || status > 599) {
      // Not an HTTP status (RFC 9110 15): only 1xx are interim, and a "response" below 100 would
      // have its body bytes parsed as the next response. Protocol error: 502 UPE, closed.
      return -1;
    }
    const d = this.decoder;
    if (d === null) return -1; // a response nobody asked for: protocol error, connection closes
    if (status < 200) {
      if (status === 101 && this.upgradeRequest) return this.#onSwitchingProtocols();
      // 1xx interim responses (100-continue was answered by us downstream) are not forwarded.
      // They have no body (RFC 9112 6.3): as Envoy, one that announces a body (Transfer-Encoding,
      // a non-zero Content-Length) is a protocol error, and llhttp is told to read none (it
      // would otherwise parse a body for 1xx codes it does not know).
      const raw = this.rawMode ? this.#rawBlock() : null;
      let list: string[];
      if (raw !== null) {
        list = raw.toList();
        raw.released = true; // read here only: nothing to copy out of the read buffer
      } else {
        list = this.hc.finish();
      }
      if (announcesBody(list)) return -1;
      this.skipInterim = true;
      return 1;
    }
    this.skipInterim = false;
    this.keepAlive = shouldKeepAlive === 1;
    let contentLength = -1;
    let h: ResponseHeaders;
    if (this.rawMode) {
      const raw = this.#rawBlock();
      h = new ResponseHeaders(status, [], raw);
      if (raw !== null) contentLength = dropHopByHop(h, raw);
    } else {
      h = new ResponseHeaders(status, this.hc.finish());
      contentLength = dropHopByHopList(h);
    }
    // A Transfer-Encoding other than `chunked` alone: Legate decodes no other coding, and would
    // pass coded bytes off as the content (Envoy: "unsupported transfer encoding").
    // Envoy: a non-zero Content-Length on a 204 is a protocol error too (one of 0 is dropped).
    if (contentLength === BAD_FRAMING || (status === 204 && contentLength > 0)) {
      h.release(); // (nothing reads it: no copy out of the read buffer)
      return -1;
    }
    const noBody = this.headRequest || status === 204 || status === 304 || contentLength === 0;
    this.responseEndAtHeaders = noBody;
    this.responseStarted = true;
    if (noBody) this.#streamDone();
    d.decodeHeaders(h, noBody);
    // 1 tells llhttp the message has no body (needed for HEAD, whose headers describe one).
    return this.headRequest ? 1 : 0;
  }

  /** The recorded head as a raw block over the read chunk, which it leaves (or is emptied) when
   *  this read's dispatch ends (null when it has no headers). */
  #rawBlock(): RawHeaderBlock | null {
    const p = this.rawPos;
    this.rawPos = [];
    if (p.length === 0) return null;
    // A line whose value never came is empty: its value sits right after the colon.
    for (let k = 0; k < p.length; k += 4) if (p[k + 2] < 0) p[k + 2] = p[k + 3] = p[k + 1] + 1;
    return new RawHeaderBlock(this.rawChunk!, p, true);
  }

  onBody(chunk: Buffer, start: number, end: number): number {
    const d = this.decoder;
    if (d !== null) d.decodeData(chunk.subarray(start, end), false);
    return 0;
  }
  onMessageComplete(): number {
    if (this.skipInterim) {
      this.skipInterim = false;
      return 0;
    }
    const d = this.decoder;
    this.decoder = null;
    this.callbacks = null;
    this.responseStarted = false;
    this.#streamDone();
    if (d !== null && !this.responseEndAtHeaders) d.decodeData(EMPTY, true);
    if (!this.keepAlive) {
      // The upstream said Connection: close.
      this.info.stats.v[this.info.s.upstream_cx_close_notify]++;
      this.destroy();
      return 0;
    }
    if (!this.requestComplete) {
      // The response ended before our request did: the connection is mid-message, unusable.
      this.destroy();
      return 0;
    }
    // Stop here: the connection goes back to the pool only if nothing follows the response
    // in this read (onData checks); extra bytes would be taken as the next request's response.
    this.releaseAfterParse = true;
    return ERROR.PAUSED;
  }

  // ---- connection events (ReadFilter, ConnectionCallbacks) ----------------------------------

  initializeReadFilterCallbacks(): void {}

  onNewConnection(): FilterStatus {
    return FilterStatus.Continue;
  }

  onEvent(event: ConnectionEvent): void {
    if (event === ConnectionEvent.Connected) this.onConnect();
    else this.onClose(event);
  }

  onAboveWriteBufferHighWatermark(): void {
    const t = this.tunnel;
    if (t !== null) {
      t.onAboveWriteBufferHighWatermark();
      return;
    }
    // Only a request still sending its body has something to stop.
    if (this.aboveWatermark || this.requestComplete || this.decoder === null) return;
    this.aboveWatermark = true;
    this.callbacks?.onAboveWriteBufferHighWatermark();
  }

  onBelowWriteBufferLowWatermark(): void {
    const t = this.tunnel;
    if (t !== null) {
      t.onBelowWriteBufferLowWatermark();
      return;
    }
    if (!this.aboveWatermark) return;
    this.aboveWatermark = false;
    this.callbacks?.onBelowWriteBufferLowWatermark();
  }

  onConnect(): void {
    this.connected = true;
    if (this.connectTimer !== null) {
      clearTimeout(this.connectTimer);
      this.connectTimer = null;
    }
    const c = this.info;
    c.stats.record(c.s.upstream_cx_connect_ms, monotonicNow() - this.connectStart);
    if (c.maxConnectionDurationMs > 0) {
      this.durationTimer = new DurationTimer(this);
      schedule(this.durationTimer, c.maxConnectionDurationMs);
    }
    const head = this.replayHead;
    if (head !== null) {
      // The request this connection was opened for, again (adoptStream).
      const body = this.replayBody;
      this.replayHead = null;
      this.replayBody = null;
      if (body === null) this.connection.queueWrite(head);
      else this.connection.writeFramed(head, body.length === 1 ? body[0] : Buffer.concat(body), this.chunkedRequest, true);
    }
    this.pool.onConnected(this);
  }

  onData(chunk: Buffer, endStream: boolean): FilterStatus {
    const t = this.tunnel;
    if (t !== null) return t.onData(chunk, endStream);
    if (endStream) this.onEnd();
    else if (!this.localClose) this.#parse(chunk);
    return FilterStatus.StopIteration;
  }

  #parse(chunk: Buffer): void {
    const ret = this.parser.execute(chunk);
    this.#endOfInput();
    if (ret === 0) return;
    if (ret === ERROR.PAUSED_UPGRADE && this.upgraded) {
      // The bytes after the 101 are the new protocol's.
      const t = this.tunnel;
      if (t === null) {
        // Nobody took the tunnel (the downstream went away meanwhile).
        this.destroy();
        return;
      }
      const rest = chunk.subarray(this.parser.errorOffset);
      if (rest.length > 0) t.onData(rest, false);
      return;
    }
    if (ret === ERROR.PAUSED && this.releaseAfterParse) {
      this.releaseAfterParse = false;
      if (this.parser.errorOffset < chunk.length) {
        // Bytes after a complete response with no request outstanding (Envoy: protocol error).
        this.info.stats.v[this.info.s.upstream_cx_protocol_error]++;
        this.destroy();
        return;
      }
      this.parser.resume();
      this.#release();
      return;
    }
    this.#protocolError();
  }

  #protocolError(): void {
    const c = this.info;
    c.stats.v[c.s.upstream_cx_protocol_error]++;
    const cb = this.decoder !== null ? this.callbacks : null;
    this.destroy();
    if (cb !== null) cb.onResetStream(StreamResetReason.ProtocolError);
  }

  flushHead(): void {
    const head = this.pendingHead;
    if (head !== null) {
      this.pendingHead = null;
      this.connection.writeFramed(head, EMPTY, false, false);
    }
  }

  onConnectTimeout(): void {
    this.connectTimer = null;
    if (this.connected || this.closed) return;
    const c = this.info;
    c.stats.v[c.s.upstream_cx_connect_timeout]++;
    this.localClose = true;
    this.connection.close(ConnectionCloseType.NoFlush);
  }

  onClose(event: ConnectionEvent = ConnectionEvent.RemoteClose): void {
    if (this.closed) return;
    this.closed = true;
    if (this.connectTimer !== null) {
      clearTimeout(this.connectTimer);
      this.connectTimer = null;
    }
    cancel(this);
    if (this.durationTimer !== null) cancel(this.durationTimer);
    if (this.replayHead !== null && this.requestComplete && this.decoder !== null && !this.localClose && this.connected) {
      this.#replay(event);
      return;
    }
    // A body delimited by connection close ends here, if the upstream closed cleanly (FIN): a
    // reset cuts it short, and must reach the client as one, not as the end of the body.
    if (this.ended && this.decoder !== null && this.responseStarted && this.parser.messageNeedsEof()) {
      this.parser.finish();
    }
    const d = this.decoder;
    const cb = d !== null ? this.callbacks : null;
    this.decoder = null;
    this.callbacks = null;
    this.parser.destroy();
    if (!this.localClose && this.connected) {
      // (A tunnel's connection is closed by its relay, not through destroy().)
      const s = this.info.s;
      this.info.stats.v[event === ConnectionEvent.LocalClose ? s.upstream_cx_destroy_local : s.upstream_cx_destroy_remote]++;
    }
    this.#streamDone();
    this.pool.onClosed(this, d !== null || this.activeAtClose);
    if (cb !== null) cb.onResetStream(StreamResetReason.ConnectionTermination);
    const t = this.tunnel;
    if (t !== null) {
      this.tunnel = null;
      t.onEvent(event);
    }
  }

  /** The upstream closed under a request it never answered (the keep-alive race): the request
   *  goes on a new connection; this one is gone as usual, less the stream's end. */
  #replay(event: ConnectionEvent): void {
    const d = this.decoder!;
    const cb = this.callbacks;
    this.decoder = null;
    this.callbacks = null;
    this.parser.destroy();
    const s = this.info.s;
    this.info.stats.v[event === ConnectionEvent.LocalClose ? s.upstream_cx_destroy_local : s.upstream_cx_destroy_remote]++;
    // (The stream stays active meanwhile: the slot it holds is the new connection's to give back.)
    this.pool.onClosed(this, true);
    if (this.pool.replayOnNewConnection(this, d, cb)) {
      this.streamActive = false;
      return;
    }
    this.#dropReplay();
    this.#streamDone();
    if (cb !== null) cb.onResetStream(StreamResetReason.ConnectionTermination);
  }
}


function onConnectTimeout(c: Http1ClientConnection): void {
  c.onConnectTimeout();
}

/** dropHopByHop's answer for a response whose framing Legate refuses. */
const BAD_FRAMING = -2;

/** Drop hop-by-hop lines (HOP_BY_HOP_HEADERS) from a raw head, and those its Connection headers name; returns its
 *  content-length (-1: none), or BAD_FRAMING for a Transfer-Encoding other than one `chunked`
 *  (a 204 may not have one at all). Names are told apart by length first, so most lines cost
 *  one comparison. */
function dropHopByHop(h: ResponseHeaders, raw: RawHeaderBlock): number {
  const p = raw.pos;
  let contentLength = -1;
  let te = 0;
  let connection: string | null = null;
  for (let i = 0; i < p.length >> 2; i++) {
    switch (p[4 * i + 1] - p[4 * i]) {
      case 2: if (raw.nameIs(i, 'te')) raw.dropAt(i); break;
      case 7: if (raw.nameIs(i, 'upgrade') || raw.nameIs(i, 'trailer')) raw.dropAt(i); break;
      case 10:
        if (raw.nameIs(i, 'connection')) {
          if (!raw.valueIs(i, 'keep-alive') && !raw.valueIs(i, 'close')) {
            const v = raw.value(i).toLowerCase();
            connection = connection === null ? v : `${connection},${v}`;
          }
          raw.dropAt(i);
        } else if (raw.nameIs(i, 'keep-alive')) raw.dropAt(i);
        break;
      case 14:
        if (raw.nameIs(i, 'content-length')) {
          contentLength = raw.decimalValue(i);
          raw.contentLengthLine = i;
        } else if (raw.nameIs(i, 'http2-settings')) raw.dropAt(i);
        break;
      case 16: if (raw.nameIs(i, 'proxy-connection')) raw.dropAt(i); break;
      case 17:
        if (raw.nameIs(i, 'transfer-encoding')) {
          if (te++ > 0 || !(raw.valueIs(i, 'chunked') || isChunked(raw.value(i)))) return BAD_FRAMING;
          raw.dropAt(i);
        }
        break;
    }
  }
  if (te > 0 && h.status === 204) return BAD_FRAMING;
  if (raw.contentLengthLine === -2) raw.contentLengthLine = -1;
  if (connection !== null) removeConnectionTokens(h, connection);
  return contentLength;
}

/** `chunked` with optional whitespace around it (llhttp keeps trailing whitespace in values). */
function isChunked(v: string): boolean {
  return trimOws(v).toLowerCase() === 'chunked';
}

const ZEROS = /^0+$/;

/** Whether an interim response's head announces a body (see onHeadersComplete). */
function announcesBody(list: string[]): boolean {
  for (let i = 0; i < list.length; i += 2) {
    const n = list[i];
    if (n === 'transfer-encoding' || (n === 'content-length' && !ZEROS.test(trimOws(list[i + 1])))) return true;
  }
  return false;
}

/** The same for a head parsed into strings (it spanned reads). */
function dropHopByHopList(h: ResponseHeaders): number {
  const list = h.list;
  let w = 0;
  let connection: string | null = null;
  let contentLength = -1;
  let te = 0;
  for (let i = 0; i < list.length; i += 2) {
    const n = list[i];
    switch (n) {
      case 'connection': {
        const v = list[i + 1].toLowerCase();
        connection = connection === null ? v : `${connection},${v}`;
        continue;
      }
      case 'transfer-encoding':
        if (te++ > 0 || !isChunked(list[i + 1])) return BAD_FRAMING;
        continue;
      case 'content-length':
        contentLength = Number(list[i + 1]);
        break;
      default:
        if (isHopByHop(n)) continue;
    }
    list[w] = n;
    list[w + 1] = list[i + 1];
    w += 2;
  }
  list.length = w;
  if (te > 0 && h.status === 204) return BAD_FRAMING;
  if (connection !== null) removeConnectionTokens(h, connection);
  return contentLength;
}
