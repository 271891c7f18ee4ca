// Hand-built cluster snapshots and a stats sink for the upstream unit tests (no config loading).
import {
  CLUSTER_COUNTERS, CLUSTER_GAUGES, CLUSTER_HISTOGRAMS, HOST_COUNTERS, HOST_GAUGES,
  type ClusterStats, type HostStats,
} from '../../src/upstream/stats.ts';
import type { ClusterSnap, HostSnap } from '../../src/config/snapshot.ts';
import { RequestHeaders, type ResponseHeaders } from '../../src/http/types.ts';
import type {
  PoolCallbacks, PoolFailureReason, RequestEncoder, ResponseDecoder, StreamCallbacks, StreamResetReason,
} from '../../src/upstream/conn-pool.ts';
import type { StatSink } from '../../src/common/stat-sink.ts';
import { DEFAULT_CONNECTION_OPTIONS } from '../../src/upstream/connection-options.ts';
import { FilterStatus, type NetworkFilterManager } from '../../src/network/filter.ts';

/** Add a read filter to a pooled connection (as its caller, tcp_proxy, does): what it reads, as
 *  text, until `done(reads, endStream)` says so. */
export function readUntil(conn: NetworkFilterManager, done: (reads: string[], end: boolean) => boolean): Promise<string[]> {
  return new Promise((resolve) => {
    const reads: string[] = [];
    conn.addReadFilter({
      initializeReadFilterCallbacks: () => {},
      onNewConnection: () => FilterStatus.Continue,
      onData: (d, end) => {
        if (d.length > 0) reads.push(String(d));
        if (done(reads, end)) resolve(reads);
        return FilterStatus.StopIteration;
      },
    });
  });
}

export class TestSink implements StatSink {
  readonly v = new Float64Array(4096);
  readonly samples = new Map<number, number[]>();
  #next = 0;
  slot(): number {
    return this.#next++;
  }
  record(slot: number, value: number): void {
    let l = this.samples.get(slot);
    if (l === undefined) this.samples.set(slot, (l = []));
    l.push(value);
  }
}

export function clusterStats(sink: TestSink): ClusterStats {
  const s = {} as ClusterStats;
  for (const n of [...CLUSTER_COUNTERS, ...CLUSTER_GAUGES, ...CLUSTER_HISTOGRAMS]) s[n] = sink.slot();
  return s;
}

export function hostSnap(sink: TestSink, address: string, port: number, extra: Partial<HostSnap> = {}): HostSnap {
  const stats = {} as HostStats;
  for (const n of [...HOST_COUNTERS, ...HOST_GAUGES]) stats[n] = sink.slot();
  return {
    address, port, stats, weight: 1, priority: 0, region: '', zone: '', subZone: '', healthFlags: 0, hcAddress: '', hcPort: 0, hcHostname: '', hostname: '', ...extra,
  };
}

export function clusterSnap(sink: TestSink, hosts: HostSnap[], extra: Partial<ClusterSnap> = {}): ClusterSnap {
  return {
    name: 'c', type: 'STATIC', lbPolicy: 'ROUND_ROBIN', connectTimeoutMs: 1000, bufferLimit: 1 << 20,
    maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 3, retryBudget: null,
    hosts, stats: clusterStats(sink), transportSocket: null, discovery: null, dynamic: false,
    lbConfig: null, panicThreshold: 50, localityWeights: null, healthCheck: null, outlier: null,
    connections: { ...DEFAULT_CONNECTION_OPTIONS }, ...extra,
  } as ClusterSnap;
}

/** One request through the pool: its answer, or why it failed. */
export class PoolExchange implements ResponseDecoder, PoolCallbacks, StreamCallbacks {
  status = 0;
  body = '';
  failure: PoolFailureReason | null = null;
  reset: StreamResetReason | null = null;
  encoder: RequestEncoder | null = null;
  readonly done: Promise<void>;
  #resolve!: () => void;
  readonly req: RequestHeaders;
  readonly chunks: string[];
  constructor(req: RequestHeaders, chunks: string[] = []) {
    this.req = req;
    this.chunks = chunks;
    this.done = new Promise((r) => (this.#resolve = r));
  }
  /** `method path` with `chunks` as its body (content-length when there is one). */
  static of(method: string, path: string, chunks: string[] = []): PoolExchange {
    return new PoolExchange(new RequestHeaders(method, path, 'x', 'http', 'HTTP/1.1',
      chunks.length > 0 ? ['content-length', String(chunks.join('').length)] : []), chunks);
  }
  onPoolReady(encoder: RequestEncoder): void {
    this.encoder = encoder;
    encoder.getStream().addCallbacks(this);
    encoder.encodeHeaders(this.req, this.chunks.length === 0);
    this.chunks.forEach((c, i) => encoder.encodeData(Buffer.from(c), i === this.chunks.length - 1));
  }
  onPoolFailure(reason: PoolFailureReason): void {
    this.failure = reason;
    this.#resolve();
  }
  decodeHeaders(h: ResponseHeaders, endStream: boolean): void {
    this.status = h.status;
    if (endStream) this.#resolve();
  }
  decodeData(d: Buffer, endStream: boolean): void {
    this.body += d.toString();
    if (endStream) this.#resolve();
  }
  onResetStream(reason: StreamResetReason): void {
    this.reset = reason;
    this.#resolve();
  }
  onAboveWriteBufferHighWatermark(): void {}
  onBelowWriteBufferLowWatermark(): void {}
}
