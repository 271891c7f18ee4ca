import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { HeldInput } from '../../src/network/held-input.ts';

function drain(h: HeldInput): Buffer[] {
  const out: Buffer[] = [];
  for (let b = h.shift(); b !== null; b = h.shift()) out.push(b);
  return out;
}

test('one-byte reads are held in order, copied (the caller may reuse its buffer) and coalesced', () => {
  const h = new HeldInput();
  const scratch = Buffer.alloc(1);
  const want = Buffer.alloc(100_000);
  for (let i = 0; i < want.length; i++) {
    want[i] = (i * 7) & 0xff;
    scratch[0] = want[i];
    h.push(scratch);
  }
  assert.equal(h.bytes, want.length);
  const chunks = drain(h);
  assert.ok(chunks.length <= Math.ceil(want.length / 16384) + 1, `${chunks.length} chunks`);
  assert.deepEqual(Buffer.concat(chunks), want);
  assert.equal(h.bytes, 0);
});

test('held memory stays close to the bytes held, however small the reads', () => {
  const h = new HeldInput();
  const one = Buffer.from('x');
  const before = process.memoryUsage().arrayBuffers;
  const n = 200_000;
  for (let i = 0; i < n; i++) h.push(one);
  const grown = process.memoryUsage().arrayBuffers - before;
  assert.ok(grown < 2 * n + 64 * 1024, `ArrayBuffer memory grew ${grown} bytes for ${n} held`);
  assert.equal(drain(h).reduce((s, b) => s + b.length, 0), n);
});

test('pushFront comes first; a large read is one chunk after what the tail holds', () => {
  const h = new HeldInput();
  h.push(Buffer.from('ab'));
  const big = Buffer.alloc(20_000, 0x62);
  h.push(big);
  h.push(Buffer.from('cd'));
  h.pushFront(Buffer.from('01'));
  assert.equal(h.bytes, 2 + 20_000 + 2 + 2);
  const chunks = drain(h).map((b) => b.toString('latin1'));
  assert.deepEqual(chunks, ['01', 'ab', big.toString('latin1'), 'cd']);
});

test('pushFront keeps a buffer that is not the shared read buffer as it is (no copy per pipelined request)', () => {
  const h = new HeldInput();
  const own = Buffer.from('GET / HTTP/1.1\r\n\r\n');
  h.pushFront(own.subarray(6));
  const b = h.shift()!;
  assert.equal(b.buffer, own.buffer);
  assert.equal(b.toString('latin1'), 'HTTP/1.1\r\n\r\n');
});
