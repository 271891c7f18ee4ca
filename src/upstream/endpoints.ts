// What a cluster's load_assignment may say about its endpoints, for every cluster type that reads
// one (STATIC, STRICT_DNS, LOGICAL_DNS): the supported fields, and Envoy's rule that priorities
// run from 0 without a gap.
import type { CompileContext } from '../extensions/types.ts';

type Obj = Record<string, any>;

/** The endpoint messages' fields the cluster types act on (weights, priorities and health drive
 *  the load balancers; localities show in /clusters). */
export const ENDPOINT_FIELDS = {
  'envoy.config.endpoint.v3.ClusterLoadAssignment': ['cluster_name', 'endpoints'],
  'envoy.config.endpoint.v3.LocalityLbEndpoints': ['lb_endpoints', 'priority', 'locality'],
  'envoy.config.endpoint.v3.LbEndpoint': ['endpoint', 'load_balancing_weight', 'health_status'],
  'envoy.config.endpoint.v3.Endpoint': ['address', 'health_check_config', 'hostname'],
  'envoy.config.endpoint.v3.Endpoint.HealthCheckConfig': ['port_value'],
  'envoy.config.core.v3.Locality': ['region', 'zone', 'sub_zone'],
} as const;

/** Envoy's rule: the priorities used are 0..N with none skipped. */
export function checkPriorities(cluster: Obj, ctx: Pick<CompileContext, 'fail' | 'path'>): void {
  const locs = (cluster.load_assignment?.endpoints ?? []) as Obj[];
  const used = new Set(locs.map((l) => (l.priority ?? 0) as number));
  const max = Math.max(-1, ...used);
  for (let p = 0; p < max; p++) {
    if (used.has(p)) continue;
    const i = locs.findIndex((l) => (l.priority ?? 0) === max);
    ctx.fail(`${ctx.path}.load_assignment.endpoints[${i}].priority`,
      `priorities must run from 0 without a gap: ${max} is used but ${p} is not`);
  }
}
