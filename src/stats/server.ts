// The server.* stats the main thread maintains, with Envoy's names (source/server/server.h
// ALL_SERVER_STATS). Envoy has no stat for a crashed worker (a crash there is the whole process);
// Legate adds the counter `server.legate.worker_restarts`, in a `legate.` sub-namespace so it can
// never clash with a future Envoy name.
import type { StatsStore } from './store.ts';

export const SERVER_COUNTERS = [
  'server.debug_assertion_failures', 'server.envoy_bug_failures', 'server.dynamic_unknown_fields',
  'server.static_unknown_fields', 'server.dropped_stat_flushes', 'server.legate.worker_restarts',
  // Config reloads (POST /reload, SIGHUP): Legate's, and what they changed under Envoy's names.
  'server.legate.reload_success', 'server.legate.reload_rejected',
  'listener_manager.listener_added', 'listener_manager.listener_modified', 'listener_manager.listener_removed',
  'cluster_manager.cluster_added', 'cluster_manager.cluster_modified', 'cluster_manager.cluster_removed',
] as const;
/** Gauges whose value a hot restart must not add to the child's (Envoy: ImportMode::NeverImport). */
export const SERVER_GAUGES_NEVER_IMPORT = [
  'server.live', 'server.state', 'server.concurrency', 'server.hot_restart_epoch', 'server.version',
  'server.days_until_first_cert_expiring', 'server.stats_recent_lookups',
] as const;
export const SERVER_GAUGES_ACCUMULATE = [
  'server.uptime', 'server.total_connections', 'server.parent_connections',
  'server.hot_restart_generation', 'server.memory_allocated', 'server.memory_heap_size',
  'server.memory_physical_size',
] as const;
export const SERVER_HISTOGRAMS = ['server.initialization_time_ms'] as const;

export type ServerStatName =
  | (typeof SERVER_COUNTERS)[number] | (typeof SERVER_GAUGES_NEVER_IMPORT)[number]
  | (typeof SERVER_GAUGES_ACCUMULATE)[number] | (typeof SERVER_HISTOGRAMS)[number];

/** envoy.admin.v3.ServerInfo.State, and the value of the server.state gauge. */
export const ServerState = { LIVE: 0, DRAINING: 1, PRE_INITIALIZING: 2, INITIALIZING: 3 } as const;
export type ServerStateName = keyof typeof ServerState;

export interface ServerStatsOptions {
  /** ms since the epoch when this process started (Envoy's startTimeCurrentEpoch). */
  startTime?: number;
  /** When the first process of a hot-restart chain started (startTimeFirstEpoch). */
  firstStartTime?: number;
  concurrency?: number;
  hotRestartEpoch?: number;
}

export interface ServerRefresh {
  /** Connections of this process; by default the sum of the gauges given to trackConnections(). */
  totalConnections?: number;
  parentConnections?: number;
  /** server.days_until_first_cert_expiring (certificates in use); left as it is when absent. */
  daysUntilFirstCertExpiring?: number;
}

export class ServerStats {
  readonly slots: Record<ServerStatName, number>;
  readonly startTime: number;
  readonly firstStartTime: number;
  #store: StatsStore;
  #connectionSlots: number[];
  #state: ServerStateName;

  constructor(store: StatsStore, opts: ServerStatsOptions = {}) {
    const layout = store.layout;
    const slots = {} as Record<ServerStatName, number>;
    for (const n of SERVER_COUNTERS) slots[n] = layout.counter(n);
    for (const n of SERVER_GAUGES_NEVER_IMPORT) slots[n] = layout.gauge(n, 'neverImport');
    for (const n of SERVER_GAUGES_ACCUMULATE) slots[n] = layout.gauge(n, 'accumulate');
    for (const n of SERVER_HISTOGRAMS) slots[n] = layout.histogram(n, 'ms');
    this.slots = slots;
    this.startTime = opts.startTime ?? Date.now();
    this.firstStartTime = opts.firstStartTime ?? this.startTime;
    this.#store = store;
    this.#connectionSlots = [];
    this.#state = 'PRE_INITIALIZING';
    store.main.set(slots['server.concurrency'], opts.concurrency ?? 0);
    store.main.set(slots['server.hot_restart_epoch'], opts.hotRestartEpoch ?? 0);
    this.setState('PRE_INITIALIZING');
  }

  get state(): ServerStateName {
    return this.#state;
  }

  /** server.state, and server.live (1 only while LIVE). */
  setState(state: ServerStateName): void {
    this.#state = state;
    this.#store.main.set(this.slots['server.state'], ServerState[state]);
    this.#store.main.set(this.slots['server.live'], state === 'LIVE' ? 1 : 0);
  }

  setConcurrency(n: number): void {
    this.#store.main.set(this.slots['server.concurrency'], n);
  }

  /** Gauges summed into server.total_connections (each listener's downstream_cx_active). */
  trackConnections(slots: readonly number[]): void {
    this.#connectionSlots = slots.slice();
  }

  /** Seconds since the first epoch started, as Envoy's server.uptime. */
  uptimeSeconds(now = Date.now()): number {
    return Math.floor((now - this.firstStartTime) / 1000);
  }

  /** Envoy updates these on every stats flush: register with store.addFlushHook(() => s.refresh()). */
  refresh(r: ServerRefresh = {}, now = Date.now()): void {
    const m = this.#store.main;
    m.set(this.slots['server.uptime'], this.uptimeSeconds(now));
    let total = r.totalConnections;
    if (total === undefined) {
      total = 0;
      for (const s of this.#connectionSlots) total += this.#store.value(s);
    }
    m.set(this.slots['server.total_connections'], total);
    if (r.parentConnections !== undefined) m.set(this.slots['server.parent_connections'], r.parentConnections);
    if (r.daysUntilFirstCertExpiring !== undefined) {
      m.set(this.slots['server.days_until_first_cert_expiring'], r.daysUntilFirstCertExpiring);
    }
    // The main thread's V8 heap only: every worker has its own isolate.
    const mem = process.memoryUsage();
    m.set(this.slots['server.memory_allocated'], mem.heapUsed + mem.external);
    m.set(this.slots['server.memory_heap_size'], mem.heapTotal);
    m.set(this.slots['server.memory_physical_size'], mem.rss);
  }

  /** A worker thread died and was replaced. */
  workerRestarted(): void {
    this.#store.main.inc(this.slots['server.legate.worker_restarts']);
  }

  /** Add `n` to one of the counters above. */
  count(name: (typeof SERVER_COUNTERS)[number], n = 1): void {
    if (n > 0) this.#store.main.v[this.slots[name]] += n;
  }

  /** Envoy's ENVOY_BUG counter: main counts its own (an admin handler that failed). */
  envoyBug(): void {
    this.#store.main.inc(this.slots['server.envoy_bug_failures']);
  }

  recordInitializationTime(ms: number): void {
    this.#store.main.record(this.slots['server.initialization_time_ms'], ms);
  }
}
