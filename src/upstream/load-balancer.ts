// Load balancer interfaces (Envoy's LoadBalancer, LoadBalancerContext). Policies are extensions
// (extensions/load-balancers/<name>/): each module creates a per-worker LoadBalancer over its
// cluster's PrioritySet and subscribes to the set's updates, so the next pick sees a change.
import type { RequestHeaders } from '../http/types.ts';
import type { Host, PrioritySet } from './host.ts';
import type { ClusterInfo } from './cluster-info.ts';
import type { StatSink } from '../common/stat-sink.ts';
import type { Loader } from '../runtime/types.ts';
import { OVERPROVISIONING, PriorityLocalities, type LocalityScheduler, type LocalityWeights } from './locality.ts';

/** What the request tells a load balancer (the router implements it). */
export interface LoadBalancerContext {
  /** The downstream request's headers (null when there is no HTTP request). */
  downstreamHeaders(): RequestHeaders | null;
  /** A 64-bit hash of the request for consistent-hashing policies (ring hash, maglev; the route's
   *  hash_policy, xxHash64 as Envoy's); null: the request has none. */
  computeHashKey(): bigint | null;
  /** The request's retry priority (a route's retry_policy.retry_priority), which answers Envoy's
   *  LoadBalancerContext::determinePriorityLoad for each pick; null or absent: every pick uses the
   *  cluster's priority load, so the usual pick reads one field. */
  readonly retryPriority?: RetryPriority | null;
}

/** Percent of the load for each priority's healthy and degraded hosts (Envoy's
 *  HealthyAndDegradedLoad; the two sum to 100). */
export interface HealthyAndDegradedLoad {
  readonly healthy: readonly number[];
  readonly degraded: readonly number[];
}

/** Envoy's Upstream::RetryPriority (a retry_priority extension): one per request, told each host
 *  the request is sent to, and asked for the priority load of each pick. */
export interface RetryPriority {
  /** The priority load a pick uses instead of the cluster's (`original`); null: the cluster's. */
  determinePriorityLoad(original: PriorityLoad): HealthyAndDegradedLoad | null;
  onHostAttempted(host: Host): void;
}

export interface LoadBalancer {
  /** A host for the next request, or null when the cluster has none to offer. */
  chooseHost(context: LoadBalancerContext | null): Host | null;
}

/** What makes a cluster's load balancer (a load-balancer extension, selected by lb_policy). */
export interface LoadBalancerFactory {
  /** The Cluster.lb_policy enum value that selects it (e.g. `ROUND_ROBIN`). */
  readonly lbPolicy: string;
  /** Its own Cluster field (`ring_hash_lb_config`), which a cluster of another lb_policy may not
   *  set (Envoy ignores it there; Legate does not accept what it would not act on). */
  readonly configField?: string;
  /** `runtime`: the worker's, for what a policy reads from it (least request's bias). */
  create(prioritySet: PrioritySet, info: ClusterInfo, workerId: number, runtime: Loader): LoadBalancer;
}

/** Envoy's default healthy_panic_threshold (percent). */
export const DEFAULT_PANIC_THRESHOLD = 50;

/**
 * How a cluster's load spreads over its priorities (Envoy's LoadBalancerBase), recomputed when the
 * priority set changes. Each priority's availability is its healthy (and degraded) share of its
 * non-excluded hosts times the overprovisioning factor 1.4, capped at 100; load goes to the
 * highest priorities first, as much as their availability takes. A priority whose healthy and
 * degraded hosts are fewer than `healthy_panic_threshold` percent is in panic (unless the
 * priorities together are fully available): a pick there takes from all its hosts. All in panic:
 * load by host count. A pick chooses a priority and a source (healthy, degraded, or all) with
 * `hash % 100` (a random number, or the request's hash for consistent hashing). With locality
 * weights (locality_weighted_lb_config; upstream/locality.ts), a pick from a priority's healthy or
 * degraded hosts first chooses a locality, and takes that locality's healthy or degraded hosts.
 */
export class PriorityLoad {
  readonly #ps: PrioritySet;
  readonly #threshold: number;
  /** Percent of load to each priority's healthy and degraded hosts (sums to 100). */
  healthyLoad: number[];
  degradedLoad: number[];
  /** Each priority's availability, 0..100 (Envoy's per_priority_health_ and
   *  per_priority_degraded_): its healthy (degraded) share of its hosts times 1.4, capped. */
  perPriorityHealth: number[];
  perPriorityDegraded: number[];
  panic: boolean[];
  /** Per priority: what a pick takes from, healthy, degraded, and (panic) all non-excluded. */
  healthySource: (readonly Host[])[];
  degradedSource: (readonly Host[])[];
  allSource: (readonly Host[])[];
  /** The one source every pick takes from (the usual case: P0 healthy takes all), else null. */
  onlySource: readonly Host[] | null;
  #onlyPanic: boolean;
  /** Bumped by each recompute: per-source state built before it is stale. */
  version: number;
  /** Where lb_healthy_panic is counted (null: not counted). */
  readonly #panicStat: { sink: StatSink; slot: number } | null;
  /** Locality weights by priority (null: no locality-weighted balancing). */
  readonly #localityWeights: LocalityWeights | null;
  /** With locality weights: each priority's localities and their schedulers. */
  #localities: (PriorityLocalities | null)[] | null;

