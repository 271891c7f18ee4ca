// Locality-weighted balancing (locality_weighted_lb_config, upstream/locality.ts): Envoy's
// locality weights from the endpoints, hosts grouped by locality, effective weights scaled by each
// locality's availability, the EDF schedule over localities, and the priority load choosing a
// locality's hosts (healthy, degraded, panic). The tests marked "Envoy: <Test>" are ported from
// Envoy's test/extensions/load_balancing_policies/common/locality_wrr_test.cc (LocalityWrrTest),
// with their seeds and expected picks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Host, HealthFlag, HostSet, PrioritySet } from '../../src/upstream/host.ts';
import { PriorityLoad } from '../../src/upstream/load-balancer.ts';
import {
  HostsPerLocality, LocalityScheduler, PriorityLocalities, effectiveLocalityWeight, localityWeightsOf,
  localityWeightsOfEndpoints, type LocalityWeightSnap,
} from '../../src/upstream/locality.ts';
import { EdfScheduler } from '../../src/upstream/edf-scheduler.ts';
import { TestSink, hostSnap } from './fixtures.ts';

const sink = new TestSink();
let port = 1;
const BAD = HealthFlag.FAILED_ACTIVE_HC;
const DEGRADED = HealthFlag.DEGRADED_ACTIVE_HC;
const PENDING = HealthFlag.PENDING_ACTIVE_HC;

function host(zone: string, o: { flags?: number; priority?: number; region?: string } = {}): Host {
  return Host.fromSnap(hostSnap(sink, '10.0.0.1', port++, {
    zone, region: o.region ?? '', priority: o.priority ?? 0, healthFlags: o.flags ?? 0,
  }));
}
function hostSet(hosts: Host[]): HostSet {
  const s = new HostSet(0);
  s.setHosts(hosts);
  return s;
}
/** Zone weights for priority `priority`: { A: 1, B: 2 } ... */
function weights(w: Record<string, number>, priority = 0): LocalityWeightSnap[] {
  return Object.entries(w).map(([zone, weight]) => ({ priority, region: '', zone, subZone: '', weight }));
}
function weightMap(w: Record<string, number>): ReadonlyMap<string, number> {
  return localityWeightsOf(weights(w))[0];
}
/** `n` healthy-locality picks of a priority's scheduler, as locality indexes. */
function picks(l: PriorityLocalities, n: number): number[] {
  return Array.from({ length: n }, () => l.healthyScheduler!.pick());
}

test('locality weights from the endpoints, as Envoy keeps them: with a locality only, the later one wins', () => {
  const w = localityWeightsOfEndpoints([
    { locality: { zone: 'a' }, load_balancing_weight: 1 },
    { locality: { zone: 'b' }, load_balancing_weight: 2, priority: 1 },
    { locality: { zone: 'a' }, load_balancing_weight: 5 },
    { locality: { zone: 'c' } },
    { load_balancing_weight: 9 },
  ], (le) => le.priority ?? 0);
  assert.deepEqual(w, [
    { priority: 0, region: '', zone: 'a', subZone: '', weight: 5 },
    { priority: 1, region: '', zone: 'b', subZone: '', weight: 2 },
  ]);
  const byPriority = localityWeightsOf(w);
  assert.equal(byPriority[0].size, 1);
  assert.equal(byPriority[1].size, 1);
});

test('hosts by locality: Envoy\'s (region, zone, sub_zone) order, each with its weight (0 when none)', () => {
  const hs = [host('b'), host('a', { region: 'r2' }), host('a'), host('b', { flags: BAD }), host('c', { flags: DEGRADED }),
    host('c', { flags: PENDING })];
  const hpl = new HostsPerLocality(hostSet(hs), weightMap({ a: 1, b: 3 }));
  assert.deepEqual(hpl.localities.map((l) => `${l.region}/${l.zone}`), ['/a', '/b', '/c', 'r2/a']);
  assert.deepEqual(hpl.weights, [1, 3, 0, 0]);
  assert.deepEqual(hpl.hosts.map((g) => g.length), [1, 2, 2, 1]);
  assert.deepEqual(hpl.healthy, [[hs[2]], [hs[0]], [], [hs[1]]]);
  assert.deepEqual(hpl.degraded, [[], [], [hs[4]], []]);
  assert.deepEqual(hpl.excludedCount, [0, 0, 1, 0]);
  assert.deepEqual(hpl.available[2], [hs[4]]);
});

