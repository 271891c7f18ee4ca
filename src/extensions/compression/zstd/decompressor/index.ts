// envoy.compression.zstd.decompressor (envoy.extensions.compression.zstd.decompressor.v3.Zstd):
// zstd decoding for the decompressor filter (src/compression/zlib-stream.ts).
// `dictionaries` is refused by the field table.
import { ExtensionCategory, type DecompressorModule } from '../../../types.ts';
import { zlib, zlibCodecFactory } from '../../../../compression/zlib-stream.ts';

const TYPE = 'envoy.extensions.compression.zstd.decompressor.v3.Zstd';

export interface ZstdDecompressorSnap {
  chunkSize: number;
}

const zstdDecompressor: DecompressorModule<ZstdDecompressorSnap> = {
  name: 'envoy.compression.zstd.decompressor',
  category: ExtensionCategory.Decompressor,
  types: [TYPE],
  contentEncoding: 'zstd',
  statsPrefix: 'zstd.',
  fields: { [TYPE]: ['chunk_size'] },
  protos: ['envoy/extensions/compression/zstd/decompressor/v3/zstd.proto'],
  compile(tc) {
    return { chunkSize: tc.chunk_size ?? 4096 };
  },
  createCodecFactory(s) {
    const opts = { flush: zlib.constants.ZSTD_e_flush };
    return zlibCodecFactory(() => zlib.createZstdDecompress(opts as zlib.ZstdOptions), s.chunkSize);
  },
};
export default zstdDecompressor;
