// What a worker runs, built from a config snapshot: the cluster manager and the listeners with
// their filter chains (each network filter's factory made once, through the registry). Shared by
// the worker entry and the in-process test helper, so both build the data plane the same way.
//
// Config updates (apply): resources are matched by name. A listener whose filter chains changed
// gets new ones (its connections on the old chains drain gracefully: HTTP/1 says `connection:
// close` on their next response); a new listener is created and waits for its sockets; a removed
// one stops accepting and drains. Clusters are swapped in the cluster manager (a changed one gets
// a new thread-local cluster; the old one's connections drain). Stat slots come with the snapshot:
// names that stay keep their slots, and the stats blocks grow for new ones.
import { ClusterManager, type ClusterEnv } from '../upstream/cluster-manager.ts';
import { SabRing } from '../common/sab-ring.ts';
import { ActiveListener, type FilterChain, type ListenerConfig, type ListenerObserver } from '../listener/listener.ts';
import { FilterChainMatcher } from '../listener/filter-chain-match.ts';
import {
  downstreamTransportSocketFactory, listenerFilterFactory, networkFilterFactory, upstreamFactories, type WorkerContext,
} from '../extensions/registry.ts';
import type { Snapshot, ListenerSnap, FilterChainSnap } from '../config/snapshot.ts';
import type { StatSink } from '../common/stat-sink.ts';
import type { SharedValue } from '../extensions/types.ts';
import { ThreadLoader } from '../runtime/snapshot.ts';
import { ServerState } from '../common/server-state.ts';
import type { RuntimeValues } from '../runtime/types.ts';

interface ListenerEntry {
  listener: ActiveListener;
  /** The snapshot it was built from, to tell whether an update changes it. */
  key: string;
}

export class WorkerRuntime {
  readonly ctx: WorkerContext;
  readonly observer: ListenerObserver | null;
  readonly listeners: Map<string, ListenerEntry>;
  /** Listeners a config update removed, until their last connection is gone. */
  readonly retired: Set<ActiveListener>;
  /** What main-thread services published, by key (WorkerContext.shared). */
  readonly sharedValues: Map<string, SharedValue>;
  /** The runtime as this worker sees it (WorkerContext.runtime), replaced by setRuntime(). */
  readonly runtime: ThreadLoader;
  /** Who watches a key (ClusterEnv.watch: DNS clusters' hosts). */
  readonly #watchers: Map<string, Set<(value: unknown) => void>>;
  version: number;

  constructor(snapshot: Snapshot, stats: StatSink, workerId: number, observer: ListenerObserver | null,
    shared: readonly (readonly [string, unknown])[] = [], resources: SharedArrayBuffer | null = null,
    outlierRing: SharedArrayBuffer | null = null, runtimeValues: RuntimeValues | null = null,
    serverState: SharedArrayBuffer | null = null) {
    const runtime = new ThreadLoader(runtimeValues);
    this.runtime = runtime;
    const sharedValues = new Map<string, SharedValue>(shared.map(([k, value]) => [k, { value }]));
    this.sharedValues = sharedValues;
    const watchers = new Map<string, Set<(value: unknown) => void>>();
    this.#watchers = watchers;
    const env: ClusterEnv = {
      watch(key, cb) {
        let set = watchers.get(key);
        if (set === undefined) watchers.set(key, set = new Set());
        set.add(cb);
        const v = sharedValues.get(key)?.value;
        if (v !== undefined) cb(v);
        return { remove: () => { set.delete(cb); } };
      },
      // (Length-tracking: it follows the buffer as main grows it.)
      resources: resources === null ? null : new Int32Array(resources),
      outlierRing: outlierRing === null ? null : new SabRing(outlierRing),
      runtime,
    };
    this.ctx = {
      stats,
      clusterManager: new ClusterManager(snapshot.clusters, stats, workerId, upstreamFactories, env),
      workerId,
      shared(key: string): SharedValue {
        let v = sharedValues.get(key);
        if (v === undefined) sharedValues.set(key, v = { value: undefined });
        return v;
      },
      runtime,
      serverState: new ServerState(serverState),
      sharedMemory: resources,
    };
    this.observer = observer;
    this.listeners = new Map();
    this.retired = new Set();
    this.version = snapshot.version;
    for (const l of snapshot.listeners) {
      this.listeners.set(l.name, { listener: new ActiveListener(this.#config(l), stats, observer), key: keyOf(l) });
    }
  }

  listener(name: string): ActiveListener | undefined {
    return this.listeners.get(name)?.listener;
  }

  #config(l: ListenerSnap): ListenerConfig {
    const ctx = this.ctx;
    const chain = (fc: FilterChainSnap): FilterChain => ({
      name: fc.name,
      factories: fc.filters.map((f) => networkFilterFactory(f, ctx)),
      transportSocket: fc.transportSocket === null ? null : downstreamTransportSocketFactory(fc.transportSocket, ctx),
    });
    const chains = l.filterChains.map(chain);
    return {
      name: l.name,
      bufferLimit: l.bufferLimit,
      stats: l.stats,
      optStats: l.optStats,
      chains,
      // (The main thread built the same index when it checked the config: no conflict here.)
      matcher: l.matchChains ? new FilterChainMatcher(l.filterChains.map((fc) => fc.match), chains) : null,
      defaultChain: l.defaultFilterChain === null ? null : chain(l.defaultFilterChain),
      listenerFilters: l.listenerFilters.length === 0 ? null : l.listenerFilters.map((f) => listenerFilterFactory(f, ctx)),
      listenerFiltersTimeoutMs: l.listenerFiltersTimeoutMs,
      continueOnListenerFiltersTimeout: l.continueOnListenerFiltersTimeout,
    };
  }

  /** Swap in a new snapshot (see the design note). A removed listener's connections still open
   *  `drainMs` later are closed (Envoy closes what is left when the drain time ends). */
  apply(snapshot: Snapshot, drainMs: number): void {
    this.ctx.clusterManager.update(snapshot.clusters);
    const seen = new Set<string>();
    for (const l of snapshot.listeners) {
      seen.add(l.name);
      const key = keyOf(l);
      const have = this.listeners.get(l.name);
      if (have === undefined) {
        this.listeners.set(l.name, { listener: new ActiveListener(this.#config(l), this.ctx.stats, this.observer), key });
      } else if (have.key !== key) {
        have.key = key;
        have.listener.update(this.#config(l));
      }
    }
    for (const [name, e] of this.listeners) {
      if (seen.has(name)) continue;
      this.listeners.delete(name);
      e.listener.drain(drainMs);
      if (e.listener.connections.size > 0) this.retired.add(e.listener);
    }
    this.version = snapshot.version;
  }

  /** A main-thread service published `value` under `key`. */
  setShared(key: string, value: unknown): void {
    this.ctx.shared(key).value = value;
    const set = this.#watchers.get(key);
    if (set !== undefined) for (const cb of [...set]) cb(value);
  }

  /** The runtime changed: later reads see `values` (those in progress keep their snapshot). */
  setRuntime(values: RuntimeValues): void {
    this.runtime.update(values);
  }

  activeConnections(): number {
    let n = 0;
    for (const e of this.listeners.values()) n += e.listener.connections.size;
    for (const l of this.retired) {
      if (l.connections.size === 0) this.retired.delete(l);
      else n += l.connections.size;
    }
    return n;
  }

  /** Shutdown: every listener stops accepting and drains. */
  drain(): void {
    for (const e of this.listeners.values()) e.listener.drain();
  }
}

function keyOf(l: ListenerSnap): string {
  return JSON.stringify(l);
}