  constructor(ps: PrioritySet, panicThresholdPercent = DEFAULT_PANIC_THRESHOLD,
    panicStat: { sink: StatSink; slot: number } | null = null, localityWeights: LocalityWeights | null = null) {
    this.#ps = ps;
    this.#panicStat = panicStat;
    this.#localityWeights = localityWeights;
    this.#localities = localityWeights === null ? null : [];
    this.#onlyPanic = false;
    this.#threshold = Math.min(100, panicThresholdPercent);
    this.healthyLoad = [];
    this.degradedLoad = [];
    this.perPriorityHealth = [];
    this.perPriorityDegraded = [];
    this.panic = [];
    this.healthySource = [];
    this.degradedSource = [];
    this.allSource = [];
    this.onlySource = null;
    this.version = 0;
    this.recompute();
    ps.addPriorityUpdateCb(() => this.recompute());
  }

  recompute(): void {
    const sets = this.#ps.hostSetsPerPriority;
    const n = Math.max(1, sets.length);
    const health = new Array<number>(n).fill(0);
    const degraded = new Array<number>(n).fill(0);
    const healthyLoad = new Array<number>(n).fill(0);
    const degradedLoad = new Array<number>(n).fill(0);
    const panic = new Array<boolean>(n).fill(false);
    this.healthySource = [];
    this.degradedSource = [];
    this.allSource = [];
    for (let p = 0; p < n; p++) {
      const s = sets[p];
      const all = s === undefined ? [] : s.excludedHosts.length === 0 ? s.hosts
        : s.hosts.filter((h) => !s.excludedHosts.includes(h));
      this.healthySource.push(s?.healthyHosts ?? []);
      this.degradedSource.push(s?.degradedHosts ?? []);
      this.allSource.push(all);
      const count = all.length;
      if (count > 0) {
        health[p] = Math.min(100, Math.floor(OVERPROVISIONING * s.healthyHosts.length / count));
        degraded[p] = Math.min(100, Math.floor(OVERPROVISIONING * s.degradedHosts.length / count));
      }
    }
    let total = 0;
    for (let p = 0; p < n; p++) total += health[p] + degraded[p];
    total = Math.min(100, total);
    if (total > 0) {
      const [firstHealthy, left] = distribute(healthyLoad, health, 100, total);
      const [firstDegraded, rest] = distribute(degradedLoad, degraded, left, total);
      if (rest !== 0) {
        if (firstHealthy !== -1) healthyLoad[firstHealthy] += rest;
        else degradedLoad[firstDegraded] += rest;
      }
    }
    if (this.#threshold === 0 && total === 0) {
      healthyLoad[0] = 100;
    } else {
      let totalPanic = true;
      for (let p = 0; p < n; p++) {
        panic[p] = total === 100 ? false : this.#inPanic(p);
        totalPanic &&= panic[p];
      }
      if (totalPanic) this.#loadInTotalPanic(healthyLoad, degradedLoad);
    }
    this.healthyLoad = healthyLoad;
    this.degradedLoad = degradedLoad;
    this.perPriorityHealth = health;
    this.perPriorityDegraded = degraded;
    this.panic = panic;
    const localities = this.#localities;
    if (localities !== null) {
      const weights = this.#localityWeights!;
      for (let p = 0; p < n; p++) {
        const s = sets[p];
        const had = localities[p];
        localities[p] = s === undefined ? null : had != null && had.isFor(s) ? had : new PriorityLocalities(s, weights[p]);
      }
    }
    this.onlySource = null;
    this.#onlyPanic = false;
    for (let p = 0; p < n; p++) {
      if (healthyLoad[p] === 100 || degradedLoad[p] === 100) {
        const isDegraded = healthyLoad[p] !== 100;
        // (A pick that goes through a locality scheduler has no one source.)
        if (!panic[p] && this.#scheduler(p, isDegraded) !== null) break;
        this.#onlyPanic = panic[p];
        this.onlySource = panic[p] ? this.allSource[p] : isDegraded ? this.degradedSource[p] : this.healthySource[p];
      }
    }
    this.version++;
  }

  /** Priority p's locality scheduler for its healthy (or degraded) hosts; null: none. */
  #scheduler(p: number, degraded: boolean): LocalityScheduler | null {
    const l = this.#localities?.[p];
    if (l == null) return null;
    return degraded ? l.degradedScheduler : l.healthyScheduler;
  }

  /** Priority p's localities (null: no locality weighting, or no such priority). */
  localities(p: number): PriorityLocalities | null {
    return this.#localities?.[p] ?? null;
  }

