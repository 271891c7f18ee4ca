import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Host, HealthFlag, PrioritySet } from '../../../src/upstream/host.ts';
import { RoundRobinLoadBalancer } from '../../../src/extensions/load-balancers/round-robin/index.ts';
import { TestSink, clusterSnap, hostSnap } from '../../upstream/fixtures.ts';
import { ClusterInfo } from '../../../src/upstream/cluster-info.ts';

const sink = new TestSink();
const info = new ClusterInfo(clusterSnap(sink, []), sink);
function host(port: number, weight = 1, healthFlags = 0, priority = 0): Host {
  return Host.fromSnap(hostSnap(sink, '127.0.0.1', port, { weight, healthFlags, priority }));
}
function picks(lb: RoundRobinLoadBalancer, n: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(lb.chooseHost(null)!.port);
  return out;
}

test('equal weights: hosts in turn, each worker starting at a different host', () => {
  const ps = new PrioritySet();
  ps.updateHosts(0, [host(1), host(2), host(3)]);
  assert.deepEqual(picks(new RoundRobinLoadBalancer(ps, info, 0), 6), [1, 2, 3, 1, 2, 3]);
  assert.deepEqual(picks(new RoundRobinLoadBalancer(ps, info, 1), 3), [2, 3, 1]);
});

test('an empty cluster gives null', () => {
  const lb = new RoundRobinLoadBalancer(new PrioritySet(), info, 0);
  assert.equal(lb.chooseHost(null), null);
});

test('a host-set update is seen by the next pick', () => {
  const ps = new PrioritySet();
  const a = host(1);
  const b = host(2);
  ps.updateHosts(0, [a, b]);
  const lb = new RoundRobinLoadBalancer(ps, info, 0);
  assert.equal(lb.chooseHost(null), a);
  const c = host(3);
  ps.updateHosts(0, [b, c]);
  const next = picks(lb, 4);
  assert.ok(!next.includes(1), `removed host picked: ${next}`);
  assert.deepEqual([...new Set(next)].sort(), [2, 3]);
  ps.updateHosts(0, []);
  assert.equal(lb.chooseHost(null), null);
  ps.updateHosts(0, [a]);
  assert.equal(lb.chooseHost(null), a);
});

test('weights: smooth weighted round robin gives each host its share, interleaved', () => {
  const ps = new PrioritySet();
  ps.updateHosts(0, [host(1, 3), host(2, 1), host(3, 2)]);
  const lb = new RoundRobinLoadBalancer(ps, info, 0);
  const seq = picks(lb, 60);
  const count = (p: number) => seq.filter((x) => x === p).length;
  assert.deepEqual([count(1), count(2), count(3)], [30, 10, 20]);
  // Smooth: the heavy host never gets more than two turns in a row here.
  for (let i = 2; i < seq.length; i++) assert.ok(!(seq[i] === 1 && seq[i - 1] === 1 && seq[i - 2] === 1), String(seq));
});

test('unhealthy hosts are skipped; with none healthy every host is used (panic)', () => {
  const ps = new PrioritySet();
  const bad = host(1, 1, HealthFlag.FAILED_ACTIVE_HC);
  ps.updateHosts(0, [bad, host(2), host(3)]);
  const lb = new RoundRobinLoadBalancer(ps, info, 0);
  assert.ok(!picks(lb, 6).includes(1));
  ps.updateHosts(0, [bad, host(4, 1, HealthFlag.FAILED_OUTLIER_CHECK)]);
  assert.deepEqual(picks(lb, 4).sort(), [1, 1, 4, 4]);
});

test('a lower priority is used only when the higher one has no healthy host', () => {
  const ps = new PrioritySet();
  const p0 = host(1, 1, 0, 0);
  ps.updateHosts(0, [p0]);
  ps.updateHosts(1, [host(2, 1, 0, 1)]);
  const lb = new RoundRobinLoadBalancer(ps, info, 0);
  assert.deepEqual(picks(lb, 3), [1, 1, 1]);
  p0.healthFlags = HealthFlag.FAILED_ACTIVE_HC;
  ps.updateHosts(0, [p0]); // a health change is an update with nobody added or removed
  assert.deepEqual(picks(lb, 2), [2, 2]);
});
