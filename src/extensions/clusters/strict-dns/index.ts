// envoy.cluster.strict_dns (Cluster.type STRICT_DNS): every address of every endpoint's name is a
// host, re-resolved on the main thread (upstream/dns-cluster.ts has the discovery and its design
// note); each worker applies what it publishes, keeping the Host objects (and their connection
// pools) of the hosts that stay.
import type { ClusterSnap } from '../../../config/snapshot.ts';
import { updateHostsFromSnaps, type CallbackHandle, type PrioritySet } from '../../../upstream/host.ts';
import type { ClusterEnv } from '../../../upstream/cluster-manager.ts';
import { dnsClusterModuleParts, type DiscoveredHosts, type DnsClusterSnap } from '../../../upstream/dns-cluster.ts';
import type { ClusterTypeModule } from '../../types.ts';

export const NAME = 'envoy.cluster.strict_dns';

const strictDns: ClusterTypeModule<DnsClusterSnap> = {
  name: NAME,
  ...dnsClusterModuleParts('STRICT_DNS'),
  initialize(snap: ClusterSnap, prioritySet: PrioritySet, env: ClusterEnv): CallbackHandle {
    const d = snap.discovery as DnsClusterSnap;
    return env.watch(d.key, (v) => updateHostsFromSnaps(prioritySet, (v as DiscoveredHosts).hosts));
  },
};
export default strictDns;
