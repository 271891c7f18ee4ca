// envoy.network.dns_resolver.cares (CaresDnsResolverConfig): Envoy's default DNS resolver, and
// Legate's. A name is answered from the hosts file first, as c-ares' getaddrinfo does, then by DNS
// through Node's c-ares binding, which gives each answer's TTL (respect_dns_ttl). `resolvers`
// replaces the system's servers (/etc/resolv.conf). Legate differs: search domains are not
// applied (Node's resolve* asks for the name as given).
import dns from 'node:dns';
import net from 'node:net';
import {
  hostsFileAnswer, literalAnswer, resolveByFamily, type DnsLookupFamily, type DnsResolver, type DnsResult,
} from '../../../../upstream/dns.ts';
import { ExtensionCategory, type CompileContext, type DnsResolverModule } from '../../../types.ts';

export const NAME = 'envoy.network.dns_resolver.cares';
const TYPE = 'envoy.extensions.network.dns_resolver.cares.v3.CaresDnsResolverConfig';

export interface CaresSnap {
  /** "ip:port" ("[ip]:port" for IPv6); empty: the system's. */
  servers: string[];
}

type Obj = Record<string, any>;

/** The servers of a list of core.v3.Address (`resolvers`, or a cluster's deprecated
 *  dns_resolvers), which must be IP addresses. */
export function serversOf(addresses: Obj[], path: string, ctx: Pick<CompileContext, 'fail'>): string[] {
  return addresses.map((a, i) => {
    const sa = a.socket_address ?? {};
    const ip = String(sa.address ?? '');
    if (net.isIP(ip) === 0) ctx.fail(`${path}[${i}].socket_address.address`, `a DNS resolver must be an IP address, got "${ip}"`);
    const port = sa.port_value ?? 53;
    return net.isIPv6(ip) ? `[${ip}]:${port}` : `${ip}:${port}`;
  });
}

export class CaresResolver implements DnsResolver {
  readonly #r: dns.promises.Resolver;

  constructor(servers: readonly string[]) {
    this.#r = new dns.promises.Resolver();
    if (servers.length > 0) this.#r.setServers(servers);
  }

  async resolve(name: string, family: DnsLookupFamily): Promise<DnsResult> {
    const fixed = literalAnswer(name, family) ?? hostsFileAnswer(name, family);
    if (fixed !== null) return fixed;
    return resolveByFamily(family, async (fam) => {
      const rs = fam === 4 ? await this.#r.resolve4(name, { ttl: true }) : await this.#r.resolve6(name, { ttl: true });
      return rs.map((r) => ({ address: r.address, ttlS: r.ttl }));
    });
  }

  stop(): void {
    this.#r.cancel();
  }
}

const cares: DnsResolverModule<CaresSnap> = {
  name: NAME,
  category: ExtensionCategory.DnsResolver,
  types: [TYPE],
  fields: {
    [TYPE]: ['resolvers'],
  },
  protos: ['envoy/extensions/network/dns_resolver/cares/v3/cares_dns_resolver.proto'],
  compile(tc: Obj, ctx: CompileContext): CaresSnap {
    return { servers: serversOf((tc.resolvers ?? []) as Obj[], `${ctx.path}.resolvers`, ctx) };
  },
  createResolver(c: CaresSnap): DnsResolver {
    return new CaresResolver(c.servers);
  },
};
export default cares;
