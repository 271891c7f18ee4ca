// HTTP/1.1 server codec (Envoy's Http1::ServerConnectionImpl): one downstream connection's bytes,
// parsed by the thread's llhttp WASM instance, become streams of the HTTP connection manager
// (http/codec.ts: `newStream(encoder) -> decoder`), and the responses it encodes become bytes.
// Everything HTTP/1 lives here: framing, keep-alive and `connection: close`, pipelining,
// 100-continue, protocol errors and the http1 stats. The HCM never sees an HTTP/1 detail.
//
// Design note
// - One stream at a time. A stream begins at a request's first byte (as Envoy's does, so its
//   timeouts cover the head). Pipelined requests stay unparsed: the parser pauses at the end of
//   each request (ERROR.PAUSED from on_message_complete) and the rest of the chunk waits until
//   the response is done, so responses go out in order without a queue of streams. The codec is
//   its current stream's encoder (no object per request).
// - A head is accepted only once llhttp has accepted it: llhttp checks framing (Transfer-Encoding,
//   Content-Length) after on_headers_complete returns, so the request is built there but decoded
//   (and so routed and forwarded) only at its first body byte, its end, or the end of the read. A
//   head that fails a check gets its 4xx with nothing of it sent upstream.
// - Memory is bounded by the buffer limit whatever the peer does: pipelined input waits in
//   `held` (network/held-input.ts: copied compactly, however small the reads; reading pauses past
//   the limit), and while the connection's write buffer is above the limit (a client that sends
//   and never reads) the next request is not parsed; the low watermark resumes.
// - Header names/values arrive as Buffer views of the socket's chunk; they become latin1 strings
//   once (a header may come in pieces across reads: pieces are appended).
// - The connection is closed after a response when the request asked for it (or is HTTP/1.0
//   without keep-alive), when the response is sent before the request is all in (the rest would
//   not be read), after a protocol error, after an upgrade that was not answered 101, and when
//   the listener drains.
// - Upgrades (`Connection: upgrade` with `Upgrade: <protocol>`, RFC 9110 7.8): h2c is served as a
//   plain HTTP/1.1 request. Any other goes to the HCM with its upgrade headers kept
//   (RequestHeaders.upgrade; the HCM decides whether the config allows it) and without an end:
//   what the client sends after it belongs to the new protocol and is held (parsing stops there)
//   until the 101 goes out and attachTunnel() hands the connection to a byte relay (its reads,
//   end and watermarks go to the tunnel from then on). Any other answer closes the connection.
import { Buffer } from 'node:buffer';
import process from 'node:process';
import { HttpParser, TYPE, ERROR, type ParserHandler } from '../../../native-wasm/llhttp.ts';
import { RequestHeaders, type HeaderMap, type ResponseHeaders } from '../types.ts';
import {
  Protocol, StreamResetReason, type RequestDecoder, type ResponseEncoder, type ServerConnection,
  type ServerConnectionCallbacks, type Stream, type StreamCallbacks, type TunnelSink,
} from '../codec.ts';
import { reasonPhrase } from '../status.ts';
import { COPY_LIMIT } from './framing.ts';
import { deferHead, enterRead, leaveRead, type HeadHolder } from '../../network/read-dispatch.ts';
import { ConnectionCloseType, type ConnectionEvent, type NetworkConnection } from '../../network/filter.ts';
import type { StatSink } from '../../common/stat-sink.ts';
import { HeaderParsingHandler, isHopByHop, removeConnectionTokens, trimOws } from './header-names.ts';
import { isValidAuthority } from '../authority.ts';
import { HeldInput } from '../../network/held-input.ts';
import { transferEncodingStatus } from './transfer-encoding.ts';

const EMPTY = Buffer.alloc(0);
const CRLF = '\r\n';
const CONTINUE_100 = Buffer.from('HTTP/1.1 100 Continue\r\n\r\n', 'latin1');

/** The stat slots the codec counts in (the HCM's http.<prefix>.* slots). */
export interface Http1CodecStats {
  downstream_cx_http1_total: number;
  downstream_cx_http1_active: number;
  downstream_rq_http1_total: number;
  downstream_cx_protocol_error: number;
  downstream_rq_too_large: number;
  downstream_rq_non_relative_path: number;
}

export interface Http1ServerSettings {
  maxRequestHeadersBytes: number;
  maxHeadersCount: number;
  stats: StatSink;
  slots: Http1CodecStats;
}

