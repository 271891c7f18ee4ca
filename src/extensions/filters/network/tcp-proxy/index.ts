// envoy.filters.network.tcp_proxy (envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy): the
// terminal network filter that relays a connection's bytes to an upstream host of a cluster
// (filter.ts). compile() fills in Envoy's defaults (idle_timeout 1 h, max_connect_attempts 1),
// turns `cluster` / `weighted_clusters` into one weighted list, compiles access_log by its own
// modules and resolves the tcp.<stat_prefix>.* stats to slots.
import { ExtensionCategory, type CompiledExtension, type NetworkFilterModule } from '../../../types.ts';
import { durationMs } from '../../../../config/duration.ts';
import { slots } from '../../../../stats/slots.ts';
import { TCP_COUNTERS, TCP_GAUGES, type TcpProxyStats } from './stats.ts';
import { TcpProxyConfig, TcpProxyFilter } from './filter.ts';

type Obj = Record<string, any>;

const TYPE = 'envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';

export interface TcpProxySnap {
  statPrefix: string;
  /** `cluster` (weight 1) or the weighted_clusters, in order. */
  clusters: { name: string; weight: number }[];
  idleTimeoutMs: number;
  maxConnectAttempts: number;
  accessLogs: CompiledExtension[];
  stats: TcpProxyStats;
}

// Envoy's defaults.
const DEFAULT_IDLE_TIMEOUT_MS = 3_600_000;

const tcpProxy: NetworkFilterModule<TcpProxySnap> = {
  name: 'envoy.filters.network.tcp_proxy',
  category: ExtensionCategory.NetworkFilter,
  types: [TYPE],
  terminal: true,
  fields: {
    [TYPE]: ['stat_prefix', 'cluster', 'weighted_clusters', 'idle_timeout', 'max_connect_attempts', 'access_log'],
    [TYPE + '.WeightedCluster']: ['clusters'],
    [TYPE + '.WeightedCluster.ClusterWeight']: ['name', 'weight'],
    'envoy.config.accesslog.v3.AccessLog': ['name', 'typed_config'],
  },
  protos: ['envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.proto'],

  compile(tc: Obj, ctx) {
    const statPrefix: string = tc.stat_prefix;
    const clusters = typeof tc.cluster === 'string'
      ? [{ name: tc.cluster, weight: 1 }]
      : ((tc.weighted_clusters?.clusters ?? []) as Obj[]).map((c) => ({ name: String(c.name), weight: Number(c.weight) }));
    return {
      statPrefix,
      clusters,
      idleTimeoutMs: durationMs(tc.idle_timeout, DEFAULT_IDLE_TIMEOUT_MS),
      maxConnectAttempts: tc.max_connect_attempts ?? 1,
      accessLogs: ((tc.access_log ?? []) as Obj[])
        .map((a, i) => ctx.compileNested(ExtensionCategory.AccessLogger, a, `${ctx.path}.access_log[${i}]`)),
      stats: slots(ctx.layout, `tcp.${statPrefix}.`, TCP_COUNTERS, TCP_GAUGES, []),
    };
  },

  createFilterFactory(snap, ctx) {
    const config = new TcpProxyConfig(snap, ctx);
    return (fm) => fm.addReadFilter(new TcpProxyFilter(config));
  },
};
export default tcpProxy;
