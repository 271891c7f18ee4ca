// envoy.filters.http.router config: the typed_config (envoy.extensions.filters.http.router.v3.Router)
// has no fields Legate acts on yet (the loader refuses any that are set).
import type { HttpFilterConfigFactory } from '../../../registry.ts';
import type { FilterFactory } from '../../../../http/types.ts';
import { RouterFilter } from './filter.ts';

export const NAME = 'envoy.filters.http.router';
export const TYPE_URL = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';

export const routerFactory: HttpFilterConfigFactory = (_config, ctx): FilterFactory => {
  const cm = ctx.clusterManager;
  return (cb) => cb.addStreamDecoderFilter(new RouterFilter(cm));
};
