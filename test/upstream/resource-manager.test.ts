import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ResourceManager, RESOURCE_SLOTS } from '../../src/upstream/resource-manager.ts';

const LIMITS = { maxConnections: 2, maxPendingRequests: 1, maxRequests: 3, maxRetries: 0 };

test('canCreate holds until count reaches max; dec frees a slot', () => {
  const rm = new ResourceManager(LIMITS);
  const r = rm.connections;
  assert.equal(r.max, 2);
  assert.equal(r.count, 0);
  assert.ok(r.canCreate());
  r.inc();
  assert.ok(r.canCreate());
  r.inc();
  assert.equal(r.count, 2);
  assert.equal(r.canCreate(), false);
  r.dec();
  assert.ok(r.canCreate());
  // A limit of 0 refuses everything (max_retries: 0).
  assert.equal(rm.retries.canCreate(), false);
});

test('the four resources are independent', () => {
  const rm = new ResourceManager(LIMITS);
  rm.requests.inc();
  rm.requests.inc();
  assert.equal(rm.requests.count, 2);
  assert.equal(rm.connections.count, 0);
  assert.equal(rm.pendingRequests.count, 0);
  rm.pendingRequests.inc();
  assert.equal(rm.pendingRequests.canCreate(), false);
  assert.ok(rm.requests.canCreate());
});

test('counts live in the given Int32Array slice (a SharedArrayBuffer works the same)', () => {
  const counts = new Int32Array(new SharedArrayBuffer(4 * RESOURCE_SLOTS * 2));
  const a = new ResourceManager(LIMITS, counts, 0);
  const b = new ResourceManager(LIMITS, counts, RESOURCE_SLOTS);
  // Two managers over the same slice share their counts: what makes a limit process-wide.
  const a2 = new ResourceManager(LIMITS, counts, 0);
  a.connections.inc();
  a2.connections.inc();
  assert.equal(a.connections.count, 2);
  assert.equal(a.connections.canCreate(), false);
  assert.equal(b.connections.count, 0);
  assert.deepEqual([...counts], [2, 0, 0, 0, 0, 0, 0, 0]);
  assert.throws(() => new ResourceManager(LIMITS, counts, RESOURCE_SLOTS + 1), RangeError);
});
