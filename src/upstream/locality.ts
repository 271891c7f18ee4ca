// Locality-weighted load balancing (Cluster.common_lb_config.locality_weighted_lb_config), as
// Envoy does it (source/common/upstream/upstream_impl.cc: PriorityStateManager, HostSetImpl).
//
// Design note. Each LocalityLbEndpoints may give its locality a load_balancing_weight; Envoy keeps
// them per priority in a map keyed by locality, and records one only when the LocalityLbEndpoints
// sets both `locality` and the weight (a later one for the same locality wins). When a priority's
// hosts change, its hosts are grouped by locality, the groups ordered by (region, zone, sub_zone)
// (Envoy's std::map with LocalityLess; Legate reads no node.locality, so there is no local
// locality to put first), each group with the weight of its locality (0 when it has none). Two
// schedulers are built from the groups: one over the localities' healthy hosts and one over their
// degraded hosts. A locality's effective weight is its weight times its availability, the share of
// its (non-excluded) hosts that are eligible (healthy, or degraded) times the overprovisioning
// factor 1.4, capped at 1 (HostSetImpl::effectiveLocalityWeight); a scheduler holds the localities
// of positive effective weight, in EDF order, and is absent (null) when the priority has no
// eligible host or every effective weight is 0 (Envoy's LocalityWrr, formerly in HostSetImpl). A pick that lands on the priority's healthy (or
// degraded) hosts and is not in panic asks the matching scheduler for a locality, and the load
// balancer picks among that locality's healthy (or degraded) hosts; with no scheduler it picks
// among all the priority's healthy (or degraded) hosts, as Envoy's hostSourceToUse falls through.
// So a locality without a weight gets no traffic as long as some weighted locality of the priority
// has an eligible host.
//
// This is computed when a priority's hosts change (the PrioritySet's update callbacks), never on a
// pick; a priority whose host lists did not change keeps its groups and schedulers.
import type { Host, HostSet, Locality } from './host.ts';
import { EdfScheduler } from './edf-scheduler.ts';

/** Envoy's default overprovisioning factor, as a percentage (1.4). */
export const OVERPROVISIONING = 140;

/** A locality's load_balancing_weight, as the snapshot carries it (ClusterSnap.localityWeights). */
export interface LocalityWeightSnap {
  priority: number;
  region: string;
  zone: string;
  subZone: string;
  weight: number;
}

/** Locality weights by priority, then by localityKey() (Envoy's LocalityWeightsMap per priority). */
export type LocalityWeights = readonly ReadonlyMap<string, number>[];

export function localityKey(region: string, zone: string, subZone: string): string {
  return `${region}\0${zone}\0${subZone}`;
}

/** Envoy's PriorityStateManager::initializePriorityFor over a load_assignment's endpoints: a weight
 *  counts only with a locality, and a later LocalityLbEndpoints for the same locality and
 *  priority replaces an earlier one's. `priorityOf`: the priority its hosts get (LOGICAL_DNS: 0). */
export function localityWeightsOfEndpoints(endpoints: readonly Record<string, any>[],
  priorityOf: (le: Record<string, any>) => number): LocalityWeightSnap[] {
  const byKey = new Map<string, LocalityWeightSnap>();
  for (const le of endpoints) {
    if (le.locality === undefined || le.load_balancing_weight === undefined) continue;
    const l = le.locality;
    const s: LocalityWeightSnap = {
      priority: priorityOf(le), region: l.region ?? '', zone: l.zone ?? '', subZone: l.sub_zone ?? '',
      weight: Number(le.load_balancing_weight),
    };
    byKey.set(`${s.priority}\0${localityKey(s.region, s.zone, s.subZone)}`, s);
  }
  return [...byKey.values()];
}

/** The snapshot's list as lookup maps. */
export function localityWeightsOf(snaps: readonly LocalityWeightSnap[]): LocalityWeights {
  const out: Map<string, number>[] = [];
  for (const s of snaps) (out[s.priority] ??= new Map()).set(localityKey(s.region, s.zone, s.subZone), s.weight);
  for (let p = 0; p < out.length; p++) out[p] ??= new Map();
  return out;
}

/** A host's locality weight (0: none), e.g. for the EDS dump. */
export function localityWeightOf(weights: LocalityWeights, priority: number, l: Locality): number {
  return weights[priority]?.get(localityKey(l.region, l.zone, l.subZone)) ?? 0;
}

/** Envoy's LocalityLess: (region, zone, sub_zone), each compared as a string. */
function compareLocality(a: Locality, b: Locality): number {
  if (a.region !== b.region) return a.region < b.region ? -1 : 1;
  if (a.zone !== b.zone) return a.zone < b.zone ? -1 : 1;
  if (a.subZone !== b.subZone) return a.subZone < b.subZone ? -1 : 1;
  return 0;
}

/** One priority's hosts by locality (Envoy's HostsPerLocality of hosts, healthy, degraded and
 *  excluded hosts, with its LocalityWeights), the localities in Envoy's order. */
export class HostsPerLocality {
  readonly localities: Locality[];
  /** Each locality's load_balancing_weight (0: none). */
  readonly weights: number[];
  /** Every host, excluded ones too. */
  readonly hosts: Host[][];
  readonly healthy: Host[][];
  readonly degraded: Host[][];
  /** The hosts less the excluded ones (what a pick in panic takes from, as PriorityLoad's). */
  readonly available: Host[][];
  readonly excludedCount: number[];

