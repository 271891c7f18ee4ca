// A cluster's fixed facts as a worker sees them (Envoy's ClusterInfo): name, stats, limits,
// timeouts. Shared by the thread-local cluster, its pools and the connections they open.
import type { ClusterSnap } from '../config/snapshot.ts';
import type { StatSink } from '../common/stat-sink.ts';
import type { ClusterStats } from './stats.ts';
import { ResourceManager } from './resource-manager.ts';

export class ClusterInfo {
  readonly name: string;
  /** This worker's stats block. */
  readonly stats: StatSink;
  /** The cluster's stat slots (cluster.<name>.*). */
  readonly s: ClusterStats;
  readonly connectTimeoutMs: number;
  /** per_connection_buffer_limit_bytes: the upstream connections' write high watermark. */
  readonly bufferLimit: number;
  /** Circuit breakers of the default priority. */
  readonly resourceManager: ResourceManager;

  constructor(snap: ClusterSnap, stats: StatSink, counts?: Int32Array, offset?: number) {
    this.name = snap.name;
    this.stats = stats;
    this.s = snap.stats;
    this.connectTimeoutMs = snap.connectTimeoutMs;
    this.bufferLimit = snap.bufferLimit;
    this.resourceManager = new ResourceManager(snap, counts, offset);
  }
}
