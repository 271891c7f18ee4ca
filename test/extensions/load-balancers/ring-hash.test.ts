// envoy.load_balancing_policies.ring_hash: the ring is Envoy's, entry for entry. The expectations
// marked "Envoy: <Test>" are ported from Envoy's own unit tests
// (test/extensions/load_balancing_policies/ring_hash/ring_hash_lb_test.cc, RingHashLoadBalancerTest),
// hosts, ring sizes, hash keys and expected hosts as they are there; they are not computed here.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Ring, RingHashLoadBalancer, DEFAULT_MAX_RING_SIZE, DEFAULT_MIN_RING_SIZE, type RingHashConfig } from '../../../src/extensions/load-balancers/ring-hash/index.ts';
import { PrioritySet, type Host } from '../../../src/upstream/host.ts';
import {
  BAD, DEGRADED, Env, MAX_U64, countByPort, evenKeys, keyed, keysKeptAfterRemoval, setWith, testKeys, unkeyed,
  zoneWeights,
} from './hash-fixtures.ts';

function ringConfig(min: number, max = DEFAULT_MAX_RING_SIZE): RingHashConfig {
  return { minimumRingSize: min, maximumRingSize: max };
}
function ringOf(lb: RingHashLoadBalancer, priority = 0): Ring {
  return lb.hashingLoadBalancer(priority) as Ring;
}
function assertRingStats(r: Ring, size: number, min: number, max: number): void {
  assert.deepEqual([r.size, r.minHashesPerHost, r.maxHashesPerHost], [size, min, max]);
}
/** Mark hosts (un)healthy and publish the change as a host-set update. */
function setHealth(ps: PrioritySet, priority: number, hosts: Host[], flags: number): void {
  for (const h of hosts) h.healthFlags = flags;
  ps.updateHosts(priority, ps.hostSetsPerPriority[priority].hosts);
}

// Envoy runs these against priority 0 and against priority 1 with an empty priority 0
// (RingHashPrimaryOrFailover): the thread-aware base behaves the same for a failover host set.
for (const priority of [0, 1]) {
  describe(`hosts at priority ${priority}`, () => {
    test('Envoy: Basic (6 hosts, minimum_ring_size 12; hash keys, the random fallback, panic)', () => {
      const env = new Env();
      const hosts = env.hosts([90, 91, 92, 93, 94, 95], { priority });
      const ps = setWith(hosts, priority);
      const info = env.info(ringConfig(12));
      let random = 0n;
      const lb = new RingHashLoadBalancer(ps, info, () => random);
      assertRingStats(ringOf(lb, priority), 12, 2, 2);
      // Envoy's listing of this ring (port | position), in order.
      const ring = ringOf(lb, priority);
      assert.deepEqual([...ring.hashes], [
        833437586790550860n, 928266305478181108n, 1033482794131418490n, 3551244743356806947n,
        3851675632748031481n, 5583722120771150861n, 6311230543546372928n, 7700377290971790572n,
        13144177310400110813n, 13444792449719432967n, 15516499411664133160n, 16117243373044804889n,
      ]);
      assert.deepEqual(ring.hosts.map((h) => h.port), [94, 92, 90, 95, 93, 91, 91, 93, 95, 92, 94, 90]);

      assert.equal(lb.chooseHost(keyed(0n)), hosts[4]);
      assert.equal(lb.chooseHost(keyed(MAX_U64)), hosts[4]);
      assert.equal(lb.chooseHost(keyed(3551244743356806947n)), hosts[5]);
      assert.equal(lb.chooseHost(keyed(3551244743356806948n)), hosts[3]);
      random = 16117243373044804880n;
      assert.equal(lb.chooseHost(null), hosts[0]);
      assert.equal(env.panics(info), 0);

      // No healthy host: panic, the ring of all hosts, and lb_healthy_panic counts.
      setHealth(ps, priority, hosts, BAD);
      assert.equal(lb.chooseHost(keyed(0n)), hosts[4]);
      assert.equal(env.panics(info), 1);
    });

    test('Envoy: UnevenHosts (2 hosts, minimum_ring_size 3: ring of 4), then a host-set update', () => {
      const env = new Env();
      const ps = setWith(env.hosts([80, 81], { priority }), priority);
      const lb = new RingHashLoadBalancer(ps, env.info(ringConfig(3)));
      assertRingStats(ringOf(lb, priority), 4, 2, 2);
      assert.equal(lb.chooseHost(keyed(0n))!.port, 80);
      // The update rebuilds the ring: :81 | 7859399908942313493, :82 | 8241336090459785962, ...
      const next = env.hosts([81, 82], { priority });
      ps.updateHosts(priority, next);
      assert.equal(lb.chooseHost(keyed(0n)), next[0]);
      assert.deepEqual([...ringOf(lb, priority).hashes],
        [7859399908942313493n, 8241336090459785962n, 12882406409176325258n, 16064866803292627174n]);
    });

    test('Envoy: HostWeightedTinyRing (weights 1, 2, 3 on a ring of exactly 6)', () => {
      const env = new Env();
      const hosts = [env.host(90, { weight: 1, priority }), env.host(91, { weight: 2, priority }), env.host(92, { weight: 3, priority })];
      const lb = new RingHashLoadBalancer(setWith(hosts, priority), env.info(ringConfig(6, 6)));
      assertRingStats(ringOf(lb, priority), 6, 1, 3);
      const expected: [bigint, number][] = [
        [928266305478181108n, 2], [4443673547860492590n, 2], [5583722120771150861n, 1],
        [6311230543546372928n, 1], [13444792449719432967n, 2], [16117243373044804889n, 0],
      ];
      for (const [key, i] of expected) assert.equal(lb.chooseHost(keyed(key)), hosts[i], String(key));
    });
  });
}

