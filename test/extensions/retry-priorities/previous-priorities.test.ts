// envoy.retry_priorities.previous_priorities: the priority load of a request's retries. The tests
// marked "Envoy: <Test>" are ported from Envoy's
// test/extensions/retry/priority/previous_priorities/config_test.cc (RetryPriorityTest): the same
// host sets, attempts and expected loads. Envoy's tests hand the plugin an original load of their
// own; here it is the cluster's own (PriorityLoad), which for those host sets is the one the tests
// give (NoHealthyUpstreams aside: there every priority is in panic, and the load is by host count).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Host, HealthFlag, PrioritySet } from '../../../src/upstream/host.ts';
import { PriorityLoad, type RetryPriority } from '../../../src/upstream/load-balancer.ts';
import previousPriorities, { NAME } from '../../../src/extensions/retry-priorities/previous-priorities/index.ts';
import { retryPriority } from '../../../src/extensions/registry.ts';
import { TestSink, hostSnap } from '../../upstream/fixtures.ts';

const sink = new TestSink();
let port = 1;

/** Envoy's addHosts: `count` hosts at `priority`, `healthy` of them healthy, `degraded` degraded. */
function addHosts(ps: PrioritySet, priority: number, count: number, healthy: number, degraded = 0): void {
  const hosts = Array.from({ length: count }, (_, i) => Host.fromSnap(hostSnap(sink, '10.0.0.1', port++, {
    priority,
    healthFlags: i < healthy ? 0 : i < healthy + degraded ? HealthFlag.DEGRADED_ACTIVE_HC : HealthFlag.FAILED_ACTIVE_HC,
  })));
  ps.updateHosts(priority, hosts);
}
function hostAt(priority: number): Host {
  return Host.fromSnap(hostSnap(sink, '10.0.0.2', port++, { priority }));
}

/** What a pick would use: the retry priority's load, or (null) the cluster's. */
function loads(rp: RetryPriority, pl: PriorityLoad): [readonly number[], readonly number[]] {
  const l = rp.determinePriorityLoad(pl);
  return l === null ? [pl.healthyLoad, pl.degradedLoad] : [l.healthy, l.degraded];
}

function make(updateFrequency = 1): RetryPriority {
  return previousPriorities.createRetryPriority({ updateFrequency });
}

test('Envoy: DefaultFrequency (P0 tried: P1 gets everything; both tried: back to the original)', () => {
  const ps = new PrioritySet();
  addHosts(ps, 0, 2, 2);
  addHosts(ps, 1, 2, 2);
  const pl = new PriorityLoad(ps);
  const rp = make();
  assert.deepEqual(loads(rp, pl), [[100, 0], [0, 0]]);
  assert.equal(rp.determinePriorityLoad(pl), null, 'no host attempted: the cluster\'s own load');
  rp.onHostAttempted(hostAt(0));
  assert.deepEqual(loads(rp, pl), [[0, 100], [0, 0]]);
  rp.onHostAttempted(hostAt(1));
  assert.deepEqual(loads(rp, pl), [[100, 0], [0, 0]]);
});

test('Envoy: NoHealthyUpstreams (no availability anywhere: the original load)', () => {
  const ps = new PrioritySet();
  addHosts(ps, 0, 10, 0);
  addHosts(ps, 1, 10, 0);
  addHosts(ps, 2, 10, 0);
  const pl = new PriorityLoad(ps);
  const rp = make();
  assert.equal(rp.determinePriorityLoad(pl), null);
  rp.onHostAttempted(hostAt(0));
  assert.equal(rp.determinePriorityLoad(pl), null);
  assert.deepEqual(pl.healthyLoad, [34, 33, 33], 'the cluster\'s (total panic: by host count)');
});

test('Envoy: DefaultFrequencyUnhealthyPriorities (spill over the priorities not tried yet)', () => {
  const ps = new PrioritySet();
  addHosts(ps, 0, 10, 3);
  addHosts(ps, 1, 10, 2);
  addHosts(ps, 2, 10, 10);
  const pl = new PriorityLoad(ps);
  const rp = make();
  assert.deepEqual(loads(rp, pl), [[42, 28, 30], [0, 0, 0]]);
  rp.onHostAttempted(hostAt(0));
  assert.deepEqual(loads(rp, pl), [[0, 28, 72], [0, 0, 0]]);
  rp.onHostAttempted(hostAt(1));
  assert.deepEqual(loads(rp, pl), [[0, 0, 100], [0, 0, 0]]);
  rp.onHostAttempted(hostAt(2));
  assert.deepEqual(loads(rp, pl), [[42, 28, 30], [0, 0, 0]]);
});

