// Outlier detection (Envoy's DetectorImpl): passive, from the outcomes of real requests. Each
// worker pushes one event per upstream attempt of a cluster that has `outlier_detection` into its
// own SharedArrayBuffer ring (common/sab-ring.ts: the host, by its rq_total stat slot, and the
// outcome; active health checking's immediate failures travel there too); the main thread drains
// every worker's ring (every 100 ms), keeps Envoy's per-host counters, ejects and returns hosts, and
// publishes the ejected ones to every worker the way active health checking publishes its verdicts
// (FAILED_OUTLIER_CHECK on the Host).
//
// Design note (Envoy's rules)
// - consecutive_5xx (5) and consecutive_gateway_failure (5; enforcing 0% by default) eject at once;
//   without split_external_local_origin_errors a connect failure or a reset counts as a 503 and a
//   timeout as a 504; with it they count toward consecutive_local_origin_failure (5) instead.
// - Every `interval` (10 s): success rate (hosts with success_rate_request_volume requests, at least
//   success_rate_minimum_hosts of them: below mean - stdev_factor/1000 x stdev) and failure
//   percentage (failure_percentage_threshold with its request volume and minimum hosts; enforcing 0%
//   by default) eject; an ejected host returns after base_ejection_time x its ejections (at most
//   max_ejection_time); a host not ejected during an interval has its count lowered by one.
// - An ejection is detected always and enforced with its enforcing_* probability; none is enforced
//   past max_ejection_percent of the hosts (ejections_overflow), except the first one with
//   always_eject_one_host.
import { HealthFlag } from './host.ts';
import type { HostSnap } from '../config/snapshot.ts';
import type { CompileContext, MainService, MainServiceContext } from '../extensions/types.ts';
import { durationMs } from '../config/duration.ts';
import { xxHash64 } from '../common/xxhash64.ts';

/** Event codes a worker pushes into its ring (an HTTP status is reported as itself). */
export const OutlierEvent = {
  ConnectFailed: -1,
  Timeout: -2,
  /** The upstream reset the stream before answering. */
  Reset: -3,
  /** Not an outlier outcome: the upstream answered with x-envoy-immediate-health-check-fail, for
   *  the cluster's active health checking (upstream/health-check.ts), which shares the ring. */
  ImmediateHealthCheckFail: -4,
} as const;

export interface OutlierSnap {
  key: string;
  consecutive5xx: number;
  consecutiveGatewayFailure: number;
  consecutiveLocalOriginFailure: number;
  splitLocalOrigin: boolean;
  intervalMs: number;
  baseEjectionMs: number;
  maxEjectionMs: number;
  maxEjectionPercent: number;
  alwaysEjectOne: boolean;
  enforcing5xx: number;
  enforcingGateway: number;
  enforcingLocalOrigin: number;
  enforcingSuccessRate: number;
  enforcingFailurePercentage: number;
  successRateMinimumHosts: number;
  successRateRequestVolume: number;
  successRateStdevFactor: number;
  failurePercentageThreshold: number;
  failurePercentageMinimumHosts: number;
  failurePercentageRequestVolume: number;
  stats: Record<OutlierStat, number>;
}

const STATS = [
  'ejections_active', 'ejections_enforced_total', 'ejections_overflow',
  'ejections_enforced_consecutive_5xx', 'ejections_detected_consecutive_5xx',
  'ejections_enforced_consecutive_gateway_failure', 'ejections_detected_consecutive_gateway_failure',
  'ejections_enforced_consecutive_local_origin_failure', 'ejections_detected_consecutive_local_origin_failure',
  'ejections_enforced_success_rate', 'ejections_detected_success_rate',
  'ejections_enforced_failure_percentage', 'ejections_detected_failure_percentage',
] as const;
type OutlierStat = (typeof STATS)[number];

export const OUTLIER_FIELDS = [
  'consecutive_5xx', 'interval', 'base_ejection_time', 'max_ejection_percent', 'enforcing_consecutive_5xx',
  'enforcing_success_rate', 'success_rate_minimum_hosts', 'success_rate_request_volume', 'success_rate_stdev_factor',
  'consecutive_gateway_failure', 'enforcing_consecutive_gateway_failure', 'split_external_local_origin_errors',
  'consecutive_local_origin_failure', 'enforcing_consecutive_local_origin_failure', 'failure_percentage_threshold',
  'enforcing_failure_percentage', 'failure_percentage_minimum_hosts', 'failure_percentage_request_volume',
  'max_ejection_time', 'always_eject_one_host',
] as const;

