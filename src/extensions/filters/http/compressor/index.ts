// envoy.filters.http.compressor (envoy.extensions.filters.http.compressor.v3.Compressor):
// compresses responses (and, when request_direction_config is set, requests) with the library
// named by `compressor_library` (envoy.compression.{gzip,brotli,zstd}.compressor), deciding as
// Envoy does: Accept-Encoding with q-values across every compressor filter of the chain
// (`choose_first` breaks ties, `*` takes the first registered, `identity` and q=0 refuse),
// min_content_length (default 30), content_type (Envoy's default list), disable_on_etag_header,
// remove_accept_encoding_header, Cache-Control no-transform, an existing Content-Encoding, and a
// runtime `enabled` flag per direction. The deprecated top-level fields act as in Envoy when
// response_direction_config is absent. Per route: CompressorPerRoute (`disabled`, or `overrides`
// of the response direction). filter.ts has the per-stream part; the coding itself is
// asynchronous (src/compression/filter-pump.ts), so a large body never blocks the worker.
import { ExtensionCategory, type CompiledExtension, type CompileContext, type HttpFilterModule } from '../../../types.ts';
import { codecFactory, compressorModule } from '../../../registry.ts';
import { slots } from '../../../../stats/slots.ts';
import { CompressorConfig, type CompressorPerRouteSnap, type CompressorSnap, type DirectionSnap, type FeatureFlagSnap } from './filter.ts';

type Obj = Record<string, any>;

const TYPE = 'envoy.extensions.filters.http.compressor.v3.Compressor';
const PER_ROUTE = 'envoy.extensions.filters.http.compressor.v3.CompressorPerRoute';

/** Envoy's COMMON_COMPRESSOR_STATS, per direction. */
export const COMMON_STATS = [
  'compressed', 'not_compressed', 'total_uncompressed_bytes', 'total_compressed_bytes', 'content_length_too_small',
] as const;
/** Envoy's RESPONSE_COMPRESSOR_STATS (rooted without the direction prefix). */
export const RESPONSE_STATS = [
  'no_accept_header', 'header_identity', 'header_compressor_used', 'header_compressor_overshadowed',
  'header_wildcard', 'header_not_valid', 'not_compressed_etag',
] as const;

/** Envoy's default content_type list (compressor_filter.cc defaultContentEncoding). */
export const DEFAULT_CONTENT_TYPES: readonly string[] = [
  'text/html', 'text/plain', 'text/css', 'application/javascript', 'application/x-javascript', 'text/javascript',
  'text/x-javascript', 'text/ecmascript', 'text/js', 'text/jscript', 'text/x-js', 'application/ecmascript',
  'application/x-json', 'application/xml', 'application/json', 'image/svg+xml', 'text/xml', 'application/xhtml+xml',
  'application/grpc-web', 'application/grpc-web+proto',
];

function featureFlag(f: Obj | undefined): FeatureFlagSnap {
  // An unset flag is enabled (Envoy's FeatureFlag default); runtime_key picks a runtime boolean.
  if (f === undefined) return { key: null, default: true };
  return { key: f.runtime_key ?? null, default: f.default_value ?? true };
}

function direction(common: Obj | undefined, prefix: string, ctx: CompileContext,
  counters: readonly (typeof COMMON_STATS)[number][] = COMMON_STATS): DirectionSnap {
  const c = common ?? {};
  const types: string[] = c.content_type ?? [];
  const stats = { ...Object.fromEntries(COMMON_STATS.map((n) => [n, -1])), ...slots(ctx.layout, prefix, counters, [], []) };
  return {
    enabled: featureFlag(c.enabled),
    // 0 (or unset) is Envoy's default of 30.
    minContentLength: c.min_content_length > 0 ? c.min_content_length : 30,
    contentTypes: (types.length > 0 ? types : DEFAULT_CONTENT_TYPES).map((t) => t.toLowerCase()),
    stats: stats as DirectionSnap['stats'],
  };
}

