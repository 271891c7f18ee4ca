import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { schedule, cancel, TICK_MS, type Expirable } from '../../src/common/timer-wheel.ts';

class T implements Expirable {
  timerTick = -1;
  timerIndex = -1;
  firedAt = -1;
  onExpire(): void { this.firedAt = performance.now(); }
}

test('timeouts fire once, not before their deadline and within a tick after; cancelled ones never', async () => {
  const start = performance.now();
  const ts = Array.from({ length: 30 }, () => new T());
  ts.forEach((t, i) => schedule(t, 100 + (i % 3) * 60));
  // Cancel every other one, from the middle of buckets too (swap-remove).
  for (let i = 0; i < ts.length; i += 2) cancel(ts[i]);
  // Re-scheduling moves a timer.
  const moved = new T();
  schedule(moved, 1000);
  schedule(moved, 80);
  await sleep(400);
  ts.forEach((t, i) => {
    if (i % 2 === 0) {
      assert.equal(t.firedAt, -1, `cancelled timer ${i} fired`);
    } else {
      const due = 100 + (i % 3) * 60;
      const late = t.firedAt - start;
      assert.ok(late >= due - 1, `timer ${i} fired early: ${late} < ${due}`);
      assert.ok(late <= due + TICK_MS + 60, `timer ${i} fired late: ${late}`);
      assert.equal(t.timerTick, -1);
    }
  });
  assert.ok(moved.firedAt > 0 && moved.firedAt - start < 300);
});

test('uuidV4 gives RFC 9562 version-4 ids, all distinct', async () => {
  const { uuidV4 } = await import('../../src/common/uuid.ts');
  const seen = new Set<string>();
  for (let i = 0; i < 10_000; i++) {
    const u = uuidV4();
    assert.match(u, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    seen.add(u);
  }
  assert.equal(seen.size, 10_000);
});
