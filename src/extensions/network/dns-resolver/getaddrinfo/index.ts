// envoy.network.dns_resolver.getaddrinfo (GetAddrInfoDnsResolverConfig): the system's
// getaddrinfo(3) through Node's dns.lookup (libuv's thread pool), so /etc/nsswitch.conf, the hosts
// file and search domains apply as for any program. It gives no TTL: respect_dns_ttl then keeps
// dns_refresh_rate.
import dns from 'node:dns';
import {
  literalAnswer, resolveByFamily, type DnsLookupFamily, type DnsResolver, type DnsResult,
} from '../../../../upstream/dns.ts';
import { ExtensionCategory, type DnsResolverModule } from '../../../types.ts';

export const NAME = 'envoy.network.dns_resolver.getaddrinfo';
const TYPE = 'envoy.extensions.network.dns_resolver.getaddrinfo.v3.GetAddrInfoDnsResolverConfig';

class GetAddrInfoResolver implements DnsResolver {
  #stopped = false;

  async resolve(name: string, family: DnsLookupFamily): Promise<DnsResult> {
    const fixed = literalAnswer(name, family);
    if (fixed !== null) return fixed;
    const r = await resolveByFamily(family, async (fam) =>
      (await dns.promises.lookup(name, { all: true, family: fam })).map((a) => ({ address: a.address, ttlS: 0 })));
    // (getaddrinfo cannot be cancelled: an answer that comes after stop() is a failure.)
    return this.#stopped ? { ok: false, reason: 'stopped' } : r;
  }

  stop(): void {
    this.#stopped = true;
  }
}

const getaddrinfo: DnsResolverModule<null> = {
  name: NAME,
  category: ExtensionCategory.DnsResolver,
  types: [TYPE],
  fields: { [TYPE]: [] },
  protos: ['envoy/extensions/network/dns_resolver/getaddrinfo/v3/getaddrinfo_dns_resolver.proto'],
  compile: () => null,
  createResolver: () => new GetAddrInfoResolver(),
};
export default getaddrinfo;
