// Extensions' main-thread services (extensions/types.ts MainServiceSpec): work done once for all
// workers, such as client_ssl_auth's fetch of its principal list or a DNS cluster's resolution.
// Each distinct key of the running config has one service; what it publishes goes to every worker
// (a 'shared' message) and is kept for workers started later (WorkerInit.shared). A config update
// keeps a service whose key and compiled config are unchanged, starts the new ones and stops the
// ones it no longer has (their last values are forgotten); a worker keeps the last value of a key
// until a new one comes. sync() settles once the new services are ready (a DNS cluster's first
// resolution): the config waits for that before it reaches the workers (Envoy's warming).
import { clusterTypeModule, dnsResolver, extensionModule } from '../extensions/registry.ts';
import {
  ExtensionCategory, type MainService, type MainServiceContext, type NetworkFilterModule,
} from '../extensions/types.ts';
import { chainsOf, type ClusterSnap, type HostSnap, type Snapshot } from '../config/snapshot.ts';
import type { StatSink } from '../common/stat-sink.ts';
import type { StatsLayout } from '../stats/layout.ts';
import type { DiscoveredHosts } from '../upstream/dns-cluster.ts';
import { HealthCheckService, type HealthCheckSnap, type PublishedHealth } from '../upstream/health-check.ts';
import { OutlierDetector, OutlierEvent, type PublishedEjections } from '../upstream/outlier.ts';
import { LegateError } from '../common/errors.ts';

interface Running {
  config: string;
  service: MainService;
  stopped: boolean;
}

export interface ServicesHost {
  stats: StatSink;
  layout: StatsLayout;
  /** A counter or gauge summed over every thread. */
  statValue(slot: number): number;
  /** Every worker's ring events (host slot, outcome: outlier outcomes and immediate health check
   *  failures), drained by main; returns the unlisten. */
  outlierEvents(handler: (slot: number, code: number) => void): () => void;
  /** Send a published value to every live worker. */
  broadcast(key: string, value: unknown): void;
  warn(message: string, detail: Record<string, unknown>): void;
}

export class MainServices {
  readonly #host: ServicesHost;
  readonly #running = new Map<string, Running>();
  readonly #latest = new Map<string, unknown>();
  /** Main-side watchers of what is published under a key (a health checker following a DNS
   *  cluster's hosts). */
  readonly #watchers = new Map<string, Set<(value: unknown) => void>>();
  #snapshot: Snapshot | null = null;
  /** The health checkers listening for immediate health check failures, and the one ring listener
   *  that finds those among every event (null: none listens). */
  readonly #immediateFailures = new Set<(slot: number) => void>();
  #unlistenRings: (() => void) | null = null;

  constructor(host: ServicesHost) {
    this.#host = host;
  }

