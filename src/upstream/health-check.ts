// Active health checking (Envoy's HealthCheckerImplBase): one checker per cluster config, on the
// main thread, whatever --concurrency is; what it concludes reaches every worker as the cluster's
// health flags, published like a DNS cluster's hosts (MainServices 'shared' values), and each
// worker's cluster applies them to its Host objects between two events. The checks themselves are
// extensions (extensions/health-checkers/{http,tcp,grpc}): one attempt against one host.
//
// Design note (Envoy's rules)
// - Each host has a session: a check every `interval`, or `no_traffic_interval` (60 s) while the
//   cluster has never opened an upstream connection, `unhealthy_interval` while the host is
//   unhealthy, `healthy_edge_interval` / `unhealthy_edge_interval` while a change is pending, plus
//   `interval_jitter` and `interval_jitter_percent` at random. The first check starts after
//   `initial_jitter` at random (0 by default).
// - A host starts unhealthy (FAILED_ACTIVE_HC) until its first check; the first success makes it
//   healthy at once, later ones after `healthy_threshold` successes in a row. An active failure (a
//   bad status, a wrong payload) ejects a healthy host at once; network failures and timeouts (and
//   retriable statuses) after `unhealthy_threshold` in a row. An unchecked host is not excluded:
//   with too few healthy hosts the load balancer's panic may pick it, as Envoy's does (Envoy
//   excludes it, PENDING_ACTIVE_HC, only with common_lb_config.ignore_new_hosts_until_first_hc,
//   which Legate refuses).
// - A new config waits for the first check of every host its cluster has once initialized (Envoy's
//   warming with health checks: ClusterImplBase::onInitDone() counts the hosts it has then), so the
//   first request already sees their health. A DNS cluster with wait_for_warm_on_init: false is
//   initialized before any answer, with no host (Envoy's startPreInit()), so nothing waits for a
//   check; its hosts come unchecked, as do those a later DNS answer adds.
// - Immediate health check failure (Envoy's HealthCheckHostMonitor, PASSIVE failures): an upstream
//   response carrying x-envoy-immediate-health-check-fail makes the router (a worker) push the host,
//   by its stat slot, into its SharedArrayBuffer ring (the outlier detector's: common/sab-ring.ts,
//   code OutlierEvent.ImmediateHealthCheckFail); main drains the rings every 100 ms. The host fails
//   at once, FAILED_ACTIVE_HC and EXCLUDED_VIA_IMMEDIATE_HC_FAIL (out of the panic computations
//   too), and counts failure and passive_failure; its checks keep their schedule, and it returns
//   when they make it healthy again (healthy_threshold successes), which clears both flags.
// - Stats (main's block): cluster.<name>.health_check.attempt, success, failure, network_failure,
//   passive_failure and the gauges healthy (hosts not failed) and degraded. event_log_path gets
//   Envoy's HealthCheckEvent JSON lines.
import fs from 'node:fs';
import { HealthFlag } from './host.ts';
import type { HostSnap } from '../config/snapshot.ts';
import type { CompileContext, CompiledExtension, MainService, MainServiceContext } from '../extensions/types.ts';
import { durationMs } from '../config/duration.ts';
import { xxHash64 } from '../common/xxhash64.ts';

/** One attempt's outcome. */
export type CheckOutcome =
  | { ok: true; degraded: boolean }
  /** `network`: connect failure, reset, timeout; `retriable`: counts toward unhealthy_threshold
   *  like a network failure (HTTP retriable_statuses). */
  | { ok: false; network: boolean; retriable: boolean; reason: string };

/** Where a check goes: the host, or its endpoint's health_check_config address and port. */
export interface CheckTarget {
  address: string;
  port: number;
  /** Its endpoint's health_check_config.hostname: the L7 checks' Host / :authority, before the
   *  checker's own (`host`, `authority`) and the cluster's name ('': not set). */
  hostname: string;
}

/** One health checker extension's check, made once per attempt (main thread). */
export interface HealthCheck {
  /** Envoy's health_checker_type in event logs: HTTP, TCP, GRPC. */
  readonly type: string;
  check(target: CheckTarget, timeoutMs: number): Promise<CheckOutcome>;
  /** Forget `target`'s kept connection (the host left, or the checker stops). */
  release(target: CheckTarget): void;
  stop(): void;
}

