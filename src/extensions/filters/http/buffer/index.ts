// envoy.filters.http.buffer (envoy.extensions.filters.http.buffer.v3.Buffer): buffers a whole request
// before the filters after it (the router) see it, up to max_request_bytes; past that the filter
// manager answers 413 and the connection manager counts http.<stat_prefix>.downstream_rq_too_large
// (the filter has no stats of its own, as in Envoy). A route, virtual host or route configuration
// may turn it off (BufferPerRoute.disabled) or set its own limit (BufferPerRoute.buffer) through
// typed_per_filter_config under the filter's config name.
import { ExtensionCategory, type HttpFilterModule } from '../../../types.ts';
import { BufferFilter, type BufferSettings } from './filter.ts';

const TYPE = 'envoy.extensions.filters.http.buffer.v3.Buffer';
const PER_ROUTE = 'envoy.extensions.filters.http.buffer.v3.BufferPerRoute';

const buffer: HttpFilterModule<BufferSettings> = {
  name: 'envoy.filters.http.buffer',
  category: ExtensionCategory.HttpFilter,
  types: [TYPE],
  fields: {
    [TYPE]: ['max_request_bytes'],
    [PER_ROUTE]: ['disabled', 'buffer'],
  },
  protos: ['envoy/extensions/filters/http/buffer/v3/buffer.proto'],
  // (max_request_bytes is required and > 0: the loader checks the proto's rules.)
  compile: (tc) => ({ disabled: false, maxRequestBytes: Number(tc.max_request_bytes) }),
  perRoute: {
    types: [PER_ROUTE],
    compile: (tc): BufferSettings => (tc.disabled === true
      ? { disabled: true, maxRequestBytes: 0 }
      : { disabled: false, maxRequestBytes: Number(tc.buffer?.max_request_bytes) }),
  },
  createFilterFactory(settings) {
    return (cb) => cb.addStreamDecoderFilter(new BufferFilter(settings));
  },
};
export default buffer;
