// envoy.compression.zstd.compressor (envoy.extensions.compression.zstd.compressor.v3.Zstd): zstd
// for the compressor filter, on node:zlib's zstd encoder (Node >= 23.8). Envoy's
// defaults: compression_level 3 (0 is zstd's default, 3), no checksum, strategy DEFAULT (zstd
// picks from the level), chunk_size 4096. `dictionary` is refused by the field table.
import { ExtensionCategory, type CompressorModule } from '../../../types.ts';
import { zlib, zlibCodecFactory } from '../../../../compression/zlib-stream.ts';

const TYPE = 'envoy.extensions.compression.zstd.compressor.v3.Zstd';
const Z = zlib.constants;

export interface ZstdCompressorSnap {
  level: number;
  checksum: boolean;
  strategy: number;
  chunkSize: number;
}

const STRATEGIES: readonly string[] = ['DEFAULT', 'FAST', 'DFAST', 'GREEDY', 'LAZY', 'LAZY2', 'BTLAZY2', 'BTOPT', 'BTULTRA', 'BTULTRA2'];

const zstdCompressor: CompressorModule<ZstdCompressorSnap> = {
  name: 'envoy.compression.zstd.compressor',
  category: ExtensionCategory.Compressor,
  types: [TYPE],
  contentEncoding: 'zstd',
  statsPrefix: 'zstd.',
  fields: { [TYPE]: ['compression_level', 'enable_checksum', 'strategy', 'chunk_size'] },
  protos: ['envoy/extensions/compression/zstd/compressor/v3/zstd.proto'],
  compile(tc, ctx) {
    const level: number = tc.compression_level ?? 3;
    // zstd's levels go to 22 (ZSTD_maxCLevel); Envoy leaves the check to zstd, which clamps.
    if (level > 22) ctx.fail(`${ctx.path}.compression_level`, `must be at most 22 (zstd's maximum level), got ${level}`);
    const strategy = STRATEGIES.indexOf(tc.strategy ?? 'DEFAULT');
    return { level: level === 0 ? 3 : level, checksum: tc.enable_checksum === true, strategy: Math.max(strategy, 0), chunkSize: tc.chunk_size ?? 4096 };
  },
  createCodecFactory(s) {
    const params: Record<number, number> = {
      [Z.ZSTD_c_compressionLevel]: s.level,
      [Z.ZSTD_c_checksumFlag]: s.checksum ? 1 : 0,
    };
    if (s.strategy !== 0) params[Z.ZSTD_c_strategy] = s.strategy;
    const opts = { flush: Z.ZSTD_e_flush, finishFlush: Z.ZSTD_e_end, params };
    return zlibCodecFactory(() => zlib.createZstdCompress(opts), s.chunkSize);
  },
};
export default zstdCompressor;
