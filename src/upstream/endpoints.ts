// What a cluster's load_assignment may say about its endpoints, for every cluster type that reads
// one (STATIC, STRICT_DNS, LOGICAL_DNS): the supported fields, and Envoy's rule that priorities
// run from 0 without a gap.
import net from 'node:net';
import type { CompileContext } from '../extensions/types.ts';
import { localityWeightsOfEndpoints, type LocalityWeightSnap } from './locality.ts';

type Obj = Record<string, any>;

/** The endpoint messages' fields the cluster types act on (weights, priorities and health drive
 *  the load balancers; localities show in /clusters, and with locality_weighted_lb_config their
 *  weights drive the load balancers too). */
export const ENDPOINT_FIELDS = {
  'envoy.config.endpoint.v3.ClusterLoadAssignment': ['cluster_name', 'endpoints'],
  'envoy.config.endpoint.v3.LocalityLbEndpoints': ['lb_endpoints', 'priority', 'locality', 'load_balancing_weight'],
  'envoy.config.endpoint.v3.LbEndpoint': ['endpoint', 'load_balancing_weight', 'health_status'],
  'envoy.config.endpoint.v3.Endpoint': ['address', 'health_check_config', 'hostname'],
  'envoy.config.endpoint.v3.Endpoint.HealthCheckConfig': ['port_value', 'hostname', 'address'],
  'envoy.config.core.v3.Locality': ['region', 'zone', 'sub_zone'],
} as const;

/** An endpoint's health_check_config as HostSnap carries it: where active checks go and the Host
 *  they name. Envoy's resolveHealthCheckAddress(): `address` (an IP) with port_value when set, else
 *  with its own port; without `address`, the host's address with port_value when set. `path`: the
 *  health_check_config's. */
export function healthCheckConfigOf(hcc: Obj | undefined, path: string, ctx: Pick<CompileContext, 'fail'>):
  { hcAddress: string; hcPort: number; hcHostname: string } {
  if (hcc === undefined) return { hcAddress: '', hcPort: 0, hcHostname: '' };
  let hcAddress = '';
  let hcPort: number = hcc.port_value ?? 0;
  if (hcc.address !== undefined) {
    const sa = hcc.address.socket_address ?? {};
    hcAddress = String(sa.address ?? '');
    if (net.isIP(hcAddress) === 0) {
      ctx.fail(`${path}.address.socket_address.address`, `a health check address must be an IP address, got "${hcAddress}"`);
    }
    if (hcPort === 0) hcPort = sa.port_value ?? 0;
    // (Envoy would check port 0.)
    if (hcPort === 0) ctx.fail(`${path}.address.socket_address.port_value`, 'a health check address needs a port (its own or port_value)');
  }
  return { hcAddress, hcPort, hcHostname: hcc.hostname ?? '' };
}

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

/** The locality weights of a cluster with common_lb_config.locality_weighted_lb_config (null
 *  without it). Envoy ignores a LocalityLbEndpoints' load_balancing_weight without locality
 *  weighting, and without a `locality`; Legate does not accept what it would not act on, so both
 *  are refused with the weight's path. `logical`: LOGICAL_DNS, whose host is at priority 0. */
export function compileLocalityWeights(cluster: Obj, ctx: Pick<CompileContext, 'fail' | 'path'>,
  logical: boolean): LocalityWeightSnap[] | null {
  const locs = (cluster.load_assignment?.endpoints ?? []) as Obj[];
  const on = cluster.common_lb_config?.locality_weighted_lb_config !== undefined;
  locs.forEach((le, i) => {
    if (le.load_balancing_weight === undefined) return;
    const path = `${ctx.path}.load_assignment.endpoints[${i}].load_balancing_weight`;
    if (!on) {
      ctx.fail(path, 'a locality weight is acted on only with common_lb_config.locality_weighted_lb_config '
        + '(Envoy ignores it without)');
    }
    if (le.locality === undefined) {
      ctx.fail(path, 'a locality weight needs the LocalityLbEndpoints\' locality (Envoy ignores it without one, and '
        + 'the hosts get no load)');
    }
  });
  if (!on) return null;
  return localityWeightsOfEndpoints(locs, (le) => (logical ? 0 : le.priority ?? 0));
}
