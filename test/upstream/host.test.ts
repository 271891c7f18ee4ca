import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Health, HealthFlag, Host, PrioritySet, healthFlagBits, healthFlagNames, recordMembership } from '../../src/upstream/host.ts';
import { TestSink, clusterStats, hostSnap } from './fixtures.ts';

const sink = new TestSink();
const host = (port: number, extra = {}) => Host.fromSnap(hostSnap(sink, '10.0.0.1', port, extra));

test('a host from its snapshot: address, weight, priority, locality, health', () => {
  const h = host(80, { weight: 5, priority: 1, region: 'r', zone: 'z', subZone: 's' });
  assert.equal(h.hostString, '10.0.0.1:80');
  assert.equal(h.weight, 5);
  assert.equal(h.priority, 1);
  assert.deepEqual(h.locality, { region: 'r', zone: 'z', subZone: 's' });
  assert.equal(h.health(), Health.Healthy);
  assert.equal(h.healthFlagsString(), 'healthy');
  h.healthFlags = HealthFlag.FAILED_ACTIVE_HC | HealthFlag.FAILED_OUTLIER_CHECK;
  assert.equal(h.healthFlagsString(), '/failed_active_hc/failed_outlier_check');
  assert.equal(h.health(), Health.Unhealthy);
  h.healthFlags = HealthFlag.DEGRADED_EDS_HEALTH;
  assert.equal(h.health(), Health.Degraded);
  assert.deepEqual(healthFlagNames(healthFlagBits(['eds_status_draining', 'failed_eds_health'])),
    ['failed_eds_health', 'eds_status_draining']);
});

test('updateHosts: lists per health, member callbacks with what came and went', () => {
  const ps = new PrioritySet();
  const calls: [number[], number[]][] = [];
  const prio: number[] = [];
  const handle = ps.addMemberUpdateCb((added, removed) => calls.push([added.map((h) => h.port), removed.map((h) => h.port)]));
  ps.addPriorityUpdateCb((p) => prio.push(p));
  const a = host(1);
  const b = host(2, { healthFlags: HealthFlag.FAILED_EDS_HEALTH });
  const c = host(3, { healthFlags: HealthFlag.DEGRADED_ACTIVE_HC });
  ps.updateHosts(0, [a, b, c]);
  const s = ps.hostSetsPerPriority[0];
  assert.deepEqual(s.hosts.map((h) => h.port), [1, 2, 3]);
  assert.deepEqual(s.healthyHosts.map((h) => h.port), [1]);
  assert.deepEqual(s.degradedHosts.map((h) => h.port), [3]);
  const d = host(4);
  ps.updateHosts(0, [a, d]);
  ps.updateHosts(0, [a, d]); // no change in membership: priority callback only
  assert.deepEqual(calls, [[[1, 2, 3], []], [[4], [2, 3]]]);
  assert.deepEqual(prio, [0, 0, 0]);
  ps.updateHosts(2, [host(5)]);
  assert.equal(ps.hostSetsPerPriority.length, 3);
  assert.deepEqual(ps.allHosts().map((h) => h.port), [1, 4, 5]);
  handle.remove();
  ps.updateHosts(0, []);
  assert.equal(calls.length, 3);
});

test('membership stats: counted from the hosts, change counted once per change', () => {
  const st = new TestSink();
  const s = clusterStats(st);
  const hosts = [
    { weight: 1, healthFlags: 0 }, { weight: 7, healthFlags: HealthFlag.FAILED_ACTIVE_HC },
    { weight: 2, healthFlags: HealthFlag.DEGRADED_EDS_HEALTH }, { weight: 1, healthFlags: 0 },
  ];
  recordMembership(st.v, s, hosts, true);
  assert.deepEqual([st.v[s.membership_total], st.v[s.membership_healthy], st.v[s.membership_degraded],
    st.v[s.max_host_weight], st.v[s.membership_change]], [4, 2, 1, 7, 1]);
  recordMembership(st.v, s, hosts.slice(0, 1), true);
  recordMembership(st.v, s, hosts.slice(0, 1), false);
  assert.deepEqual([st.v[s.membership_total], st.v[s.max_host_weight], st.v[s.membership_change]], [1, 1, 2]);
});
