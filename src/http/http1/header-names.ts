// Header names as interned lowercase strings, straight from the parser's bytes.
//
// Turning every header name into a string and lowercasing it was the largest single cost on the
// request path (two allocations a header). Well-known names are matched byte-wise (ASCII
// case-folded) against a table bucketed by length and come back as the table's own constant,
// so the common case allocates nothing and later comparisons are against the same string.
import { Buffer } from 'node:buffer';
import type { HeaderMap } from '../types.ts';
import { trimOws } from '../whitespace.ts';

const KNOWN = [
  'accept', 'accept-charset', 'accept-encoding', 'accept-language', 'accept-ranges',
  'access-control-allow-credentials', 'access-control-allow-headers', 'access-control-allow-methods',
  'access-control-allow-origin', 'access-control-expose-headers', 'access-control-max-age',
  'access-control-request-headers', 'access-control-request-method', 'age', 'allow', 'alt-svc',
  'authorization', 'cache-control', 'connection', 'content-disposition', 'content-encoding',
  'content-language', 'content-length', 'content-location', 'content-range',
  'content-security-policy', 'content-type', 'cookie', 'date', 'dnt', 'etag', 'expect', 'expires',
  'forwarded', 'grpc-encoding', 'grpc-accept-encoding', 'grpc-message', 'grpc-status', 'grpc-timeout',
  'host', 'if-match', 'if-modified-since', 'if-none-match', 'if-range', 'if-unmodified-since',
  'keep-alive', 'last-modified', 'link', 'location', 'origin', 'pragma', 'proxy-authenticate',
  'proxy-authorization', 'proxy-connection', 'range', 'referer', 'refresh', 'retry-after',
  'sec-ch-ua', 'sec-ch-ua-mobile', 'sec-ch-ua-platform', 'sec-fetch-dest', 'sec-fetch-mode',
  'sec-fetch-site', 'sec-fetch-user', 'sec-websocket-accept', 'sec-websocket-extensions',
  'sec-websocket-key', 'sec-websocket-protocol', 'sec-websocket-version', 'server', 'set-cookie',
  'strict-transport-security', 'te', 'trailer', 'transfer-encoding', 'upgrade',
  'upgrade-insecure-requests', 'user-agent', 'vary', 'via', 'warning', 'www-authenticate',
  'x-content-type-options', 'x-envoy-expected-rq-timeout-ms', 'x-envoy-original-path',
  'x-envoy-upstream-service-time', 'x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto',
  'x-frame-options', 'x-real-ip', 'x-request-id', 'x-xss-protection', 'x-b3-traceid',
  'x-b3-spanid', 'x-b3-parentspanid', 'x-b3-sampled', 'x-b3-flags', 'traceparent', 'tracestate',
];

interface Known {
  name: string;
  codes: Uint8Array;
}
const BY_LENGTH: (Known[] | undefined)[] = [];
for (const name of KNOWN) {
  const list = (BY_LENGTH[name.length] ??= []);
  list.push({ name, codes: Buffer.from(name, 'latin1') });
}

/** The lowercase name of chunk[start, end): a table constant when well known, else a new string. */
export function headerName(chunk: Buffer, start: number, end: number): string {
  const len = end - start;
  const cands = BY_LENGTH[len];
  if (cands !== undefined) {
    outer: for (let c = 0; c < cands.length; c++) {
      const codes = cands[c].codes;
      for (let i = 0; i < len; i++) {
        let b = chunk[start + i];
        if (b >= 65 && b <= 90) b |= 0x20; // ASCII A-Z -> a-z
        if (b !== codes[i]) continue outer;
      }
      return cands[c].name;
    }
  }
  return chunk.latin1Slice(start, end).toLowerCase();
}

/**
 * Collects one message's header block from llhttp's field/value callbacks into a flat
 * [name, value, ...] array. A name or value split across reads arrives in pieces; pieces are
 * joined (and a joined name lowercased) when the pair completes.
 */
export class HeaderCollector {
  list: string[] = [];
  field = '';
  value = '';
  inValue = false;
  fieldPieces = 0;
  bytes = 0;

