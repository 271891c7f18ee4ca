// The command operators of Envoy's substitution format strings (%REQ(x)%, %RESPONSE_CODE% ...)
// that Legate has, as Envoy's StreamInfoFormatter / HeaderFormatter print them
// (source/common/formatter/stream_info_formatter.cc, http_specific_formatter.cc). Each operator
// makes, once per compiled format, a function of the stream that returns its text, or null when
// the value is not set (the access log prints `-` for it, a header value nothing). A name not in
// this table is refused when the config is loaded, with its field path.
import os from 'node:os';
import type { RequestHeaders, ResponseHeaders, StreamInfo } from '../http/types.ts';
import { compileStrftime } from './strftime.ts';

/** What a format is evaluated against: the stream, its heads (null when absent: a TCP session,
 *  or no response yet), how long it has run, and the body of a local reply. */
export interface FormatContext {
  req: RequestHeaders | null;
  resp: ResponseHeaders | null;
  info: StreamInfo;
  /** %DURATION% (ms). */
  durationMs: number;
  /** Wall-clock ms at the stream's start (%START_TIME%). */
  startTime: number;
  /** %LOCAL_REPLY_BODY%: the local reply's body (local_reply_config), '' elsewhere. */
  localReplyBody?: string;
}

export type OperatorFn = (c: FormatContext) => string | null;

export const ArgRule = { None: 0, Optional: 1, Required: 2 } as const;
export type ArgRule = (typeof ArgRule)[keyof typeof ArgRule];

export interface OperatorSpec {
  arg: ArgRule;
  /** Its value is a number (a JSON format keeps it one, as Envoy's typed JSON output). */
  numeric?: boolean;
  /** Resolved when the config is loaded (main thread): the operator becomes literal text, as Envoy
   *  reads these once when the formatter is built. */
  constant?: (arg: string | null) => string;
  make?: (arg: string | null) => OperatorFn;
  /** Its value with its JSON type, for a json_format value that is this operator alone (a Struct
   *  stays an object); undefined when unset. Without it a JSON format gets make()'s text. */
  typed?: (arg: string | null) => (c: FormatContext) => unknown;
}

const text = (s: string | undefined): string | null => (s === undefined || s === '' ? null : s);

/** "ip:port" or "[ip]:port" without the port, and an IPv6 address without brackets (Envoy's
 *  addressAsString). */
export function withoutPort(a: string): string | null {
  if (a === '') return null;
  if (a.charCodeAt(0) === 91 /* '[' */) {
    const end = a.indexOf(']');
    return end === -1 ? a : a.slice(1, end);
  }
  const i = a.lastIndexOf(':');
  return i === -1 || a.indexOf(':') !== i ? a : a.slice(0, i);
}

/** A request header's first value by name; the pseudo-headers from their fields. */
function reqHeader(name: string): (req: RequestHeaders) => string | undefined {
  switch (name) {
    case ':method': return (r) => r.method;
    case ':path': return (r) => r.path;
    case ':authority': case 'host': return (r) => r.authority;
    case ':scheme': return (r) => r.scheme;
    case ':protocol': return (r) => (r.upgrade === '' ? undefined : r.upgrade);
    default: return (r) => r.get(name);
  }
}

function respHeader(name: string): (resp: ResponseHeaders) => string | undefined {
  if (name === ':status') return (r) => String(r.status);
  return (r) => r.get(name);
}

/** REQ(main?alt) / RESP(main?alt): the main header, else the alternative (Envoy's lowercases both,
 *  and a present but empty header is printed empty, not `-`). */
function headerNames(arg: string): [string, string | null] {
  const q = arg.indexOf('?');
  if (q === -1) return [arg.toLowerCase(), null];
  return [arg.slice(0, q).toLowerCase(), arg.slice(q + 1).toLowerCase()];
}

function same(v: string | undefined): string | undefined {
  return v;
}

/** REQ / REQ_WITHOUT_QUERY / RESP: `arg`'s main header of the context's request or response,
 *  else its alternative, through `post`; null (unset) when the message or both headers are absent. */
function headerOperator<M>(arg: string, header: (name: string) => (m: M) => string | undefined,
  message: (c: FormatContext) => M | null, post: (v: string | undefined) => string | undefined): OperatorFn {
  const [main, alt] = headerNames(arg);
  const a = header(main);
  const b = alt === null ? null : header(alt);
  return (c) => {
    const m = message(c);
    if (m === null) return null;
    return post(a(m) ?? (b === null ? undefined : b(m))) ?? null;
  };
}

function stripQuery(v: string | undefined): string | undefined {
  if (v === undefined) return v;
  const q = v.indexOf('?');
  return q === -1 ? v : v.slice(0, q);
}

/** DYNAMIC_METADATA(NAMESPACE:KEY:...): the value at that path of the stream's dynamic metadata
 *  (the whole namespace without keys); undefined when any step is missing. */
function metadataValue(arg: string): (c: FormatContext) => unknown {
  const [ns, ...keys] = arg.split(':');
  return (c) => {
    let v: unknown = c.info.dynamicMetadata?.[ns!];
    for (let i = 0; i < keys.length && v !== undefined; i++) {
      v = v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>)[keys[i]!] : undefined;
    }
    return v;
  };
}

