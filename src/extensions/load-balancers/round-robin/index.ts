// envoy.load_balancing_policies.round_robin (Cluster.lb_policy ROUND_ROBIN). Hosts in turn; when
// their load_balancing_weight differs, nginx's smooth weighted round robin (each pick adds every
// host's weight to its credit, takes the host with the most, and charges it the total), which
// spreads a heavy host's turns instead of sending them in a row. Equal weights take the plain
// path: an index and a compare. Which hosts: the cluster's PriorityLoad (priorities, degraded
// hosts, panic, a retry's priority load, and with locality_weighted_lb_config a locality chosen
// first), with one turn order per source, as Envoy keeps one scheduler per HostsSource; the usual
// single source (every host of P0 healthy) skips the choice.
import type { Host, PrioritySet } from '../../../upstream/host.ts';
import {
  priorityLoadOf, type LoadBalancer, type LoadBalancerContext, type PriorityLoad,
} from '../../../upstream/load-balancer.ts';
import { ExtensionCategory, type LoadBalancerModule } from '../../types.ts';
import type { ClusterInfo } from '../../../upstream/cluster-info.ts';

export const NAME = 'envoy.load_balancing_policies.round_robin';

/** The turn order over one source. */
class Turns {
  readonly hosts: readonly Host[];
  next: number;
  /** Weighted mode: per host, its credit (smooth WRR), and the sum of weights. */
  readonly weighted: boolean;
  readonly credit: Float64Array;
  readonly totalWeight: number;

  constructor(hosts: readonly Host[], workerId: number) {
    let weighted = false;
    let total = 0;
    for (const h of hosts) {
      if (h.weight !== hosts[0].weight) weighted = true;
      total += h.weight;
    }
    this.hosts = hosts;
    this.weighted = weighted;
    this.credit = new Float64Array(weighted ? hosts.length : 0);
    this.totalWeight = total;
    this.next = 0;
    // Start each worker at a different host so N workers do not all hit host 0 first.
    const n = hosts.length;
    if (n > 0) {
      if (weighted) for (let i = workerId % n; i > 0; i--) this.pickWeighted();
      else this.next = workerId % n;
    }
  }

  pick(): Host | null {
    const h = this.hosts;
    if (h.length === 0) return null;
    if (this.weighted) return this.pickWeighted();
    const i = this.next;
    this.next = i + 1 === h.length ? 0 : i + 1;
    return h[i];
  }

  pickWeighted(): Host {
    const h = this.hosts;
    const credit = this.credit;
    let best = 0;
    for (let i = 0; i < h.length; i++) {
      credit[i] += h[i].weight;
      if (credit[i] > credit[best]) best = i;
    }
    credit[best] -= this.totalWeight;
    return h[best];
  }
}

export class RoundRobinLoadBalancer implements LoadBalancer {
  readonly #load: PriorityLoad;
  readonly #workerId: number;
  /** Turn orders by source, for the PriorityLoad version they were made in. */
  #turns: Map<readonly Host[], Turns>;
  #version: number;
  /** The last source used and its turns (the usual case: always the same). */
  #lastSource: readonly Host[] | null;
  #lastTurns: Turns | null;

  constructor(ps: PrioritySet, info: ClusterInfo, workerId: number) {
    this.#load = priorityLoadOf(ps, info);
    this.#workerId = workerId;
    this.#turns = new Map();
    this.#version = -1;
    this.#lastSource = null;
    this.#lastTurns = null;
  }

  chooseHost(context: LoadBalancerContext | null): Host | null {
    const load = this.#load;
    const source = load.chooseRandom(context);
    if (source === this.#lastSource && load.version === this.#version) return this.#lastTurns!.pick();
    if (load.version !== this.#version) {
      this.#version = load.version;
      this.#turns = new Map();
    }
    let t = this.#turns.get(source);
    if (t === undefined) this.#turns.set(source, t = new Turns(source, this.#workerId));
    this.#lastSource = source;
    this.#lastTurns = t;
    return t.pick();
  }
}

const roundRobin: LoadBalancerModule = {
  name: NAME,
  category: ExtensionCategory.LoadBalancer,
  // Selected by lb_policy; its load_balancing_policy typed_config is not supported yet.
  types: [],
  fields: { 'envoy.config.cluster.v3.Cluster': [['lb_policy', { enumValues: ['ROUND_ROBIN'] }]] },
  protos: [],
  compile: () => null,
  lbPolicy: 'ROUND_ROBIN',
  create(prioritySet: PrioritySet, info: ClusterInfo, workerId: number): LoadBalancer {
    return new RoundRobinLoadBalancer(prioritySet, info, workerId);
  },
};
export default roundRobin;