test('Envoy: DefaultFrequencyUnhealthyPrioritiesDegradedLoad (the same with degraded hosts)', () => {
  const ps = new PrioritySet();
  addHosts(ps, 0, 10, 0, 3);
  addHosts(ps, 1, 10, 0, 2);
  addHosts(ps, 2, 10, 0, 10);
  const pl = new PriorityLoad(ps);
  const rp = make();
  assert.deepEqual(loads(rp, pl), [[0, 0, 0], [42, 28, 30]]);
  rp.onHostAttempted(hostAt(0));
  assert.deepEqual(loads(rp, pl), [[0, 0, 0], [0, 28, 72]]);
  rp.onHostAttempted(hostAt(1));
  assert.deepEqual(loads(rp, pl), [[0, 0, 0], [0, 0, 100]]);
  rp.onHostAttempted(hostAt(2));
  assert.deepEqual(loads(rp, pl), [[0, 0, 0], [42, 28, 30]]);
});

test('Envoy: DefaultFrequencyUnhealthyPrioritiesDegradedLoadSpillover (healthy and degraded load together)', () => {
  const ps = new PrioritySet();
  addHosts(ps, 0, 10, 0, 3);
  addHosts(ps, 1, 10, 9, 1);
  addHosts(ps, 2, 10, 2, 0);
  const pl = new PriorityLoad(ps);
  const rp = make();
  assert.deepEqual(loads(rp, pl), [[0, 100, 0], [0, 0, 0]]);
  rp.onHostAttempted(hostAt(1));
  assert.deepEqual(loads(rp, pl), [[0, 0, 40], [60, 0, 0]]);
  rp.onHostAttempted(hostAt(2));
  assert.deepEqual(loads(rp, pl), [[0, 0, 0], [100, 0, 0]]);
  rp.onHostAttempted(hostAt(0));
  assert.deepEqual(loads(rp, pl), [[0, 100, 0], [0, 0, 0]]);
});

test('Envoy: OverridenFrequency (update_frequency 2: the load changes after the second attempt)', () => {
  const ps = new PrioritySet();
  addHosts(ps, 0, 2, 2);
  addHosts(ps, 1, 2, 2);
  const pl = new PriorityLoad(ps);
  const rp = make(2);
  assert.deepEqual(loads(rp, pl), [[100, 0], [0, 0]]);
  rp.onHostAttempted(hostAt(0));
  assert.deepEqual(loads(rp, pl), [[100, 0], [0, 0]]);
  rp.onHostAttempted(hostAt(0));
  assert.deepEqual(loads(rp, pl), [[0, 100], [0, 0]]);
  // Between updates the last load holds.
  rp.onHostAttempted(hostAt(1));
  assert.deepEqual(loads(rp, pl), [[0, 100], [0, 0]]);
});

test('the exclusions accumulate; an excluded priority\'s availability comes back only when all are tried', () => {
  const ps = new PrioritySet();
  addHosts(ps, 0, 4, 2);
  addHosts(ps, 1, 4, 2);
  addHosts(ps, 2, 4, 4);
  const pl = new PriorityLoad(ps);
  // 70 / 30 / 0 for the cluster.
  assert.deepEqual(pl.healthyLoad, [70, 30, 0]);
  const rp = make();
  rp.onHostAttempted(hostAt(0));
  // P1 70, P2 100: capped at 100 in all, so 70 / 30.
  assert.deepEqual(loads(rp, pl), [[0, 70, 30], [0, 0, 0]]);
  rp.onHostAttempted(hostAt(1));
  assert.deepEqual(loads(rp, pl), [[0, 0, 100], [0, 0, 0]]);
});

test('a pick through PriorityLoad follows the retry priority\'s load (Envoy\'s chooseHostSet)', () => {
  const ps = new PrioritySet();
  addHosts(ps, 0, 2, 2);
  addHosts(ps, 1, 2, 2);
  const pl = new PriorityLoad(ps);
  const rp = make();
  assert.equal(pl.chooseForRetry(rp, 42), ps.hostSetsPerPriority[0].healthyHosts);
  rp.onHostAttempted(hostAt(0));
  for (let h = 0; h < 100; h++) assert.equal(pl.chooseForRetry(rp, h), ps.hostSetsPerPriority[1].healthyHosts);
  // The usual pick is untouched.
  assert.equal(pl.chooseRandom(null), ps.hostSetsPerPriority[0].healthyHosts);
  assert.equal(pl.chooseRandom({ downstreamHeaders: () => null, computeHashKey: () => null, retryPriority: rp }),
    ps.hostSetsPerPriority[1].healthyHosts);
});

test('the registry makes one per request from the compiled config', () => {
  const a = retryPriority({ name: NAME, config: { updateFrequency: 1 } });
  const b = retryPriority({ name: NAME, config: { updateFrequency: 1 } });
  assert.notEqual(a, b);
  const ps = new PrioritySet();
  addHosts(ps, 0, 1, 1);
  addHosts(ps, 1, 1, 1);
  a.onHostAttempted(hostAt(0));
  const pl = new PriorityLoad(ps);
  assert.deepEqual(loads(a, pl), [[0, 100], [0, 0]]);
  assert.deepEqual(loads(b, pl), [[100, 0], [0, 0]]);
});
