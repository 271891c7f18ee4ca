// envoy.filters.listener.http_inspector: tells a plain-text HTTP connection's version from its
// first bytes (Envoy's HttpInspector): the HTTP/2 connection preface (RFC 9113 3.4) is `h2c`, a
// request line ending in HTTP/1.0 or HTTP/1.1 (RFC 9112 3) is `http/1.0` / `http/1.1`; the result
// becomes the connection's application protocols (filter_chain_match.application_protocols).
// Anything else is "not HTTP" and goes on unchanged. A connection a listener filter before it found
// to be TLS is left alone.
import {
  ListenerFilterStatus, type ListenerFilter, type ListenerFilterBuffer, type ListenerFilterCallbacks,
} from '../../../../listener/listener-filter.ts';
import type { StatSink } from '../../../../common/stat-sink.ts';

export interface HttpInspectorStats {
  http10_found: number;
  http11_found: number;
  http2_found: number;
  http_not_found: number;
}

export interface HttpInspectorConfig {
  stats: HttpInspectorStats;
  sink: StatSink;
}

/** Envoy's Config::MAX_INSPECT_SIZE. */
export const MAX_INSPECT_SIZE = 8192;

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const H2C: readonly string[] = ['h2c'];
const HTTP11: readonly string[] = ['http/1.1'];
const HTTP10: readonly string[] = ['http/1.0'];
// method SP request-target SP HTTP-version (RFC 9112 3).
const REQUEST_LINE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+ [^\s\x00-\x1f\x7f]+ HTTP\/1\.([01])$/;

export const NEED_MORE = 0;
export const NOT_HTTP = 1;

/** The application protocol the first bytes show, or NEED_MORE / NOT_HTTP. */
export function detectHttp(d: Buffer): readonly string[] | typeof NEED_MORE | typeof NOT_HTTP {
  const n = Math.min(d.length, PREFACE.length);
  let preface = n > 0;
  for (let i = 0; i < n && preface; i++) if (d[i] !== PREFACE[i]) preface = false;
  if (preface) return d.length >= PREFACE.length ? H2C : NEED_MORE;
  const lf = d.indexOf(0x0a);
  if (lf < 0) return d.length >= MAX_INSPECT_SIZE ? NOT_HTTP : NEED_MORE;
  if (lf === 0 || d[lf - 1] !== 0x0d || lf > MAX_INSPECT_SIZE) return NOT_HTTP;
  const m = REQUEST_LINE.exec(d.latin1Slice(0, lf - 1));
  if (m === null) return NOT_HTTP;
  return m[1] === '1' ? HTTP11 : HTTP10;
}

export class HttpInspectorFilter implements ListenerFilter {
  readonly #config: HttpInspectorConfig;
  #cb: ListenerFilterCallbacks | null;

  constructor(config: HttpInspectorConfig) {
    this.#config = config;
    this.#cb = null;
  }

  onAccept(cb: ListenerFilterCallbacks): ListenerFilterStatus {
    this.#cb = cb;
    const tp = cb.connectionSocket.detectedTransportProtocol;
    if (tp !== '' && tp !== 'raw_buffer') return ListenerFilterStatus.Continue;
    return ListenerFilterStatus.StopIteration;
  }

  maxReadBytes(): number {
    return MAX_INSPECT_SIZE;
  }

  onData(buffer: ListenerFilterBuffer): ListenerFilterStatus {
    const r = detectHttp(buffer.data);
    if (r === NEED_MORE) return ListenerFilterStatus.StopIteration;
    const s = this.#config.stats;
    const v = this.#config.sink.v;
    if (r === NOT_HTTP) {
      v[s.http_not_found]++;
      return ListenerFilterStatus.Continue;
    }
    v[r === H2C ? s.http2_found : r === HTTP11 ? s.http11_found : s.http10_found]++;
    this.#cb!.connectionSocket.applicationProtocols = r;
    return ListenerFilterStatus.Continue;
  }
}
