// HTTP/1.1 server codec: one downstream connection, parsed by the thread's llhttp WASM instance.
//
// Design note
// - One stream at a time. Pipelined requests stay unparsed: the parser pauses at the end of each
//   request (ERROR.PAUSED from on_message_complete) and the rest of the chunk waits until the
//   response is done, so responses go out in order without a queue of streams.
// - A head is accepted only once llhttp has accepted it: llhttp checks framing (Transfer-Encoding,
//   Content-Length) after on_headers_complete returns, so the request is built there but routed
//   (and so forwarded) only at its first body byte, its end, or the end of the read. A head that
//   fails a check gets its 4xx with nothing of it sent upstream.
// - Memory is bounded by the buffer limit whatever the peer does: pipelined input waits in
//   `held` (network/held-input.ts: copied compactly, however small the reads; reading pauses past
//   the limit), and while the socket's write buffer is above the limit (a client that sends and
//   never reads) the next request is not parsed; 'drain' resumes.
// - Header names/values arrive as Buffer views of the socket's chunk; they become latin1 strings
//   once (a header may come in pieces across reads: pieces are appended).
// - Socket handlers are module-level functions bound through the socket's symbol-keyed slot; no
//   closure per connection or request.
// - Flow control: readDisable() is counted (every disable needs an enable) and pauses the socket;
//   writes past the connection's buffer limit raise the stream's high watermark, 'drain' lowers it.
import { Buffer } from 'node:buffer';
import process from 'node:process';
import { monotonicNow } from '../../common/clock.ts';
import { schedule, cancel, TICK_MS, type Expirable } from '../../common/timer-wheel.ts';
import type { Socket } from 'node:net';
import { HttpParser, TYPE, ERROR, type ParserHandler } from '../../../native-wasm/llhttp.ts';
import { RequestHeaders, type ResponseHeaders } from '../types.ts';
import {
  ActiveStream, statusText, type ServerCodecStream,
} from '../../extensions/filters/network/http-connection-manager/active-stream.ts';
import type { HcmConfig } from '../../extensions/filters/network/http-connection-manager/config.ts';
import type { ListenerStats } from '../../listener/stats.ts';
import { httpDate } from '../../common/date.ts';
import { COPY_LIMIT, writeMessage } from './framing.ts';
import { flushWrites, queueWrite } from '../../network/write-batch.ts';
import { deferHead, enterRead, leaveRead, type HeadHolder } from '../../network/read-dispatch.ts';
import { attachSocket, type SocketOwner } from '../../network/socket-owner.ts';
import { HeaderParsingHandler, removeConnectionTokens, trimOws } from './header-names.ts';
import { isValidAuthority } from '../authority.ts';
import { HeldInput } from '../../network/held-input.ts';

const EMPTY = Buffer.alloc(0);
const CRLF = '\r\n';
const CONTINUE_100 = Buffer.from('HTTP/1.1 100 Continue\r\n\r\n', 'latin1');


// Open downstream HTTP/1 connections of this thread: the count balances exact_balance listeners,
// the set lets a drain reach every connection.
const connections = new Set<Http1ServerConnection>();
let draining = false;
export function activeConnections(): number {
  return connections.size;
}
/** Listener drain: close idle connections now, the others after their current response. */
export function drainConnections(): void {
  draining = true;
  for (const c of connections) c.drain();
}

