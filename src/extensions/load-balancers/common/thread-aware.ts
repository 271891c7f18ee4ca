// What the consistent-hashing load balancers (ring hash, Maglev) share: Envoy's
// ThreadAwareLoadBalancerBase (source/extensions/load_balancing_policies/common/thread_aware_lb_impl.cc).
//
// Design note. Envoy builds, for every priority, one hashing structure (a ring, a Maglev table)
// from that priority's healthy hosts, or from all its hosts when the priority is in panic, with
// the host weights normalized to sum to 1. A pick takes the request's 64-bit hash (a random one
// when the request has none), chooses the priority with it (`hash % 100` against the priority
// load, as PriorityLoad.choose does) and looks the same hash up in that priority's structure.
// Note what follows from it, as in Envoy: when the hash lands on a priority's degraded share, the
// lookup still uses that priority's structure of healthy hosts (degraded hosts are never in a
// ring or table), which has no host when all of them are degraded.
//
// With locality weights (locality_weighted_lb_config), the host weights are normalized per locality
// as Envoy's normalizeLocalityWeights does: each locality's hosts share its weight divided by the
// sum of the priority's locality weights (a locality of weight 0 is left out). The weights are
// the configured ones, not scaled by the locality's availability (Envoy's TODO in
// thread_aware_lb_impl.cc), and no locality is chosen first: the hash alone picks. As in Envoy,
// a retry priority (retry_policy.retry_priority) is not consulted here.
//
// Structures are built when the host sets change (the PrioritySet's priority-update callback,
// after PriorityLoad has recomputed), never on a pick. A priority whose host list is the same
// array as before (HostSet makes new arrays on every update of that priority) keeps its structure.
// Unlike Envoy, which builds once on the main thread and shares it, each worker builds its own.
import net from 'node:net';
import { getRandomValues } from 'node:crypto';
import type { Host, PrioritySet } from '../../../upstream/host.ts';
import {
  priorityLoadOf, type LoadBalancer, type LoadBalancerContext, type PriorityLoad,
} from '../../../upstream/load-balancer.ts';
import type { ClusterInfo } from '../../../upstream/cluster-info.ts';
import { HostsPerLocality, type LocalityWeights } from '../../../upstream/locality.ts';

/** One priority's lookup structure (Envoy's HashingLoadBalancer). */
export interface HashingLoadBalancer {
  /** The host for a 64-bit hash; null when the structure has no host. */
  chooseHost(hash: bigint): Host | null;
}

/** A priority's hosts with their weights normalized to sum to 1 (Envoy's
 *  NormalizedHostWeightVector), and the least and greatest of them (1 and 0 when there is none). */
export interface NormalizedHostWeights {
  hosts: readonly Host[];
  weights: Float64Array;
  min: number;
  max: number;
}

/** Builds a priority's structure from its normalized hosts. */
export type HashingLbFactory = (normalized: NormalizedHostWeights) => HashingLoadBalancer;

/** A source of uniformly random 64-bit values (Envoy's Random::RandomGenerator::random()). */
export type Random64 = () => bigint;

/** Envoy's normalizeHostWeights over a flat host list: each weight divided by the sum, in the
 *  same double arithmetic. */
export function normalizeHostWeights(hosts: readonly Host[]): NormalizedHostWeights {
  const weights: number[] = [];
  const mm = { min: 1, max: 0 };
  addNormalized(hosts, 1.0, null, weights, mm);
  return { hosts, weights: Float64Array.from(weights), min: mm.min, max: mm.max };
}

/** Envoy's normalizeLocalityWeights: each locality's hosts weighted by `host weight * (locality
 *  weight / sum of locality weights) / sum of the locality's host weights`, localities in order,
 *  those of weight 0 left out; no host when every locality weight is 0. */
export function normalizeLocalityWeights(hostsPerLocality: readonly (readonly Host[])[],
  localityWeights: readonly number[]): NormalizedHostWeights {
  const hosts: Host[] = [];
  const weights: number[] = [];
  const mm = { min: 1, max: 0 };
  let sum = 0;
  for (const w of localityWeights) sum += w;
  if (sum !== 0) {
    for (let i = 0; i < localityWeights.length; i++) {
      if (localityWeights[i] !== 0) addNormalized(hostsPerLocality[i], localityWeights[i] / sum, hosts, weights, mm);
    }
  }
  return { hosts, weights: Float64Array.from(weights), min: mm.min, max: mm.max };
}

/** Envoy's normalizeHostWeights(hosts, normalized_locality_weight, ...): appends each host with
 *  `weight * normalizedLocalityWeight / sum`. */
function addNormalized(hosts: readonly Host[], normalizedLocalityWeight: number, outHosts: Host[] | null,
  outWeights: number[], mm: { min: number; max: number }): void {
  let sum = 0;
  for (const h of hosts) sum += h.weight;
  for (const h of hosts) {
    const w = (h.weight * normalizedLocalityWeight) / sum;
    outHosts?.push(h);
    outWeights.push(w);
    if (w < mm.min) mm.min = w;
    if (w > mm.max) mm.max = w;
  }
}