test('Envoy: BasicFailover (P0 unhealthy -> P1; back; a 70/30 split chosen by the hash)', () => {
  const env = new Env();
  const p0 = env.host(80, { healthFlags: BAD });
  const p1 = env.host(82, { priority: 1 });
  const ps = setWith([p0]);
  ps.updateHosts(1, [p1]);
  let random = 0n;
  const lb = new RingHashLoadBalancer(ps, env.info(ringConfig(12)), () => random);
  assertRingStats(ringOf(lb, 1), 12, 12, 12);
  assert.equal(lb.chooseHost(null), p1);

  setHealth(ps, 0, [p0], 0);
  assert.equal(lb.chooseHost(null), p0);
  setHealth(ps, 0, [p0], BAD);
  assert.equal(lb.chooseHost(null), p1);

  // P0: one healthy host of two, 50% x 1.4 = 70% of the load; P1 the other 30%.
  const a = env.host(80);
  ps.updateHosts(0, [a, env.host(81, { healthFlags: BAD })]);
  random = 69n;
  assert.equal(lb.chooseHost(null), a);
  random = 71n;
  assert.equal(lb.chooseHost(null), p1);
  // A request's hash key chooses the priority the same way.
  assert.equal(lb.chooseHost(keyed(69n)), a);
  assert.equal(lb.chooseHost(keyed(171n)), p1);
});

test('Envoy: HostWeightedLargeRing (weights 1, 2, 3, ring 6144: 987 / 1932 / 3081 of 6000 keys)', () => {
  const env = new Env();
  const hosts = [env.host(90, { weight: 1 }), env.host(91, { weight: 2 }), env.host(92, { weight: 3 })];
  const lb = new RingHashLoadBalancer(setWith(hosts), env.info(ringConfig(6144)));
  assertRingStats(ringOf(lb), 6144, 1024, 3072);
  const counts = countByPort(lb, evenKeys(6000));
  assert.deepEqual([counts.get(90), counts.get(91), counts.get(92)], [987, 1932, 3081]);
});

test('Envoy: SmallFractionalScale (4 hosts, ring of exactly 2: two hosts get no traffic)', () => {
  const env = new Env();
  const lb = new RingHashLoadBalancer(setWith(env.hosts([90, 91, 92, 93])), env.info(ringConfig(2, 2)));
  assertRingStats(ringOf(lb), 2, 0, 1);
  const counts = countByPort(lb, evenKeys(1024));
  assert.equal(counts.size, 2);
  assert.equal([...counts.values()].reduce((a, b) => a + b), 1024);
});

test('Envoy: LargeFractionalScale (2 hosts, ring of exactly 1023: 511 and 512 entries)', () => {
  const env = new Env();
  const lb = new RingHashLoadBalancer(setWith(env.hosts([90, 91])), env.info(ringConfig(1023, 1023)));
  assertRingStats(ringOf(lb), 1023, 511, 512);
  const counts = countByPort(lb, evenKeys(1023));
  assert.deepEqual([counts.get(90), counts.get(91)], [526, 497]);
});

