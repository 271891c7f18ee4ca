// Per-worker cluster manager: the clusters of the current snapshot, each with its hosts' HTTP/1
// connection pools and a load balancer (round robin in this issue; the LB is a seam for the
// others: it only has to return a HostPool).
import type { ClusterSnap } from '../config/snapshot.ts';
import type { StatSink } from '../common/stat-sink.ts';
import type { ClusterStats } from './stats.ts';
import { HostPool } from './conn-pool-http1.ts';

export interface LoadBalancer {
  chooseHost(): HostPool | null;
}

class RoundRobin implements LoadBalancer {
  #hosts: HostPool[];
  #next: number;
  constructor(hosts: HostPool[], workerId: number) {
    this.#hosts = hosts;
    // Start each worker at a different host so N workers do not all hit host 0 first.
    this.#next = hosts.length > 0 ? workerId % hosts.length : 0;
  }
  chooseHost(): HostPool | null {
    const h = this.#hosts;
    if (h.length === 0) return null;
    const i = this.#next;
    this.#next = i + 1 === h.length ? 0 : i + 1;
    return h[i];
  }
}

export class ClusterRuntime {
  readonly name: string;
  readonly stats: StatSink;
  readonly s: ClusterStats;
  readonly connectTimeoutMs: number;
  readonly bufferLimit: number;
  readonly maxConnections: number;
  readonly maxPendingRequests: number;
  readonly maxRequests: number;
  readonly hosts: HostPool[];
  readonly lb: LoadBalancer;
  cxCount: number;
  pendingCount: number;
  activeRequests: number;
  draining: boolean;

  constructor(snap: ClusterSnap, stats: StatSink, workerId: number) {
    this.name = snap.name;
    this.stats = stats;
    this.s = snap.stats;
    this.connectTimeoutMs = snap.connectTimeoutMs;
    this.bufferLimit = snap.bufferLimit;
    this.maxConnections = snap.maxConnections;
    this.maxPendingRequests = snap.maxPendingRequests;
    this.maxRequests = snap.maxRequests;
    this.cxCount = 0;
    this.pendingCount = 0;
    this.activeRequests = 0;
    this.draining = false;
    this.hosts = snap.hosts.map((h) => new HostPool(this, h));
    this.lb = new RoundRobin(this.hosts, workerId);
  }

  drain(): void {
    for (const h of this.hosts) h.drain();
  }
}

export class ClusterManager {
  readonly clusters: ClusterRuntime[];
  constructor(snaps: ClusterSnap[], stats: StatSink, workerId: number) {
    this.clusters = snaps.map((c) => new ClusterRuntime(c, stats, workerId));
  }
  get(index: number): ClusterRuntime | undefined {
    return this.clusters[index];
  }
  drain(): void {
    for (const c of this.clusters) c.drain();
  }
  /** Worker drain: close idle upstream connections now and each busy one when it goes idle. */
  startDrain(): void {
    for (const c of this.clusters) {
      c.draining = true;
      c.drain();
    }
  }
}
