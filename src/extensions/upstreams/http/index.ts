// envoy.extensions.upstreams.http.v3.HttpProtocolOptions: a cluster's HTTP protocol options, set
// in typed_extension_protocol_options under that name (Envoy's ProtocolOptionsConfigFactory).
// Legate speaks HTTP/1.1 to upstreams only: explicit_http_config may name http_protocol_options
// (none of its fields), and use_downstream_protocol_config is HTTP/1.1 too, downstream connections
// being HTTP/1 only; HTTP/2 and HTTP/3 options, auto_config (ALPN), upstream HTTP filters and the
// rest are refused by the loader. From common_http_protocol_options the pool acts on idle_timeout,
// max_connection_duration and max_requests_per_connection, and the client codec on
// max_headers_count (upstream/connection-options.ts folds them into the ClusterSnap).
import { commonHttpOptions, HTTP_OPTIONS, type CommonHttpOptionsSnap } from '../../../upstream/connection-options.ts';
import { ExtensionCategory, type UpstreamOptionsModule } from '../../types.ts';

export const NAME = HTTP_OPTIONS;
const MSG = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';

const httpProtocolOptions: UpstreamOptionsModule<CommonHttpOptionsSnap> = {
  name: NAME,
  category: ExtensionCategory.UpstreamOptions,
  keys: [NAME, 'envoy.upstreams.http.http_protocol_options'],
  types: [MSG],
  fields: {
    // (upstream_protocol_options is a required oneof; its third member, auto_config, picks HTTP/2
    // by ALPN.)
    [MSG]: ['common_http_protocol_options', 'explicit_http_config', 'use_downstream_protocol_config'],
    [`${MSG}.ExplicitHttpConfig`]: ['http_protocol_options'],
    [`${MSG}.UseDownstreamHttpConfig`]: ['http_protocol_options'],
    // HTTP/1.1 as it is: no field of it is acted on.
    'envoy.config.core.v3.Http1ProtocolOptions': [],
    // (Shared with the HCM's common_http_protocol_options, whose compile refuses the two fields
    // that only upstream connections act on.)
    'envoy.config.core.v3.HttpProtocolOptions': [
      'idle_timeout', 'max_headers_count', 'max_connection_duration', 'max_requests_per_connection',
    ],
  },
  protos: ['envoy/extensions/upstreams/http/v3/http_protocol_options.proto'],
  compile: (tc, ctx) => commonHttpOptions(tc.common_http_protocol_options, `${ctx.path}.common_http_protocol_options`, ctx),
};
export default httpProtocolOptions;