type Obj = Record<string, any>;

/** A cluster's outlier_detection with Envoy's defaults, or null. */
export function compileOutlier(cluster: Obj, ctx: CompileContext): OutlierSnap | null {
  const o = cluster.outlier_detection;
  if (o === undefined) return null;
  const l = ctx.layout;
  const split = o.split_external_local_origin_errors === true;
  for (const f of ['consecutive_local_origin_failure', 'enforcing_consecutive_local_origin_failure']) {
    // (Envoy ignores them without the split; Legate does not accept what it would not act on.)
    if (!split && o[f] !== undefined) {
      ctx.fail(`${ctx.path}.outlier_detection.${f}`, 'applies with split_external_local_origin_errors only');
    }
  }
  const stats = {} as Record<OutlierStat, number>;
  for (const n of STATS) {
    // (The local-origin kinds exist only with split_external_local_origin_errors: without it such
    // errors count as 5xx, and their stats could only read 0. -1: absent.)
    if (!split && n.endsWith('_local_origin_failure')) {
      stats[n] = -1;
      continue;
    }
    stats[n] = n === 'ejections_active' ? l.gauge(`cluster.${cluster.name}.outlier_detection.${n}`)
      : l.counter(`cluster.${cluster.name}.outlier_detection.${n}`);
  }
  const base = durationMs(o.base_ejection_time, 30_000);
  const rest = {
    consecutive5xx: o.consecutive_5xx ?? 5,
    consecutiveGatewayFailure: o.consecutive_gateway_failure ?? 5,
    consecutiveLocalOriginFailure: o.consecutive_local_origin_failure ?? 5,
    splitLocalOrigin: split,
    intervalMs: durationMs(o.interval, 10_000),
    baseEjectionMs: base,
    maxEjectionMs: Math.max(base, durationMs(o.max_ejection_time, 300_000)),
    maxEjectionPercent: Math.min(100, o.max_ejection_percent ?? 10),
    alwaysEjectOne: o.always_eject_one_host === true,
    enforcing5xx: o.enforcing_consecutive_5xx ?? 100,
    enforcingGateway: o.enforcing_consecutive_gateway_failure ?? 0,
    enforcingLocalOrigin: o.enforcing_consecutive_local_origin_failure ?? 100,
    enforcingSuccessRate: o.enforcing_success_rate ?? 100,
    enforcingFailurePercentage: o.enforcing_failure_percentage ?? 0,
    successRateMinimumHosts: o.success_rate_minimum_hosts ?? 5,
    successRateRequestVolume: o.success_rate_request_volume ?? 100,
    successRateStdevFactor: o.success_rate_stdev_factor ?? 1900,
    failurePercentageThreshold: o.failure_percentage_threshold ?? 85,
    failurePercentageMinimumHosts: o.failure_percentage_minimum_hosts ?? 5,
    failurePercentageRequestVolume: o.failure_percentage_request_volume ?? 50,
    stats,
  };
  // (As health checks' keys: the config and the hosts.)
  const hosts = JSON.stringify([cluster.type ?? 'STATIC', cluster.load_assignment ?? null]);
  return { key: `outlier:${cluster.name}:${xxHash64(JSON.stringify(rest) + hosts).toString(16)}`, ...rest };
}

/** What the detector publishes: the ejected hosts, by their rq_total stat slot. */
export interface PublishedEjections {
  ejected: number[];
}

interface HostState {
  slot: number;
  c5xx: number;
  cGateway: number;
  cLocal: number;
  /** This interval's requests and failures (success rate, failure percentage). */
  total: number;
  failed: number;
  ejected: boolean;
  ejectedAt: number;
  ejections: number;
}