export const OPERATORS: Readonly<Record<string, OperatorSpec>> = {
  START_TIME: {
    arg: ArgRule.Optional,
    make: (arg) => {
      if (arg === null || arg === '') return (c) => new Date(Math.floor(c.startTime)).toISOString();
      const f = compileStrftime(arg);
      return (c) => f(c.startTime);
    },
  },
  PROTOCOL: { arg: ArgRule.None, make: () => (c) => text(c.req?.protocol) },
  RESPONSE_CODE: { arg: ArgRule.None, numeric: true, make: () => (c) => String(c.info.responseCode) },
  RESPONSE_CODE_DETAILS: { arg: ArgRule.None, make: () => (c) => text(c.info.responseCodeDetails) },
  RESPONSE_FLAGS: { arg: ArgRule.None, make: () => (c) => text(c.info.responseFlags) },
  BYTES_RECEIVED: { arg: ArgRule.None, numeric: true, make: () => (c) => String(c.info.bytesReceived) },
  BYTES_SENT: { arg: ArgRule.None, numeric: true, make: () => (c) => String(c.info.bytesSent) },
  DURATION: { arg: ArgRule.None, numeric: true, make: () => (c) => String(Math.round(c.durationMs)) },
  UPSTREAM_HOST: { arg: ArgRule.None, make: () => (c) => text(c.info.upstreamHost) },
  UPSTREAM_REMOTE_ADDRESS: { arg: ArgRule.None, make: () => (c) => text(c.info.upstreamHost) },
  UPSTREAM_REMOTE_ADDRESS_WITHOUT_PORT: { arg: ArgRule.None, make: () => (c) => withoutPort(c.info.upstreamHost) },
  UPSTREAM_CLUSTER: { arg: ArgRule.None, make: () => (c) => text(c.info.upstreamCluster) },
  ROUTE_NAME: { arg: ArgRule.None, make: () => (c) => text(c.info.routeName) },
  UPSTREAM_TRANSPORT_FAILURE_REASON: { arg: ArgRule.None, make: () => (c) => text(c.info.upstreamTransportFailureReason) },
  DOWNSTREAM_TLS_VERSION: { arg: ArgRule.None, make: () => (c) => text(c.info.downstreamSsl?.tlsVersion()) },
  DOWNSTREAM_TLS_CIPHER: { arg: ArgRule.None, make: () => (c) => text(c.info.downstreamSsl?.ciphersuiteString()) },
  DOWNSTREAM_PEER_FINGERPRINT_256: {
    arg: ArgRule.None, make: () => (c) => text(c.info.downstreamSsl?.sha256PeerCertificateDigest()),
  },
  DOWNSTREAM_PEER_SUBJECT: { arg: ArgRule.None, make: () => (c) => text(c.info.downstreamSsl?.subjectPeerCertificate()) },
  DOWNSTREAM_PEER_URI_SAN: {
    arg: ArgRule.None, make: () => (c) => text(c.info.downstreamSsl?.uriSanPeerCertificate().join(',')),
  },
  DOWNSTREAM_PEER_DNS_SAN: {
    arg: ArgRule.None, make: () => (c) => text(c.info.downstreamSsl?.dnsSansPeerCertificate().join(',')),
  },
  DOWNSTREAM_LOCAL_URI_SAN: {
    arg: ArgRule.None, make: () => (c) => text(c.info.downstreamSsl?.uriSanLocalCertificate().join(',')),
  },
  REQUESTED_SERVER_NAME: {
    arg: ArgRule.None,
    make: () => (c) => text(c.info.requestedServerName || c.info.downstreamSsl?.requestedServerName()),
  },
  DOWNSTREAM_REMOTE_ADDRESS: { arg: ArgRule.None, make: () => (c) => text(c.info.downstreamRemoteAddress) },
  DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT: {
    arg: ArgRule.None, make: () => (c) => withoutPort(c.info.downstreamRemoteAddress),
  },
  DOWNSTREAM_DIRECT_REMOTE_ADDRESS: { arg: ArgRule.None, make: () => (c) => text(c.info.downstreamDirectRemoteAddress) },
  DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT: {
    arg: ArgRule.None, make: () => (c) => withoutPort(c.info.downstreamDirectRemoteAddress),
  },
  DOWNSTREAM_LOCAL_ADDRESS: { arg: ArgRule.None, make: () => (c) => text(c.info.downstreamConnection?.localAddress) },
  DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT: {
    arg: ArgRule.None, make: () => (c) => withoutPort(c.info.downstreamConnection?.localAddress ?? ''),
  },
  REQ: { arg: ArgRule.Required, make: (arg) => headerOperator(arg!, reqHeader, (c) => c.req, same) },
  REQ_WITHOUT_QUERY: { arg: ArgRule.Required, make: (arg) => headerOperator(arg!, reqHeader, (c) => c.req, stripQuery) },
  RESP: { arg: ArgRule.Required, make: (arg) => headerOperator(arg!, respHeader, (c) => c.resp, same) },
  LOCAL_REPLY_BODY: { arg: ArgRule.None, make: () => (c) => c.localReplyBody ?? '' },
  // Envoy's MetadataFormatter: a string as it is, anything else as compact JSON.
  DYNAMIC_METADATA: {
    arg: ArgRule.Required,
    make: (arg) => {
      const get = metadataValue(arg!);
      return (c) => {
        const v = get(c);
        return v === undefined ? null : typeof v === 'string' ? v : JSON.stringify(v);
      };
    },
    typed: (arg) => metadataValue(arg!),
  },
  HOSTNAME: { arg: ArgRule.None, constant: () => os.hostname() || '-' },
  // Envoy reads the variable once, when the formatter is built; unset, it prints `-`.
  ENVIRONMENT: { arg: ArgRule.Required, constant: (arg) => process.env[arg!] ?? '-' },
};