  reset(): void {
    this.list = [];
    this.field = '';
    this.value = '';
    this.inValue = false;
    this.fieldPieces = 0;
    this.bytes = 0;
  }

  onField(chunk: Buffer, start: number, end: number): void {
    if (this.inValue) this.#push();
    this.bytes += end - start;
    if (this.fieldPieces++ === 0) this.field = headerName(chunk, start, end);
    else this.field += chunk.latin1Slice(start, end);
  }

  onValue(chunk: Buffer, start: number, end: number): void {
    this.bytes += end - start;
    if (this.inValue) this.value += chunk.latin1Slice(start, end);
    else {
      this.inValue = true;
      this.value = chunk.latin1Slice(start, end);
    }
  }

  /** Headers complete: flush the last pair and hand over the list (trailers, if any, start a
   *  new one; `bytes` keeps counting so they are held to the same limit). */
  finish(): string[] {
    if (this.inValue || this.fieldPieces > 0) this.#push();
    const list = this.list;
    this.list = [];
    return list;
  }

  #push(): void {
    this.list.push(this.fieldPieces > 1 ? this.field.toLowerCase() : this.field, this.value);
    this.field = '';
    this.value = '';
    this.inValue = false;
    this.fieldPieces = 0;
  }
}

export { trimOws };

/** Hop-by-hop headers (RFC 9110 7.6.1, and the ones Envoy strips besides): never forwarded, in
 *  either direction; framing and connection management are re-derived per hop. The codecs handle
 *  `connection`, `transfer-encoding`, `upgrade` and `te` (`te: trailers` is kept: gRPC needs it)
 *  themselves before they drop them. The one list both HTTP/1 codecs use (the raw response path
 *  of client-connection.ts matches the same names by length). */
export const HOP_BY_HOP_HEADERS = [
  'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer',
  'http2-settings',
] as const;
const HOP_BY_HOP = new Set<string>(HOP_BY_HOP_HEADERS);

export function isHopByHop(name: string): boolean {
  return HOP_BY_HOP.has(name);
}

/** Remove the headers a Connection header names (RFC 9110 7.6.1): they are hop-by-hop too. */
export function removeConnectionTokens(h: HeaderMap, connection: string): void {
  if (connection === 'close' || connection === 'keep-alive') return; // the common case
  for (const t of connection.split(',')) {
    const tok = trimOws(t);
    if (tok !== '' && tok !== 'close' && tok !== 'keep-alive') h.remove(tok);
  }
}

/** The header callbacks both HTTP/1 codecs share: names and values go to a HeaderCollector,
 *  held to a byte and count limit *while* they arrive (llhttp's WASM build has no limit of its
 *  own, and a client streaming one endless header must not exhaust the worker's memory). */
export abstract class HeaderParsingHandler {
  readonly hc: HeaderCollector = new HeaderCollector();
  /** Limits for the head (request line or status line included) and the header count. */
  maxHeaderBytes: number = 60 * 1024;
  maxHeaderCount: number = 100;
  /** Set when a limit stopped the parser (the codec answers 431 / treats it as a protocol error). */
  headersTooLarge: boolean = false;
  /** Bytes of the start line counted against maxHeaderBytes. */
  startLineBytes: number = 0;

  onStatus(): number {
    return 0;
  }
  // The count includes the header in progress: the 101st header is refused as it arrives.
  onHeaderField(chunk: Buffer, start: number, end: number): number {
    this.hc.onField(chunk, start, end);
    return this.checkLimits((this.hc.list.length >> 1) + 1);
  }
  onHeaderValue(chunk: Buffer, start: number, end: number): number {
    this.hc.onValue(chunk, start, end);
    return this.checkLimits((this.hc.list.length >> 1) + 1);
  }
  /** 0, or -1 (and headersTooLarge) once the head is past a limit; `hc.bytes` counts its bytes. */
  protected checkLimits(count: number): number {
    const hc = this.hc;
    if (hc.bytes + this.startLineBytes > this.maxHeaderBytes || count > this.maxHeaderCount) {
      this.headersTooLarge = true;
      return -1;
    }
    return 0;
  }
}
