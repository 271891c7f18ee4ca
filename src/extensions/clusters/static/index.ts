// envoy.cluster.static (Cluster.type STATIC): the hosts are the cluster's load_assignment, as the
// snapshot carries it (config/snapshot.ts resolves each host's stat slots in main), one host set
// per priority. They never change at run time.
import type { ClusterSnap } from '../../../config/snapshot.ts';
import { Host, type PrioritySet } from '../../../upstream/host.ts';
import { DNS_CLUSTER_FIELDS } from '../../../upstream/dns-cluster.ts';
import { ENDPOINT_FIELDS, checkPriorities } from '../../../upstream/endpoints.ts';
import { ExtensionCategory, type ClusterTypeModule, type CompileContext } from '../../types.ts';

export const NAME = 'envoy.cluster.static';

const staticCluster: ClusterTypeModule = {
  name: NAME,
  category: ExtensionCategory.Cluster,
  // Selected by Cluster.type; it has no typed_config.
  types: [],
  fields: {
    'envoy.config.cluster.v3.Cluster': [['type', { enumValues: ['STATIC'] }], 'load_assignment'],
    ...ENDPOINT_FIELDS,
  },
  protos: [],
  compile(cluster: Record<string, unknown>, ctx: CompileContext): null {
    // (Envoy ignores them on a STATIC cluster; Legate does not accept what it would not act on.)
    for (const f of DNS_CLUSTER_FIELDS) {
      if (cluster[f] !== undefined) ctx.fail(`${ctx.path}.${f}`, 'applies to STRICT_DNS and LOGICAL_DNS clusters only');
    }
    checkPriorities(cluster, ctx);
    return null;
  },
  clusterType: 'STATIC',
  initialize(snap: ClusterSnap, prioritySet: PrioritySet): null {
    const byPriority: Host[][] = [];
    for (const h of snap.hosts) (byPriority[h.priority] ??= []).push(Host.fromSnap(h));
    for (let p = 0; p < byPriority.length; p++) prioritySet.updateHosts(p, byPriority[p] ?? []);
    return null;
  },
};
export default staticCluster;