export interface OutlierDeps {
  cluster: string;
  watchHosts(cb: (hosts: readonly HostSnap[]) => void): () => void;
  /** Every worker's events come through here (a detector drops the slots of other clusters). */
  listen(handler: (slot: number, code: number) => void): () => void;
  now(): number;
  random(): number;
}

type Kind = 'consecutive_5xx' | 'consecutive_gateway_failure' | 'consecutive_local_origin_failure'
  | 'success_rate' | 'failure_percentage';

export class OutlierDetector implements MainService {
  readonly #snap: OutlierSnap;
  readonly #ctx: MainServiceContext;
  readonly #deps: OutlierDeps;
  /** By the host's rq_total stat slot (what workers report). */
  readonly #bySlot: Map<number, HostState>;
  readonly #unwatch: () => void;
  readonly #unlisten: () => void;
  readonly #timer: NodeJS.Timeout;
  #stopped: boolean;

  constructor(snap: OutlierSnap, ctx: MainServiceContext, deps: OutlierDeps) {
    this.#snap = snap;
    this.#ctx = ctx;
    this.#deps = deps;
    this.#bySlot = new Map();
    this.#stopped = false;
    this.#unwatch = deps.watchHosts((hosts) => this.#setHosts(hosts));
    this.#unlisten = deps.listen((slot, code) => this.#onEvent(slot, code));
    this.#timer = setInterval(() => this.#onInterval(), snap.intervalMs);
    this.#timer.unref();
    // A new detector starts with nobody ejected, and says so.
    this.#publish();
  }

