// envoy.load_balancing_policies.maglev: the table is Envoy's, slot for slot. The expectations marked
// "Envoy: <Test>" are ported from Envoy's own unit tests
// (test/extensions/load_balancing_policies/maglev/maglev_lb_test.cc, MaglevLoadBalancerTest): hosts,
// table sizes, hash keys and expected hosts as they are there; they are not computed here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DEFAULT_TABLE_SIZE, MaglevLoadBalancer, MaglevTable, isPrime,
} from '../../../src/extensions/load-balancers/maglev/index.ts';
import { PrioritySet } from '../../../src/upstream/host.ts';
import {
  BAD, Env, countByPort, keyed, keysKeptAfterRemoval, setWith, testKeys, unkeyed, zoneWeights,
} from './hash-fixtures.ts';

function tableOf(lb: MaglevLoadBalancer, priority = 0): MaglevTable {
  return lb.hashingLoadBalancer(priority) as MaglevTable;
}

/** Envoy's check: key i (for 3 times the table size) picks hosts[expected[i % size]]. */
function assertAssignments(lb: MaglevLoadBalancer, hosts: readonly unknown[], expected: readonly number[]): void {
  for (let i = 0; i < 3 * expected.length; i++) {
    assert.equal(lb.chooseHost(keyed(BigInt(i))), hosts[expected[i % expected.length]], `key ${i}`);
  }
}

test('Envoy: Basic (6 hosts, table size 7)', () => {
  const env = new Env();
  const hosts = env.hosts([90, 91, 92, 93, 94, 95]);
  const lb = new MaglevLoadBalancer(setWith(hosts), env.info({ tableSize: 7 }));
  const t = tableOf(lb);
  assert.deepEqual([t.minEntriesPerHost, t.maxEntriesPerHost], [1, 2]);
  // maglev: i=0 :92, i=1 :94, i=2 :90, i=3 :91, i=4 :95, i=5 :90, i=6 :93
  assertAssignments(lb, hosts, [2, 4, 0, 1, 5, 0, 3]);
});

test('Envoy: BasicStability (the same table whatever the order of the hosts)', () => {
  const env = new Env();
  const hosts = env.hosts([90, 91, 92, 93, 94, 95]);
  const ps = setWith(hosts);
  const lb = new MaglevLoadBalancer(ps, env.info({ tableSize: 7 }));
  assertAssignments(lb, hosts, [2, 4, 0, 1, 5, 0, 3]);
  ps.updateHosts(0, [hosts[3], hosts[5], hosts[0], hosts[4], hosts[2], hosts[1]]);
  assertAssignments(lb, hosts, [2, 4, 0, 1, 5, 0, 3]);
});

test('Envoy: Weighted (weights 1 and 2, table size 17)', () => {
  const env = new Env();
  const hosts = [env.host(90, { weight: 1 }), env.host(91, { weight: 2 })];
  const lb = new MaglevLoadBalancer(setWith(hosts), env.info({ tableSize: 17 }));
  const t = tableOf(lb);
  assert.deepEqual([t.minEntriesPerHost, t.maxEntriesPerHost], [6, 11]);
  assertAssignments(lb, hosts, [1, 0, 0, 1, 0, 1, 1, 0, 1, 1, 1, 1, 1, 0, 1, 0, 1]);
});

test('Envoy: LocalityWeightedSameLocalityWeights (host weights 1, 2 in localities 1:1: the hosts weigh alike)', () => {
  const env = new Env();
  const info = env.info({ tableSize: 17 }, 50, zoneWeights([1, 1]));
  const hosts = [env.host(90, { weight: 1, zone: 'z0' }), env.host(91, { weight: 2, zone: 'z1' })];
  const lb = new MaglevLoadBalancer(setWith(hosts), info);
  const t = tableOf(lb);
  assert.deepEqual([t.minEntriesPerHost, t.maxEntriesPerHost], [8, 9]);
  assertAssignments(lb, hosts, [1, 0, 0, 1, 0, 1, 1, 0, 0, 1, 0, 1, 0, 0, 1, 0, 1]);
});

test('Envoy: LocalityWeightedDifferentLocalityWeights (localities {:90} 8, {:92} 0, {:91} 2)', () => {
  const env = new Env();
  const info = env.info({ tableSize: 17 }, 50, zoneWeights([8, 0, 2]));
  const hosts = [env.host(90, { weight: 1, zone: 'z0' }), env.host(91, { weight: 2, zone: 'z2' }),
    env.host(92, { weight: 3, zone: 'z1' })];
  const lb = new MaglevLoadBalancer(setWith(hosts), info);
  const t = tableOf(lb);
  assert.deepEqual([t.minEntriesPerHost, t.maxEntriesPerHost], [4, 13]);
  assertAssignments(lb, hosts, [1, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0]);
});

