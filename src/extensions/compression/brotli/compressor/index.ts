// envoy.compression.brotli.compressor (envoy.extensions.compression.brotli.compressor.v3.Brotli):
// brotli (`br`) for the compressor filter, on node:zlib's brotli encoder
// (src/compression/zlib-stream.ts). Envoy's defaults: quality 3, window_bits 18, input_block_bits
// 24, encoder_mode DEFAULT (brotli's generic mode), literal context modeling on, chunk_size 4096.
import { ExtensionCategory, type CompressorModule } from '../../../types.ts';
import { zlib, zlibCodecFactory } from '../../../../compression/zlib-stream.ts';

const TYPE = 'envoy.extensions.compression.brotli.compressor.v3.Brotli';
const Z = zlib.constants;

export interface BrotliCompressorSnap {
  quality: number;
  windowBits: number;
  inputBlockBits: number;
  mode: number;
  disableLiteralContextModeling: boolean;
  chunkSize: number;
}

const MODES: Readonly<Record<string, number>> = {
  DEFAULT: Z.BROTLI_DEFAULT_MODE, GENERIC: Z.BROTLI_MODE_GENERIC, TEXT: Z.BROTLI_MODE_TEXT, FONT: Z.BROTLI_MODE_FONT,
};

const brotliCompressor: CompressorModule<BrotliCompressorSnap> = {
  name: 'envoy.compression.brotli.compressor',
  category: ExtensionCategory.Compressor,
  types: [TYPE],
  contentEncoding: 'br',
  statsPrefix: 'brotli.',
  fields: {
    [TYPE]: ['quality', 'encoder_mode', 'window_bits', 'input_block_bits', 'chunk_size', 'disable_literal_context_modeling'],
  },
  protos: ['envoy/extensions/compression/brotli/compressor/v3/brotli.proto'],
  compile(tc) {
    return {
      quality: tc.quality ?? 3,
      windowBits: tc.window_bits ?? 18,
      inputBlockBits: tc.input_block_bits ?? 24,
      mode: MODES[tc.encoder_mode ?? 'DEFAULT'] ?? Z.BROTLI_DEFAULT_MODE,
      disableLiteralContextModeling: tc.disable_literal_context_modeling === true,
      chunkSize: tc.chunk_size ?? 4096,
    };
  },
  createCodecFactory(s) {
    const opts: zlib.BrotliOptions = {
      flush: Z.BROTLI_OPERATION_FLUSH, finishFlush: Z.BROTLI_OPERATION_FINISH,
      params: {
        [Z.BROTLI_PARAM_QUALITY]: s.quality,
        [Z.BROTLI_PARAM_LGWIN]: s.windowBits,
        [Z.BROTLI_PARAM_LGBLOCK]: s.inputBlockBits,
        [Z.BROTLI_PARAM_MODE]: s.mode,
        [Z.BROTLI_PARAM_DISABLE_LITERAL_CONTEXT_MODELING]: s.disableLiteralContextModeling ? 1 : 0,
      },
    };
    return zlibCodecFactory(() => zlib.createBrotliCompress(opts), s.chunkSize);
  },
};
export default brotliCompressor;