export class Http1ServerConnection extends HeaderParsingHandler
  implements ServerConnection, ResponseEncoder, Stream, ParserHandler, HeadHolder {
  readonly connection: NetworkConnection;
  readonly callbacks: ServerConnectionCallbacks;
  readonly settings: Http1ServerSettings;
  readonly protocol: Protocol;
  parser: HttpParser;
  /** The current stream's decoder (the HCM's), null between requests. */
  decoder: RequestDecoder | null;
  streamCallbacks: StreamCallbacks | null;
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
  /** The Upgrade header's value as sent. */
  upgradeValue: string;
  upgrade: boolean;
  /** An upgrade request (not h2c) waits for its answer; the connection is never reused. */
  upgrading: boolean;
  /** After the 101: where the connection's reads and events go. */
  tunnel: TunnelSink | null;
  /** The pending head's Transfer-Encoding is one llhttp must refuse (see acceptHead). */
  badFraming: boolean;
  // Stream lifecycle.
  requestComplete: boolean;
  responseStarted: boolean;
  responseComplete: boolean;
  /** Close the connection once the current response is written. */
  closeAfterResponse: boolean;
  /** The listener drains: every response says `connection: close`. */
  draining: boolean;
  /** Closes the connection at the end of a drain's grace if it is still idle. */
  drainTimer: NodeJS.Timeout | null;
  // Pipelining.
  /** A request is complete and its response not yet done. */
  waitingForResponse: boolean;
  /** The parser stopped at a message end (ERROR.PAUSED): the response in flight, or the write
   *  buffer above its limit, holds the next request; input waits in `held`. */
  parsePaused: boolean;
  /** Reading is disabled because `held` passed the buffer limit. */
  pipelinePaused: boolean;
  /** Input held while parsePaused (or until drainPending gets to it), in order. */
  readonly held: HeldInput;
  /** readDisable(true) calls of the stream not yet undone. */
  readDisableCount: number;
  closing: boolean;
  /** The connection's write buffer is above the buffer limit. */
  aboveWatermark: boolean;
  pendingHead: string | Buffer | null;
  /** pendingHead ends with this much room for the body (bytes after headLength); 0: none. */
  bodyRoom: number;
  headLength: number;

  constructor(connection: NetworkConnection, callbacks: ServerConnectionCallbacks, settings: Http1ServerSettings) {
    super();
    this.connection = connection;
    this.callbacks = callbacks;
    this.settings = settings;
    this.protocol = Protocol.Http11;
    this.parser = new HttpParser(TYPE.REQUEST, this);
    this.decoder = null;
    this.streamCallbacks = null;
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
    this.upgradeValue = '';
    this.upgrade = false;
    this.upgrading = false;
    this.tunnel = null;
    this.badFraming = false;
    this.requestComplete = false;
    this.responseStarted = false;
    this.responseComplete = false;
    this.closeAfterResponse = false;
    this.draining = false;
    this.drainTimer = null;
    this.waitingForResponse = false;
    this.parsePaused = false;
    this.pipelinePaused = false;
    this.held = new HeldInput();
    this.readDisableCount = 0;
    this.closing = false;
    this.aboveWatermark = false;
    this.pendingHead = null;
    this.bodyRoom = 0;
    this.headLength = 0;
    this.maxHeaderBytes = settings.maxRequestHeadersBytes;
    this.maxHeaderCount = settings.maxHeadersCount;
    const v = settings.stats.v;
    v[settings.slots.downstream_cx_http1_total]++;
    v[settings.slots.downstream_cx_http1_active]++;
  }

  getStream(): Stream {
    return this;
  }

  // ---- reading ------------------------------------------------------------------------------

  dispatch(chunk: Buffer): void {
    if (this.closing) return;
    if (this.parsePaused || this.held.bytes > 0) {
      const t = this.tunnel;
      if (t !== null) {
        t.onData(chunk, false);
        return;
      }
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
    if (this.held.bytes > this.connection.bufferLimit && !this.pipelinePaused) {
      this.pipelinePaused = true;
      this.connection.readDisable(true);
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

  /** A request the codec cannot accept: the stream answers (or resets when its response has
   *  started) and the connection closes after it. */
  protocolError(status: number, _reason: string): void {
    const s = this.settings;
    const v = s.stats.v;
    v[s.slots.downstream_cx_protocol_error]++;
    if (status === 431) v[s.slots.downstream_rq_too_large]++;
    this.closeAfterResponse = true;
    // Nothing more is read from this connection.
    this.requestComplete = true;
    let d = this.decoder;
    if (d === null) {
      if (this.responseStarted && !this.responseComplete) return;
      d = this.#newStream();
    }
    d.sendLocalReply(status, reasonPhrase(status), 'DPE', 'http1.codec_error');
  }

  #newStream(): RequestDecoder {
    this.requestComplete = false;
    this.responseStarted = false;
    this.responseComplete = false;
    this.settings.stats.v[this.settings.slots.downstream_rq_http1_total]++;
    const d = this.callbacks.newStream(this);
    this.decoder = d;
    return d;
  }

  onMessageBegin(): number {
    this.#newStream();
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
    const s = this.settings;
    if (this.hc.bytes + this.url.length > s.maxRequestHeadersBytes || raw.length / 2 > s.maxHeadersCount) {
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
        case 'upgrade':
          upgradeTo = value.toLowerCase();
          this.upgradeValue = value;
          continue;
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
        default:
          // Hop-by-hop (header-names.ts): never forwarded; framing is re-derived per hop.
          if (isHopByHop(name)) continue;
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
        s.stats.v[s.slots.downstream_rq_non_relative_path]++;
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


  /** The pending head passed llhttp's checks too: from here on the request is decoded and may be
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
    const d = this.decoder!;
    const hasBody = this.chunkedRequest || this.contentLength > 0;
    if (!this.keepAlive || this.draining) this.closeAfterResponse = true;
    // llhttp flags an upgrade only when Connection lists "upgrade" too (Envoy's isUpgrade);
    // a bare Upgrade header is just a hop-by-hop header, dropped above.
    if (this.upgrade) {
      // An upgrade leaves HTTP/1 on this connection, so it is never reused. h2c is served as a
      // plain HTTP/1.1 request (its upgrade headers dropped, as Envoy does); anything else
      // (WebSocket...) goes on with its upgrade headers, and no end (see the design note). One
      // llhttp flags without an Upgrade header (CONNECT) is refused, as Envoy does unconfigured.
      this.closeAfterResponse = true;
      if (this.upgradeTo === '') {
        this.requestComplete = true;
        d.sendLocalReply(403, '', '', 'upgrade_failed');
        return true;
      }
      if (this.upgradeTo !== 'h2c') {
        if (hasBody) {
          // The bytes after an upgrade's head belong to the tunnel (Envoy parses no body there);
          // a body framed by Content-Length or chunked would reach the upstream unframed, where
          // one that refuses the upgrade reads it as requests of its own. Refused outright.
          this.protocolError(400, 'upgrade with a body');
          return false;
        }
        this.upgrading = true;
        req.upgrade = this.upgradeTo;
        req.list.push('upgrade', trimOws(this.upgradeValue), 'connection', 'upgrade');
        d.decodeHeaders(req, false);
        return true;
      }
    }
    if (this.expectContinue && hasBody && !this.http10) {
      // Envoy answers 100-continue itself and does not forward Expect upstream.
      this.connection.writeFramed(CONTINUE_100, EMPTY, false, false);
    }
    // Set first: the response may be complete before decodeHeaders returns (a direct response).
    if (!hasBody) this.requestComplete = true;
    d.decodeHeaders(req, !hasBody);
    return true;
  }

  onBody(chunk: Buffer, start: number, end: number): number {
    if (this.headPending !== null && !this.acceptHead()) return -1;
    const d = this.decoder;
    if (d !== null) d.decodeData(chunk.subarray(start, end), false);
    return 0;
  }

  onMessageComplete(): number {
    if (this.headPending !== null && !this.acceptHead()) return -1;
    if (this.upgrading) {
      // What follows is the upgraded protocol's: held (see the design note).
      this.parsePaused = true;
      return ERROR.PAUSED;
    }
    const hadBody = !this.requestComplete;
    this.requestComplete = true;
    const d = this.decoder;
    if (d !== null && hadBody) d.decodeData(EMPTY, true);
    if (this.closing) return ERROR.PAUSED;
    if (this.responseComplete) {
      // Answered already: the next pipelined request may go on, unless the client is not
      // reading what it was sent.
      this.#streamDone();
      if (!this.aboveWatermark) return 0;
    } else {
      // Hold the next pipelined request until this response is done.
      this.waitingForResponse = true;
    }
    this.parsePaused = true;
    return ERROR.PAUSED;
  }

  // ---- writing (ResponseEncoder) ------------------------------------------------------------

  encodeHeaders(h: ResponseHeaders, endStream: boolean): void {
    const status = h.status;
    if (status === 101 && this.upgrading) {
      this.#encodeSwitchingProtocols(h);
      return;
    }
    this.responseStarted = true;
    // Answering before the request is all in means the rest of it will not be read: the
    // connection closes after this response, and says so in it.
    if (!this.requestComplete || this.draining) this.closeAfterResponse = true;
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
        this.closeAfterResponse = true;
      }
    }
    if (this.closeAfterResponse) head += `connection: close${CRLF}`;
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
    if (endStream) {
      // A whole message: sent with the iteration's others (network/write-batch.ts).
      this.connection.queueWrite(out);
      this.#responseDone();
    } else {
      // Held until the first body bytes of this read, so head and body leave in one write.
      this.pendingHead = out;
      deferHead(this);
    }
  }

  /** The 101 to an upgrade request: its headers (Upgrade included) with `connection: upgrade`,
   *  no framing. The tunnel follows (attachTunnel). */
  #encodeSwitchingProtocols(h: ResponseHeaders): void {
    this.responseStarted = true;
    let head = statusLine(101);
    const hs = h.headers;
    for (let i = 0; i < hs.length; i += 2) {
      const name = hs[i];
      if (name === 'connection' || name === 'transfer-encoding' || name === 'content-length') continue;
      head += `${name}: ${hs[i + 1]}${CRLF}`;
    }
    head += `connection: upgrade${CRLF}${CRLF}`;
    this.connection.queueWrite(head);
  }

  attachTunnel(sink: TunnelSink): NetworkConnection {
    this.tunnel = sink;
    this.decoder = null;
    this.streamCallbacks = null;
    // What the client sent past the request, in order, then reading as usual.
    for (let b = this.held.shift(); b !== null; b = this.held.shift()) sink.onData(b, false);
    if (this.pipelinePaused) {
      this.pipelinePaused = false;
      this.connection.readDisable(false);
    }
    return this.connection;
  }

  encodeData(b: Buffer, endStream: boolean): void {
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
      this.connection.queueWrite(head as Buffer);
    } else if (this.responseHasBody) {
      // (The empty end of a response whose body went whole writes nothing.)
      if (head !== null || b.length > 0 || (endStream && this.chunkedResponse)) {
        this.connection.writeFramed(head ?? '', b, this.chunkedResponse, endStream);
      }
    } else if (head !== null) {
      this.connection.writeFramed(head, EMPTY, false, false);
    }
    if (endStream) this.#responseDone();
  }

  encodeTrailers(trailers: HeaderMap): void {
    if (!this.chunkedResponse || !this.responseHasBody) {
      // Trailers need chunked framing (RFC 9112 7.1.2); without it they are dropped.
      this.encodeData(EMPTY, true);
      return;
    }
    let head = this.pendingHead;
    this.pendingHead = null;
    if (head !== null && this.bodyRoom > 0) head = (head as Buffer).subarray(0, this.headLength);
    this.bodyRoom = 0;
    let t = `0${CRLF}`;
    const list = trailers.headers;
    for (let i = 0; i < list.length; i += 2) t += `${list[i]}: ${list[i + 1]}${CRLF}`;
    t += CRLF;
    if (head !== null) this.connection.writeFramed(head, EMPTY, false, false);
    this.connection.writeFramed(t, EMPTY, false, false);
    this.#responseDone();
  }

  /** The response is written: close, or go on with the next request once this one is in. */
  #responseDone(): void {
    this.responseComplete = true;
    if (this.closeAfterResponse) {
      this.#close();
      return;
    }
    if (this.waitingForResponse) {
      this.waitingForResponse = false;
      this.#streamDone();
      this.#resumeParsing();
    }
    // Otherwise the request is still being parsed (the response came from inside one of its
    // callbacks); onMessageComplete goes on from there.
  }

  /** Both directions of the current stream are done. */
  #streamDone(): void {
    this.decoder = null;
    this.streamCallbacks = null;
  }

  flushHead(): void {
    let head = this.pendingHead;
    if (head !== null) {
      this.pendingHead = null;
      if (this.bodyRoom > 0) {
        this.bodyRoom = 0;
        head = (head as Buffer).subarray(0, this.headLength);
      }
      this.connection.writeFramed(head, EMPTY, false, false);
    }
  }

  // ---- the stream (Stream) ------------------------------------------------------------------

  addCallbacks(cb: StreamCallbacks): void {
    this.streamCallbacks = cb;
  }

  removeCallbacks(cb: StreamCallbacks): void {
    if (this.streamCallbacks === cb) this.streamCallbacks = null;
  }

  readDisable(disable: boolean): void {
    if (disable) {
      if (this.readDisableCount++ === 0) this.connection.readDisable(true);
    } else if (this.readDisableCount > 0 && --this.readDisableCount === 0) {
      this.connection.readDisable(false);
      // Held input waits while reads are disabled too (drainPending stops for them).
      if (this.held.bytes > 0 && !this.parsePaused) process.nextTick(drainPending, this);
    }
  }

  /** HTTP/1 has no way to reset one stream: the connection goes. */
  resetStream(_reason: StreamResetReason): void {
    this.closing = true;
    this.streamCallbacks = null;
    this.connection.close(ConnectionCloseType.NoFlush);
  }

  // ---- connection events (from the HCM) -----------------------------------------------------

  onUnderlyingConnectionAboveWriteBufferHighWatermark(): void {
    const t = this.tunnel;
    if (t !== null) {
      t.onAboveWriteBufferHighWatermark();
      return;
    }
    // The stream stops its source (the router pauses the upstream) and no further pipelined
    // request is parsed, until the low watermark.
    this.aboveWatermark = true;
    this.streamCallbacks?.onAboveWriteBufferHighWatermark();
  }

  onUnderlyingConnectionBelowWriteBufferLowWatermark(): void {
    const t = this.tunnel;
    if (t !== null) {
      t.onBelowWriteBufferLowWatermark();
      return;
    }
    this.aboveWatermark = false;
    this.streamCallbacks?.onBelowWriteBufferLowWatermark();
    this.#resumeParsing();
  }

  /** Parse the next pipelined request, once nothing holds it (see parsePaused). */
  #resumeParsing(): void {
    if (!this.parsePaused || this.waitingForResponse || this.aboveWatermark || this.closing) return;
    this.parsePaused = false;
    this.parser.resume();
    if (this.held.bytes > 0 || this.pipelinePaused) process.nextTick(drainPending, this);
  }

  shutdownNotice(graceMs: number): void {
    this.draining = true;
    // (A tunnel ends when its peers end it, or when the drain time runs out.)
    if (this.closing || this.tunnel !== null) return;
    // Busy: close after the current response (which says `connection: close` if it has not
    // started yet). Idle: close now, or after the grace unless a request comes first (its
    // response then says `connection: close`).
    if (this.decoder !== null || this.waitingForResponse) this.closeAfterResponse = true;
    else if (graceMs <= 0) this.#close();
    else {
      if (this.drainTimer !== null) clearTimeout(this.drainTimer);
      this.drainTimer = setTimeout(closeIfIdle, graceMs, this);
      this.drainTimer.unref();
    }
  }

  onDrainTimer(): void {
    this.drainTimer = null;
    if (!this.closing && this.decoder === null && !this.waitingForResponse) this.#close();
  }

  onRemoteEnd(): void {
    const t = this.tunnel;
    if (t !== null) {
      t.onData(EMPTY, true);
      return;
    }
    // The client half-closed: nothing more to parse. A stream still in flight is reset when the
    // connection closes (Envoy's behaviour without half-close support).
    this.closing = true;
  }

  onConnectionClose(event: number): void {
    this.closing = true;
    if (this.drainTimer !== null) {
      clearTimeout(this.drainTimer);
      this.drainTimer = null;
    }
    const s = this.settings;
    s.stats.v[s.slots.downstream_cx_http1_active]--;
    const cb = this.streamCallbacks;
    this.decoder = null;
    this.streamCallbacks = null;
    if (cb !== null) cb.onResetStream(StreamResetReason.ConnectionTermination);
    this.parser.destroy();
    const t = this.tunnel;
    if (t !== null) {
      this.tunnel = null;
      t.onEvent(event as ConnectionEvent);
    }
  }

  #close(): void {
    this.closing = true;
    this.connection.close(ConnectionCloseType.FlushWrite);
  }
}

const STATUS_LINES: string[] = [];
/** "HTTP/1.1 <code> <reason>\r\n", made once per code. */
function statusLine(status: number): string {
  return (STATUS_LINES[status] ??= `HTTP/1.1 ${status} ${reasonPhrase(status) || 'Unknown'}${CRLF}`);
}

function closeIfIdle(conn: Http1ServerConnection): void {
  conn.onDrainTimer();
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
  if (conn.pipelinePaused && !conn.closing && conn.held.bytes <= conn.connection.bufferLimit / 2) {
    conn.pipelinePaused = false;
    conn.connection.readDisable(false);
  }
}
