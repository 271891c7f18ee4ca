// envoy.filters.listener.http_inspector
// (envoy.extensions.filters.listener.http_inspector.v3.HttpInspector, no fields): filter.ts.
//
// Stats, Envoy's names, in Envoy's scope for them (the root, not listener.<address>.):
// http_inspector.http10_found, http11_found, http2_found, http_not_found. (Envoy's read_error has
// no counterpart: a read error closes the socket before any filter hears of it.)
import { ExtensionCategory, type ListenerFilterModule } from '../../../types.ts';
import { HttpInspectorFilter, type HttpInspectorStats } from './filter.ts';

const TYPE = 'envoy.extensions.filters.listener.http_inspector.v3.HttpInspector';

const COUNTERS = ['http10_found', 'http11_found', 'http2_found', 'http_not_found'] as const;

const httpInspector: ListenerFilterModule<{ stats: HttpInspectorStats }> = {
  name: 'envoy.filters.listener.http_inspector',
  category: ExtensionCategory.ListenerFilter,
  types: [TYPE],
  fields: { [TYPE]: [] },
  protos: ['envoy/extensions/filters/listener/http_inspector/v3/http_inspector.proto'],
  compile: (_tc, ctx) => ({ stats: ctx.layout.resolve('http_inspector.', { counters: COUNTERS }) }),
  createListenerFilterFactory(snap, ctx) {
    const config = { stats: snap.stats, sink: ctx.stats };
    return () => new HttpInspectorFilter(config);
  },
};
export default httpInspector;