export interface HealthCheckSnap {
  /** Where the service publishes and workers watch: the cluster and a hash of its config. */
  key: string;
  timeoutMs: number;
  intervalMs: number;
  initialJitterMs: number;
  intervalJitterMs: number;
  intervalJitterPercent: number;
  unhealthyThreshold: number;
  healthyThreshold: number;
  noTrafficIntervalMs: number;
  noTrafficHealthyIntervalMs: number;
  unhealthyIntervalMs: number;
  unhealthyEdgeIntervalMs: number;
  healthyEdgeIntervalMs: number;
  eventLogPath: string;
  alwaysLogFailures: boolean;
  reuseConnection: boolean;
  /** Whether the cluster's config waits for the first checks (false: its DNS cluster has
   *  wait_for_warm_on_init false, and is initialized before it has a host to check). */
  waitForWarm: boolean;
  /** The checker extension (by name) and what it compiled from its HealthCheck field. */
  checker: CompiledExtension;
  stats: {
    attempt: number; success: number; failure: number; network_failure: number; passive_failure: number;
    healthy: number; degraded: number;
  };
}

/** What the service publishes: health flags (FAILED_ACTIVE_HC, DEGRADED_ACTIVE_HC,
 *  EXCLUDED_VIA_IMMEDIATE_HC_FAIL) by host,
 *  the host named by its rq_total stat slot (stable for its name: a LOGICAL_DNS host that moves stays
 *  the same host); a host it has not concluded on yet is absent (workers mark it HC_UNCHECKED). */
export interface PublishedHealth {
  flags: [hostSlot: number, flags: number][];
}

/** A host the checker has not concluded on: unhealthy, not excluded (Envoy's, without
 *  ignore_new_hosts_until_first_hc). */
export const HC_UNCHECKED = HealthFlag.FAILED_ACTIVE_HC;

/** Envoy's HealthTransition. */
const Transition = { Unchanged: 0, Changed: 1, ChangePending: 2 } as const;
type Transition = (typeof Transition)[keyof typeof Transition];

interface Session {
  host: HostSnap;
  /** Where its checks go (health_check_config's address and port_value, else the host's). */
  target: CheckTarget;
  /** The host's rq_total stat slot: what verdicts name it by. */
  slot: number;
  failed: boolean;
  degraded: boolean;
  /** Failed by an immediate health check failure, until it is healthy again. */
  excluded: boolean;
  first: boolean;
  numHealthy: number;
  numUnhealthy: number;
  timer: NodeJS.Timeout | null;
  done: boolean;
}

export interface HealthServiceDeps {
  cluster: string;
  /** cluster.<name>.upstream_cx_total's slot: "has the cluster had traffic" (no_traffic_interval). */
  cxTotalSlot: number;
  statValue(slot: number): number;
  /** Its hosts now, and each later change (DNS clusters). */
  watchHosts(cb: (hosts: readonly HostSnap[]) => void): () => void;
  /** Every worker's immediate health check failures, by host stat slot (a service drops the slots
   *  of other clusters' hosts); returns the unlisten. */
  listenImmediateFailures(handler: (slot: number) => void): () => void;
  check: HealthCheck;
}

/** A host's check target from its snapshot. */
export function checkTarget(h: HostSnap): CheckTarget {
  return {
    address: h.hcAddress === '' ? h.address : h.hcAddress,
    port: h.hcPort > 0 ? h.hcPort : h.port,
    hostname: h.hcHostname,
  };
}

export class HealthCheckService implements MainService {
  readonly ready: Promise<void>;
  readonly #snap: HealthCheckSnap;
  readonly #ctx: MainServiceContext;
  readonly #deps: HealthServiceDeps;
  readonly #sessions: Map<number, Session>;
  readonly #unwatch: () => void;
  readonly #unlisten: () => void;
  #markReady: () => void;
  #waiting: Set<number> | null;
  #publishArmed: boolean;
  #stopped: boolean;

