// envoy.compression.gzip.compressor (envoy.extensions.compression.gzip.compressor.v3.Gzip): gzip
// for the compressor filter, on node:zlib's deflate (src/compression/zlib-stream.ts).
// Envoy's defaults: compression_level DEFAULT_COMPRESSION (zlib's 6), memory_level 5, window_bits
// 12, strategy DEFAULT_STRATEGY, chunk_size 4096 (zlib's output buffer; see outputChunk).
import { ExtensionCategory, type CompressorModule } from '../../../types.ts';
import { zlib, zlibCodecFactory } from '../../../../compression/zlib-stream.ts';

const TYPE = 'envoy.extensions.compression.gzip.compressor.v3.Gzip';

export interface GzipCompressorSnap {
  level: number;
  memLevel: number;
  windowBits: number;
  strategy: number;
  chunkSize: number;
}

const LEVELS: Readonly<Record<string, number>> = {
  DEFAULT_COMPRESSION: zlib.constants.Z_DEFAULT_COMPRESSION, BEST_SPEED: 1, BEST_COMPRESSION: 9,
  COMPRESSION_LEVEL_1: 1, COMPRESSION_LEVEL_2: 2, COMPRESSION_LEVEL_3: 3, COMPRESSION_LEVEL_4: 4,
  COMPRESSION_LEVEL_5: 5, COMPRESSION_LEVEL_6: 6, COMPRESSION_LEVEL_7: 7, COMPRESSION_LEVEL_8: 8,
  COMPRESSION_LEVEL_9: 9,
};

const STRATEGIES: Readonly<Record<string, number>> = {
  DEFAULT_STRATEGY: zlib.constants.Z_DEFAULT_STRATEGY, FILTERED: zlib.constants.Z_FILTERED,
  HUFFMAN_ONLY: zlib.constants.Z_HUFFMAN_ONLY, RLE: zlib.constants.Z_RLE, FIXED: zlib.constants.Z_FIXED,
};

const gzipCompressor: CompressorModule<GzipCompressorSnap> = {
  name: 'envoy.compression.gzip.compressor',
  category: ExtensionCategory.Compressor,
  types: [TYPE],
  contentEncoding: 'gzip',
  statsPrefix: 'gzip.',
  fields: { [TYPE]: ['memory_level', 'compression_level', 'compression_strategy', 'window_bits', 'chunk_size'] },
  protos: ['envoy/extensions/compression/gzip/compressor/v3/gzip.proto'],
  compile(tc) {
    return {
      level: LEVELS[tc.compression_level ?? 'DEFAULT_COMPRESSION'] ?? zlib.constants.Z_DEFAULT_COMPRESSION,
      memLevel: tc.memory_level ?? 5,
      windowBits: tc.window_bits ?? 12,
      strategy: STRATEGIES[tc.compression_strategy ?? 'DEFAULT_STRATEGY'] ?? zlib.constants.Z_DEFAULT_STRATEGY,
      chunkSize: tc.chunk_size ?? 4096,
    };
  },
  createCodecFactory(s) {
    const opts: zlib.ZlibOptions = {
      level: s.level, memLevel: s.memLevel, windowBits: s.windowBits, strategy: s.strategy,
      flush: zlib.constants.Z_SYNC_FLUSH, finishFlush: zlib.constants.Z_FINISH,
    };
    return zlibCodecFactory(() => zlib.createGzip(opts), s.chunkSize);
  },
};
export default gzipCompressor;