export class Http1ServerConnection extends HeaderParsingHandler
  implements ParserHandler, ServerCodecStream, HeadHolder, Expirable, SocketOwner {
  readonly socket: Socket;
  readonly config: HcmConfig;
  readonly listenerStats: ListenerStats;
  readonly remoteAddress: string;
  readonly remoteIp: string;
  readonly bufferLimit: number;
  parser: HttpParser;
  stream: ActiveStream | null;
  // Parse state of the current request head.
  url: string;
  contentLength: number;
  chunkedRequest: boolean;
  expectContinue: boolean;
  connectionTokens: string | null;
  // Response framing of the current stream.
  chunkedResponse: boolean;
  headResponse: boolean;
  responseHasBody: boolean;
  keepAlive: boolean;
  http10: boolean;
  /** A head built by onHeadersComplete that llhttp has not yet accepted (see the design note). */
  headPending: RequestHeaders | null;
  upgradeTo: string;
  upgrade: boolean;
  /** The pending head's Transfer-Encoding is one llhttp must refuse (see acceptHead). */
  badFraming: boolean;
  // Pipelining / lifecycle.
  /** A request is complete and its response not yet done. */
  waitingForResponse: boolean;
  /** The parser stopped at a message end (ERROR.PAUSED): the response in flight, or the write
   *  buffer above its limit, holds the next request; input waits in `held`. */
  parsePaused: boolean;
  pipelinePaused: boolean;
  /** Input held while parsePaused (or until drainPending gets to it), in order. */
  readonly held: HeldInput;
  readDisableCount: number;
  closing: boolean;
  /** We closed the connection (downstream_cx_destroy_local), not the client (_remote). */
  localClose: boolean;
  /** The socket's write buffer is above the buffer limit (set only when 'drain' will come). */
  aboveWatermark: boolean;
  /** Bytes queued for the socket since its write buffer was last looked at (#queue). */
  unchecked: number;
  pendingHead: string | Buffer | null;
  /** pendingHead ends with this much room for the body (bytes after headLength); 0: none. */
  bodyRoom: number;
  headLength: number;
  startHr: number;
  /** When the connection last became idle (no request in progress); 0 while busy. */
  idleSince: number;
  /** When the current request head started, and when bytes last arrived (head timeouts). */
  headStart: number;
  lastRx: number;
  /** Delayed-close deadline while closing (see closeGracefully). */
  closeTimer: NodeJS.Timeout | null;
  /** Bytes still to flush when the close timer was last armed (progress restarts it). */
  closeLeft: number;
  timerTick: number;
  timerIndex: number;

  constructor(socket: Socket, config: HcmConfig, listenerStats: ListenerStats, bufferLimit: number) {
    super();
    this.socket = socket;
    this.config = config;
    this.listenerStats = listenerStats;
    // getpeername(2) only when something reads the address (x-forwarded-for, access logs).
    const ip = config.needsRemoteAddress ? socket.remoteAddress ?? '' : '';
    this.remoteIp = ip;
    this.remoteAddress = ip === '' ? '' : ip.includes(':') ? `[${ip}]:${socket.remotePort}` : `${ip}:${socket.remotePort}`;
    this.bufferLimit = bufferLimit;
    this.parser = new HttpParser(TYPE.REQUEST, this);
    this.stream = null;
    this.url = '';
    this.contentLength = -1;
    this.chunkedRequest = false;
    this.expectContinue = false;
    this.connectionTokens = null;
    this.chunkedResponse = false;
    this.headResponse = false;
    this.responseHasBody = true;
    this.keepAlive = true;
    this.http10 = false;
    this.headPending = null;
    this.upgradeTo = '';
    this.upgrade = false;
    this.badFraming = false;
    this.waitingForResponse = false;
    this.parsePaused = false;
    this.pipelinePaused = false;
    this.held = new HeldInput();
    this.readDisableCount = 0;
    this.closing = false;
    this.localClose = false;
    this.aboveWatermark = false;
    this.unchecked = 0;
    this.pendingHead = null;
    this.bodyRoom = 0;
    this.headLength = 0;
    this.startHr = monotonicNow();
    this.idleSince = this.startHr;
    this.headStart = 0;
    this.lastRx = this.startHr;
    this.closeTimer = null;
    this.closeLeft = 0;
    this.timerTick = -1;
    this.timerIndex = -1;
    this.maxHeaderBytes = config.snap.maxRequestHeadersBytes;
    this.maxHeaderCount = config.snap.maxHeadersCount;

    connections.add(this);
    const v = config.stats.v;
    const s = config.s;
    v[s.downstream_cx_total]++;
    v[s.downstream_cx_http1_total]++;
    v[s.downstream_cx_active]++;
    v[s.downstream_cx_http1_active]++;
    const ls = listenerStats;
    v[ls.downstream_cx_total]++;
    v[ls.downstream_cx_active]++;

    socket.setNoDelay(true);
    attachSocket(socket, this);
    if (socket.isPaused()) socket.resume();
    // HCM idle_timeout (common_http_protocol_options.idle_timeout, Envoy default 1 h).
    if (config.snap.idleTimeoutMs > 0) schedule(this, config.snap.idleTimeoutMs);
  }

  /**
   * The connection's one timer (timer wheel): the HCM idle timeout while no request is in
   * progress, the stream's timeouts (stream idle, request) while one is. It may fire early (it is
   * only moved earlier, never cancelled per request); it then re-arms for what is really due.
   */
  onExpire(): void {
    if (this.closing) return;
    const now = monotonicNow();
    const st = this.stream;
    const snap = this.config.snap;
    if (st !== null && !st.destroyed) {
      st.checkTimeouts(now);
    } else if (st === null && this.idleSince === 0 && !this.waitingForResponse) {
      // A request head is arriving (or stalled).
      const c = this.config;
      if (snap.requestTimeoutMs > 0 && now - this.headStart >= snap.requestTimeoutMs) {
        c.stats.v[c.s.downstream_rq_timeout]++;
        this.replyWithoutStream(408);
        return;
      }
      if (snap.streamIdleTimeoutMs > 0 && now - this.lastRx >= snap.streamIdleTimeoutMs) {
        c.stats.v[c.s.downstream_rq_idle_timeout]++;
        this.replyWithoutStream(408);
        return;
      }
      let at = snap.streamIdleTimeoutMs > 0 ? this.lastRx + snap.streamIdleTimeoutMs : Infinity;
      if (snap.requestTimeoutMs > 0) at = Math.min(at, this.headStart + snap.requestTimeoutMs);
      if (at !== Infinity) {
        schedule(this, Math.max(0, at - now));
        return;
      }
    }
    if (this.closing) return;
    const timeout = snap.idleTimeoutMs;
    if (this.stream === null && !this.waitingForResponse && this.idleSince > 0 && timeout > 0 &&
        now - this.idleSince >= timeout) {
      this.config.stats.v[this.config.s.downstream_cx_idle_timeout]++;
      this.closeGracefully();
      return;
    }
    let at = Infinity;
    if (this.stream !== null && !this.stream.destroyed) at = this.stream.nextDeadline();
    else if (this.idleSince > 0 && timeout > 0) at = this.idleSince + timeout;
    if (at === Infinity && timeout > 0) at = now + timeout;
    if (at !== Infinity) schedule(this, Math.max(0, at - now));
  }

  /** No request in progress from now on: the connection idle timeout runs from here. */
  markIdle(): void {
    const now = monotonicNow();
    this.idleSince = now;
    const t = this.config.snap.idleTimeoutMs;
    if (t > 0) this.armBy(now + t);
  }

  /** Make sure the connection timer fires by `at` (monotonic ms). */
  armBy(at: number): void {
    if (at === Infinity) return;
    if (this.timerTick === -1 || this.timerTick * TICK_MS > at + TICK_MS) {
      schedule(this, Math.max(0, at - monotonicNow()));
    }
  }

  // ---- reading ------------------------------------------------------------------------------

  onData(chunk: Buffer): void {
    if (this.closing) return;
    this.lastRx = monotonicNow();
    this.config.stats.v[this.config.s.downstream_cx_rx_bytes_total] += chunk.length;
    if (this.parsePaused || this.held.bytes > 0) {
      // Pipelined requests wait unparsed until the response in flight is done (and the write
      // buffer is below its limit); bytes that came after held ones wait behind them. The socket
      // keeps reading (pausing costs two epoll_ctl calls a request) unless a client piles up more
      // than the buffer limit.
      this.held.push(chunk);
      this.#checkHeld();
      return;
    }
    this.execute(chunk);
  }

  /** Past the buffer limit of held input, stop reading until it is parsed (drainPending). */
  #checkHeld(): void {
    if (this.held.bytes > this.bufferLimit && !this.pipelinePaused) {
      this.pipelinePaused = true;
      this.socket.pause();
    }
  }

  execute(chunk: Buffer): void {
    const ret = this.parser.execute(chunk);
    if (ret === 0) {
      // The read ended after a complete head: llhttp has run its checks on it.
      if (this.headPending !== null) {
        if (!this.closing) this.acceptHead();
        else this.headPending = null;
      }
      return;
    }
    // A head llhttp refused after on_headers_complete is dropped unrouted.
    this.headPending = null;
    if (this.closing) return;
    if (ret === ERROR.PAUSED) {
      const rest = chunk.subarray(this.parser.errorOffset);
      if (rest.length > 0) {
        // The rest of this chunk is parsed first when parsing resumes (drainPending); chunks
        // that came later are already held behind it.
        this.held.pushFront(rest);
        this.#checkHeld();
      }
      return;
    }
    // PAUSED_UPGRADE cannot reach here: upgrade requests are refused or close the connection.
    this.protocolError(this.headersTooLarge ? 431 : 400, this.parser.errorReason());
  }

  /** A request the codec cannot accept: answer (when still possible) and close. */
  protocolError(status: number, _reason: string): void {
    const c = this.config;
    const v = c.stats.v;
    v[c.s.downstream_cx_protocol_error]++;
    if (status === 431) v[c.s.downstream_rq_too_large]++;
    const st = this.stream;
    if (st !== null) {
      st.closeConnection = true;
      if (!st.responseStarted) st.sendLocalReply(status, statusText(status), 'DPE', 'codec_error');
      else {
        st.streamInfo.responseFlags = 'DPE';
        st.resetStream();
      }
      return;
    }
    this.replyWithoutStream(status);
  }

  /** A local reply before any stream exists (the head is bad or never completed), counted as a
   *  request like Envoy does; the connection closes after it. */
  replyWithoutStream(status: number): void {
    const c = this.config;
    const v = c.stats.v;
    v[c.s.downstream_rq_total]++;
    v[c.s.downstream_rq_http1_total]++;
    if (status >= 500) v[c.s.downstream_rq_5xx]++;
    else v[c.s.downstream_rq_4xx]++;
    v[c.s.downstream_rq_completed]++;
    const body = statusText(status);
    flushWrites();
    this.socket.write(
      `HTTP/1.1 ${status} ${body}\r\ncontent-length: ${body.length}\r\ncontent-type: text/plain\r\n` +
      `date: ${httpDate()}\r\nserver: ${c.snap.serverName}\r\nconnection: close\r\n\r\n${body}`, 'latin1');
    this.closeGracefully();
  }

  onMessageBegin(): number {
    this.idleSince = 0;
    // The head's own timeouts (Envoy's stream exists from the first byte): request_timeout from
    // now, stream_idle_timeout from the last byte received; onExpire enforces them until the
    // headers are complete and the stream takes over.
    const now = monotonicNow();
    this.headStart = now;
    const snap = this.config.snap;
    if (snap.streamIdleTimeoutMs > 0) this.armBy(now + snap.streamIdleTimeoutMs);
    if (snap.requestTimeoutMs > 0) this.armBy(now + snap.requestTimeoutMs);
    this.url = '';
    this.startLineBytes = 0;
    this.headersTooLarge = false;
    this.hc.reset();
    this.contentLength = -1;
    this.chunkedRequest = false;
    this.expectContinue = false;
    this.connectionTokens = null;
    return 0;
  }

  onUrl(chunk: Buffer, start: number, end: number): number {
    this.url += chunk.latin1Slice(start, end);
    this.startLineBytes += end - start;
    if (this.startLineBytes > this.maxHeaderBytes) {
      this.headersTooLarge = true;
      return -1;
    }
    return 0;
  }

  onHeadersComplete(_status: number, upgrade: number, shouldKeepAlive: number): number {
    const raw = this.hc.finish();
    const c = this.config;
    if (this.hc.bytes + this.url.length > c.snap.maxRequestHeadersBytes || raw.length / 2 > c.snap.maxHeadersCount) {
      this.protocolError(431, 'headers too large');
      return -1;
    }
    const p = this.parser;
    const major = p.httpMajor();
    const minor = p.httpMinor();
    if (major !== 1 || minor > 1) {
      // HTTP/0.9 (a request line without a version) and anything past 1.1 are not HTTP/1 requests
      // this codec serves (Envoy refuses 0.9 too).
      this.protocolError(400, 'unsupported HTTP version');
      return -1;
    }
    this.http10 = minor === 0;
    this.keepAlive = shouldKeepAlive === 1;
    const method = p.method();

    // Split off pseudo-header material and hop-by-hop headers into a new list (shrinking the
    // collector's list in place costs a runtime call to set its length).
    const out: string[] = [];
    let authority: string | null = null;
    let te: string | null = null;
    let upgradeTo = '';
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i];
      const value = raw[i + 1];
      switch (name) {
        case 'host':
          if (authority !== null) {
            // RFC 9112 3.2: more than one Host is a 400.
            this.protocolError(400, 'duplicate host');
            return -1;
          }
          // (llhttp keeps trailing whitespace in a value; it is not part of it, RFC 9110 5.5.)
          authority = trimOws(value);
          continue;
        case 'upgrade': upgradeTo = value.toLowerCase(); continue;
        case 'http2-settings': continue;
        case 'content-length': this.contentLength = Number(value); break;
        case 'transfer-encoding':
          te = te === null ? value : `${te},${value}`;
          continue;
        case 'expect':
          if (value.toLowerCase() === '100-continue') { this.expectContinue = true; continue; }
          break;
        case 'connection': {
          // Several Connection headers: the tokens of all of them.
          const v = value.toLowerCase();
          this.connectionTokens = this.connectionTokens === null ? v : `${this.connectionTokens},${v}`;
          continue;
        }
        case 'te':
          // Envoy keeps `te: trailers` (gRPC needs it); anything else is hop-by-hop.
          if (value.toLowerCase() !== 'trailers') continue;
          break;
        // Hop-by-hop (RFC 9110 7.6.1): never forwarded; framing is re-derived per hop.
        case 'keep-alive': case 'proxy-connection': case 'proxy-authenticate':
        case 'trailer':
          continue;
      }
      out.push(name, value);
    }
    this.badFraming = false;
    if (te !== null) {
      // RFC 9112 6.1: HTTP/1.0 has no chunked coding, so a 1.0 message with Transfer-Encoding has
      // faulty framing (400, then close). For 1.1 see transferEncodingStatus.
      const status = this.http10 ? 400 : transferEncodingStatus(te);
      if (status > 0) {
        this.protocolError(status, 'bad transfer-encoding');
        return -1;
      }
      if (status === 0) this.chunkedRequest = true;
      else this.badFraming = true;
    }
    // RFC 9112 3.2: a 1.1 request without Host, or any with an invalid one, is a 400, whatever
    // the form of its target (http/authority.ts says what is valid).
    if (authority === null) {
      if (!this.http10) {
        this.protocolError(400, 'missing host');
        return -1;
      }
      authority = '';
    } else if (authority !== '' && !isValidAuthority(authority)) {
      this.protocolError(400, 'invalid host');
      return -1;
    }
    let path = this.url;
    if (path.charCodeAt(0) !== 47 /* '/' */ && path !== '*') {
      // absolute-form (RFC 9112 3.2.2): the authority in the URL wins over Host.
      const m = /^https?:\/\/([^/?#]+)([^#]*)$/i.exec(path);
      if (m === null) {
        this.config.stats.v[c.s.downstream_rq_non_relative_path]++;
        this.protocolError(400, 'bad url');
        return -1;
      }
      if (!isValidAuthority(m[1])) {
        this.protocolError(400, 'invalid host');
        return -1;
      }
      authority = m[1];
      // RFC 9112 3.2.1: an empty path is "/" (also before a query).
      path = m[2].charCodeAt(0) === 47 ? m[2] : `/${m[2]}`;
    } else if (authority === '' && !this.http10) {
      // An empty Host is only for a target without an authority (RFC 9112 3.2).
      this.protocolError(400, 'missing host');
      return -1;
    }
    const req = new RequestHeaders(method, path, authority, 'http', this.http10 ? 'HTTP/1.0' : 'HTTP/1.1', out);
    if (this.connectionTokens !== null) removeConnectionTokens(req, this.connectionTokens);
    this.headResponse = method === 'HEAD';
    this.upgrade = upgrade === 1;
    this.upgradeTo = upgradeTo;
    // Routed once llhttp has accepted it (acceptHead).
    this.headPending = req;
    return 0;
  }

  /** The pending head passed llhttp's checks too: from here on the request is routed and may be
   *  forwarded. False when it is refused after all (the parser must stop). */
  acceptHead(): boolean {
    const req = this.headPending!;
    this.headPending = null;
    if (this.badFraming) {
      // A final coding that is not chunked, which llhttp let through (an empty value): the body
      // could not be delimited the same way on both sides of the proxy.
      this.protocolError(400, 'bad transfer-encoding');
      return false;
    }
    const hasBody = this.chunkedRequest || this.contentLength > 0;
    const stream = new ActiveStream(this.config, this, req);
    this.stream = stream;
    if (!this.keepAlive || draining) stream.closeConnection = true;
    // llhttp flags an upgrade only when Connection lists "upgrade" too (Envoy's isUpgrade);
    // a bare Upgrade header is just a hop-by-hop header, dropped above.
    if (this.upgrade) {
      // An upgrade leaves HTTP/1 on this connection, so it is never reused. h2c is served as a
      // plain HTTP/1.1 request (its upgrade headers dropped, as Envoy does); anything else
      // (WebSocket...) is refused with 403 until upgrade_configs are supported, as Envoy does
      // for upgrades it is not configured for.
      stream.closeConnection = true;
      if (this.upgradeTo !== 'h2c') {
        stream.remoteComplete = true;
        stream.sendLocalReply(403, '', '', 'upgrade_failed');
        return true;
      }
    }
    if (this.expectContinue && hasBody && !this.http10) {
      // Envoy answers 100-continue itself and does not forward Expect upstream.
      flushWrites();
      this.socket.write(CONTINUE_100);
    }
    stream.decodeHeaders(!hasBody);
    if (!stream.destroyed) this.armBy(stream.nextDeadline());
    return true;
  }

  onBody(chunk: Buffer, start: number, end: number): number {
    if (this.headPending !== null && !this.acceptHead()) return -1;
    const st = this.stream;
    if (st !== null && !st.destroyed) st.decodeData(chunk.subarray(start, end), false);
    return 0;
  }

  onMessageComplete(): number {
    if (this.headPending !== null && !this.acceptHead()) return -1;
    const st = this.stream;
    const hadBody = this.chunkedRequest || this.contentLength > 0;
    if (st !== null) {
      if (!st.destroyed) {
        if (hadBody) st.decodeData(EMPTY, true);
      } else {
        st.onRemoteCompleteAfterLocal();
      }
    }
    if (this.closing) return ERROR.PAUSED;
    if (this.stream === null || this.stream.destroyed) {
      // Answered already: the next pipelined request may go on, unless the client is not
      // reading what it was sent.
      this.stream = null;
      this.markIdle();
      if (!this.aboveWatermark) return 0;
    } else {
      // Hold the next pipelined request until this response is done.
      this.waitingForResponse = true;
    }
    this.parsePaused = true;
    return ERROR.PAUSED;
  }

  // ---- writing ------------------------------------------------------------------------------

  encodeHeaders(h: ResponseHeaders, endStream: boolean): void {
    const status = h.status;
    const st = this.stream!;
    // RFC 9110 8.6: no Content-Length on 1xx and 204 (304 keeps the one a 200 would have had).
    const noLength = status < 200 || status === 204;
    let hasLength = false;
    // A raw-backed head (an upstream response, http/raw-headers.ts; its hop-by-hop lines are
    // already gone): its lines are copied as they came; `list` has what was added on top.
    // (1xx and 204 go as strings: the content-length they must not carry is skipped, not removed
    // from the headers the access log sees.)
    if (noLength && h.raw !== null) void h.headers;
    const raw = h.raw;
    let lengthLine = -1;
    if (raw !== null) {
      lengthLine = raw.contentLengthAt();
      hasLength = lengthLine >= 0;
    }
    let head = raw === null ? statusLine(status) : '';
    const hs = h.list;
    for (let i = 0; i < hs.length; i += 2) {
      const name = hs[i];
      if (name.length === 10 && name === 'connection') continue;
      if (name.length === 17 && name === 'transfer-encoding') continue;
      if (name.length === 14 && name === 'content-length') {
        if (noLength) continue;
        hasLength = true;
      }
      head += `${name}: ${hs[i + 1]}${CRLF}`;
    }
    const noBody = noLength || status === 304;
    this.responseHasBody = !noBody && !this.headResponse;
    this.chunkedResponse = false;
    if (!noBody && !hasLength) {
      if (endStream) {
        if (!this.headResponse) head += `content-length: 0${CRLF}`;
      } else if (!this.http10) {
        this.chunkedResponse = true;
        head += `transfer-encoding: chunked${CRLF}`;
      } else {
        // HTTP/1.0 client and no length: the end of the body is the end of the connection.
        st.closeConnection = true;
      }
    }
    if (st.closeConnection) head += `connection: close${CRLF}`;
    else if (this.http10) head += `connection: keep-alive${CRLF}`;
    head += CRLF;
    let out: string | Buffer = head;
    this.bodyRoom = 0;
    if (raw !== null) {
      const sl = statusLine(status);
      const headLen = sl.length + raw.linesLength() + head.length;
      // A small body of known length gets room after the head: when it comes whole (the usual
      // upstream read holds head and body), encodeData copies it in and the response leaves as
      // this one buffer, with no second copy of the head.
      let room = 0;
      if (!endStream && this.responseHasBody && !this.chunkedResponse && lengthLine >= 0) {
        const n = raw.decimalValue(lengthLine);
        if (n > 0 && n <= COPY_LIMIT) room = n;
      }
      const buf = Buffer.allocUnsafe(headLen + room);
      const off = raw.writeLines(buf, buf.latin1Write(sl, 0));
      buf.latin1Write(head, off);
      out = buf;
      this.bodyRoom = room;
      this.headLength = headLen;
    }
    this.config.stats.v[this.config.s.downstream_cx_tx_bytes_total] += out.length - this.bodyRoom;
    if (endStream) {
      // A whole message: sent with the iteration's others (network/write-batch.ts).
      this.#queue(out);
    } else {
      // Held until the first body bytes of this read, so head and body leave in one write.
      this.pendingHead = out;
      deferHead(this);
    }
  }

  encodeData(b: Buffer, endStream: boolean): void {
    const sock = this.socket;
    let head = this.pendingHead;
    this.pendingHead = null;
    let whole = false;
    if (head !== null && this.bodyRoom > 0) {
      // The whole body goes into the room left for it after the head; anything else (a first
      // piece of it) follows the head alone.
      whole = b.length === this.bodyRoom;
      if (!whole) head = (head as Buffer).subarray(0, this.headLength);
      this.bodyRoom = 0;
    }
    if (whole) {
      // The whole response: sent with the iteration's others (network/write-batch.ts).
      b.copy(head as Buffer, this.headLength);
      this.#queue(head as Buffer);
      this.config.stats.v[this.config.s.downstream_cx_tx_bytes_total] += b.length;
      return;
    }
    // Direct writes from here: what is queued goes first. (The empty end of a response whose
    // body went whole writes nothing and leaves the queue alone.)
    if (head !== null || b.length > 0 || (endStream && this.chunkedResponse)) flushWrites();
    if (this.responseHasBody) {
      writeMessage(sock, head ?? '', b, this.chunkedResponse, endStream);
      this.config.stats.v[this.config.s.downstream_cx_tx_bytes_total] += b.length;
    } else if (head !== null) {
      sock.write(head as string, 'latin1');
    }
    this.#checkWatermark();
  }

  /** Queue a whole message (network/write-batch.ts). The socket's write buffer is looked at once
   *  per buffer limit of queued bytes (flushing the queue first, so what it holds is known): a
   *  client that pipelines and never reads is caught within about twice the limit. */
  #queue(out: string | Buffer): void {
    queueWrite(this.socket, out);
    if ((this.unchecked += out.length) > this.bufferLimit) {
      this.unchecked = 0;
      flushWrites();
      this.#checkWatermark();
    }
  }

  /** Above the high watermark: the stream stops its source (the router pauses the upstream) and
   *  no further pipelined request is parsed, until 'drain'. */
  #checkWatermark(): void {
    const sock = this.socket;
    // 'drain' comes only after a write Node could not buffer below its own high-water mark
    // (writableNeedDrain); without one a limit below that mark would never be lowered again.
    if (!this.aboveWatermark && sock.writableLength > this.bufferLimit && sock.writableNeedDrain) {
      this.aboveWatermark = true;
      this.stream?.onAboveWriteBufferHighWatermark();
    }
  }

  flushHead(): void {
    let head = this.pendingHead;
    if (head !== null) {
      this.pendingHead = null;
      if (this.bodyRoom > 0) {
        this.bodyRoom = 0;
        head = (head as Buffer).subarray(0, this.headLength);
      }
      flushWrites();
      if (!this.socket.destroyed) this.socket.write(head as string, 'latin1');
    }
  }

  onDrain(): void {
    if (this.aboveWatermark) {
      this.aboveWatermark = false;
      this.stream?.onBelowWriteBufferLowWatermark();
      this.#resumeParsing();
    }
  }

  /** Parse the next pipelined request, once nothing holds it (see parsePaused). */
  #resumeParsing(): void {
    if (!this.parsePaused || this.waitingForResponse || this.aboveWatermark || this.closing) return;
    this.parsePaused = false;
    this.parser.resume();
    if (this.held.bytes > 0 || this.pipelinePaused) process.nextTick(drainPending, this);
  }

  readDisable(disable: boolean): void {
    if (disable) {
      if (this.readDisableCount++ === 0) this.socket.pause();
    } else if (this.readDisableCount > 0 && --this.readDisableCount === 0) {
      if (!this.pipelinePaused) this.socket.resume();
      // Held input waits while reads are disabled too (drainPending stops for them).
      if (this.held.bytes > 0 && !this.parsePaused) process.nextTick(drainPending, this);
    }
  }

  resetStream(): void {
    this.closing = true;
    this.localClose = true;
    this.socket.destroy();
  }

  onStreamComplete(closeConnection: boolean): void {
    const st = this.stream;
    if (st !== null && !st.remoteComplete && !closeConnection && !draining) return;
    if (closeConnection || this.closing || draining) {
      this.stream = null;
      this.closeGracefully();
      return;
    }
    if (!this.waitingForResponse) {
      // The response finished while the request was still arriving; onMessageComplete
      // clears the stream when the request ends.
      if (st !== null && st.remoteComplete) {
        this.stream = null;
        this.markIdle();
      }
      return;
    }
    this.stream = null;
    this.markIdle();
    this.waitingForResponse = false;
    this.#resumeParsing();
  }

  /**
   * Close after what was written is flushed. The socket keeps reading (and discarding, since
   * `closing` is set) so the client's FIN is seen and the close completes; a client that never
   * closes is cut off DELAYED_CLOSE_MS after the flush, like Envoy's delayed_close_timeout. Closing at once
   * with unread input would make the kernel send RST, which can destroy the response in flight.
   * A peer that stops reading must not hold the connection open forever either: while the flush
   * is pending, it is cut off after flushStallMs() without progress. (Envoy runs its
   * delayed_close_timeout during the flush too, restarted by every byte written; from Node only
   * whole writes are seen to complete, and a slow reader can keep those from completing for
   * seconds, so the stall allowance here is the stream idle timeout.)
   */
  closeGracefully(): void {
    if (this.closing) return;
    this.closing = true;
    this.localClose = true;
    this.readDisableCount = 0;
    const sock = this.socket;
    flushWrites();
    sock.end(() => {
      // Flushed: the peer has DELAYED_CLOSE_MS to close its side.
      if (!sock.destroyed) this.#armCloseTimer(DELAYED_CLOSE_MS);
    });
    const left = sock.destroyed ? 0 : unflushed(sock);
    if (left > 0) {
      this.closeLeft = left;
      this.#armCloseTimer(this.#flushStallMs());
    }
    sock.resume();
  }

  /** How long a closing connection's flush may make no progress: stream_idle_timeout, or with it
   *  off idle_timeout, or with both off Envoy's default stream idle timeout (5 min). */
  #flushStallMs(): number {
    const snap = this.config.snap;
    return snap.streamIdleTimeoutMs > 0 ? snap.streamIdleTimeoutMs
      : snap.idleTimeoutMs > 0 ? snap.idleTimeoutMs : DEFAULT_FLUSH_STALL_MS;
  }

  #armCloseTimer(ms: number): void {
    if (this.closeTimer !== null) clearTimeout(this.closeTimer);
    this.closeTimer = setTimeout(onCloseTimer, ms, this);
    this.closeTimer.unref();
  }

  onCloseTimer(): void {
    this.closeTimer = null;
    const sock = this.socket;
    if (sock.destroyed) return;
    if (!sock.writableFinished) {
      const left = unflushed(sock);
      if (left < this.closeLeft) {
        // Still flushing, and bytes left since the timer was armed.
        this.closeLeft = left;
        this.#armCloseTimer(this.#flushStallMs());
        return;
      }
    }
    sock.destroy();
  }

  onClose(): void {
    connections.delete(this);
    cancel(this);
    if (this.closeTimer !== null) {
      // Not kept (with the socket) for the rest of the delayed-close window.
      clearTimeout(this.closeTimer);
      this.closeTimer = null;
    }
    const c = this.config;
    const v = c.stats.v;
    v[c.s.downstream_cx_active]--;
    v[c.s.downstream_cx_http1_active]--;
    v[c.s.downstream_cx_destroy]++;
    v[this.localClose ? c.s.downstream_cx_destroy_local : c.s.downstream_cx_destroy_remote]++;
    const ls = this.listenerStats;
    v[ls.downstream_cx_active]--;
    v[ls.downstream_cx_destroy]++;
    const len = monotonicNow() - this.startHr;
    c.stats.record(c.s.downstream_cx_length_ms, len);
    c.stats.record(ls.downstream_cx_length_ms, len);
    this.closing = true;
    const st = this.stream;
    this.stream = null;
    if (st !== null && !st.destroyed) st.onDownstreamReset();
    this.parser.destroy();
  }

  /** Listener drain: an idle connection closes now, a busy one after its response. */
  drain(): void {
    if (this.closing) return;
    if (this.stream === null && !this.waitingForResponse) this.closeGracefully();
    else if (this.stream !== null && !this.stream.responseStarted) this.stream.closeConnection = true;
  }

  onEnd(): void {
    // Client half-closed. Listening sockets do not allow half-open connections, so Node ends
    // our side too (right after this) and 'close' follows; a stream still in flight is reset
    // there (Envoy's behaviour without half-close support). A response queued in this loop
    // iteration goes out before that end.
    flushWrites();
    this.closing = true;
  }
}

