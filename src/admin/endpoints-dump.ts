// /config_dump?include_eds: every cluster's current hosts as an envoy.admin.v3.EndpointsConfigDump,
// built from the ClusterStatus list /clusters shows (Envoy's ConfigDumpHandler::dumpEndpointConfigs
// walks the same host sets). Per cluster, a ClusterLoadAssignment named after its eds_service_name
// or else its name: its hosts priority by priority, and within a priority one LocalityLbEndpoints
// per locality in Envoy's order (PriorityStateManager keeps them in a std::map: region, zone,
// sub_zone compared as strings). Each host is an LbEndpoint with its address, hostname, coarse
// health (Host::coarseHealth()), weight, empty metadata and health_check_config (with port_value
// when checks go to another address or port, and hostname); a locality's load_balancing_weight when the cluster weighs
// localities (Envoy: when the host set has locality weights). A static cluster's assignment goes to static_endpoint_configs,
// one added by API to dynamic_endpoint_configs; neither has a last_updated.
import { hostsByPriority } from './clusters.ts';
import type { ClusterStatus, ConfigDumpEntry, HostStatus } from './types.ts';

const ENDPOINTS_CONFIG_DUMP = 'type.googleapis.com/envoy.admin.v3.EndpointsConfigDump';
const CLUSTER_LOAD_ASSIGNMENT = 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment';
/** Envoy's kDefaultOverProvisioningFactor (Legate does not read ClusterLoadAssignment.policy). */
const OVERPROVISIONING_FACTOR = 140;

type Obj = Record<string, unknown>;

const UNHEALTHY = ['failed_active_hc', 'failed_outlier_check', 'failed_eds_health', 'eds_status_draining'];
const DEGRADED = ['degraded_active_hc', 'degraded_eds_health'];

/** Host::coarseHealth() as LbEndpoint.health_status. */
function coarseHealth(flags: readonly string[]): 'HEALTHY' | 'UNHEALTHY' | 'DEGRADED' {
  if (flags.some((f) => UNHEALTHY.includes(f))) return 'UNHEALTHY';
  return flags.some((f) => DEGRADED.includes(f)) ? 'DEGRADED' : 'HEALTHY';
}

function lbEndpoint(h: HostStatus): Obj {
  const hc: Obj = {};
  // (Envoy compares the health-check address with the host's, and prints its port.)
  const hcPort = h.health_check_port || h.port;
  if (hcPort !== h.port || (h.health_check_address ?? h.address) !== h.address) hc.port_value = hcPort;
  if (h.health_check_hostname) hc.hostname = h.health_check_hostname;
  const endpoint: Obj = {
    address: { socket_address: { address: h.address, port_value: h.port } },
    health_check_config: hc,
  };
  if (h.hostname) endpoint.hostname = h.hostname;
  return { endpoint, health_status: coarseHealth(h.health_flags), metadata: {}, load_balancing_weight: h.weight ?? 1 };
}

function localityKey(h: HostStatus): [string, string, string] {
  return [h.region ?? '', h.zone ?? '', h.sub_zone ?? ''];
}

function compareLocality(a: [string, string, string], b: [string, string, string]): number {
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1;
  return 0;
}

/** One cluster's ClusterLoadAssignment, `@type` first (it sits in an Any). */
function clusterLoadAssignment(c: ClusterStatus): Obj {
  const name = c.eds_service_name || c.name;
  const endpoints: Obj[] = [];
  const hosts = hostsByPriority(c);
  for (let i = 0; i < hosts.length;) {
    const priority = hosts[i].priority ?? 0;
    let j = i;
    while (j < hosts.length && (hosts[j].priority ?? 0) === priority) j++;
    const byLocality = new Map<string, { key: [string, string, string]; hosts: HostStatus[] }>();
    for (const h of hosts.slice(i, j)) {
      const key = localityKey(h);
      const k = key.join('\0');
      let g = byLocality.get(k);
      if (g === undefined) byLocality.set(k, g = { key, hosts: [] });
      g.hosts.push(h);
    }
    for (const g of [...byLocality.values()].sort((a, b) => compareLocality(a.key, b.key))) {
      const [region, zone, subZone] = g.key;
      const locality: Obj = {};
      if (region !== '') locality.region = region;
      if (zone !== '') locality.zone = zone;
      if (subZone !== '') locality.sub_zone = subZone;
      const le: Obj = { locality, lb_endpoints: g.hosts.map(lbEndpoint) };
      const weight = g.hosts[0].locality_weight;
      if (weight !== undefined) le.load_balancing_weight = weight;
      if (priority !== 0) le.priority = priority;
      endpoints.push(le);
    }
    i = j;
  }
  const cla: Obj = { '@type': CLUSTER_LOAD_ASSIGNMENT, cluster_name: name };
  if (endpoints.length > 0) cla.endpoints = endpoints;
  cla.policy = { overprovisioning_factor: OVERPROVISIONING_FACTOR };
  return cla;
}

/** The `endpoint` entry of /config_dump: the clusters whose assignment name `nameMatch` accepts. */
export function endpointsConfigDump(clusters: readonly ClusterStatus[], nameMatch: (name: string) => boolean): ConfigDumpEntry {
  const statics: Obj[] = [];
  const dynamics: Obj[] = [];
  for (const c of clusters) {
    if (!nameMatch(c.eds_service_name || c.name)) continue;
    (c.added_via_api === true ? dynamics : statics).push({ endpoint_config: clusterLoadAssignment(c) });
  }
  const message: ConfigDumpEntry['message'] = { '@type': ENDPOINTS_CONFIG_DUMP };
  if (statics.length > 0) message.static_endpoint_configs = statics;
  if (dynamics.length > 0) message.dynamic_endpoint_configs = dynamics;
  return { key: 'endpoint', message };
}
