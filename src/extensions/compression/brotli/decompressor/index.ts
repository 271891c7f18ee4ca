// envoy.compression.brotli.decompressor (envoy.extensions.compression.brotli.decompressor.v3.Brotli):
// brotli decoding for the decompressor filter (src/compression/zlib-stream.ts).
import { ExtensionCategory, type DecompressorModule } from '../../../types.ts';
import { zlib, zlibCodecFactory } from '../../../../compression/zlib-stream.ts';

const TYPE = 'envoy.extensions.compression.brotli.decompressor.v3.Brotli';
const Z = zlib.constants;

export interface BrotliDecompressorSnap {
  disableRingBufferReallocation: boolean;
  chunkSize: number;
}

const brotliDecompressor: DecompressorModule<BrotliDecompressorSnap> = {
  name: 'envoy.compression.brotli.decompressor',
  category: ExtensionCategory.Decompressor,
  types: [TYPE],
  contentEncoding: 'br',
  statsPrefix: 'brotli.',
  fields: { [TYPE]: ['disable_ring_buffer_reallocation', 'chunk_size'] },
  protos: ['envoy/extensions/compression/brotli/decompressor/v3/brotli.proto'],
  compile(tc) {
    return { disableRingBufferReallocation: tc.disable_ring_buffer_reallocation === true, chunkSize: tc.chunk_size ?? 4096 };
  },
  createCodecFactory(s) {
    const opts: zlib.BrotliOptions = {
      flush: Z.BROTLI_OPERATION_FLUSH,
      params: { [Z.BROTLI_DECODER_PARAM_DISABLE_RING_BUFFER_REALLOCATION]: s.disableRingBufferReallocation ? 1 : 0 },
    };
    return zlibCodecFactory(() => zlib.createBrotliDecompress(opts), s.chunkSize);
  },
};
export default brotliDecompressor;
