// Codec-neutral HTTP core: header maps and stream info (the HTTP filter interfaces are in
// filter.ts). HTTP/1 today; HTTP/2 codecs will produce and consume the same types.
import type { CompiledRoute } from '../router/route-table.ts';
import type { HcmStats } from './stats.ts';
import type { StatSink } from '../common/stat-sink.ts';
import type { RawHeaderBlock } from './raw-headers.ts';
import type { StreamDecoderFilterCallbacks } from './filter.ts';
import type { SslConnectionInfo } from '../network/transport-socket.ts';
import { monotonicNow } from '../common/clock.ts';
import { randomU53 } from '../common/random.ts';
import type { WeightedClusterSnap } from '../router/weighted-clusters.ts';

/**
 * A header list with the lookups filters use; names are lowercase. A map may be backed by a raw
 * block (an upstream response head, raw-headers.ts): its lines stay bytes, `list` holds only the
 * headers added since, and the first use of `headers` turns everything into strings.
 */
export class HeaderMap {
  /** [name, value, ...]; while `raw` is set, only what was added on top of it. */
  list: string[];
  raw: RawHeaderBlock | null;
  constructor(headers: string[], raw: RawHeaderBlock | null = null) {
    this.list = headers;
    this.raw = raw;
  }
  /** The whole list as strings. */
  get headers(): string[] {
    const raw = this.raw;
    if (raw !== null) {
      this.raw = null;
      const l = raw.toList();
      for (let i = 0; i < this.list.length; i++) l.push(this.list[i]);
      this.list = l;
    }
    return this.list;
  }
  get(name: string): string | undefined {
    const raw = this.raw;
    if (raw !== null) {
      const i = raw.find(name);
      if (i >= 0) return raw.value(i);
    }
    return getHeader(this.list, name);
  }
  /** Another line `name: value`, after any of that name (Set-Cookie, ...). */
  add(name: string, value: string): void {
    this.list.push(name, value);
  }
  set(name: string, value: string): void {
    if (this.raw !== null) this.raw.drop(name);
    setHeader(this.list, name, value);
  }
  remove(name: string): void {
    if (this.raw !== null) this.raw.drop(name);
    removeHeader(this.list, name);
  }
  /** Its stream has ended: the map is not read again (Envoy's rule: header maps belong to their
   *  stream), so a raw block still in the read buffer need not be copied out of it. */
  release(): void {
    if (this.raw !== null) this.raw.released = true;
  }
}

/** Request head. The pseudo-headers (:method, :path, :authority, :scheme) live in their own
 *  fields, the rest in the header list. */
export class RequestHeaders extends HeaderMap {
  method: string;
  path: string;
  authority: string;
  scheme: string;
  /** 'HTTP/1.0' | 'HTTP/1.1' | 'HTTP/2' */
  protocol: string;
  /** The protocol an upgrade request asks for, lowercase (`websocket`; its Upgrade and
   *  `Connection: upgrade` headers are kept for the upstream); '' for any other request. */
  upgrade: string;

  constructor(method: string, path: string, authority: string, scheme: string, protocol: string, headers: string[]) {
    super(headers);
    this.method = method;
    this.path = path;
    this.authority = authority;
    this.scheme = scheme;
    this.protocol = protocol;
    this.upgrade = '';
  }
}

export class ResponseHeaders extends HeaderMap {
  status: number;
  constructor(status: number, headers: string[], raw: RawHeaderBlock | null = null) {
    super(headers, raw);
    this.status = status;
  }
}

export function getHeader(h: string[], name: string): string | undefined {
  const n = name.length;
  for (let i = 0; i < h.length; i += 2) {
    const k = h[i];
    if (k.length === n && k === name) return h[i + 1];
  }
  return undefined;
}

export function setHeader(h: string[], name: string, value: string): void {
  const n = name.length;
  for (let i = 0; i < h.length; i += 2) {
    if (h[i].length === n && h[i] === name) {
      h[i + 1] = value;
      // Drop later duplicates: set() means exactly one.
      for (let j = h.length - 2; j > i; j -= 2) {
        if (h[j].length === n && h[j] === name) h.splice(j, 2);
      }
      return;
    }
  }
  h.push(name, value);
}

