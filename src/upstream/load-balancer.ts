// Load balancer interfaces (Envoy's LoadBalancer, LoadBalancerContext). Policies are extensions
// (extensions/load-balancers/<name>/): each module creates a per-worker LoadBalancer over its
// cluster's PrioritySet and subscribes to the set's updates, so the next pick sees a change.
import type { RequestHeaders } from '../http/types.ts';
import type { Host, PrioritySet } from './host.ts';
import type { ClusterInfo } from './cluster-info.ts';

/** What the request tells a load balancer (the router implements it). */
export interface LoadBalancerContext {
  /** The downstream request's headers (null when there is no HTTP request). */
  downstreamHeaders(): RequestHeaders | null;
  /** A hash of the request for consistent-hashing policies (ring hash, maglev); null: none. */
  computeHashKey(): number | null;
}

export interface LoadBalancer {
  /** A host for the next request, or null when the cluster has none to offer. */
  chooseHost(context: LoadBalancerContext | null): Host | null;
}

/** What makes a cluster's load balancer (a load-balancer extension, selected by lb_policy). */
export interface LoadBalancerFactory {
  /** The Cluster.lb_policy enum value that selects it (e.g. `ROUND_ROBIN`). */
  readonly lbPolicy: string;
  create(prioritySet: PrioritySet, info: ClusterInfo, workerId: number): LoadBalancer;
}

/** Hosts to pick from: the highest priority that has healthy hosts, else (Envoy's panic mode,
 *  every host unhealthy) all hosts of priority 0. Excluded hosts are never picked. */
export function hostsToPick(ps: PrioritySet): readonly Host[] {
  const sets = ps.hostSetsPerPriority;
  for (let i = 0; i < sets.length; i++) {
    if (sets[i].healthyHosts.length > 0) return sets[i].healthyHosts;
  }
  if (sets.length === 0) return [];
  const s = sets[0];
  return s.excludedHosts.length === 0 ? s.hosts : s.hosts.filter((h) => !s.excludedHosts.includes(h));
}