test('Envoy: LocalityWeightedAllZeroLocalityWeights (no host to pick)', () => {
  const env = new Env();
  const info = env.info({ tableSize: 17 }, 50, zoneWeights([0]));
  const lb = new MaglevLoadBalancer(setWith([env.host(90, { zone: 'z0' })]), info);
  assert.equal(lb.chooseHost(keyed(0n)), null);
});

test('Envoy: LocalityWeightedGlobalPanic (no healthy host: the table of every host, by locality)', () => {
  const env = new Env();
  const info = env.info({ tableSize: 17 }, 50, zoneWeights([1, 1]));
  const hosts = [env.host(90, { weight: 1, zone: 'z0', healthFlags: BAD }), env.host(91, { weight: 2, zone: 'z1', healthFlags: BAD })];
  const lb = new MaglevLoadBalancer(setWith(hosts), info);
  const t = tableOf(lb);
  assert.deepEqual([t.minEntriesPerHost, t.maxEntriesPerHost], [8, 9]);
  assertAssignments(lb, hosts, [1, 0, 0, 1, 0, 1, 1, 0, 0, 1, 0, 1, 0, 0, 1, 0, 1]);
});

test('Envoy: LocalityWeightedLopsided (localities 127:1, :0 alone in the first, no healthy host)', () => {
  const env = new Env();
  // (The info first: its stat slots come before the 1024 hosts' in the test sink.)
  const info = env.info({ tableSize: DEFAULT_TABLE_SIZE }, 50, zoneWeights([127, 1]));
  const hosts = Array.from({ length: 1024 }, (_, i) => env.host(i, { zone: i === 0 ? 'z0' : 'z1', healthFlags: BAD }));
  const lb = new MaglevLoadBalancer(setWith(hosts), info);
  const t = tableOf(lb);
  assert.deepEqual([t.minEntriesPerHost, t.maxEntriesPerHost], [1, DEFAULT_TABLE_SIZE - 1023]);
  const counts = new Uint32Array(1024);
  for (let i = 0; i < DEFAULT_TABLE_SIZE; i++) counts[lb.chooseHost(keyed(BigInt(i)))!.port]++;
  for (let i = 1; i < 1024; i++) assert.equal(counts[i], 1, `:${i}`);
  assert.equal(counts[0], DEFAULT_TABLE_SIZE - 1023);
  assert.equal(env.panics(info), DEFAULT_TABLE_SIZE);
});

test('Envoy: NoHost (an empty cluster gives null, with or without a hash key)', () => {
  const env = new Env();
  for (const ps of [setWith([]), new PrioritySet()]) {
    const lb = new MaglevLoadBalancer(ps, env.info({ tableSize: 7 }));
    assert.equal(lb.chooseHost(null), null);
    assert.equal(lb.chooseHost(keyed(3n)), null);
    assert.equal(lb.chooseHost(unkeyed), null);
  }
});

test('Envoy: DefaultMaglevTableSize (65537 without a config)', () => {
  const env = new Env();
  const lb = new MaglevLoadBalancer(setWith(env.hosts([1, 2])), env.info(null));
  assert.equal(tableOf(lb).tableSize, 65537);
  assert.equal(tableOf(lb).table.length, 65537);
});

test('isPrime (the table size must be; Envoy: NoPrimeNumber refuses 8)', () => {
  assert.deepEqual([0, 1, 2, 3, 4, 7, 8, 9, 17, 65537, 5000011, 5000012].map(isPrime),
    [false, false, true, true, false, true, false, false, true, true, true, false]);
});

test('consistency: removing 1 of 10 hosts keeps over 99% of the other hosts\' keys in place', () => {
  const env = new Env();
  const { kept, of, total } = keysKeptAfterRemoval(env, (ps) => new MaglevLoadBalancer(ps, env.info(null)));
  assert.ok(of >= 0.85 * total && of <= 0.95 * total, `${of} of ${total} keys not on the removed host`);
  // Maglev promises minimal disruption, not none: when a host leaves, the survivors fill its
  // slots in turn, and the table is refilled from scratch, so a survivor that takes a slot earlier
  // in its permutation than before can push another survivor off a slot it held. With a table
  // far larger than the host count (65537 for 10) that is rare: these 10k keys, 8964 of 8994 stay
  // (99.7%). A small table is worse (size 251: about 93%): the table size is the knob.
  assert.ok(kept / of >= 0.99, `${kept} of ${of} kept`);
});