export function removeHeader(h: string[], name: string): void {
  const n = name.length;
  for (let i = h.length - 2; i >= 0; i -= 2) {
    if (h[i].length === n && h[i] === name) h.splice(i, 2);
  }
}

// The filter interfaces live in filter.ts; these re-exports keep `from './types.ts'` imports working.
export { FilterHeadersStatus, FilterDataStatus, FilterTrailersStatus } from './filter.ts';
export type {
  BufferedBody, DownstreamWatermarkCallbacks, FilterChainFactoryCallbacks, FilterFactory, StreamDecoderFilter,
  StreamDecoderFilterCallbacks, StreamEncoderFilter, StreamEncoderFilterCallbacks, StreamFilter,
  StreamFilterCallbacks,
} from './filter.ts';

/** Envoy's response flags, as printed by %RESPONSE_FLAGS%. */
export const ResponseFlag = {
  None: '',
  NoRouteFound: 'NR',
  NoClusterFound: 'NC',
  UpstreamConnectionFailure: 'UF',
  UpstreamOverflow: 'UO',
  UpstreamRequestTimeout: 'UT',
  UpstreamProtocolError: 'UPE',
  UpstreamConnectionTermination: 'UC',
  UpstreamRemoteReset: 'UR',
  UpstreamRetryLimitExceeded: 'URX',
  DownstreamConnectionTermination: 'DC',
  DownstreamProtocolError: 'DPE',
  NoHealthyUpstream: 'UH',
  FailedLocalHealthCheck: 'LH',
  StreamIdleTimeout: 'SI',
  DurationTimeout: 'DT',
  /** Legate's own: a legate.filters.http.script filter threw or rejected (docs/filters.md). */
  ScriptFilterError: 'SFE',
  /** The fault filter delayed the request. */
  DelayInjected: 'DI',
  /** The fault filter aborted the request. */
  FaultInjected: 'FI',
  /** The external authorization service denied the request (or failed, closed). */
  UnauthorizedExternalService: 'UAEX',
} as const;

/** Envoy's ResponseFlag enum order, the order %RESPONSE_FLAGS% lists a stream's flags in. */
const FLAG_ORDER: readonly string[] = [
  'LH', 'UH', 'UT', 'LR', 'UR', 'UF', 'UC', 'UO', 'NR', 'DI', 'FI', 'RL', 'UAEX', 'RLSE', 'DC', 'URX', 'SI', 'IH',
  'DPE', 'UMSDR', 'RFCF', 'NFCF', 'DT', 'UPE', 'NC', 'OM', 'DF', 'DO', 'DR', 'UDO',
  // Legate's own, after Envoy's.
  'SFE',
];

/** Add a response flag to a stream's (Envoy's setResponseFlag: a stream may carry several, e.g.
 *  `UF,URX` for a connect failure whose retries ran out; printed comma-separated in Envoy's order). */
export function addResponseFlag(info: StreamInfo, flag: string): void {
  const have = info.responseFlags;
  if (have === '' || have === flag) {
    info.responseFlags = flag;
    return;
  }
  const list = have.split(',');
  if (list.includes(flag)) return;
  list.push(flag);
  list.sort((a, b) => FLAG_ORDER.indexOf(a) - FLAG_ORDER.indexOf(b));
  info.responseFlags = list.join(',');
}