  stop(): void {
    this.#stopped = true;
    clearInterval(this.#timer);
    this.#unwatch();
    this.#unlisten();
  }

  #setHosts(hosts: readonly HostSnap[]): void {
    const keep = new Set<number>();
    for (const h of hosts) {
      const slot = h.stats.rq_total;
      keep.add(slot);
      if (this.#bySlot.has(slot)) continue;
      this.#bySlot.set(slot, {
        slot, c5xx: 0, cGateway: 0, cLocal: 0, total: 0, failed: 0,
        ejected: false, ejectedAt: 0, ejections: 0,
      });
    }
    let changed = false;
    for (const [slot, s] of this.#bySlot) {
      if (keep.has(slot)) continue;
      this.#bySlot.delete(slot);
      if (s.ejected) changed = true;
    }
    if (changed) this.#publish();
  }

  /** Envoy's DetectorHostMonitorImpl putHttpResponseCode / putResult. */
  #onEvent(slot: number, code: number): void {
    const s = this.#bySlot.get(slot);
    if (s === undefined || this.#stopped || code === OutlierEvent.ImmediateHealthCheckFail) return;
    const snap = this.#snap;
    if (code < 0) {
      if (snap.splitLocalOrigin) {
        s.total++;
        s.failed++;
        if (++s.cLocal === snap.consecutiveLocalOriginFailure) this.#consecutive(s, 'consecutive_local_origin_failure');
        return;
      }
      // Not split: a connect failure or reset is a 503, a timeout a 504.
      code = code === OutlierEvent.Timeout ? 504 : 503;
    } else if (snap.splitLocalOrigin) {
      s.cLocal = 0;
    }
    s.total++;
    if (code >= 500 && code < 600) {
      s.failed++;
      if (code === 502 || code === 503 || code === 504) {
        if (++s.cGateway === snap.consecutiveGatewayFailure) this.#consecutive(s, 'consecutive_gateway_failure');
      } else {
        s.cGateway = 0;
      }
      if (++s.c5xx === snap.consecutive5xx) this.#consecutive(s, 'consecutive_5xx');
    } else {
      s.c5xx = 0;
      s.cGateway = 0;
    }
  }

  #consecutive(s: HostState, kind: Kind): void {
    const snap = this.#snap;
    // Envoy resets the kind's counter after each detection, ejected or not.
    if (kind === 'consecutive_5xx') s.c5xx = 0;
    else if (kind === 'consecutive_gateway_failure') s.cGateway = 0;
    else s.cLocal = 0;
    const enforcing = kind === 'consecutive_5xx' ? snap.enforcing5xx
      : kind === 'consecutive_gateway_failure' ? snap.enforcingGateway : snap.enforcingLocalOrigin;
    this.#eject(s, kind, enforcing);
  }

  /** Eject `s` for `kind` if enforced and within max_ejection_percent. */
  #eject(s: HostState, kind: Kind, enforcing: number): void {
    if (s.ejected) return;
    const v = this.#ctx.stats.v;
    const st = this.#snap.stats;
    v[st[`ejections_detected_${kind}`]]++;
    // Envoy's rule: eject while (ejected + 1) stays within max_ejection_percent of the hosts, checked
    // before the enforcing probability.
    let ejected = 0;
    for (const h of this.#bySlot.values()) if (h.ejected) ejected++;
    const total = this.#bySlot.size;
    const within = total > 0 && (100 * (ejected + 1)) / total <= this.#snap.maxEjectionPercent;
    if (!within && !(this.#snap.alwaysEjectOne && ejected === 0)) {
      v[st.ejections_overflow]++;
      return;
    }
    if (this.#deps.random() * 100 >= enforcing) return;
    s.ejected = true;
    s.ejectedAt = this.#deps.now();
    // (Envoy caps the multiplier where base x n passes max_ejection_time, so a host that flapped
    // often comes back within max_ejection_time once it heals.)
    const { maxEjectionMs: max, baseEjectionMs: base } = this.#snap;
    s.ejections = Math.min(s.ejections + 1, Math.floor((max + base) / base));
    s.c5xx = 0;
    s.cGateway = 0;
    s.cLocal = 0;
    v[st.ejections_enforced_total]++;
    v[st[`ejections_enforced_${kind}`]]++;
    this.#publish();
  }

  #onInterval(): void {
    if (this.#stopped) return;
    const snap = this.#snap;
    const now = this.#deps.now();
    let changed = false;
    for (const s of this.#bySlot.values()) {
      if (s.ejected) {
        const ms = Math.min(snap.baseEjectionMs * s.ejections, snap.maxEjectionMs);
        if (now >= s.ejectedAt + ms) {
          s.ejected = false;
          s.c5xx = 0;
          s.cGateway = 0;
          s.cLocal = 0;
          changed = true;
        }
      } else if (s.ejections > 0) {
        s.ejections--;
      }
    }
    if (changed) this.#publish();
    this.#successRate();
    this.#failurePercentage();
    for (const s of this.#bySlot.values()) {
      s.total = 0;
      s.failed = 0;
    }
  }

  #successRate(): void {
    const snap = this.#snap;
    const rates: [HostState, number][] = [];
    for (const s of this.#bySlot.values()) {
      if (!s.ejected && s.total >= snap.successRateRequestVolume) rates.push([s, 100 * (s.total - s.failed) / s.total]);
    }
    if (rates.length < snap.successRateMinimumHosts || rates.length === 0) return;
    const mean = rates.reduce((a, [, r]) => a + r, 0) / rates.length;
    const variance = rates.reduce((a, [, r]) => a + (r - mean) ** 2, 0) / rates.length;
    const threshold = mean - (snap.successRateStdevFactor / 1000) * Math.sqrt(variance);
    for (const [s, r] of rates) if (r < threshold) this.#eject(s, 'success_rate', snap.enforcingSuccessRate);
  }

  #failurePercentage(): void {
    const snap = this.#snap;
    const hosts: HostState[] = [];
    for (const s of this.#bySlot.values()) {
      if (!s.ejected && s.total >= snap.failurePercentageRequestVolume) hosts.push(s);
    }
    if (hosts.length < snap.failurePercentageMinimumHosts || hosts.length === 0) return;
    for (const s of hosts) {
      if (100 * s.failed / s.total >= snap.failurePercentageThreshold) {
        this.#eject(s, 'failure_percentage', snap.enforcingFailurePercentage);
      }
    }
  }

  #publish(): void {
    const ejected: number[] = [];
    for (const s of this.#bySlot.values()) if (s.ejected) ejected.push(s.slot);
    this.#ctx.stats.v[this.#snap.stats.ejections_active] = ejected.length;
    this.#ctx.publish({ ejected } satisfies PublishedEjections);
  }
}

/** The flag the detector sets on a worker's Host. */
export const OUTLIER_FLAG = HealthFlag.FAILED_OUTLIER_CHECK;
