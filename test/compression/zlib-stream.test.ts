// src/compression/zlib-stream.ts: each write's output is flushed (decodable up to there before the
// stream ends), output comes in order with the end last, pendingBytes measures what zlib has not
// coded yet, the inflate ratio guard, and silence after destroy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import zlib from 'node:zlib';
import { ZlibCodec } from '../../src/compression/zlib-stream.ts';
import type { CodecSink } from '../../src/compression/types.ts';

function sink(): CodecSink & { out: Buffer[]; ends: number; errors: string[]; next(): Promise<void> } {
  let wake: (() => void) | null = null;
  const s = {
    out: [] as Buffer[], ends: 0, errors: [] as string[],
    onCodecOutput(d: Buffer, end: boolean) { s.out.push(d); if (end) s.ends++; wake?.(); },
    onCodecError(code: string) { s.errors.push(code); wake?.(); },
    next: () => new Promise<void>((r) => { wake = r; }),
  };
  return s;
}

test('every write is flushed: what came out so far decodes to what went in so far', async () => {
  const s = sink();
  const c = new ZlibCodec(zlib.createGzip({ flush: zlib.constants.Z_SYNC_FLUSH }), s);
  const inflate = zlib.createGunzip();
  const got: Buffer[] = [];
  inflate.on('data', (d: Buffer) => got.push(d));
  for (const part of ['event: one\n\n', 'event: two\n\n']) {
    const p = s.next();
    c.write(Buffer.from(part), false);
    assert.ok(c.pendingBytes > 0);
    await p;
    assert.equal(c.pendingBytes, 0);
    inflate.write(s.out.at(-1)!);
    // (The gunzip side is asynchronous too.)
    for (let i = 0; i < 100 && !Buffer.concat(got).toString().endsWith(part); i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(Buffer.concat(got).toString().endsWith(part), Buffer.concat(got).toString());
  }
  const p = s.next();
  c.write(Buffer.alloc(0), true);
  await p;
  assert.equal(s.ends, 1);
  assert.equal(zlib.gunzipSync(Buffer.concat(s.out)).toString(), 'event: one\n\nevent: two\n\n');
});

test('max inflate ratio: more output than ratio x input fails with RATIO', async () => {
  const s = sink();
  const c = new ZlibCodec(zlib.createGunzip(), s, 100);
  const p = s.next();
  c.write(zlib.gzipSync(Buffer.alloc(1 << 20)), true);
  await p;
  assert.deepEqual(s.errors, ['RATIO']);
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(s.ends, 0);
});

test('after destroy nothing is reported', async () => {
  const s = sink();
  const c = new ZlibCodec(zlib.createBrotliCompress(), s);
  c.write(Buffer.alloc(100_000, 'x'), true);
  c.destroy();
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(s.out.length + s.errors.length, 0);
});