/** What a stream knows about itself: feeds the access log and stats. */
export interface StreamInfo {
  /** monotonicNow() at request begin (the access log derives the wall-clock start from it). */
  startHr: number;
  responseCode: number;
  responseFlags: string;
  bytesReceived: number;
  bytesSent: number;
  upstreamHost: string;
  upstreamCluster: string;
  upstreamServiceTimeMs: number;
  downstreamRemoteAddress: string;
  /** The socket's peer (%DOWNSTREAM_DIRECT_REMOTE_ADDRESS%): downstreamRemoteAddress unless a PROXY
   *  protocol header or x-forwarded-for gave that one. */
  downstreamDirectRemoteAddress: string;
  routeName: string;
  /** The downstream connection's TLS (null on a raw one): %DOWNSTREAM_TLS_VERSION% ... */
  downstreamSsl: SslConnectionInfo | null;
  /** The SNI a listener filter read (tls_inspector, TLS passthrough included); '' when none:
   *  %REQUESTED_SERVER_NAME% then asks the TLS connection. */
  requestedServerName: string;
  /** Why the upstream connection's transport failed (%UPSTREAM_TRANSPORT_FAILURE_REASON%). */
  upstreamTransportFailureReason: string;
  /** Why the response is what it is (%RESPONSE_CODE_DETAILS%): a local reply's details,
   *  `via_upstream` for a response a filter passed on; '' until then. */
  responseCodeDetails: string;
  /** Wall-clock ms at startHr, derived on first use (startTimeOf): 0 until then. */
  startTime: number;
  /** Dynamic metadata by namespace (Envoy's filter_metadata: Structs as plain JSON), set by filters
   *  (set_metadata), printed by %DYNAMIC_METADATA(...)%; null until a filter sets some. */
  dynamicMetadata: Record<string, Record<string, unknown>> | null;
  /** The downstream connection (%DOWNSTREAM_LOCAL_ADDRESS%, and the peer's addresses when the
   *  connection manager did not read them: withDownstreamAddresses), null when none is known. */
  downstreamConnection: {
    readonly localAddress: string; readonly remoteAddress: string; readonly directRemoteAddress: string;
  } | null;
  /** The request is a health check (Envoy's StreamInfo::healthCheck(): the health_check filter
   *  sets it; access logs' not_health_check_filter reads it). */
  healthCheck: boolean;
  /** Envoy's stream id: a random integer (53 bits here, Envoy's is a uint64), drawn on first use
   *  (streamIdOf); -1 until then. It is the random value of the route's runtime_fraction, the
   *  weighted cluster pick and the mirror policies' runtime_fraction, as in Envoy, so one stream
   *  sees one value everywhere. */
  streamId: number;
  /** The weighted cluster the route picked for this stream (null: none): Envoy's route entry is
   *  then the WeightedClusterEntry, whose custom headers come before the route's. */
  weightedCluster: WeightedClusterSnap | null;
}

/** The stream's id (StreamInfo.streamId), drawn when first asked for. */
export function streamIdOf(info: StreamInfo): number {
  if (info.streamId === -1) info.streamId = randomU53();
  return info.streamId;
}

/** The stream's wall-clock start (ms), derived from its monotonic start once, when something first
 *  prints it (a header value, then the access log, see the same instant). */
export function startTimeOf(info: StreamInfo): number {
  if (info.startTime === 0) info.startTime = Date.now() - (monotonicNow() - info.startHr);
  return info.startTime;
}

/** `info` with the client's addresses filled in from its connection when the connection manager
 *  left them out (it reads them only when its own config uses them: x-forwarded-for, access logs,
 *  custom headers); for a filter that formats them. */
export function withDownstreamAddresses(info: StreamInfo): StreamInfo {
  const conn = info.downstreamConnection;
  if (info.downstreamRemoteAddress === '' && conn !== null) {
    info.downstreamRemoteAddress = conn.remoteAddress;
    info.downstreamDirectRemoteAddress = conn.directRemoteAddress;
  }
  return info;
}

/** A stream's (or a TCP session's) info at its start: where it came from, nothing else yet. */
export function newStreamInfo(startHr: number, remoteAddress: string, directRemoteAddress: string,
  ssl: SslConnectionInfo | null, requestedServerName = ''): StreamInfo {
  return {
    startHr,
    responseCode: 0,
    responseFlags: '',
    bytesReceived: 0,
    bytesSent: 0,
    upstreamHost: '',
    upstreamCluster: '',
    upstreamServiceTimeMs: -1,
    downstreamRemoteAddress: remoteAddress,
    downstreamDirectRemoteAddress: directRemoteAddress,
    routeName: '',
    downstreamSsl: ssl,
    requestedServerName,
    upstreamTransportFailureReason: '',
    responseCodeDetails: '',
    startTime: 0,
    downstreamConnection: null,
    dynamicMetadata: null,
    healthCheck: false,
    streamId: -1,
    weightedCluster: null,
  };
}