test('Envoy: LopsidedWeightSmallScale (localities weighted 127:1, :0 alone in the first, ring of 1024)', () => {
  const env = new Env();
  const info = env.info(ringConfig(1024, 1024), 50, zoneWeights([127, 1]));
  const hosts = Array.from({ length: 1024 }, (_, i) => env.host(i, { zone: i === 0 ? 'z0' : 'z1' }));
  const lb = new RingHashLoadBalancer(setWith(hosts), info);
  // Host :0 has 1016 of the 1024 entries (127/128); every 128th light host one.
  assertRingStats(ringOf(lb), 1024, 0, 1016);
  const expected: [bigint, number][] = [
    [11664790346325243808n, 1], [15894554872961148518n, 128], [13958138884277627155n, 256],
    [15803774069438192949n, 384], [3829253010855396576n, 512], [17918147347826565154n, 640],
    [6442769608292299103n, 768], [5881074926069334434n, 896],
  ];
  for (const [key, i] of expected) assert.equal(lb.chooseHost(keyed(key)), hosts[i], String(key));
});

test('the same ring from host weights 127 * 1023 : 1 (they normalize to the same doubles)', () => {
  const env = new Env();
  const hosts = Array.from({ length: 1024 }, (_, i) => env.host(i, { weight: i === 0 ? 127 * 1023 : 1 }));
  const lb = new RingHashLoadBalancer(setWith(hosts), env.info(ringConfig(1024, 1024)));
  assertRingStats(ringOf(lb), 1024, 0, 1016);
  assert.equal(lb.chooseHost(keyed(15894554872961148518n)), hosts[128]);
});

test('Envoy: ZeroLocalityWeights (every locality weight 0: as if there were no host)', () => {
  const env = new Env();
  const info = env.info(null, 50, zoneWeights([0, 0]));
  const lb = new RingHashLoadBalancer(setWith([env.host(90, { zone: 'z0' }), env.host(91, { zone: 'z1' })]), info);
  assert.equal(lb.chooseHost(null), null);
  // A locality without a configured weight counts as 0 too.
  const unweighted = new RingHashLoadBalancer(setWith([env.host(90, { zone: 'z0' })]), env.info(null, 50, []));
  assert.equal(unweighted.chooseHost(keyed(1n)), null);
});

test('Envoy: LocalityWeightedTinyRing (localities weighted 1, 2, 3, 0 on a ring of exactly 6)', () => {
  const env = new Env();
  const info = env.info(ringConfig(6, 6), 50, zoneWeights([1, 2, 3, 0]));
  const hosts = [90, 91, 92, 93].map((p, i) => env.host(p, { zone: `z${i}` }));
  const lb = new RingHashLoadBalancer(setWith(hosts), info);
  assertRingStats(ringOf(lb), 6, 1, 3);
  const expected: [bigint, number][] = [
    [928266305478181108n, 2], [4443673547860492590n, 2], [5583722120771150861n, 1],
    [6311230543546372928n, 1], [13444792449719432967n, 2], [16117243373044804889n, 0],
  ];
  for (const [key, i] of expected) assert.equal(lb.chooseHost(keyed(key)), hosts[i], String(key));
});

test('Envoy: LocalityWeightedLargeRing (1, 2, 3, 0, ring 6144: 987 / 1932 / 3081 / 0 of 6000 keys)', () => {
  const env = new Env();
  const info = env.info(ringConfig(6144), 50, zoneWeights([1, 2, 3, 0]));
  const hosts = [90, 91, 92, 93].map((p, i) => env.host(p, { zone: `z${i}` }));
  const lb = new RingHashLoadBalancer(setWith(hosts), info);
  assertRingStats(ringOf(lb), 6144, 1024, 3072);
  const counts = countByPort(lb, evenKeys(6000));
  assert.deepEqual([counts.get(90), counts.get(91), counts.get(92), counts.get(93)], [987, 1932, 3081, undefined]);
});

test('Envoy: HostAndLocalityWeightedTinyRing (hosts 1:2 in each of two localities 1:2, ring of 9)', () => {
  const env = new Env();
  const info = env.info(ringConfig(9, 9), 50, zoneWeights([1, 2]));
  const hosts = [
    env.host(90, { weight: 1, zone: 'z0' }), env.host(91, { weight: 2, zone: 'z0' }),
    env.host(92, { weight: 1, zone: 'z1' }), env.host(93, { weight: 2, zone: 'z1' }),
  ];
  const lb = new RingHashLoadBalancer(setWith(hosts), info);
  assertRingStats(ringOf(lb), 9, 1, 4);
  const expected: [bigint, number][] = [
    [928266305478181108n, 2], [3851675632748031481n, 3], [5583722120771150861n, 1],
    [6311230543546372928n, 1], [7700377290971790572n, 3], [12559126875973811811n, 3],
    [13444792449719432967n, 2], [13784988426630141778n, 3], [16117243373044804889n, 0],
  ];
  for (const [key, i] of expected) assert.equal(lb.chooseHost(keyed(key)), hosts[i], String(key));
});

