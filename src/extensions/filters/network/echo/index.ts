// envoy.filters.network.echo (envoy.extensions.filters.network.echo.v3.Echo, no fields): a terminal
// network filter that writes back what it reads (filter.ts). Nothing to compile, no stats.
import { ExtensionCategory, type NetworkFilterModule } from '../../../types.ts';
import { EchoFilter } from './filter.ts';

const TYPE = 'envoy.extensions.filters.network.echo.v3.Echo';

const echo: NetworkFilterModule<null> = {
  name: 'envoy.filters.network.echo',
  category: ExtensionCategory.NetworkFilter,
  types: [TYPE],
  terminal: true,
  fields: { [TYPE]: [] },
  protos: ['envoy/extensions/filters/network/echo/v3/echo.proto'],
  compile: () => null,
  createFilterFactory: () => (fm) => fm.addReadFilter(new EchoFilter()),
};
export default echo;