test('effective weight: weight x min(1, 1.4 x eligible / non-excluded hosts)', () => {
  assert.equal(effectiveLocalityWeight(5, 5, 0, 1), 1);
  // 4 of 5: 1.12, capped at 1.
  assert.equal(effectiveLocalityWeight(4, 5, 0, 1), 1);
  assert.equal(effectiveLocalityWeight(3, 5, 0, 10), 10 * (1.4 * 0.6));
  assert.equal(effectiveLocalityWeight(1, 2, 0, 2), 2 * 0.7);
  assert.equal(effectiveLocalityWeight(0, 3, 0, 7), 0);
  // Excluded hosts do not count against the locality; with only excluded hosts it weighs nothing.
  assert.equal(effectiveLocalityWeight(1, 3, 2, 1), 1);
  assert.equal(effectiveLocalityWeight(0, 2, 2, 1), 0);
});

test('Envoy: HostSetEmpty, AllHostsUnhealthy, AllZeroWeights (no scheduler: no locality to choose)', () => {
  assert.equal(new PriorityLocalities(hostSet([]), weightMap({}), 0).healthyScheduler, null);
  const down = new PriorityLocalities(hostSet([host('A', { flags: BAD }), host('B', { flags: BAD }), host('C', { flags: BAD })]),
    weightMap({ A: 1, B: 1, C: 1 }), 0);
  assert.equal(down.healthyScheduler, null);
  assert.equal(down.degradedScheduler, null);
  const zero = new PriorityLocalities(hostSet([host('A'), host('B')]), weightMap({ A: 0, B: 0 }), 0);
  assert.equal(zero.healthyScheduler, null);
});

test('Envoy: NotWarmedHostsLocality (excluded hosts do not lower a locality\'s weight)', () => {
  const l = new PriorityLocalities(hostSet([host('A'), host('A', { flags: PENDING }), host('A', { flags: PENDING }),
    host('B'), host('B')]), weightMap({ A: 1, B: 1 }), 0);
  assert.deepEqual(picks(l, 4), [0, 1, 0, 1]);
});

test('Envoy: UnweightedLocalities, WeightedLocalities, MissingWeight (the EDF order)', () => {
  const three = [host('A'), host('B'), host('C')];
  assert.deepEqual(picks(new PriorityLocalities(hostSet(three), weightMap({ A: 1, B: 1, C: 1 }), 0), 6), [0, 1, 2, 0, 1, 2]);
  assert.deepEqual(picks(new PriorityLocalities(hostSet([host('A'), host('B')]), weightMap({ A: 1, B: 2 }), 0), 6),
    [1, 0, 1, 1, 0, 1]);
  // A locality without a weight is never picked.
  assert.deepEqual(picks(new PriorityLocalities(hostSet(three), weightMap({ A: 1, C: 1 }), 0), 6), [0, 2, 0, 2, 0, 2]);
});

test('Envoy: WeightedAllChosen (seeds 0..9, one pick each: localities 1:6:3 picked 1, 6 and 3 times)', () => {
  const set = hostSet([host('A'), host('B'), host('C')]);
  const count = [0, 0, 0];
  for (let seed = 0; seed < 10; seed++) count[new PriorityLocalities(set, weightMap({ A: 1, B: 6, C: 3 }), seed).healthyScheduler!.pick()]++;
  assert.deepEqual(count, [1, 6, 3]);
});

test('Envoy: UnhealthyFailover (a locality\'s share shrinks with its availability, x1.4)', () => {
  // Zone A: 5 hosts, weight 1; zone B: 1 host, weight 2.
  const a = [host('A'), host('A'), host('A'), host('A'), host('A')];
  const b = host('B');
  const expect = (healthy: number, want: [number, number]): void => {
    a.forEach((h, i) => { h.healthFlags = i < healthy ? 0 : BAD; });
    const l = new PriorityLocalities(hostSet([...a, b]), weightMap({ A: 1, B: 2 }), 0);
    const count = [0, 0];
    for (const i of picks(l, 100)) count[i]++;
    assert.deepEqual(count, want, `${healthy} healthy in A`);
  };
  expect(5, [33, 67]);
  expect(4, [33, 67]);
  expect(3, [29, 71]);
  expect(2, [22, 78]);
  expect(1, [12, 88]);
  expect(0, [0, 100]);
});