test('Envoy: HostAndLocalityWeightedLargeRing (ring 9216: 924 / 2009 / 2053 / 4014 of 9000 keys)', () => {
  const env = new Env();
  const info = env.info(ringConfig(9216), 50, zoneWeights([1, 2]));
  const hosts = [
    env.host(90, { weight: 1, zone: 'z0' }), env.host(91, { weight: 2, zone: 'z0' }),
    env.host(92, { weight: 1, zone: 'z1' }), env.host(93, { weight: 2, zone: 'z1' }),
  ];
  const lb = new RingHashLoadBalancer(setWith(hosts), info);
  assertRingStats(ringOf(lb), 9216, 1024, 4096);
  const counts = countByPort(lb, evenKeys(9000));
  assert.deepEqual([counts.get(90), counts.get(91), counts.get(92), counts.get(93)], [924, 2009, 2053, 4014]);
});

test('locality weights: the localities go in (region, zone, sub_zone) order, whatever the host order', () => {
  const env = new Env();
  const info = env.info(ringConfig(6, 6), 50, zoneWeights([1, 2, 3, 0]));
  // The hosts of LocalityWeightedTinyRing listed backwards: the ring is the same.
  const hosts = [93, 92, 91, 90].map((p, i) => env.host(p, { zone: `z${3 - i}` }));
  const lb = new RingHashLoadBalancer(setWith(hosts), info);
  assert.equal(lb.chooseHost(keyed(928266305478181108n))!.port, 92);
  assert.equal(lb.chooseHost(keyed(16117243373044804889n))!.port, 90);
});

test('locality weights: the ring holds the healthy hosts of each locality; in panic all of them', () => {
  const env = new Env();
  const info = env.info(ringConfig(6144), 50, zoneWeights([1, 3]));
  const a = [env.host(90, { zone: 'z0' }), env.host(91, { zone: 'z0' })];
  const b = [env.host(92, { zone: 'z1' }), env.host(93, { zone: 'z1' })];
  const ps = setWith([...a, ...b]);
  const lb = new RingHashLoadBalancer(ps, info);
  let counts = countByPort(lb, evenKeys(8000));
  const share = (ports: number[]): number => ports.reduce((n, p) => n + (counts.get(p) ?? 0), 0) / 8000;
  assert.ok(Math.abs(share([90, 91]) - 0.25) < 0.03, `${[...counts]}`);
  // One of zone z1's hosts down: z1's weight goes to its other host (the weights are not scaled
  // by the locality's availability, as in Envoy).
  setHealth(ps, 0, [b[0]], BAD);
  counts = countByPort(lb, evenKeys(8000));
  assert.equal(counts.get(92), undefined);
  assert.ok(Math.abs(share([93]) - 0.75) < 0.03, `${[...counts]}`);
  // Everything down: panic, every host by its locality's weight.
  setHealth(ps, 0, [...a, ...b], BAD);
  counts = countByPort(lb, evenKeys(8000));
  assert.ok(Math.abs(share([92, 93]) - 0.75) < 0.03, `${[...counts]}`);
});

test('Envoy: NoHost (an empty cluster gives null, with or without a hash key)', () => {
  const env = new Env();
  const lb = new RingHashLoadBalancer(setWith([]), env.info(null));
  assert.equal(lb.chooseHost(null), null);
  assert.equal(lb.chooseHost(keyed(42n)), null);
  assert.equal(lb.chooseHost(unkeyed), null);
  // A priority set with no host set at all, too.
  const bare = new RingHashLoadBalancer(new PrioritySet(), env.info(null));
  assert.equal(bare.chooseHost(keyed(1n)), null);
});

test('defaults: minimum_ring_size 1024, maximum 8M; 3 equal hosts get 342 entries each', () => {
  const env = new Env();
  const lb = new RingHashLoadBalancer(setWith(env.hosts([1, 2, 3])), env.info(null));
  assert.equal(DEFAULT_MIN_RING_SIZE, 1024);
  assert.equal(DEFAULT_MAX_RING_SIZE, 8 * 1024 * 1024);
  // scale = ceil(1/3 * 1024) / (1/3) = 1026.
  assertRingStats(ringOf(lb), 1026, 342, 342);
  assert.equal(ringOf(lb).hashes.length, 1026);
});