  constructor(set: HostSet, weights: ReadonlyMap<string, number> | undefined) {
    const healthy = new Set(set.healthyHosts);
    const degraded = new Set(set.degradedHosts);
    const excluded = new Set(set.excludedHosts);
    const groups = new Map<string, number>();
    const order: { locality: Locality; key: string; hosts: Host[] }[] = [];
    for (const h of set.hosts) {
      const l = h.locality;
      const key = localityKey(l.region, l.zone, l.subZone);
      let i = groups.get(key);
      if (i === undefined) {
        groups.set(key, i = order.length);
        order.push({ locality: l, key, hosts: [] });
      }
      order[i].hosts.push(h);
    }
    order.sort((a, b) => compareLocality(a.locality, b.locality));
    this.localities = [];
    this.weights = [];
    this.hosts = [];
    this.healthy = [];
    this.degraded = [];
    this.available = [];
    this.excludedCount = [];
    for (const g of order) {
      this.localities.push(g.locality);
      this.weights.push(weights?.get(g.key) ?? 0);
      this.hosts.push(g.hosts);
      this.healthy.push(g.hosts.filter((h) => healthy.has(h)));
      this.degraded.push(g.hosts.filter((h) => degraded.has(h)));
      const available = g.hosts.filter((h) => !excluded.has(h));
      this.available.push(available);
      this.excludedCount.push(g.hosts.length - available.length);
    }
  }
}

/** Envoy's HostSetImpl::effectiveLocalityWeight: the weight times the locality's availability,
 *  `eligible / (hosts - excluded)` times the overprovisioning factor, capped at 1; 0 for a
 *  locality with no non-excluded host. */
export function effectiveLocalityWeight(eligible: number, hosts: number, excluded: number, weight: number,
  overprovisioning = OVERPROVISIONING): number {
  const count = hosts - excluded;
  if (count === 0) return 0;
  const ratio = (1.0 * eligible) / count;
  return weight * Math.min(1.0, (overprovisioning / 100.0) * ratio);
}

/** A random seed for a schedule (Envoy draws a 64-bit one; createWithPicks keeps 32 bits). */
export function randomSeed(): number {
  return Math.floor(Math.random() * 0x1_0000_0000);
}

/** Chooses a locality of one priority for a pick (Envoy's LocalityWrr::chooseHealthyLocality /
 *  chooseDegradedLocality): EDF over the localities of positive effective weight. */
export class LocalityScheduler {
  /** Each locality's effective weight (by locality index). */
  readonly effectiveWeights: number[];
  readonly #edf: EdfScheduler<number>;
  readonly #weight: (i: number) => number;

  constructor(effectiveWeights: number[], entries: number[], seed: number) {
    this.effectiveWeights = effectiveWeights;
    this.#weight = (i) => effectiveWeights[i];
    this.#edf = EdfScheduler.createWithPicks(entries, this.#weight, seed);
  }

  /** Envoy's rebuildLocalityScheduler: null when the priority has no eligible host, or no
   *  locality has a positive effective weight. `eligible`: per locality, the healthy (or the
   *  degraded) hosts; `seed`: how many picks the schedule starts after (random). */
  static build(perLocality: HostsPerLocality, eligible: readonly (readonly Host[])[], seed: number): LocalityScheduler | null {
    let any = false;
    for (const e of eligible) any ||= e.length > 0;
    if (!any) return null;
    const effective: number[] = [];
    const entries: number[] = [];
    for (let i = 0; i < eligible.length; i++) {
      const w = effectiveLocalityWeight(eligible[i].length, perLocality.hosts[i].length, perLocality.excludedCount[i],
        perLocality.weights[i]);
      effective.push(w);
      if (w > 0) entries.push(i);
    }
    return entries.length === 0 ? null : new LocalityScheduler(effective, entries, seed);
  }

  /** The locality index for the next pick. */
  pick(): number {
    return this.#edf.pickAndAdd(this.#weight)!;
  }
}

/** A priority's locality state, built from its host lists (kept while they are the same arrays:
 *  HostSet makes new ones on every update of the priority). */
export class PriorityLocalities {
  readonly hostsPerLocality: HostsPerLocality;
  readonly healthyScheduler: LocalityScheduler | null;
  readonly degradedScheduler: LocalityScheduler | null;
  readonly #hosts: readonly Host[];
  readonly #healthy: readonly Host[];
  readonly #degraded: readonly Host[];

  /** `seed`: where the schedules start (Envoy's LocalityWrr takes one random seed for both). */
  constructor(set: HostSet, weights: ReadonlyMap<string, number> | undefined, seed: number = randomSeed()) {
    this.#hosts = set.hosts;
    this.#healthy = set.healthyHosts;
    this.#degraded = set.degradedHosts;
    const hpl = new HostsPerLocality(set, weights);
    this.hostsPerLocality = hpl;
    this.healthyScheduler = LocalityScheduler.build(hpl, hpl.healthy, seed);
    this.degradedScheduler = LocalityScheduler.build(hpl, hpl.degraded, seed);
  }

  /** Whether it was built from `set`'s current lists. */
  isFor(set: HostSet): boolean {
    return this.#hosts === set.hosts && this.#healthy === set.healthyHosts && this.#degraded === set.degradedHosts;
  }
}
