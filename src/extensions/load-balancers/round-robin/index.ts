// envoy.load_balancing_policies.round_robin (Cluster.lb_policy ROUND_ROBIN). Hosts in turn; when
// their load_balancing_weight differs, nginx's smooth weighted round robin (each pick adds every
// host's weight to its credit, takes the host with the most, and charges it the total), which
// spreads a heavy host's turns instead of sending them in a row. Equal weights take the plain
// path: an index and a compare. The host list is re-derived whenever the priority set changes,
// so the next pick sees an update.
import type { Host, PrioritySet } from '../../../upstream/host.ts';
import { hostsToPick, type LoadBalancer, type LoadBalancerContext } from '../../../upstream/load-balancer.ts';
import { ExtensionCategory, type LoadBalancerModule } from '../../types.ts';
import type { ClusterInfo } from '../../../upstream/cluster-info.ts';

export const NAME = 'envoy.load_balancing_policies.round_robin';

export class RoundRobinLoadBalancer implements LoadBalancer {
  readonly #ps: PrioritySet;
  #hosts: readonly Host[];
  #next: number;
  /** Weighted mode: per host, its credit (smooth WRR), and the sum of weights. */
  #weighted: boolean;
  #credit: Float64Array;
  #totalWeight: number;

  constructor(ps: PrioritySet, workerId: number) {
    this.#ps = ps;
    this.#hosts = [];
    this.#next = 0;
    this.#weighted = false;
    this.#credit = new Float64Array(0);
    this.#totalWeight = 0;
    this.#refresh();
    // Start each worker at a different host so N workers do not all hit host 0 first.
    const n = this.#hosts.length;
    if (n > 0) {
      if (this.#weighted) for (let i = workerId % n; i > 0; i--) this.#pickWeighted();
      else this.#next = workerId % n;
    }
    ps.addPriorityUpdateCb(() => this.#refresh());
  }

  #refresh(): void {
    const hosts = hostsToPick(this.#ps);
    let weighted = false;
    let total = 0;
    for (const h of hosts) {
      if (h.weight !== hosts[0].weight) weighted = true;
      total += h.weight;
    }
    this.#hosts = hosts;
    this.#weighted = weighted;
    this.#credit = new Float64Array(weighted ? hosts.length : 0);
    this.#totalWeight = total;
    if (this.#next >= hosts.length) this.#next = 0;
  }

  chooseHost(_context: LoadBalancerContext | null): Host | null {
    const h = this.#hosts;
    if (h.length === 0) return null;
    if (this.#weighted) return this.#pickWeighted();
    const i = this.#next;
    this.#next = i + 1 === h.length ? 0 : i + 1;
    return h[i];
  }

  #pickWeighted(): Host {
    const h = this.#hosts;
    const credit = this.#credit;
    let best = 0;
    for (let i = 0; i < h.length; i++) {
      credit[i] += h[i].weight;
      if (credit[i] > credit[best]) best = i;
    }
    credit[best] -= this.#totalWeight;
    return h[best];
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
  create(prioritySet: PrioritySet, _info: ClusterInfo, workerId: number): LoadBalancer {
    return new RoundRobinLoadBalancer(prioritySet, workerId);
  },
};
export default roundRobin;
