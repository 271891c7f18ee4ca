// envoy.cluster.logical_dns (Cluster.type LOGICAL_DNS): one endpoint, one host, at the first
// address its name resolves to. When an answer puts it elsewhere, the worker's Host moves (new
// connections go to the new address; open ones, and their pool, stay), as Envoy's LogicalHost
// does. The resolution is upstream/dns-cluster.ts's, on the main thread.
import type { ClusterSnap } from '../../../config/snapshot.ts';
import { Host, type CallbackHandle, type PrioritySet } from '../../../upstream/host.ts';
import type { ClusterEnv } from '../../../upstream/cluster-manager.ts';
import { dnsClusterModuleParts, type DiscoveredHosts, type DnsClusterSnap } from '../../../upstream/dns-cluster.ts';
import type { ClusterTypeModule } from '../../types.ts';

export const NAME = 'envoy.cluster.logical_dns';

const logicalDns: ClusterTypeModule<DnsClusterSnap> = {
  name: NAME,
  ...dnsClusterModuleParts('LOGICAL_DNS'),
  initialize(snap: ClusterSnap, prioritySet: PrioritySet, env: ClusterEnv): CallbackHandle {
    const d = snap.discovery as DnsClusterSnap;
    let host: Host | null = null;
    return env.watch(d.key, (v) => {
      const s = (v as DiscoveredHosts).hosts[0];
      if (s === undefined) return;
      if (host === null) {
        host = Host.fromSnap(s);
      } else {
        if (host.address === s.address) return;
        host.moveTo(s.address);
      }
      prioritySet.updateHosts(0, [host]);
    });
  },
};
export default logicalDns;
