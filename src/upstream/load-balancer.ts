// Load balancer interfaces (Envoy's LoadBalancer, LoadBalancerContext). Policies are extensions
// (extensions/load-balancers/<name>/): each module creates a per-worker LoadBalancer over its
// cluster's PrioritySet and subscribes to the set's updates, so the next pick sees a change.
import type { RequestHeaders } from '../http/types.ts';
import type { Host, PrioritySet } from './host.ts';
import type { ClusterInfo } from './cluster-info.ts';
import type { StatSink } from '../common/stat-sink.ts';
import type { Loader } from '../runtime/types.ts';

/** What the request tells a load balancer (the router implements it). */
export interface LoadBalancerContext {
  /** The downstream request's headers (null when there is no HTTP request). */
  downstreamHeaders(): RequestHeaders | null;
  /** A 64-bit hash of the request for consistent-hashing policies (ring hash, maglev; the route's
   *  hash_policy, xxHash64 as Envoy's); null: the request has none. */
  computeHashKey(): bigint | null;
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
/** Envoy's default overprovisioning factor, as a percentage (1.4). */
const OVERPROVISIONING = 140;

/**
 * How a cluster's load spreads over its priorities (Envoy's LoadBalancerBase), recomputed when the
 * priority set changes. Each priority's availability is its healthy (and degraded) share of its
 * non-excluded hosts times the overprovisioning factor 1.4, capped at 100; load goes to the
 * highest priorities first, as much as their availability takes. A priority whose healthy and
 * degraded hosts are fewer than `healthy_panic_threshold` percent is in panic (unless the
 * priorities together are fully available): a pick there takes from all its hosts. All in panic:
 * load by host count. A pick chooses a priority and a source (healthy, degraded, or all) with
 * `hash % 100` (a random number, or the request's hash for consistent hashing).
 */
export class PriorityLoad {
  readonly #ps: PrioritySet;
  readonly #threshold: number;
  /** Percent of load to each priority's healthy and degraded hosts (sums to 100). */
  healthyLoad: number[];
  degradedLoad: number[];
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

  constructor(ps: PrioritySet, panicThresholdPercent = DEFAULT_PANIC_THRESHOLD,
    panicStat: { sink: StatSink; slot: number } | null = null) {
    this.#ps = ps;
    this.#panicStat = panicStat;
    this.#onlyPanic = false;
    this.#threshold = Math.min(100, panicThresholdPercent);
    this.healthyLoad = [];
    this.degradedLoad = [];
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
    this.panic = panic;
    this.onlySource = null;
    this.#onlyPanic = false;
    for (let p = 0; p < n; p++) {
      if (healthyLoad[p] === 100 || degradedLoad[p] === 100) {
        this.#onlyPanic = panic[p];
        this.onlySource = panic[p] ? this.allSource[p] : healthyLoad[p] === 100 ? this.healthySource[p] : this.degradedSource[p];
      }
    }
    this.version++;
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
    const h = (hash % 100) + 1;
    let acc = 0;
    const hl = this.healthyLoad;
    for (let p = 0; p < hl.length; p++) {
      acc += hl[p];
      if (h <= acc) return this.#source(p, this.healthySource);
    }
    const dl = this.degradedLoad;
    for (let p = 0; p < dl.length; p++) {
      acc += dl[p];
      if (h <= acc) return this.#source(p, this.degradedSource);
    }
    return this.healthySource[0] ?? [];
  }

  #source(p: number, sources: (readonly Host[])[]): readonly Host[] {
    if (!this.panic[p]) return sources[p];
    this.#countPanic();
    return this.allSource[p];
  }

  #countPanic(): void {
    const st = this.#panicStat;
    if (st !== null) st.sink.v[st.slot]++;
  }
}

/** A cluster's PriorityLoad, with its healthy_panic_threshold and lb_healthy_panic stat. */
export function priorityLoadOf(ps: PrioritySet, info: ClusterInfo): PriorityLoad {
  return new PriorityLoad(ps, info.panicThreshold, { sink: info.stats, slot: info.s.lb_healthy_panic });
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