test('Envoy: SchedulerWithSomePicks (createWithPicks is the state after that many picks, one by one)', () => {
  // 128 distinct weights in [0.01, 100.5] (distinct, so no tie is broken differently).
  const w = Array.from({ length: 128 }, (_, i) => ((100.5 - 0.01) / 128) * i + 0.01);
  const idx = w.map((_, i) => i);
  const weight = (i: number): number => w[i];
  for (const n of [5, 140, 501, 123456]) {
    const one = new EdfScheduler(idx, weight);
    for (let k = 0; k < n; k++) one.pickAndAdd(weight);
    const made = EdfScheduler.createWithPicks(idx, weight, n);
    for (let k = 0; k < 1000; k++) assert.equal(made.pickAndAdd(weight), one.pickAndAdd(weight), `${n} picks, then pick ${k}`);
  }
  assert.equal(EdfScheduler.createWithPicks([], weight, 123).pickAndAdd(weight), null);
});

/** P0's hosts with locality weights through a PriorityLoad (what round robin, least request and
 *  random choose from). */
function loadWith(hosts: Host[], w: Record<string, number>, panicThreshold = 50): { ps: PrioritySet; load: PriorityLoad } {
  const ps = new PrioritySet();
  ps.updateHosts(0, hosts);
  return { ps, load: new PriorityLoad(ps, panicThreshold, null, localityWeightsOf(weights(w))) };
}
/** Over `n` picks, the share of each zone. */
function zoneShares(load: PriorityLoad, n: number): Record<string, number> {
  const c: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const source = load.choose(i);
    const zone = source[0].locality.zone;
    assert.ok(source.every((h) => h.locality.zone === zone), 'one locality\'s hosts');
    c[zone] = (c[zone] ?? 0) + 1;
  }
  for (const z of Object.keys(c)) c[z] /= n;
  return c;
}
function near(got: number | undefined, want: number, tol = 0.002): void {
  assert.ok(Math.abs((got ?? 0) - want) <= tol, `${got} vs ${want}`);
}

test('priority load: localities weighted 1:3 get 25% / 75% of the picks, each pick one locality\'s healthy hosts', () => {
  const { ps, load } = loadWith([host('a'), host('a'), host('b'), host('b'), host('b')], { a: 1, b: 3 });
  assert.equal(load.onlySource, null, 'a locality is chosen per pick');
  const s = zoneShares(load, 4000);
  near(s.a, 0.25);
  near(s.b, 0.75);
  const hpl = load.localities(0)!.hostsPerLocality;
  const picked = load.choose(0);
  assert.ok(picked === hpl.healthy[0] || picked === hpl.healthy[1]);
  assert.equal(ps.hostSetsPerPriority[0].healthyHosts.length, 5);
});

test('priority load: a locality with some hosts down weighs less; with all down it loses its share', () => {
  const a = [host('a'), host('a'), host('a')];
  const b = [host('b'), host('b'), host('b')];
  const c = [host('c'), host('c'), host('c')];
  const { ps, load } = loadWith([...a, ...b, ...c], { a: 1, b: 1, c: 2 });
  let s = zoneShares(load, 4000);
  near(s.a, 0.25); near(s.b, 0.25); near(s.c, 0.5);
  // Two of a's three hosts down: 1.4 / 3 of its weight (0.4667); 1 + 2 for the others.
  a[0].healthFlags = BAD; a[1].healthFlags = BAD;
  ps.updateHosts(0, ps.hostSetsPerPriority[0].hosts);
  const wa = 1.4 / 3;
  s = zoneShares(load, 40_000);
  near(s.a, wa / (wa + 3)); near(s.b, 1 / (wa + 3)); near(s.c, 2 / (wa + 3));
  // All of a down: b and c split 1:2 (the priority is still out of panic: 6 of 9 healthy).
  a[2].healthFlags = BAD;
  ps.updateHosts(0, ps.hostSetsPerPriority[0].hosts);
  s = zoneShares(load, 3000);
  assert.equal(s.a, undefined);
  near(s.b, 1 / 3); near(s.c, 2 / 3);
});

