// envoy.filters.listener.tls_inspector
// (envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector): filter.ts. No field is acted
// on (enable_ja3_fingerprinting and initial_read_buffer_size are refused: Node reads what the
// kernel has).
//
// Stats, Envoy's names, in Envoy's scope for them (the root, not listener.<address>.):
// tls_inspector.client_hello_too_large, tls_found, tls_not_found, alpn_found, alpn_not_found,
// sni_found, sni_not_found, and the histogram bytes_processed.
import { ExtensionCategory, type ListenerFilterModule } from '../../../types.ts';
import { TlsInspectorFilter, type TlsInspectorStats } from './filter.ts';

const TYPE = 'envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector';

const COUNTERS = [
  'client_hello_too_large', 'tls_found', 'tls_not_found', 'alpn_found', 'alpn_not_found', 'sni_found', 'sni_not_found',
] as const;

const tlsInspector: ListenerFilterModule<{ stats: TlsInspectorStats }> = {
  name: 'envoy.filters.listener.tls_inspector',
  category: ExtensionCategory.ListenerFilter,
  types: [TYPE],
  fields: { [TYPE]: [] },
  protos: ['envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector.proto'],
  compile: (_tc, ctx) => ({
    stats: ctx.layout.resolve('tls_inspector.', { counters: COUNTERS, histograms: ['bytes_processed'], unit: 'bytes' }),
  }),
  createListenerFilterFactory(snap, ctx) {
    const config = { stats: snap.stats, sink: ctx.stats };
    return () => new TlsInspectorFilter(config);
  },
};
export default tlsInspector;
