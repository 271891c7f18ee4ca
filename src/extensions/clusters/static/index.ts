// envoy.cluster.static (Cluster.type STATIC): the hosts are the cluster's load_assignment, as the
// snapshot carries it (config/snapshot.ts resolves each host's stat slots in main), one host set
// per priority. They never change at run time.
import type { ClusterSnap } from '../../../config/snapshot.ts';
import { Host, type PrioritySet } from '../../../upstream/host.ts';
import type { ClusterTypeModule } from '../../../upstream/cluster-manager.ts';

export const NAME = 'envoy.cluster.static';

export const staticCluster: ClusterTypeModule = {
  name: NAME,
  clusterType: 'STATIC',
  initialize(snap: ClusterSnap, prioritySet: PrioritySet): void {
    const byPriority: Host[][] = [];
    for (const h of snap.hosts) (byPriority[h.priority] ??= []).push(Host.fromSnap(h));
    for (let p = 0; p < byPriority.length; p++) prioritySet.updateHosts(p, byPriority[p] ?? []);
  },
};