/** How long a closing connection waits for the client's FIN (Envoy's delayed_close_timeout). */
const DELAYED_CLOSE_MS = 1000;
/** See flushStallMs. */
const DEFAULT_FLUSH_STALL_MS = 300_000;

function onCloseTimer(conn: Http1ServerConnection): void {
  conn.onCloseTimer();
}

/** How much is left to flush on `sock`, as a measure that shrinks when bytes leave: Node's buffer
 *  plus libuv's write queue (the write in progress counts in both; only changes are compared). */
function unflushed(sock: Socket): number {
  const handle = (sock as unknown as { _handle: { writeQueueSize?: number } | null })._handle;
  return sock.writableLength + (handle?.writeQueueSize ?? 0);
}

const TOKEN = "[!#$%&'*+\\-.^_`|~0-9A-Za-z]+";
/** transfer-coding = token *( OWS ";" OWS token "=" ( token / quoted-string ) ) (RFC 9110 10.1.4). */
const CODING = new RegExp(`^${TOKEN}(?:[ \\t]*;[ \\t]*${TOKEN}=(?:${TOKEN}|"[^"]*"))*$`);

/**
 * What a request's Transfer-Encoding list (all its field lines, comma-joined) means for an
 * HTTP/1.1 request (RFC 9112 6.1):
 *    0  exactly `chunked`: the body is chunked;
 *   -1  the final coding is not chunked: the length cannot be determined (400, then close).
 *       llhttp refuses these itself, after on_headers_complete, and the codec leaves the answer
 *       to it (so a head refused there is never routed: the smuggling test shows it); what
 *       llhttp lets through (an empty value) acceptHead refuses;
 *  400  chunked applied more than once, or a malformed coding;
 *  501  other codings before chunked: well framed, but Legate does not decode them (RFC 9112
 *       6.1: a coding the server does not understand; Envoy answers 501 for any coding but
 *       chunked).
 */
