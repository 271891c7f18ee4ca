import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import {
  Resource, ResourceManager, RetryBudget, retryBudgetMax,
  RESOURCE_PENDING_REQUESTS, RESOURCE_REQUESTS, RESOURCE_RETRIES, RESOURCE_SLOTS,
} from '../../src/upstream/resource-manager.ts';

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

test('retryBudgetMax: budget_percent of active + pending, truncated, never below min_retry_concurrency', () => {
  const b = { budgetPercent: 20, minRetryConcurrency: 3 };
  assert.equal(retryBudgetMax(b, 0), 3);
  assert.equal(retryBudgetMax(b, 19), 3); // 3.8 -> 3
  assert.equal(retryBudgetMax(b, 20), 4);
  assert.equal(retryBudgetMax(b, 24), 4); // 4.8 truncates, as Envoy's conversion to uint64
  assert.equal(retryBudgetMax(b, 25), 5); // the proto's example: 25 active requests, 5 retries
  assert.equal(retryBudgetMax({ budgetPercent: 0, minRetryConcurrency: 0 }, 1000), 0);
  assert.equal(retryBudgetMax({ budgetPercent: 100, minRetryConcurrency: 0 }, 7), 7);
});

test('a retry budget over shared counts: other threads\' requests and pending requests widen it; max_retries is ignored', async () => {
  // The process's counts, as main/server.ts shares them: this thread's manager and a worker thread
  // write the same slice.
  const sab = new SharedArrayBuffer(4 * RESOURCE_SLOTS);
  const counts = new Int32Array(sab);
  const rm = new ResourceManager({ ...LIMITS, maxRetries: 0, retryBudget: { budgetPercent: 50, minRetryConcurrency: 1 } }, counts, 0);
  assert.ok(rm.retries instanceof RetryBudget);
  // max_retries 0 would refuse every retry; the budget's minimum lets one through.
  assert.equal(rm.retries.max, 1);
  assert.ok(rm.retries.canCreate());
  rm.retries.inc();
  assert.equal(rm.retries.canCreate(), false);
  // Another thread has four requests in flight and two waiting for a connection: 50% of 6 is 3.
  const w = new Worker(`
    const { workerData, parentPort } = require('node:worker_threads');
    const c = new Int32Array(workerData);
    Atomics.add(c, ${RESOURCE_REQUESTS}, 4);
    Atomics.add(c, ${RESOURCE_PENDING_REQUESTS}, 2);
    Atomics.add(c, ${RESOURCE_RETRIES}, 1);
    parentPort.postMessage('done');`, { eval: true, workerData: sab });
  await once(w, 'message');
  await w.terminate();
  assert.equal(rm.requests.count, 4);
  assert.equal(rm.retries.max, 3);
  assert.equal(rm.retries.count, 2, 'its retry counts too');
  assert.ok(rm.retries.canCreate());
  rm.retries.inc();
  assert.equal(rm.retries.canCreate(), false);
  // The load falls: the budget shrinks under the retries already held (they are not taken back).
  Atomics.sub(counts, RESOURCE_REQUESTS, 4);
  assert.equal(rm.retries.max, 1);
  assert.equal(rm.retries.canCreate(), false);
  rm.retries.dec();
  rm.retries.dec();
  assert.equal(rm.retries.canCreate(), false, '1 retry left, and 50% of 2 pending is 1');
  rm.retries.dec();
  assert.ok(rm.retries.canCreate());
  assert.deepEqual([...counts], [0, 2, 0, 0]);
});

test('no retry budget: the max_retries breaker', () => {
  const rm = new ResourceManager({ ...LIMITS, maxRetries: 2, retryBudget: null });
  assert.ok(rm.retries instanceof Resource);
  assert.equal(rm.retries.max, 2);
  rm.requests.inc();
  rm.retries.inc();
  rm.retries.inc();
  assert.equal(rm.retries.canCreate(), false);
});
