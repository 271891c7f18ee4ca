// piscina task of perf/compress-offload.ts: one slice coded as its own gzip member.
import zlib from 'node:zlib';
export default function compress(slice) {
  const out = zlib.gzipSync(slice);
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}
