// envoy.cluster.strict_dns (Cluster.type STRICT_DNS): every address of every endpoint's name is a
// host, re-resolved on the main thread (upstream/dns-cluster.ts has the discovery and its design
// note); each worker applies what it publishes, keeping the Host objects (and their connection
// pools) of the hosts that stay.
import type { ClusterSnap } from '../../../config/snapshot.ts';
import { updateHostsFromSnaps, type CallbackHandle, type PrioritySet } from '../../../upstream/host.ts';
import type { ClusterEnv } from '../../../upstream/cluster-manager.ts';
import {
  compileDnsCluster, DNS_FIELDS, DnsDiscovery, type DiscoveredHosts, type DnsClusterSnap,
} from '../../../upstream/dns-cluster.ts';
import { ExtensionCategory, type ClusterTypeModule, type CompileContext } from '../../types.ts';

export const NAME = 'envoy.cluster.strict_dns';

const strictDns: ClusterTypeModule<DnsClusterSnap> = {
  name: NAME,
  category: ExtensionCategory.Cluster,
  types: [],
  fields: {
    ...DNS_FIELDS,
    'envoy.config.cluster.v3.Cluster': [['type', { enumValues: ['STRICT_DNS'] }], ...DNS_FIELDS['envoy.config.cluster.v3.Cluster']],
  },
  protos: [],
  compile: (cluster: Record<string, any>, ctx: CompileContext) => compileDnsCluster(cluster, ctx, false),
  clusterType: 'STRICT_DNS',
  mainService: {
    key: (c) => c.discovery.key,
    start: (c, ctx) => new DnsDiscovery(c.cluster, c.clusterStats, c.discovery, ctx),
  },
  initialize(snap: ClusterSnap, prioritySet: PrioritySet, env: ClusterEnv): CallbackHandle {
    const d = snap.discovery as DnsClusterSnap;
    return env.watch(d.key, (v) => updateHostsFromSnaps(prioritySet, (v as DiscoveredHosts).hosts));
  },
};
export default strictDns;
