// Envoy's priority load (LoadBalancerBase): availability with the 1.4 overprovisioning factor,
// spill to lower priorities, degraded hosts, panic per priority and total panic, and the hash
// -> priority choice.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Host, HealthFlag, PrioritySet } from '../../src/upstream/host.ts';
import { PriorityLoad } from '../../src/upstream/load-balancer.ts';
import { TestSink, hostSnap } from './fixtures.ts';

const sink = new TestSink();
let port = 1;
function hosts(n: number, priority: number, flags = 0): Host[] {
  return Array.from({ length: n }, () => Host.fromSnap(hostSnap(sink, '10.0.0.1', port++, { priority, healthFlags: flags })));
}
const BAD = HealthFlag.FAILED_ACTIVE_HC;
const DEGRADED = HealthFlag.DEGRADED_ACTIVE_HC;

test('all healthy in P0: it takes all the load, one source', () => {
  const ps = new PrioritySet();
  ps.updateHosts(0, hosts(3, 0));
  ps.updateHosts(1, hosts(2, 1));
  const l = new PriorityLoad(ps);
  assert.deepEqual(l.healthyLoad, [100, 0]);
  assert.equal(l.onlySource, ps.hostSetsPerPriority[0].healthyHosts);
});

test('spill: half of P0 healthy gets 70% (x1.4), P1 the rest; the hash picks the priority', () => {
  const ps = new PrioritySet();
  ps.updateHosts(0, [...hosts(2, 0), ...hosts(2, 0, BAD)]);
  ps.updateHosts(1, hosts(2, 1));
  const l = new PriorityLoad(ps);
  assert.deepEqual(l.healthyLoad, [70, 30]);
  assert.deepEqual(l.panic, [false, false]);
  assert.equal(l.onlySource, null);
  assert.equal(l.choose(0), ps.hostSetsPerPriority[0].healthyHosts);
  assert.equal(l.choose(69), ps.hostSetsPerPriority[0].healthyHosts);
  assert.equal(l.choose(70), ps.hostSetsPerPriority[1].healthyHosts);
  assert.equal(l.choose(199), ps.hostSetsPerPriority[1].healthyHosts);
});

test('degraded hosts take load only after the healthy ones', () => {
  const ps = new PrioritySet();
  ps.updateHosts(0, [...hosts(1, 0), ...hosts(1, 0, DEGRADED), ...hosts(2, 0, BAD)]);
  const l = new PriorityLoad(ps);
  // healthy 1/4 x1.4 = 35, degraded 35: normalized to 70 -> 50 / 50.
  assert.deepEqual(l.healthyLoad, [50]);
  assert.deepEqual(l.degradedLoad, [50]);
  assert.equal(l.choose(49), ps.hostSetsPerPriority[0].healthyHosts);
  assert.equal(l.choose(50), ps.hostSetsPerPriority[0].degradedHosts);
});

test('panic: below the threshold a priority picks from all its hosts, and lb_healthy_panic counts', () => {
  const ps = new PrioritySet();
  ps.updateHosts(0, [...hosts(1, 0), ...hosts(3, 0, BAD)]);
  const stats = new TestSink();
  const l = new PriorityLoad(ps, 50, { sink: stats, slot: 7 });
  assert.deepEqual(l.panic, [true]);
  assert.equal(l.choose(3).length, 4);
  assert.equal(stats.v[7], 1);
  // A threshold of 0 disables panic: only the healthy host.
  const off = new PriorityLoad(ps, 0);
  assert.deepEqual(off.panic, [false]);
  assert.equal(off.choose(3).length, 1);
  // Everything down, threshold 0: P0 gets the load, with nobody to pick.
  const down = new PrioritySet();
  down.updateHosts(0, hosts(2, 0, BAD));
  assert.deepEqual(new PriorityLoad(down, 0).choose(1), []);
});

test('total panic: load by host count, whatever the health', () => {
  const ps = new PrioritySet();
  ps.updateHosts(0, hosts(1, 0, BAD));
  ps.updateHosts(1, hosts(3, 1, BAD));
  const l = new PriorityLoad(ps);
  assert.deepEqual(l.panic, [true, true]);
  assert.deepEqual(l.healthyLoad, [25, 75]);
  assert.equal(l.choose(24).length, 1);
  assert.equal(l.choose(25).length, 3);
});

test('a priority with enough healthy hosts overall is never in panic, even if one level is low', () => {
  const ps = new PrioritySet();
  ps.updateHosts(0, [...hosts(1, 0), ...hosts(9, 0, BAD)]);
  ps.updateHosts(1, hosts(5, 1));
  const l = new PriorityLoad(ps);
  // P0 14, P1 100: normalized total 100 -> no panic anywhere.
  assert.deepEqual(l.panic, [false, false]);
  assert.deepEqual(l.healthyLoad, [14, 86]);
});
