// envoy.filters.http.decompressor (envoy.extensions.filters.http.decompressor.v3.Decompressor):
// decodes request and response bodies whose Content-Encoding starts with the library's coding
// (`decompressor_library`: envoy.compression.{gzip,brotli,zstd}.decompressor), unless Cache-Control
// has no-transform (`ignore_no_transform_header`); each direction has a runtime `enabled` flag,
// and `advertise_accept_encoding` (default true) appends the coding to the request's
// Accept-Encoding while response decompression is on. As in Envoy, a headers-only message is
// left alone (no advertising on a request without a body). The decoding is asynchronous
// (src/compression/filter-pump.ts); corrupt input or a decompression bomb resets the stream.
import { ExtensionCategory, type CompiledExtension, type HttpFilterModule } from '../../../types.ts';
import { codecFactory, decompressorModule } from '../../../registry.ts';
import { slots } from '../../../../stats/slots.ts';
import { DecompressorFilter, DecompressorShared, type DecompressorSnap, type DecompressorDirectionSnap } from './filter.ts';
import type { CompileContext } from '../../../types.ts';

type Obj = Record<string, any>;

const TYPE = 'envoy.extensions.filters.http.decompressor.v3.Decompressor';

/** Envoy's ALL_DECOMPRESSOR_STATS, per direction. */
export const DECOMPRESSOR_STATS = ['decompressed', 'not_decompressed', 'total_uncompressed_bytes', 'total_compressed_bytes'] as const;

/** The libraries' error stats (Envoy's zlib / brotli / zstd decompressor stats), by library stats
 *  prefix, and node:zlib's error code -> stat name. */
const LIBRARY_ERRORS: Readonly<Record<string, { stats: readonly string[]; of(code: string): string }>> = {
  'gzip.': {
    stats: ['zlib_errno', 'zlib_stream_error', 'zlib_data_error', 'zlib_mem_error', 'zlib_buf_error', 'zlib_version_error'],
    of: (code) => code === 'Z_DATA_ERROR' || code === 'RATIO' ? 'zlib_data_error'
      : code === 'Z_STREAM_ERROR' ? 'zlib_stream_error' : code === 'Z_MEM_ERROR' ? 'zlib_mem_error'
        : code === 'Z_BUF_ERROR' ? 'zlib_buf_error' : code === 'Z_VERSION_ERROR' ? 'zlib_version_error' : 'zlib_errno',
  },
  'brotli.': { stats: ['brotli_error'], of: () => 'brotli_error' },
  'zstd.': {
    stats: ['zstd_generic_error', 'zstd_dictionary_error', 'zstd_checksum_wrong_error', 'zstd_memory_error'],
    of: (code) => code.includes('checksum') ? 'zstd_checksum_wrong_error' : code.includes('dictionary')
      ? 'zstd_dictionary_error' : code.includes('memory') ? 'zstd_memory_error' : 'zstd_generic_error',
  },
};

function direction(common: Obj | undefined, prefix: string, ctx: CompileContext): DecompressorDirectionSnap {
  const c = common ?? {};
  const f: Obj | undefined = c.enabled;
  return {
    enabled: f === undefined ? { key: null, default: true } : { key: f.runtime_key ?? null, default: f.default_value ?? true },
    ignoreNoTransform: c.ignore_no_transform_header === true,
    stats: slots(ctx.layout, prefix, DECOMPRESSOR_STATS, [], []),
  };
}

const decompressor: HttpFilterModule<DecompressorSnap> = {
  name: 'envoy.filters.http.decompressor',
  category: ExtensionCategory.HttpFilter,
  types: [TYPE],
  fields: {
    [TYPE]: ['decompressor_library', 'request_direction_config', 'response_direction_config'],
    [`${TYPE}.CommonDirectionConfig`]: ['enabled', 'ignore_no_transform_header'],
    [`${TYPE}.RequestDirectionConfig`]: ['common_config', 'advertise_accept_encoding'],
    [`${TYPE}.ResponseDirectionConfig`]: ['common_config'],
    'envoy.config.core.v3.RuntimeFeatureFlag': ['default_value', 'runtime_key'],
    'envoy.config.core.v3.TypedExtensionConfig': ['name', 'typed_config'],
  },
  protos: ['envoy/extensions/filters/http/decompressor/v3/decompressor.proto'],
  compile(tc, ctx) {
    const lib: CompiledExtension = ctx.compileNested(ExtensionCategory.Decompressor, tc.decompressor_library,
      `${ctx.path}.decompressor_library`);
    const m = decompressorModule(lib);
    // Envoy: <stat_prefix>decompressor.<decompressor_library.name>.<library stats prefix>
    const prefix = `${ctx.scope}decompressor.${tc.decompressor_library.name}.${m.statsPrefix}`;
    const errors = LIBRARY_ERRORS[m.statsPrefix];
    const libraryStats: Record<string, number> = {};
    if (errors !== undefined) {
      for (const n of errors.stats) libraryStats[n] = ctx.layout.counter(`${prefix}decompressor_library.${n}`);
    }
    return {
      library: lib,
      contentEncoding: m.contentEncoding,
      request: {
        ...direction(tc.request_direction_config?.common_config, `${prefix}request.`, ctx),
        advertise: tc.request_direction_config?.advertise_accept_encoding ?? true,
      },
      response: direction(tc.response_direction_config?.common_config, `${prefix}response.`, ctx),
      libraryStats,
    };
  },
  createFilterFactory(snap, ctx) {
    const prefix = decompressorModule(snap.library).statsPrefix;
    const shared = new DecompressorShared(snap, codecFactory(snap.library, ExtensionCategory.Decompressor), ctx.runtime,
      LIBRARY_ERRORS[prefix]?.of ?? null);
    return (cb) => cb.addStreamFilter(new DecompressorFilter(shared));
  },
};
export default decompressor;
