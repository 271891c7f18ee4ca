// envoy.filters.network.client_ssl_auth (contrib in Envoy; its v3 message is declared in
// src/config/contrib-protos): lets a TLS connection through only when its peer certificate's
// SHA-256 fingerprint is on the list an auth service approves, or the peer's IP is in
// ip_white_list. The list is fetched on the main thread (fetcher.ts, a main-thread service) and
// shared with every worker; the per-connection check is filter.ts. Stats are rooted at
// auth.clientssl.<stat_prefix>.: the connection counters by the workers, update_success,
// update_failure and total_principals by main.
import { ExtensionCategory, type NetworkFilterModule } from '../../../types.ts';
import { durationMs } from '../../../../config/duration.ts';
import { parseCidr, type CidrRange } from '../../../../common/cidr.ts';
import { slots } from '../../../../stats/slots.ts';
import { ClientSslAuthFilter, Principals } from './filter.ts';
import { startFetcher } from './fetcher.ts';

const TYPE = 'envoy.extensions.filters.network.client_ssl_auth.v3.ClientSSLAuth';

/** Counted by the workers. (Envoy's code names the allow-list counter auth_ip_allowlist; its
 *  docs still say auth_ip_white_list.) */
export const CONNECTION_COUNTERS = ['auth_digest_match', 'auth_digest_no_match', 'auth_ip_allowlist', 'auth_no_ssl'] as const;
/** Counted by main's fetcher. */
export const UPDATE_COUNTERS = ['update_success', 'update_failure'] as const;
export const GAUGES = ['total_principals'] as const;
type StatName = (typeof CONNECTION_COUNTERS)[number] | (typeof UPDATE_COUNTERS)[number] | (typeof GAUGES)[number];

/** Envoy's RestApiFetcher default refresh and its request timeout. */
const DEFAULT_REFRESH_MS = 60_000;

export interface ClientSslAuthSnap {
  cluster: string;
  statPrefix: string;
  refreshMs: number;
  allow: CidrRange[];
  stats: Record<StatName, number>;
}

type Obj = Record<string, any>;

const clientSslAuth: NetworkFilterModule<ClientSslAuthSnap> = {
  name: 'envoy.filters.network.client_ssl_auth',
  category: ExtensionCategory.NetworkFilter,
  types: [TYPE],
  fields: {
    [TYPE]: ['auth_api_cluster', 'stat_prefix', 'refresh_delay', 'ip_white_list'],
    'envoy.config.core.v3.CidrRange': ['address_prefix', 'prefix_len'],
  },
  protos: ['envoy/extensions/filters/network/client_ssl_auth/v3/client_ssl_auth.proto'],
  compile(tc, ctx) {
    const cluster = String(tc.auth_api_cluster);
    if (!ctx.clusters.has(cluster)) {
      ctx.fail(`${ctx.path}.auth_api_cluster`, `unknown cluster '${cluster}' in client ssl auth config`);
    }
    if (ctx.clustersWithTransportSocket.has(cluster)) {
      // (fetcher.ts asks with plain HTTP from the main thread.)
      ctx.fail(`${ctx.path}.auth_api_cluster`, `cluster '${cluster}' has a transport_socket: `
        + 'Legate fetches the approved list over plain HTTP only');
    }
    const allow = ((tc.ip_white_list ?? []) as Obj[]).map((r, i): CidrRange => {
      const c = parseCidr(String(r.address_prefix ?? ''), r.prefix_len ?? 0);
      return typeof c === 'string' ? ctx.fail(`${ctx.path}.ip_white_list[${i}]`, c) : c;
    });
    const statPrefix = String(tc.stat_prefix);
    return {
      cluster,
      statPrefix,
      refreshMs: durationMs(tc.refresh_delay, DEFAULT_REFRESH_MS),
      allow,
      stats: slots(ctx.layout, `auth.clientssl.${statPrefix}.`, [...CONNECTION_COUNTERS, ...UPDATE_COUNTERS], GAUGES, []),
    };
  },
  createFilterFactory(snap, ctx) {
    const principals = new Principals(ctx.shared(serviceKey(snap)));
    const stats = ctx.stats;
    return (fm) => fm.addReadFilter(new ClientSslAuthFilter(snap, principals, stats));
  },
  mainService: {
    key: serviceKey,
    start: startFetcher,
  },
};
export default clientSslAuth;

/** One fetcher (and one list) per auth cluster and stat prefix. */
function serviceKey(snap: ClientSslAuthSnap): string {
  return `envoy.filters.network.client_ssl_auth/${snap.cluster}/${snap.statPrefix}`;
}
