import { test } from 'node:test';
import assert from 'node:assert/strict';
import staticCluster, { NAME } from '../../../src/extensions/clusters/static/index.ts';
import { HealthFlag, PrioritySet } from '../../../src/upstream/host.ts';
import { TestSink, clusterSnap, hostSnap } from '../../upstream/fixtures.ts';
import { NO_CLUSTER_ENV } from '../../../src/upstream/cluster-manager.ts';

test('envoy.cluster.static: one host set per priority, from the snapshot, health and weights kept', () => {
  assert.equal(NAME, 'envoy.cluster.static');
  assert.equal(staticCluster.clusterType, 'STATIC');
  const sink = new TestSink();
  const snap = clusterSnap(sink, [
    hostSnap(sink, '10.0.0.1', 80, { weight: 3 }),
    hostSnap(sink, '10.0.0.2', 80, { priority: 2, zone: 'z1' }),
    hostSnap(sink, '10.0.0.3', 80, { healthFlags: HealthFlag.FAILED_EDS_HEALTH }),
  ]);
  const ps = new PrioritySet();
  const added: string[] = [];
  ps.addMemberUpdateCb((a) => added.push(...a.map((h) => h.hostString)));
  assert.equal(staticCluster.initialize(snap, ps, NO_CLUSTER_ENV), null);
  assert.equal(ps.hostSetsPerPriority.length, 3);
  const [p0, p1, p2] = ps.hostSetsPerPriority;
  assert.deepEqual(p0.hosts.map((h) => h.hostString), ['10.0.0.1:80', '10.0.0.3:80']);
  assert.deepEqual(p0.healthyHosts.map((h) => h.hostString), ['10.0.0.1:80']);
  assert.equal(p0.hosts[0].weight, 3);
  assert.equal(p0.hosts[0].hs, snap.hosts[0].stats);
  assert.equal(p1.hosts.length, 0);
  assert.equal(p2.hosts[0].locality.zone, 'z1');
  assert.equal(p2.hosts[0].priority, 2);
  assert.deepEqual(added.sort(), ['10.0.0.1:80', '10.0.0.2:80', '10.0.0.3:80']);
});
