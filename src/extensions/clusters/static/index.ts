// envoy.cluster.static (Cluster.type STATIC): the hosts are the cluster's load_assignment, as the
// snapshot carries it (config/snapshot.ts resolves each host's stat slots in main), one host set
// per priority. They never change at run time.
import type { ClusterSnap } from '../../../config/snapshot.ts';
import { Host, type PrioritySet } from '../../../upstream/host.ts';
import { ExtensionCategory, type ClusterTypeModule } from '../../types.ts';

export const NAME = 'envoy.cluster.static';

const staticCluster: ClusterTypeModule = {
  name: NAME,
  category: ExtensionCategory.Cluster,
  // Selected by Cluster.type; it has no typed_config.
  types: [],
  fields: {
    'envoy.config.cluster.v3.Cluster': [['type', { enumValues: ['STATIC'] }], 'load_assignment'],
    'envoy.config.endpoint.v3.ClusterLoadAssignment': ['cluster_name', 'endpoints'],
    'envoy.config.endpoint.v3.LocalityLbEndpoints': ['lb_endpoints'],
    'envoy.config.endpoint.v3.LbEndpoint': ['endpoint'],
    'envoy.config.endpoint.v3.Endpoint': ['address'],
  },
  protos: [],
  compile: () => null,
  clusterType: 'STATIC',
  initialize(snap: ClusterSnap, prioritySet: PrioritySet): void {
    const byPriority: Host[][] = [];
    for (const h of snap.hosts) (byPriority[h.priority] ??= []).push(Host.fromSnap(h));
    for (let p = 0; p < byPriority.length; p++) prioritySet.updateHosts(p, byPriority[p] ?? []);
  },
};
export default staticCluster;
