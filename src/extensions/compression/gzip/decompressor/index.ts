// envoy.compression.gzip.decompressor (envoy.extensions.compression.gzip.decompressor.v3.Gzip):
// gunzip for the decompressor filter (src/compression/zlib-stream.ts). window_bits
// (default 15), chunk_size (default 4096) and max_inflate_ratio (default 100: more output than
// that many times the input so far fails the stream, Envoy's guard against decompression bombs).
import { ExtensionCategory, type DecompressorModule } from '../../../types.ts';
import { zlib, zlibCodecFactory } from '../../../../compression/zlib-stream.ts';

const TYPE = 'envoy.extensions.compression.gzip.decompressor.v3.Gzip';

export interface GzipDecompressorSnap {
  windowBits: number;
  chunkSize: number;
  maxInflateRatio: number;
}

const gzipDecompressor: DecompressorModule<GzipDecompressorSnap> = {
  name: 'envoy.compression.gzip.decompressor',
  category: ExtensionCategory.Decompressor,
  types: [TYPE],
  contentEncoding: 'gzip',
  statsPrefix: 'gzip.',
  fields: { [TYPE]: ['window_bits', 'chunk_size', 'max_inflate_ratio'] },
  protos: ['envoy/extensions/compression/gzip/decompressor/v3/gzip.proto'],
  compile(tc) {
    return { windowBits: tc.window_bits ?? 15, chunkSize: tc.chunk_size ?? 4096, maxInflateRatio: tc.max_inflate_ratio ?? 100 };
  },
  createCodecFactory(s) {
    const opts: zlib.ZlibOptions = {
      windowBits: s.windowBits, flush: zlib.constants.Z_SYNC_FLUSH,
    };
    return zlibCodecFactory(() => zlib.createGunzip(opts), s.chunkSize, s.maxInflateRatio);
  },
};
export default gzipDecompressor;