/** The string Envoy hashes for a host: its address's asString(), `10.0.0.1:80`, or for IPv6 the
 *  canonical text form in brackets, `[2001:db8::1]:80` (Envoy prints IPv6 with inet_ntop, which
 *  is what Node's SocketAddress gives too). */
export function hashKeyOf(host: Host): string {
  if (!net.isIPv6(host.address)) return `${host.address}:${host.port}`;
  const canonical = new net.SocketAddress({ address: host.address, family: 'ipv6' }).address;
  return `[${canonical}]:${host.port}`;
}

const RANDOM_BATCH = 64;
const randomPool = new BigUint64Array(RANDOM_BATCH);
let randomNext = RANDOM_BATCH;

/** Random 64-bit values, drawn from the system's CSPRNG in batches. */
export function random64(): bigint {
  if (randomNext === RANDOM_BATCH) {
    getRandomValues(randomPool);
    randomNext = 0;
  }
  return randomPool[randomNext++];
}

interface PriorityState {
  /** The host list the structure was built from (PriorityLoad's healthy or all source). */
  hosts: readonly Host[];
  lb: HashingLoadBalancer;
}

/** A consistent-hashing load balancer over a PrioritySet: per priority one structure made by
 *  `create`, the priority chosen by the request's hash through the cluster's PriorityLoad. */
export class ThreadAwareLoadBalancer implements LoadBalancer {
  readonly #load: PriorityLoad;
  readonly #ps: PrioritySet;
  /** Locality weights by priority (null: locality_weighted_lb_config not set). */
  readonly #localityWeights: LocalityWeights | null;
  readonly #create: HashingLbFactory;
  readonly #random: Random64;
  /** By priority. */
  #priorities: PriorityState[];
  /** Each of PriorityLoad's sources (a priority's healthy, degraded or all hosts) -> the
   *  structure of its priority. */
  #bySource: Map<readonly Host[], HashingLoadBalancer>;
  /** The last source picked from and its structure (the usual case: always the same). */
  #lastSource: readonly Host[] | null;
  #lastLb: HashingLoadBalancer | null;

  constructor(ps: PrioritySet, info: ClusterInfo, create: HashingLbFactory, random: Random64 = random64) {
    // PriorityLoad subscribes to the set first, so #refresh sees its new panic flags. (It chooses
    // priorities only: the locality weights go into the host weights.)
    this.#load = priorityLoadOf(ps, info, false);
    this.#ps = ps;
    // (`?? null`: a hand-built ClusterInfo in tests may not carry the field.)
    this.#localityWeights = info.localityWeights ?? null;
    this.#create = create;
    this.#random = random;
    this.#priorities = [];
    this.#bySource = new Map();
    this.#lastSource = null;
    this.#lastLb = null;
    this.#refresh();
    ps.addPriorityUpdateCb(() => this.#refresh());
  }

  /** A priority's current structure (tests and diagnostics). */
  hashingLoadBalancer(priority: number): HashingLoadBalancer | undefined {
    return this.#priorities[priority]?.lb;
  }

  chooseHost(context: LoadBalancerContext | null): Host | null {
    const key = context === null ? null : context.computeHashKey();
    const hash = key ?? this.#random();
    const load = this.#load;
    const source = load.choose(load.onlySource !== null ? 0 : Number(hash % 100n));
    let lb = this.#lastLb;
    if (source !== this.#lastSource) {
      lb = this.#bySource.get(source) ?? null;
      this.#lastSource = source;
      this.#lastLb = lb;
    }
    return lb === null ? null : lb.chooseHost(hash);
  }

  /** Envoy's ThreadAwareLoadBalancerBase::refresh(). */
  #refresh(): void {
    const load = this.#load;
    const prev = this.#priorities;
    const next: PriorityState[] = [];
    const bySource = new Map<readonly Host[], HashingLoadBalancer>();
    for (let p = 0; p < load.healthySource.length; p++) {
      const hosts = load.panic[p] ? load.allSource[p] : load.healthySource[p];
      const had = prev[p];
      const lb = had !== undefined && had.hosts === hosts ? had.lb : this.#create(this.#normalize(p, load.panic[p]));
      next.push({ hosts, lb });
      bySource.set(load.healthySource[p], lb);
      bySource.set(load.degradedSource[p], lb);
      bySource.set(load.allSource[p], lb);
    }
    this.#priorities = next;
    this.#bySource = bySource;
    this.#lastSource = null;
    this.#lastLb = null;
  }

  /** Envoy's normalizeWeights: priority p's healthy hosts (in panic: all of them, less the
   *  excluded ones, as PriorityLoad's), per locality when the cluster weighs localities. */
  #normalize(p: number, panic: boolean): NormalizedHostWeights {
    const load = this.#load;
    const weights = this.#localityWeights;
    const set = this.#ps.hostSetsPerPriority[p];
    if (weights === null || set === undefined || set.hosts.length === 0) {
      return normalizeHostWeights(panic ? load.allSource[p] : load.healthySource[p]);
    }
    const hpl = new HostsPerLocality(set, weights[p]);
    return normalizeLocalityWeights(panic ? hpl.available : hpl.healthy, hpl.weights);
  }
}
