// What a worker runs, built from a config snapshot: the cluster manager and the listeners with
// their filter chains (each network filter's factory made once, through the registry). Shared by
// the worker entry and the in-process test helper, so both build the data plane the same way.
import { ClusterManager } from '../upstream/cluster-manager.ts';
import { ActiveListener, type ListenerObserver } from '../listener/listener.ts';
import { networkFilterFactory, type WorkerContext } from '../extensions/registry.ts';
import type { Snapshot, ListenerSnap } from '../config/snapshot.ts';
import type { StatSink } from '../common/stat-sink.ts';

export class WorkerRuntime {
  readonly ctx: WorkerContext;
  readonly listeners: ActiveListener[];

  constructor(snapshot: Snapshot, stats: StatSink, workerId: number, observer: ListenerObserver | null) {
    this.ctx = {
      stats,
      clusterManager: new ClusterManager(snapshot.clusters, stats, workerId),
      workerId,
    };
    this.listeners = snapshot.listeners.map((l) => this.#listener(l, observer));
  }

  #listener(l: ListenerSnap, observer: ListenerObserver | null): ActiveListener {
    const ctx = this.ctx;
    return new ActiveListener({
      name: l.name,
      bufferLimit: l.bufferLimit,
      stats: l.stats,
      chains: l.filterChains.map((fc) => ({ factories: fc.filters.map((f) => networkFilterFactory(f, ctx)) })),
    }, ctx.stats, observer);
  }

  activeConnections(): number {
    let n = 0;
    for (const l of this.listeners) n += l.connections.size;
    return n;
  }
}