export function transferEncodingStatus(te: string): number {
  if (te.length === 7 && te.toLowerCase() === 'chunked') return 0;
  const codings = te.split(',');
  const last = codings.length - 1;
  if (trimOws(codings[last]).toLowerCase() !== 'chunked') return -1;
  let others = 0;
  for (let i = 0; i < last; i++) {
    // A coding is a token with optional parameters; chunked may appear only once.
    const c = trimOws(codings[i]);
    if (!CODING.test(c) || c.toLowerCase() === 'chunked') return 400;
    others++;
  }
  return others === 0 ? 0 : 501;
}

const STATUS_LINES: string[] = [];
/** "HTTP/1.1 <code> <reason>\r\n", made once per code. */
function statusLine(status: number): string {
  return (STATUS_LINES[status] ??= `HTTP/1.1 ${status} ${statusText(status) || reasonPhrase(status)}${CRLF}`);
}

function reasonPhrase(status: number): string {
  switch (status) {
    case 100: return 'Continue';
    case 101: return 'Switching Protocols';
    case 200: return 'OK';
    case 201: return 'Created';
    case 202: return 'Accepted';
    case 204: return 'No Content';
    case 206: return 'Partial Content';
    case 301: return 'Moved Permanently';
    case 302: return 'Found';
    case 303: return 'See Other';
    case 304: return 'Not Modified';
    case 307: return 'Temporary Redirect';
    case 308: return 'Permanent Redirect';
    case 401: return 'Unauthorized';
    case 403: return 'Forbidden';
    case 405: return 'Method Not Allowed';
    case 409: return 'Conflict';
    case 429: return 'Too Many Requests';
    default: return 'Unknown';
  }
}



/** Parse held input until the parser stops again (the next response in flight) or it is gone;
 *  reading resumes once what is held is below half the buffer limit (Envoy's low watermark). */
function drainPending(conn: Http1ServerConnection): void {
  enterRead();
  while (!conn.parsePaused && !conn.closing && conn.readDisableCount === 0) {
    const b = conn.held.shift();
    if (b === null) break;
    conn.execute(b);
  }
  leaveRead();
  if (conn.pipelinePaused && !conn.closing && conn.held.bytes <= conn.bufferLimit / 2) {
    conn.pipelinePaused = false;
    if (conn.readDisableCount === 0) conn.socket.resume();
  }
}