  /** What was published so far, for a worker that starts now. */
  latest(): [string, unknown][] {
    return [...this.#latest];
  }

  /** A cluster's current hosts: its configured ones, or what its discovery published last. */
  clusterHosts(c: ClusterSnap): readonly HostSnap[] {
    if (!c.dynamic) return c.hosts;
    const v = this.#latest.get((c.discovery as { key: string }).key) as DiscoveredHosts | undefined;
    return v?.hosts ?? [];
  }

  /** What a cluster's health checker last concluded, by host stat slot (null: no health check). */
  healthFlags(c: ClusterSnap): Map<number, number> | null {
    if (c.healthCheck === null) return null;
    const v = this.#latest.get(c.healthCheck.key) as PublishedHealth | undefined;
    return new Map(v?.flags ?? []);
  }

  /** Run the services `snap` needs (see the design note); settles when the new ones are ready. */
  sync(snap: Snapshot): Promise<void> {
    this.#snapshot = snap;
    const wanted = new Map<string, { config: string; start: (r: Running) => MainService }>();
    for (const c of snap.clusters) {
      const spec = c.dynamic ? clusterTypeModule(c.type)?.mainService : undefined;
      if (spec === undefined) continue;
      const config = { cluster: c.name, clusterStats: c.stats as unknown as Record<string, number>, discovery: c.discovery };
      const key = spec.key(config);
      wanted.set(key, { config: JSON.stringify(config), start: (r) => spec.start(config, this.#context(key, r)) });
    }
    for (const c of snap.clusters) {
      const od = c.outlier;
      if (od === null) continue;
      wanted.set(od.key, {
        config: JSON.stringify(od),
        start: (r) => new OutlierDetector(od, this.#context(od.key, r), {
          cluster: c.name,
          watchHosts: (cb) => this.#watchHosts(c, cb),
          listen: (h) => this.#host.outlierEvents(h),
          now: () => Date.now(),
          random: Math.random,
        }),
      });
    }
    for (const c of snap.clusters) {
      const hc = c.healthCheck;
      if (hc === null) continue;
      wanted.set(hc.key, {
        config: JSON.stringify(hc),
        start: (r) => this.#startHealthCheck(c, hc, this.#context(hc.key, r)),
      });
    }
    for (const l of snap.listeners) {
      for (const fc of chainsOf(l)) {
        for (const f of fc.filters) {
          const m = extensionModule(f.name);
          if (m?.category !== ExtensionCategory.NetworkFilter) continue;
          const spec = (m as NetworkFilterModule).mainService;
          if (spec === undefined) continue;
          const key = spec.key(f.config);
          if (wanted.has(key)) continue;
          const config = f.config;
          wanted.set(key, { config: JSON.stringify(config), start: (r) => spec.start(config, this.#context(key, r)) });
        }
      }
    }
    for (const [key, r] of this.#running) {
      if (wanted.get(key)?.config === r.config) continue;
      stop(r);
      this.#running.delete(key);
      this.#latest.delete(key);
    }
    const ready: Promise<void>[] = [];
    for (const [key, w] of wanted) {
      if (this.#running.has(key)) continue;
      const r: Running = { config: w.config, service: NOOP, stopped: false };
      this.#running.set(key, r);
      r.service = w.start(r);
      if (r.service.ready !== undefined) ready.push(r.service.ready);
    }
    return Promise.all(ready).then(() => {});
  }

  #startHealthCheck(c: ClusterSnap, hc: HealthCheckSnap, ctx: MainServiceContext): MainService {
    const m = extensionModule(hc.checker.name);
    if (m?.category !== ExtensionCategory.HealthChecker) throw new LegateError('LEGATE_ERR_EXTENSION', `health checker "${hc.checker.name}" is not registered`);
    return new HealthCheckService(hc, ctx, {
      cluster: c.name,
      cxTotalSlot: c.stats.upstream_cx_total,
      statValue: (slot) => this.#host.statValue(slot),
      watchHosts: (cb) => this.#watchHosts(c, cb),
      listenImmediateFailures: (h) => this.#listenImmediateFailures(h),
      check: m.createCheck(hc.checker.config, { cluster: c.name, reuseConnection: hc.reuseConnection }),
    });
  }

  /** `h` gets the host slot of every immediate health check failure a worker reports; returns the
   *  unlisten. */
  #listenImmediateFailures(h: (slot: number) => void): () => void {
    const hs = this.#immediateFailures;
    hs.add(h);
    this.#unlistenRings ??= this.#host.outlierEvents((slot, code) => {
      if (code === OutlierEvent.ImmediateHealthCheckFail) for (const f of hs) f(slot);
    });
    return () => {
      hs.delete(h);
      if (hs.size === 0 && this.#unlistenRings !== null) {
        this.#unlistenRings();
        this.#unlistenRings = null;
      }
    };
  }

  /** A cluster's hosts now and, for a DNS cluster, each later answer; returns the unwatch. */
  #watchHosts(c: ClusterSnap, cb: (hosts: readonly HostSnap[]) => void): () => void {
    if (!c.dynamic) {
      cb(c.hosts);
      return () => {};
    }
    return this.#watch((c.discovery as { key: string }).key, (v) => cb((v as DiscoveredHosts).hosts));
  }

  /** What a cluster's outlier detector ejected, by host stat slot (null: no outlier detection). */
  ejected(c: ClusterSnap): Set<number> | null {
    if (c.outlier === null) return null;
    const v = this.#latest.get(c.outlier.key) as PublishedEjections | undefined;
    return new Set(v?.ejected ?? []);
  }

  /** `cb` gets the value published under `key` now (if any) and each later one; returns the
   *  unwatch. */
  #watch(key: string, cb: (value: unknown) => void): () => void {
    let set = this.#watchers.get(key);
    if (set === undefined) this.#watchers.set(key, set = new Set());
    set.add(cb);
    if (this.#latest.has(key)) cb(this.#latest.get(key));
    return () => { set.delete(cb); };
  }

  stopAll(): void {
    for (const r of this.#running.values()) stop(r);
    this.#running.clear();
  }

  #context(key: string, r: Running): MainServiceContext {
    const host = this.#host;
    return {
      stats: host.stats,
      layout: host.layout,
      clusterHosts: (name) => {
        const c = this.#snapshot?.clusters.find((x) => x.name === name);
        return c === undefined ? undefined : this.clusterHosts(c);
      },
      dnsResolver,
      publish: (value) => {
        // A stopped service's late answer is dropped.
        if (r.stopped) return;
        this.#latest.set(key, value);
        host.broadcast(key, value);
        const ws = this.#watchers.get(key);
        if (ws !== undefined) for (const cb of [...ws]) cb(value);
      },
      warn: (message, detail) => host.warn(message, detail),
    };
  }
}

const NOOP: MainService = { stop(): void {} };

function stop(r: Running): void {
  r.stopped = true;
  r.service.stop();
}