test('consistency: removing 1 of 10 hosts keeps over 90% of the other hosts\' keys in place', () => {
  const env = new Env();
  const { kept, of, total } = keysKeptAfterRemoval(env, (ps) => new RingHashLoadBalancer(ps, env.info(null)));
  // The removed host had about a tenth of the 10k keys; they have to move.
  assert.ok(of >= 0.85 * total && of <= 0.95 * total, `${of} of ${total} keys not on the removed host`);
  // Envoy's ring is not the textbook ketama ring that keeps all of them: the ring size follows the
  // lightest host's normalized weight (scale = ceil(w_min * minimum_ring_size) / w_min), so with 9
  // hosts instead of 10 each survivor gets ceil(1024 / 9) = 114 entries instead of 103. Entries
  // 0..102 stay where they were; the new ones (about a tenth of the ring) take their arcs from
  // whoever held them, other survivors included. These 10k keys: 8272 of 8837 stay (93.6%).
  assert.ok(kept / of >= 0.9, `${kept} of ${of} kept`);
  assert.ok(kept / total >= 0.8, `${kept} of ${total} keys on their host`);
});

test('weights: over many keys each host gets its weight\'s share, within 3 points', () => {
  const env = new Env();
  const hosts = [env.host(1, { weight: 1 }), env.host(2, { weight: 2 }), env.host(3, { weight: 3 })];
  const lb = new RingHashLoadBalancer(setWith(hosts), env.info(null));
  const keys = testKeys(30_000);
  const counts = countByPort(lb, keys);
  for (const h of hosts) {
    const share = counts.get(h.port)! / keys.length;
    assert.ok(Math.abs(share - h.weight / 6) < 0.03, `port ${h.port}: ${share}`);
  }
});

test('no hash key: a random value picks the priority and the host (Envoy: as a random LB)', () => {
  const env = new Env();
  const hosts = env.hosts([1, 2, 3, 4]);
  const lb = new RingHashLoadBalancer(setWith(hosts), env.info(null));
  const seen = new Set<number>();
  for (let i = 0; i < 200; i++) seen.add(lb.chooseHost(unkeyed)!.port);
  assert.equal(seen.size, 4);
  // The same key always lands on the same host.
  const k = keyed(123456789n);
  const first = lb.chooseHost(k);
  for (let i = 0; i < 20; i++) assert.equal(lb.chooseHost(k), first);
});

test('updates: a priority whose hosts did not change keeps its ring; the changed one is rebuilt', () => {
  const env = new Env();
  const ps = setWith(env.hosts([1, 2]));
  ps.updateHosts(1, env.hosts([3, 4], { priority: 1 }));
  const lb = new RingHashLoadBalancer(ps, env.info(ringConfig(16)));
  const r0 = ringOf(lb, 0);
  const r1 = ringOf(lb, 1);
  ps.updateHosts(1, env.hosts([5], { priority: 1 }));
  assert.equal(ringOf(lb, 0), r0);
  assert.notEqual(ringOf(lb, 1), r1);
  assert.deepEqual(new Set(ringOf(lb, 1).hosts.map((h) => h.port)), new Set([5]));
});

test('as Envoy: a hash on a priority\'s degraded share looks up its ring of healthy hosts', () => {
  // Envoy's thread-aware base builds a priority's ring from its healthy hosts (all hosts in
  // panic); degraded hosts are in no ring. With every P0 host degraded there is no panic (healthy
  // plus degraded is 100%) and the ring is empty: no host.
  const env = new Env();
  const degraded = env.hosts([1, 2], { healthFlags: DEGRADED });
  const lb = new RingHashLoadBalancer(setWith(degraded), env.info(null));
  assert.equal(lb.chooseHost(keyed(7n)), null);
  // One healthy and one degraded host: 70% healthy, 30% degraded; either way the healthy host.
  const healthy = env.host(3);
  const ps = setWith([healthy, env.host(4, { healthFlags: DEGRADED })]);
  const mixed = new RingHashLoadBalancer(ps, env.info(null));
  assert.equal(mixed.chooseHost(keyed(10n)), healthy);
  assert.equal(mixed.chooseHost(keyed(90n)), healthy);
});

test('IPv6 hosts hash as Envoy prints them: [canonical]:port', () => {
  const env = new Env();
  const a = new RingHashLoadBalancer(setWith([env.host(80, { address: '2001:DB8:0:0:0:0:0:1' })]), env.info(ringConfig(4, 4)));
  const b = new RingHashLoadBalancer(setWith([env.host(80, { address: '2001:db8::1' })]), env.info(ringConfig(4, 4)));
  assert.deepEqual([...ringOf(a).hashes], [...ringOf(b).hashes]);
});