  constructor(snap: HealthCheckSnap, ctx: MainServiceContext, deps: HealthServiceDeps) {
    this.#snap = snap;
    this.#ctx = ctx;
    this.#deps = deps;
    this.#sessions = new Map();
    this.#stopped = false;
    this.#waiting = null;
    this.#publishArmed = false;
    this.#markReady = () => {};
    const ready = new Promise<void>((r) => { this.#markReady = r; });
    this.ready = snap.waitForWarm ? ready : Promise.resolve();
    this.#unwatch = deps.watchHosts((hosts) => this.#setHosts(hosts));
    this.#unlisten = deps.listenImmediateFailures((slot) => this.#onImmediateFailure(slot));
    // (No host list yet, from a DNS cluster still resolving: ready once its hosts are checked.)
    const waiting = this.#waiting as Set<number> | null;
    if (waiting !== null && waiting.size === 0) this.#markReady();
  }

  stop(): void {
    this.#stopped = true;
    this.#unwatch();
    this.#unlisten();
    for (const s of this.#sessions.values()) this.#end(s);
    this.#deps.check.stop();
    this.#markReady();
  }

  #setHosts(hosts: readonly HostSnap[]): void {
    if (this.#stopped) return;
    const keep = new Set<number>();
    const first = this.#waiting === null;
    if (first) this.#waiting = new Set();
    for (const h of hosts) {
      const slot = h.stats.rq_total;
      keep.add(slot);
      const target = checkTarget(h);
      const have = this.#sessions.get(slot);
      if (have !== undefined) {
        // A LOGICAL_DNS host that moved: the same host, checked at its new address from now on.
        const t = have.target;
        if (t.address !== target.address || t.port !== target.port || t.hostname !== target.hostname) {
          this.#deps.check.release(have.target);
          have.target = target;
          have.host = h;
        }
        continue;
      }
      const s: Session = {
        host: h, target, slot, failed: true, degraded: false, excluded: false, first: true, numHealthy: 0,
        numUnhealthy: 0, timer: null, done: false,
      };
      this.#sessions.set(slot, s);
      if (first) this.#waiting!.add(slot);
      const j = this.#snap.initialJitterMs;
      this.#schedule(s, j > 0 ? Math.floor(Math.random() * j) : 0);
    }
    for (const [slot, s] of this.#sessions) {
      if (keep.has(slot)) continue;
      this.#end(s);
      this.#sessions.delete(slot);
      this.#waiting?.delete(slot);
    }
    this.#publish();
    if (this.#waiting !== null && this.#waiting.size === 0) this.#markReady();
  }

  #end(s: Session): void {
    s.done = true;
    if (s.timer !== null) clearTimeout(s.timer);
    s.timer = null;
    this.#deps.check.release(s.target);
  }

  #schedule(s: Session, ms: number): void {
    s.timer = setTimeout(() => this.#run(s), ms);
    s.timer.unref();
  }

  #run(s: Session): void {
    s.timer = null;
    if (s.done || this.#stopped) return;
    const v = this.#ctx.stats.v;
    v[this.#snap.stats.attempt]++;
    this.#deps.check.check(s.target, this.#snap.timeoutMs).then(
      (o) => this.#onOutcome(s, o),
      (err: unknown) => this.#onOutcome(s, { ok: false, network: true, retriable: false, reason: String(err) }),
    );
  }

  /** A check's outcome; `passive`: an immediate health check failure, which leaves the host's
   *  next check where it was (Envoy's setUnhealthy(PASSIVE), not handleFailure()). */
  #onOutcome(s: Session, o: CheckOutcome, passive = false): void {
    if (s.done || this.#stopped) return;
    const snap = this.#snap;
    const v = this.#ctx.stats.v;
    const wasFirst = s.first;
    let t: Transition;
    let healthyNow: boolean;
    if (o.ok) {
      v[snap.stats.success]++;
      s.numUnhealthy = 0;
      t = Transition.Unchanged;
      if (s.failed) {
        if (s.first || ++s.numHealthy === snap.healthyThreshold) {
          s.failed = false;
          s.excluded = false;
          t = Transition.Changed;
          this.#log(s, { add_healthy_event: { first_check: s.first } });
        } else {
          t = Transition.ChangePending;
        }
      }
      if (o.degraded !== s.degraded) {
        s.degraded = o.degraded;
        if (t === Transition.Unchanged) t = Transition.Changed;
        this.#log(s, o.degraded ? { degraded_healthy_host: {} } : { no_longer_degraded_host: {} });
      }
      healthyNow = true;
    } else {
      v[snap.stats.failure]++;
      if (o.network) v[snap.stats.network_failure]++;
      else if (passive) v[snap.stats.passive_failure]++;
      s.numHealthy = 0;
      t = Transition.Unchanged;
      const failureType = o.network ? 'NETWORK' : passive ? 'PASSIVE' : 'ACTIVE';
      if (!s.failed) {
        if ((!o.retriable && !o.network) || ++s.numUnhealthy === snap.unhealthyThreshold) {
          s.failed = true;
          t = Transition.Changed;
          this.#log(s, { eject_unhealthy_event: { failure_type: failureType } });
        } else {
          t = Transition.ChangePending;
        }
      }
      if (t !== Transition.Changed && snap.alwaysLogFailures) {
        this.#log(s, { health_check_failure_event: { failure_type: failureType, first_check: s.first } });
      }
      healthyNow = false;
    }
    s.first = false;
    // The first answer, whatever it was, is a conclusion: the host stops being pending. (At most one
    // publish per loop turn: each makes every worker rebuild its host sets.)
    if (t === Transition.Changed || wasFirst) this.#publishSoon();
    if (this.#waiting !== null && this.#waiting.delete(s.slot) && this.#waiting.size === 0) {
      // Warming is over: the verdicts go out now, before the config that waits for them.
      this.#publish();
      this.#markReady();
    }
    if (!passive) this.#schedule(s, this.#interval(healthyNow, t));
  }

  /** Envoy's HealthCheckerImplBase::setUnhealthyCrossThread(ImmediateHealthCheckFail). */
  #onImmediateFailure(slot: number): void {
    const s = this.#sessions.get(slot);
    if (s === undefined || s.done || this.#stopped) return;
    const changed = !s.excluded;
    s.excluded = true;
    const o: CheckOutcome = { ok: false, network: false, retriable: false, reason: 'x-envoy-immediate-health-check-fail' };
    this.#onOutcome(s, o, true);
    // (Already failed: excluded now, which the panic computations see.)
    if (changed) this.#publishSoon();
  }

  /** Envoy's ActiveHealthCheckSession interval(). */
  #interval(healthy: boolean, t: Transition): number {
    const snap = this.#snap;
    let ms: number;
    if (this.#deps.statValue(this.#deps.cxTotalSlot) > 0) {
      if (!healthy) ms = t === Transition.ChangePending ? snap.unhealthyEdgeIntervalMs : snap.unhealthyIntervalMs;
      else ms = t === Transition.ChangePending ? snap.healthyEdgeIntervalMs : snap.intervalMs;
    } else {
      ms = healthy && snap.noTrafficHealthyIntervalMs > 0 ? snap.noTrafficHealthyIntervalMs : snap.noTrafficIntervalMs;
    }
    if (snap.intervalJitterPercent > 0) ms += Math.floor(Math.random() * (snap.intervalJitterPercent * ms / 100));
    if (snap.intervalJitterMs > 0) ms += Math.floor(Math.random() * snap.intervalJitterMs);
    return ms;
  }

  #publishSoon(): void {
    if (this.#publishArmed) return;
    this.#publishArmed = true;
    setImmediate(() => {
      this.#publishArmed = false;
      if (!this.#stopped) this.#publish();
    });
  }

  #publish(): void {
    const v = this.#ctx.stats.v;
    const flags: [number, number][] = [];
    let healthy = 0;
    let degraded = 0;
    for (const s of this.#sessions.values()) {
      if (s.first) continue;
      let f = 0;
      if (s.failed) f |= HealthFlag.FAILED_ACTIVE_HC;
      else healthy++;
      if (s.excluded) f |= HealthFlag.EXCLUDED_VIA_IMMEDIATE_HC_FAIL;
      if (s.degraded) {
        f |= HealthFlag.DEGRADED_ACTIVE_HC;
        if (!s.failed) degraded++;
      }
      flags.push([s.slot, f]);
    }
    v[this.#snap.stats.healthy] = healthy;
    v[this.#snap.stats.degraded] = degraded;
    this.#ctx.publish({ flags } satisfies PublishedHealth);
  }

  #log(s: Session, event: Record<string, unknown>): void {
    const path = this.#snap.eventLogPath;
    if (path === '') return;
    const line = JSON.stringify({
      health_checker_type: this.#deps.check.type,
      host: { socket_address: { protocol: 'TCP', address: s.host.address, port_value: s.host.port } },
      cluster_name: this.#deps.cluster,
      ...event,
      timestamp: new Date().toISOString(),
    });
    fs.appendFile(path, line + '\n', (err) => {
      if (err !== null) this.#ctx.warn('health check event log: cannot write', { path, error: err.message });
    });
  }
}

type Obj = Record<string, any>;

/** The HealthCheck fields the core acts on (the checker's own field is its module's). */
export const HEALTH_CHECK_FIELDS = [
  'timeout', 'interval', 'initial_jitter', 'interval_jitter', 'interval_jitter_percent', 'unhealthy_threshold',
  'healthy_threshold', 'reuse_connection', 'no_traffic_interval', 'no_traffic_healthy_interval', 'unhealthy_interval',
  'unhealthy_edge_interval', 'healthy_edge_interval', 'event_log_path', 'always_log_health_check_failures',
] as const;

const DEFAULT_NO_TRAFFIC_INTERVAL_MS = 60_000;

/** A cluster's `health_checks` (one at most), or null; ctx.path is the cluster's. `checkerFor`
 *  finds the checker module of a HealthCheck field (http_health_check ...). */
export function compileHealthCheck(
  cluster: Obj, ctx: CompileContext,
  checkerFor: (field: string) => { name: string; compile(c: Obj, ctx: CompileContext): unknown } | undefined,
): HealthCheckSnap | null {
  const list = (cluster.health_checks ?? []) as Obj[];
  if (list.length === 0) return null;
  if (list.length > 1) ctx.fail(`${ctx.path}.health_checks`, 'Legate runs one health check per cluster');
  const hc = list[0];
  const path = `${ctx.path}.health_checks[0]`;
  const field = ['http_health_check', 'tcp_health_check', 'grpc_health_check'].find((f) => hc[f] !== undefined);
  const module = field === undefined ? undefined : checkerFor(field);
  if (field === undefined || module === undefined) ctx.fail(path, 'a health check needs http_health_check, tcp_health_check or grpc_health_check');
  const interval = durationMs(hc.interval, 0);
  const unhealthyInterval = durationMs(hc.unhealthy_interval, interval);
  const prefix = `cluster.${cluster.name}.health_check.`;
  const l = ctx.layout;
  const rest = {
    timeoutMs: durationMs(hc.timeout, 0),
    intervalMs: interval,
    initialJitterMs: durationMs(hc.initial_jitter, 0),
    intervalJitterMs: durationMs(hc.interval_jitter, 0),
    intervalJitterPercent: hc.interval_jitter_percent ?? 0,
    unhealthyThreshold: hc.unhealthy_threshold,
    healthyThreshold: hc.healthy_threshold,
    noTrafficIntervalMs: durationMs(hc.no_traffic_interval, DEFAULT_NO_TRAFFIC_INTERVAL_MS),
    noTrafficHealthyIntervalMs: durationMs(hc.no_traffic_healthy_interval, 0),
    unhealthyIntervalMs: unhealthyInterval,
    unhealthyEdgeIntervalMs: durationMs(hc.unhealthy_edge_interval, unhealthyInterval),
    healthyEdgeIntervalMs: durationMs(hc.healthy_edge_interval, interval),
    eventLogPath: hc.event_log_path ?? '',
    alwaysLogFailures: hc.always_log_health_check_failures === true,
    reuseConnection: hc.reuse_connection ?? true,
    // (A DNS cluster's field: other cluster types refuse it.)
    waitForWarm: cluster.wait_for_warm_on_init ?? true,
    checker: { name: module.name, config: module.compile(hc[field], { ...ctx, path: `${path}.${field}` }) },
    stats: {
      attempt: l.counter(`${prefix}attempt`),
      success: l.counter(`${prefix}success`),
      failure: l.counter(`${prefix}failure`),
      network_failure: l.counter(`${prefix}network_failure`),
      passive_failure: l.counter(`${prefix}passive_failure`),
      healthy: l.gauge(`${prefix}healthy`),
      degraded: l.gauge(`${prefix}degraded`),
    },
  };
  // The key names the config and the hosts it checks: a change of either is a new checker, whose
  // verdicts never mix with the old one's on a worker still running the old config.
  const hosts = JSON.stringify([cluster.type ?? 'STATIC', cluster.load_assignment ?? null]);
  return { key: `health:${cluster.name}:${xxHash64(JSON.stringify(rest) + hosts).toString(16)}`, ...rest };
}