const compressor: HttpFilterModule<CompressorSnap> = {
  name: 'envoy.filters.http.compressor',
  category: ExtensionCategory.HttpFilter,
  types: [TYPE],
  fields: {
    [TYPE]: [
      'compressor_library', 'request_direction_config', 'response_direction_config', 'choose_first',
      'content_length', 'content_type', 'disable_on_etag_header', 'remove_accept_encoding_header', 'runtime_enabled',
    ],
    [`${TYPE}.CommonDirectionConfig`]: ['enabled', 'min_content_length', 'content_type'],
    [`${TYPE}.RequestDirectionConfig`]: ['common_config'],
    [`${TYPE}.ResponseDirectionConfig`]: ['common_config', 'disable_on_etag_header', 'remove_accept_encoding_header'],
    [PER_ROUTE]: ['disabled', 'overrides'],
    'envoy.extensions.filters.http.compressor.v3.CompressorOverrides': ['response_direction_config'],
    'envoy.extensions.filters.http.compressor.v3.ResponseDirectionOverrides': ['remove_accept_encoding_header'],
    'envoy.config.core.v3.RuntimeFeatureFlag': ['default_value', 'runtime_key'],
    'envoy.config.core.v3.TypedExtensionConfig': ['name', 'typed_config'],
  },
  protos: ['envoy/extensions/filters/http/compressor/v3/compressor.proto'],
  compile(tc, ctx) {
    const lib: CompiledExtension = ctx.compileNested(ExtensionCategory.Compressor, tc.compressor_library,
      `${ctx.path}.compressor_library`);
    const m = compressorModule(lib);
    // Envoy: <stat_prefix>compressor.<compressor_library.name>.<library stats prefix>
    const common = `${ctx.scope}compressor.${tc.compressor_library.name}.${m.statsPrefix}`;
    const rdc: Obj | undefined = tc.response_direction_config;
    // Without response_direction_config, the deprecated top-level fields, and the legacy stat tree.
    const responseCommon: Obj = rdc !== undefined ? rdc.common_config ?? {} : {
      ...(tc.content_length !== undefined ? { min_content_length: tc.content_length } : {}),
      ...(tc.content_type !== undefined ? { content_type: tc.content_type } : {}),
      ...(tc.runtime_enabled !== undefined ? { enabled: tc.runtime_enabled } : {}),
    };
    return {
      configName: ctx.configName ?? '',
      library: lib,
      contentEncoding: m.contentEncoding,
      chooseFirst: tc.choose_first === true,
      // Without request_direction_config no request is compressed: of its stats only
      // not_compressed is ever counted (Envoy's tree has the others at zero).
      request: {
        ...direction(tc.request_direction_config?.common_config, `${common}request.`, ctx,
          tc.request_direction_config !== undefined ? COMMON_STATS : ['not_compressed']),
        set: tc.request_direction_config !== undefined,
      },
      response: {
        ...direction(responseCommon, rdc !== undefined ? `${common}response.` : common, ctx),
        disableOnEtag: (rdc !== undefined ? rdc.disable_on_etag_header : tc.disable_on_etag_header) === true,
        removeAcceptEncoding: (rdc !== undefined ? rdc.remove_accept_encoding_header : tc.remove_accept_encoding_header) === true,
        responseStats: slots(ctx.layout, common, RESPONSE_STATS, [], []),
      },
    };
  },
  perRoute: {
    types: [PER_ROUTE],
    compile(tc): CompressorPerRouteSnap {
      if (tc.disabled === true) return { responseEnabled: false, removeAcceptEncoding: null };
      const r: Obj | undefined = tc.overrides?.response_direction_config;
      // An empty response_direction_config enables response compression (Envoy's
      // CompressorPerRouteFilterConfig).
      if (r === undefined) return { responseEnabled: null, removeAcceptEncoding: null };
      return { responseEnabled: true, removeAcceptEncoding: r.remove_accept_encoding_header ?? null };
    },
  },
  createFilterFactory(snap, ctx) {
    const config = new CompressorConfig(snap, codecFactory(snap.library, ExtensionCategory.Compressor), ctx.runtime);
    return (cb) => cb.addStreamFilter(config.newFilter());
  },
};
export default compressor;