test('priority load: a priority whose lists did not change keeps its localities (computed on updates only)', () => {
  const ps = new PrioritySet();
  ps.updateHosts(0, [host('a'), host('b')]);
  ps.updateHosts(1, [host('a', { priority: 1 })]);
  const load = new PriorityLoad(ps, 50, null, localityWeightsOf([...weights({ a: 1, b: 1 }), ...weights({ a: 1 }, 1)]));
  const p0 = load.localities(0);
  const p1 = load.localities(1);
  ps.updateHosts(1, [host('a', { priority: 1 })]);
  assert.equal(load.localities(0), p0);
  assert.notEqual(load.localities(1), p1);
});

test('priority load: in panic a pick takes all the priority\'s hosts, not a locality\'s; lb_healthy_panic counts', () => {
  const stats = new TestSink();
  const ps = new PrioritySet();
  ps.updateHosts(0, [host('a'), host('a', { flags: BAD }), host('b', { flags: BAD }), host('b', { flags: BAD })]);
  const load = new PriorityLoad(ps, 50, { sink: stats, slot: 3 }, localityWeightsOf(weights({ a: 1, b: 1 })));
  assert.deepEqual(load.panic, [true]);
  assert.equal(load.choose(7), load.allSource[0]);
  assert.equal(load.choose(7).length, 4);
  assert.equal(stats.v[3], 2);
});

test('priority load: degraded hosts are chosen by locality too, from the degraded schedule', () => {
  const { load } = loadWith([host('a', { flags: DEGRADED }), host('b', { flags: DEGRADED }), host('b', { flags: DEGRADED })],
    { a: 1, b: 1 });
  assert.deepEqual(load.degradedLoad, [100]);
  const s = zoneShares(load, 1000);
  near(s.a, 0.5); near(s.b, 0.5);
  const hpl = load.localities(0)!.hostsPerLocality;
  const picked = load.choose(1);
  assert.ok(picked === hpl.degraded[0] || picked === hpl.degraded[1]);
  assert.equal(load.localities(0)!.healthyScheduler, null);
});

test('priority load: unweighted localities get nothing while a weighted one has eligible hosts; else Envoy falls back', () => {
  const a = [host('a'), host('a')];
  const b = [host('b'), host('b')];
  const { ps, load } = loadWith([...a, ...b], { a: 1 });
  assert.deepEqual(zoneShares(load, 100), { a: 1 });
  // The weighted locality down (the priority still out of panic): no locality has a positive
  // effective weight, so the pick takes the priority's healthy hosts (Envoy's hostSourceToUse
  // falls through).
  for (const h of a) h.healthFlags = BAD;
  ps.updateHosts(0, ps.hostSetsPerPriority[0].hosts);
  assert.equal(load.localities(0)!.healthyScheduler, null);
  assert.equal(load.onlySource, ps.hostSetsPerPriority[0].healthyHosts);
  assert.deepEqual(load.choose(5), b);
  // No weight at all: every healthy host, as without locality weighting.
  const none = loadWith([host('a'), host('b')], {});
  assert.equal(none.load.onlySource, none.ps.hostSetsPerPriority[0].healthyHosts);
});

test('priority load: localities per priority, after the priority is chosen (P0 at 70%, P1 the rest)', () => {
  const ps = new PrioritySet();
  ps.updateHosts(0, [host('a'), host('a', { flags: BAD }), host('b'), host('b', { flags: BAD })]);
  ps.updateHosts(1, [host('x', { priority: 1 }), host('y', { priority: 1 })]);
  const load = new PriorityLoad(ps, 50, null, localityWeightsOf([...weights({ a: 1, b: 1 }), ...weights({ x: 1, y: 3 }, 1)]));
  assert.deepEqual(load.healthyLoad, [70, 30]);
  const s = zoneShares(load, 10_000);
  near(s.a, 0.35, 0.01); near(s.b, 0.35, 0.01); near(s.x, 0.075, 0.01); near(s.y, 0.225, 0.01);
});

test('a scheduler built with a seed starts that many picks in (Envoy\'s random start)', () => {
  const set = hostSet([host('a'), host('b'), host('c')]);
  const w = weightMap({ a: 1, b: 1, c: 1 });
  const hpl = new HostsPerLocality(set, w);
  assert.deepEqual([0, 1, 2, 3].map((seed) => LocalityScheduler.build(hpl, hpl.healthy, seed)!.pick()), [0, 1, 2, 0]);
});
