// envoy.filters.http.router: the terminal HTTP filter (filter.ts). Its typed_config
// (envoy.extensions.filters.http.router.v3.Router) has no field Legate acts on yet: the loader
// refuses any that is set, so there is nothing to compile.
import { ExtensionCategory, type HttpFilterModule } from '../../../types.ts';
import { RouterFilter } from './filter.ts';

const router: HttpFilterModule<null> = {
  name: 'envoy.filters.http.router',
  category: ExtensionCategory.HttpFilter,
  types: ['envoy.extensions.filters.http.router.v3.Router'],
  terminal: true,
  fields: { 'envoy.extensions.filters.http.router.v3.Router': [] },
  protos: ['envoy/extensions/filters/http/router/v3/router.proto'],
  compile: () => null,
  createFilterFactory(_compiled, ctx) {
    const cm = ctx.clusterManager;
    const runtime = ctx.runtime;
    return (cb) => cb.addStreamDecoderFilter(new RouterFilter(cm, runtime));
  },
};
export default router;
