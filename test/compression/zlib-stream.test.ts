// src/compression/zlib-stream.ts: a frame is coded in the call and flushed (decodable up to there
// before the stream ends), its output a view valid during the call; a frame larger than a slice is coded over later loop turns, in order,
// with pendingBytes counting what waits; the inflate ratio guard and corrupt input fail the stream;
// nothing is reported after destroy; coders are reset and reused, failed ones are not.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import zlib from 'node:zlib';
import { zlibCodecFactory } from '../../src/compression/zlib-stream.ts';
import type { CodecSink } from '../../src/compression/types.ts';
import { inReadBuffer, retain } from '../../src/network/socket-owner.ts';

const Z = zlib.constants;

function sink(): CodecSink & { out: Buffer[]; volatile: number; ends: number; errors: string[]; ended(): Promise<void> } {
  const s = {
    out: [] as Buffer[], volatile: 0, ends: 0, errors: [] as string[],
    // The output is valid only during the call (a view of the coder's output buffer, as a read's
    // data is of the read buffer): kept, it is retained.
    onCodecOutput(d: Buffer, end: boolean) {
      if (inReadBuffer(d)) s.volatile++;
      s.out.push(retain(d));
      if (end) s.ends++;
    },
    onCodecError(code: string) { s.errors.push(code); },
    async ended() {
      for (let i = 0; i < 500 && s.ends === 0 && s.errors.length === 0; i++) await new Promise((r) => setImmediate(r));
    },
  };
  return s;
}

const gzipFactory = () => zlibCodecFactory(() => zlib.createGzip({ flush: Z.Z_SYNC_FLUSH, finishFlush: Z.Z_FINISH }), 4096);

/** A partial gzip stream decoded as far as it goes. */
const gunzipSoFar = (parts: Buffer[]) => zlib.gunzipSync(Buffer.concat(parts), { finishFlush: Z.Z_SYNC_FLUSH }).toString();

test('a frame is coded in the call and flushed: what came out so far decodes to what went in so far', () => {
  const f = gzipFactory();
  const s = sink();
  const c = f.create(s);
  c.write(Buffer.from('event: one\n\n'), false);
  assert.equal(s.out.length, 1);
  assert.equal(c.pendingBytes, 0);
  assert.equal(gunzipSoFar(s.out), 'event: one\n\n');
  c.write(Buffer.from('event: two\n\n'), false);
  assert.equal(gunzipSoFar(s.out), 'event: one\n\nevent: two\n\n');
  c.write(Buffer.alloc(0), true);
  assert.equal(s.ends, 1);
  assert.equal(zlib.gunzipSync(Buffer.concat(s.out)).toString(), 'event: one\n\nevent: two\n\n');
  // Handed on as views of the coder's output buffer, which retain() copies.
  assert.equal(s.volatile, 3);
  // Written after the end: ignored.
  c.write(Buffer.from('more'), false);
  assert.equal(s.ends, 1);
});

test('a frame larger than a slice is coded a slice per loop turn, in order, pendingBytes counting the rest', async () => {
  const f = gzipFactory();
  const s = sink();
  const c = f.create(s);
  const body = Buffer.from(Array.from({ length: 60_000 }, (_, i) => `line ${i}\n`).join(''));
  assert.ok(body.length > 4 * f.sliceBytes, `${body.length} vs slice ${f.sliceBytes}`);
  c.write(body.subarray(0, 100), false);
  c.write(body.subarray(100), false);
  // The first slice of the large frame now, the rest later.
  assert.ok(c.pendingBytes > 0 && c.pendingBytes < body.length - 100, String(c.pendingBytes));
  // Queued behind it, not coded ahead of it.
  c.write(Buffer.from('the end\n'), true);
  await s.ended();
  assert.equal(s.ends, 1);
  assert.equal(c.pendingBytes, 0);
  assert.ok(s.out.length > 2, `${s.out.length} outputs`);
  assert.equal(zlib.gunzipSync(Buffer.concat(s.out)).toString(), `${body.toString()}the end\n`);
});

test('max inflate ratio: more output than ratio x input fails with RATIO, and nothing ends', () => {
  const f = zlibCodecFactory(() => zlib.createGunzip(), 4096, 100);
  const s = sink();
  f.create(s).write(zlib.gzipSync(Buffer.alloc(1 << 20)), true);
  assert.deepEqual(s.errors, ['RATIO']);
  assert.equal(s.ends, 0);
});

test('corrupt input fails with zlib\'s code; the failed coder is not reused', () => {
  const f = zlibCodecFactory(() => zlib.createGunzip(), 4096);
  const idle = f.idle;
  const s = sink();
  const c = f.create(s);
  assert.equal(f.idle, idle - 1);
  c.write(Buffer.from('this is not gzip at all'), false);
  assert.deepEqual(s.errors, ['Z_DATA_ERROR']);
  c.write(Buffer.from('more'), true);
  assert.equal(s.ends, 0);
  assert.equal(f.idle, idle - 1);
  // The next stream gets a good coder.
  const s2 = sink();
  f.create(s2).write(zlib.gzipSync('fine'), true);
  assert.equal(Buffer.concat(s2.out).toString(), 'fine');
  assert.equal(s2.ends, 1);
});

test('a truncated stream fails at its end', () => {
  const f = zlibCodecFactory(() => zlib.createGunzip(), 4096);
  const s = sink();
  const c = f.create(s);
  const whole = zlib.gzipSync(Buffer.alloc(10_000, 'x'));
  c.write(whole.subarray(0, whole.length - 6), false);
  assert.deepEqual(s.errors, []);
  c.write(Buffer.alloc(0), true);
  assert.deepEqual(s.errors, ['Z_BUF_ERROR']);
  assert.equal(s.ends, 0);
});

test('coders are reset and reused: the next stream codes the same bytes the same way', () => {
  for (const make of [
    () => zlib.createGzip({ flush: Z.Z_SYNC_FLUSH }),
    () => zlib.createBrotliCompress({ flush: Z.BROTLI_OPERATION_FLUSH, finishFlush: Z.BROTLI_OPERATION_FINISH }),
    () => zlib.createZstdCompress({ flush: Z.ZSTD_e_flush, finishFlush: Z.ZSTD_e_end }),
  ]) {
    const f = zlibCodecFactory(make, 4096);
    const outputs: Buffer[] = [];
    for (let i = 0; i < 3; i++) {
      const s = sink();
      const c = f.create(s);
      c.write(Buffer.from('hello hello hello '.repeat(100)), false);
      c.write(Buffer.from('bye'), true);
      assert.equal(s.ends, 1);
      outputs.push(Buffer.concat(s.out));
      assert.equal(f.idle, 1);
    }
    assert.ok(outputs[1]!.equals(outputs[0]!) && outputs[2]!.equals(outputs[0]!));
  }
});

test('after destroy nothing is reported, and the coder is kept for the next stream', async () => {
  const f = zlibCodecFactory(() => zlib.createBrotliCompress(), 4096);
  const s = sink();
  const c = f.create(s);
  c.write(Buffer.alloc(1_000_000, 'x'), true);
  const reported = s.out.length;
  assert.ok(c.pendingBytes > 0);
  c.destroy();
  assert.equal(c.pendingBytes, 0);
  assert.equal(f.idle, 1);
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  assert.equal(s.out.length, reported);
  assert.equal(s.ends + s.errors.length, 0);
  const s2 = sink();
  f.create(s2).write(Buffer.from('after'), true);
  assert.equal(zlib.brotliDecompressSync(Buffer.concat(s2.out)).toString(), 'after');
});
