import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RingQueue } from '../../src/common/ring-queue.ts';

test('ring queue keeps FIFO order across growth and wrap-around', () => {
  const q = new RingQueue<number>(2);
  const model: number[] = [];
  let next = 0;
  for (let round = 0; round < 200; round++) {
    const pushes = (round * 7) % 13;
    for (let i = 0; i < pushes; i++) { q.push(next); model.push(next); next++; }
    const pops = (round * 5) % 11;
    for (let i = 0; i < pops; i++) assert.equal(q.shift(), model.shift());
    assert.equal(q.length, model.length);
    assert.equal(q.peek(), model[0]);
  }
});

test('remove takes an element out of the middle and keeps the rest in order', () => {
  const q = new RingQueue<string>();
  for (const s of ['a', 'b', 'c', 'd']) q.push(s);
  assert.equal(q.remove('b'), true);
  assert.equal(q.remove('zz'), false);
  assert.deepEqual([q.shift(), q.shift(), q.shift(), q.shift()], ['a', 'c', 'd', undefined]);
});
