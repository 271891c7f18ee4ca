// envoy.filters.network.direct_response (envoy.extensions.filters.network.direct_response.v3.Config):
// a terminal network filter that answers every connection with fixed bytes and closes it
// (filter.ts). The `response` DataSource (inline_string, inline_bytes or filename) is read once,
// here; an unreadable file refuses the config, as in Envoy.
import { Buffer } from 'node:buffer';
import { ExtensionCategory, type NetworkFilterModule } from '../../../types.ts';
import { readDataSource } from '../../../../common/data-source.ts';
import { DirectResponseFilter } from './filter.ts';

const TYPE = 'envoy.extensions.filters.network.direct_response.v3.Config';

interface DirectResponseSnap {
  /** Crosses to the worker as a Uint8Array (structured clone). */
  response: Uint8Array;
}

const directResponse: NetworkFilterModule<DirectResponseSnap> = {
  name: 'envoy.filters.network.direct_response',
  category: ExtensionCategory.NetworkFilter,
  types: [TYPE],
  terminal: true,
  fields: {
    [TYPE]: ['response'],
    'envoy.config.core.v3.DataSource': ['inline_string', 'inline_bytes', 'filename'],
  },
  protos: ['envoy/extensions/filters/network/direct_response/v3/config.proto'],
  compile: (tc, ctx) => ({ response: readDataSource(tc.response, `${ctx.path}.response`, ctx.fail) }),
  createFilterFactory(snap) {
    const r = snap.response;
    const response = Buffer.from(r.buffer, r.byteOffset, r.byteLength);
    return (fm) => fm.addReadFilter(new DirectResponseFilter(response));
  },
};
export default directResponse;
