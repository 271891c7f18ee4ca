// envoy.filters.listener.proxy_protocol
// (envoy.extensions.filters.listener.proxy_protocol.v3.ProxyProtocol): filter.ts. Acts on
// allow_requests_without_proxy_protocol, disallowed_versions and stat_prefix; `rules` (TLVs to
// dynamic metadata) and pass_through_tlvs are refused by the supported-field table.
//
// Stats, Envoy's names, in Envoy's scope for them (the root, not listener.<address>.):
// downstream_cx_proxy_proto_error, proxy_proto.[<stat_prefix>.]not_found_allowed,
// not_found_disallowed, versions.v1|v2.found|disallowed|error.
import { ExtensionCategory, type ListenerFilterModule } from '../../../types.ts';
import { ProxyProtocolFilter, type ProxyProtocolStats } from './filter.ts';

const TYPE = 'envoy.extensions.filters.listener.proxy_protocol.v3.ProxyProtocol';

interface ProxyProtocolSnap {
  allowWithout: boolean;
  allowed: [boolean, boolean];
  stats: ProxyProtocolStats;
}

const proxyProtocol: ListenerFilterModule<ProxyProtocolSnap> = {
  name: 'envoy.filters.listener.proxy_protocol',
  category: ExtensionCategory.ListenerFilter,
  types: [TYPE],
  fields: {
    [TYPE]: ['allow_requests_without_proxy_protocol', 'disallowed_versions', 'stat_prefix'],
  },
  protos: ['envoy/extensions/filters/listener/proxy_protocol/v3/proxy_protocol.proto'],
  compile(tc, ctx) {
    const prefix = tc.stat_prefix ? `proxy_proto.${tc.stat_prefix}.` : 'proxy_proto.';
    const l = ctx.layout;
    const versioned = (name: string): [number, number] =>
      [l.counter(`${prefix}versions.v1.${name}`), l.counter(`${prefix}versions.v2.${name}`)];
    const disallowed = ((tc.disallowed_versions ?? []) as unknown[]).map(String);
    const allowed: [boolean, boolean] = [!disallowed.includes('V1'), !disallowed.includes('V2')];
    const allowWithout = tc.allow_requests_without_proxy_protocol === true;
    // A stat that cannot be counted under this config is absent (-1), not a constant zero.
    return {
      allowWithout,
      allowed,
      stats: {
        error: l.counter('downstream_cx_proxy_proto_error'),
        notFoundAllowed: allowWithout ? l.counter(`${prefix}not_found_allowed`) : -1,
        // (Even with allow_requests_without_proxy_protocol: a "PROXY " line that never ends.)
        notFoundDisallowed: l.counter(`${prefix}not_found_disallowed`),
        found: versioned('found'),
        disallowed: [
          allowed[0] ? -1 : l.counter(`${prefix}versions.v1.disallowed`),
          allowed[1] ? -1 : l.counter(`${prefix}versions.v2.disallowed`),
        ],
        versionError: versioned('error'),
      },
    };
  },
  createListenerFilterFactory(snap, ctx) {
    const config = { ...snap, sink: ctx.stats };
    return () => new ProxyProtocolFilter(config);
  },
};
export default proxyProtocol;