test('weights: table slots and keys follow the weights (1, 2, 3), within 3 points', () => {
  const env = new Env();
  const hosts = [env.host(1, { weight: 1 }), env.host(2, { weight: 2 }), env.host(3, { weight: 3 })];
  const lb = new MaglevLoadBalancer(setWith(hosts), env.info(null));
  const t = tableOf(lb);
  const slots = new Map<number, number>();
  for (const i of t.table) slots.set(t.hosts[i].port, (slots.get(t.hosts[i].port) ?? 0) + 1);
  const keys = testKeys(30_000);
  const counts = countByPort(lb, keys);
  for (const h of hosts) {
    assert.ok(Math.abs(slots.get(h.port)! / t.tableSize - h.weight / 6) < 0.001, `port ${h.port}: ${slots.get(h.port)} slots`);
    const share = counts.get(h.port)! / keys.length;
    assert.ok(Math.abs(share - h.weight / 6) < 0.03, `port ${h.port}: ${share}`);
  }
});

test('priorities: P0 without healthy hosts fails over to P1; the hash chooses the priority', () => {
  const env = new Env();
  const p0 = env.hosts([1, 2], { healthFlags: BAD });
  const p1 = env.hosts([3], { priority: 1 });
  const ps = setWith(p0);
  ps.updateHosts(1, p1);
  let random = 5n;
  const info = env.info({ tableSize: 7 });
  const lb = new MaglevLoadBalancer(ps, info, () => random);
  assert.equal(lb.chooseHost(keyed(1n)), p1[0]);
  assert.equal(lb.chooseHost(null), p1[0]);
  // One of two P0 hosts healthy: 70% of the load to P0, 30% to P1, by hash % 100.
  p0[0].healthFlags = 0;
  ps.updateHosts(0, p0);
  assert.equal(lb.chooseHost(keyed(69n)), p0[0]);
  assert.equal(lb.chooseHost(keyed(70n)), p1[0]);
  random = 169n;
  assert.equal(lb.chooseHost(null), p0[0]);
  random = 170n;
  assert.equal(lb.chooseHost(null), p1[0]);
  assert.equal(env.panics(info), 0);
  // Every host unhealthy: total panic, picks from all hosts by host count, lb_healthy_panic counts.
  p0[0].healthFlags = BAD;
  ps.updateHosts(0, p0);
  p1[0].healthFlags = BAD;
  ps.updateHosts(1, p1);
  const seen = new Set<number>();
  for (let i = 0n; i < 100n; i++) seen.add(lb.chooseHost(keyed(i))!.port);
  assert.deepEqual([...seen].sort(), [1, 2, 3]);
  assert.equal(env.panics(info), 100);
});

test('no hash key: a random value picks the host; a key always the same one', () => {
  const env = new Env();
  const lb = new MaglevLoadBalancer(setWith(env.hosts([1, 2, 3, 4])), env.info(null));
  const seen = new Set<number>();
  for (let i = 0; i < 200; i++) seen.add(lb.chooseHost(unkeyed)!.port);
  assert.equal(seen.size, 4);
  const first = lb.chooseHost(keyed(987654321n));
  for (let i = 0; i < 20; i++) assert.equal(lb.chooseHost(keyed(987654321n)), first);
});

test('updates: a host-set update rebuilds the changed priority\'s table only', () => {
  const env = new Env();
  const ps = setWith(env.hosts([1, 2]));
  ps.updateHosts(1, env.hosts([3, 4], { priority: 1 }));
  const lb = new MaglevLoadBalancer(ps, env.info({ tableSize: 7 }));
  const t0 = tableOf(lb, 0);
  const t1 = tableOf(lb, 1);
  ps.updateHosts(0, env.hosts([5]));
  assert.notEqual(tableOf(lb, 0), t0);
  assert.equal(tableOf(lb, 1), t1);
  for (let i = 0n; i < 14n; i++) assert.equal(lb.chooseHost(keyed(i))!.port, 5);
});

test('a table wider than 256 hosts indexes them with 16 bits', () => {
  const env = new Env();
  const hosts = Array.from({ length: 300 }, (_, i) => env.host(1000 + i));
  const lb = new MaglevLoadBalancer(setWith(hosts), env.info({ tableSize: 1009 }));
  const t = tableOf(lb);
  assert.ok(t.table instanceof Uint16Array);
  assert.equal(new Set(t.table).size, 300);
  assert.deepEqual([t.minEntriesPerHost, t.maxEntriesPerHost], [3, 4]);
});