  #inPanic(p: number): boolean {
    const all = this.allSource[p];
    if (all.length === 0) return this.#threshold > 0;
    const s = this.#ps.hostSetsPerPriority[p];
    const pct = 100 * (s.healthyHosts.length + s.degradedHosts.length) / all.length;
    return pct < this.#threshold;
  }

  #loadInTotalPanic(healthyLoad: number[], degradedLoad: number[]): void {
    let hosts = 0;
    for (const a of this.allSource) hosts += a.length;
    degradedLoad.fill(0);
    if (hosts === 0) {
      healthyLoad.fill(0);
      healthyLoad[0] = 100;
      return;
    }
    let left = 100;
    let first = -1;
    for (let p = 0; p < healthyLoad.length; p++) {
      const c = this.allSource[p].length;
      if (first === -1 && c > 0) first = p;
      healthyLoad[p] = Math.floor(100 * c / hosts);
      left -= healthyLoad[p];
    }
    healthyLoad[first] += left;
  }

  /** The hosts a pick takes from, chosen by `hash` (a non-negative integer: random, or the
   *  request's hash) as Envoy's choosePriority does. In panic: all the priority's hosts (and
   *  lb_healthy_panic counts the pick). */
  choose(hash: number): readonly Host[] {
    const only = this.onlySource;
    if (only !== null) {
      if (this.#onlyPanic) this.#countPanic();
      return only;
    }
    return this.#choosePriority(hash, this.healthyLoad, this.degradedLoad);
  }

  /** The hosts for a pick of the balancers that choose with a random number (round robin, least
   *  request, random: Envoy's hostSourceToUse with a random hash), the request's retry priority
   *  consulted when it has one. */
  chooseRandom(context: LoadBalancerContext | null): readonly Host[] {
    const rp = context === null ? null : context.retryPriority;
    if (rp != null) return this.chooseForRetry(rp, Math.floor(Math.random() * 100));
    return this.choose(this.onlySource !== null ? 0 : Math.floor(Math.random() * 100));
  }

  /** choose() for a pick of a request with a retry priority: the priority load it determines
   *  (Envoy's chooseHostSet with context->determinePriorityLoad), else the cluster's. */
  chooseForRetry(retryPriority: RetryPriority, hash: number): readonly Host[] {
    const load = retryPriority.determinePriorityLoad(this);
    return load === null ? this.choose(hash) : this.#choosePriority(hash, load.healthy, load.degraded);
  }

  #choosePriority(hash: number, hl: readonly number[], dl: readonly number[]): readonly Host[] {
    const h = (hash % 100) + 1;
    let acc = 0;
    for (let p = 0; p < hl.length; p++) {
      acc += hl[p];
      if (h <= acc) return this.#source(p, false);
    }
    for (let p = 0; p < dl.length; p++) {
      acc += dl[p];
      if (h <= acc) return this.#source(p, true);
    }
    return this.healthySource[0] ?? [];
  }

  /** Envoy's hostSourceToUse: in panic all the priority's hosts; with locality weights one
   *  locality's healthy (degraded) hosts when the priority's scheduler gives one; else the
   *  priority's healthy (degraded) hosts. */
  #source(p: number, degraded: boolean): readonly Host[] {
    if (this.panic[p]) {
      this.#countPanic();
      return this.allSource[p];
    }
    if (this.#localities !== null) {
      const sched = this.#scheduler(p, degraded);
      if (sched !== null) {
        const hpl = this.#localities[p]!.hostsPerLocality;
        return degraded ? hpl.degraded[sched.pick()] : hpl.healthy[sched.pick()];
      }
    }
    return degraded ? this.degradedSource[p] : this.healthySource[p];
  }

  #countPanic(): void {
    const st = this.#panicStat;
    if (st !== null) st.sink.v[st.slot]++;
  }
}

/** A cluster's PriorityLoad, with its healthy_panic_threshold and lb_healthy_panic stat, and its
 *  locality weights when `chooseLocality` (the balancers that pick a locality first: Envoy's
 *  EDF-based and random ones; the consistent-hashing ones weigh hosts by locality instead). */
export function priorityLoadOf(ps: PrioritySet, info: ClusterInfo, chooseLocality = true): PriorityLoad {
  const weights = chooseLocality ? info.localityWeights : null;
  return new PriorityLoad(ps, info.panicThreshold, { sink: info.stats, slot: info.s.lb_healthy_panic },
    weights ?? null);
}

/** Envoy's distributeLoad: as much of `total` to each priority, in order, as its availability
 *  takes; returns the first priority with any availability and what is left. */
function distribute(load: number[], availability: number[], total: number, normalized: number): [number, number] {
  let first = -1;
  for (let p = 0; p < availability.length; p++) {
    if (first < 0 && availability[p] > 0) first = p;
    load[p] = Math.min(total, Math.floor(availability[p] * 100 / normalized));
    total -= load[p];
  }
  return [first, total];
}
