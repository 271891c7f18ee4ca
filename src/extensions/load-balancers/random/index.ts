// envoy.load_balancing_policies.random (Cluster.lb_policy RANDOM): a host at random from the
// source the cluster's PriorityLoad chooses (with a random number too; with
// locality_weighted_lb_config, one locality's hosts). Legate weighs the pick by
// load_balancing_weight when the weights differ (a binary search over the running sums, built once
// per source); Envoy's random balancer ignores the weights (docs/differences.md).
import type { Host, PrioritySet } from '../../../upstream/host.ts';
import {
  priorityLoadOf, type LoadBalancer, type LoadBalancerContext, type PriorityLoad,
} from '../../../upstream/load-balancer.ts';
import type { ClusterInfo } from '../../../upstream/cluster-info.ts';
import { ExtensionCategory, type LoadBalancerModule } from '../../types.ts';

export const NAME = 'envoy.load_balancing_policies.random';

export class RandomLoadBalancer implements LoadBalancer {
  readonly #load: PriorityLoad;
  /** Running weight sums by source (only sources whose weights differ), for the PriorityLoad
   *  version they were made in. */
  #sums: Map<readonly Host[], Float64Array | null>;
  #version: number;

  constructor(ps: PrioritySet, info: ClusterInfo) {
    this.#load = priorityLoadOf(ps, info);
    this.#sums = new Map();
    this.#version = -1;
  }

  chooseHost(context: LoadBalancerContext | null): Host | null {
    const load = this.#load;
    const hosts = load.chooseRandom(context);
    const n = hosts.length;
    if (n === 0) return null;
    if (load.version !== this.#version) {
      this.#version = load.version;
      this.#sums = new Map();
    }
    let sums = this.#sums.get(hosts);
    if (sums === undefined) this.#sums.set(hosts, sums = runningSums(hosts));
    if (sums === null) return hosts[Math.floor(Math.random() * n)];
    const r = Math.random() * sums[n - 1];
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (sums[mid] > r) hi = mid;
      else lo = mid + 1;
    }
    return hosts[lo];
  }
}

/** The running sums of the hosts' weights, or null when they are all equal. */
function runningSums(hosts: readonly Host[]): Float64Array | null {
  if (hosts.every((h) => h.weight === hosts[0].weight)) return null;
  const s = new Float64Array(hosts.length);
  let acc = 0;
  hosts.forEach((h, i) => { s[i] = acc += h.weight; });
  return s;
}

const random: LoadBalancerModule<null> = {
  name: NAME,
  category: ExtensionCategory.LoadBalancer,
  types: [],
  fields: { 'envoy.config.cluster.v3.Cluster': [['lb_policy', { enumValues: ['RANDOM'] }]] },
  protos: [],
  compile: () => null,
  lbPolicy: 'RANDOM',
  create(ps: PrioritySet, info: ClusterInfo): LoadBalancer {
    return new RandomLoadBalancer(ps, info);
  },
};
export default random;
