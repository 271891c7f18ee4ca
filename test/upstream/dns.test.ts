// The pieces of DNS discovery that need no process: a discovery's answer applied to a worker's
// priority set (Host objects of the hosts that stay are kept), the hosts file, lookup families
// and Envoy's jittered backoff.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PrioritySet, updateHostsFromSnaps } from '../../src/upstream/host.ts';
import { familyOrder, hostsFileAnswer, literalAnswer } from '../../src/upstream/dns.ts';
import { JitteredExponentialBackOff, FixedBackOff } from '../../src/common/backoff.ts';
import { tmpFile } from '../helpers/legate.ts';
import { TestSink, hostSnap } from './fixtures.ts';

test('updateHostsFromSnaps keeps the Host of a host that stays and updates only changed priorities', () => {
  const sink = new TestSink();
  const a = hostSnap(sink, '10.0.0.1', 80);
  const b = hostSnap(sink, '10.0.0.2', 80);
  const c = hostSnap(sink, '10.0.0.3', 80, { priority: 1 });
  const ps = new PrioritySet();
  const updates: number[] = [];
  const members: string[] = [];
  ps.addPriorityUpdateCb((p) => updates.push(p));
  ps.addMemberUpdateCb((added, removed) => members.push(`+${added.map((h) => h.hostString)} -${removed.map((h) => h.hostString)}`));
  updateHostsFromSnaps(ps, [a, b, c]);
  assert.deepEqual(updates, [0, 1]);
  const keptA = ps.hostSetsPerPriority[0].hosts[0];
  // b leaves, d comes; priority 1 is unchanged and not updated.
  const d = hostSnap(sink, '10.0.0.4', 80);
  updateHostsFromSnaps(ps, [a, d, c]);
  assert.deepEqual(updates, [0, 1, 0]);
  assert.equal(ps.hostSetsPerPriority[0].hosts[0], keptA, 'the host that stayed is the same object');
  assert.deepEqual(ps.hostSetsPerPriority[0].hosts.map((h) => h.hostString), ['10.0.0.1:80', '10.0.0.4:80']);
  assert.equal(members.at(-1), '+10.0.0.4:80 -10.0.0.2:80');
  // A weight change is a new host.
  updateHostsFromSnaps(ps, [{ ...a, weight: 5 }, d, c]);
  assert.notEqual(ps.hostSetsPerPriority[0].hosts[0], keptA);
  // Everything gone: every priority emptied.
  updateHostsFromSnaps(ps, []);
  assert.deepEqual(ps.hostSetsPerPriority.map((s) => s.hosts.length), [0, 0]);
});

test('the hosts file answers by family, re-read when it changes; IP literals answer themselves', async () => {
  const path = tmpFile('hosts', '# comment\n127.0.0.5 svc.local other\n::5 svc.local\n10.1.1.1\tOTHER # x\n');
  assert.deepEqual(hostsFileAnswer('svc.local', 'V4_ONLY', path), { ok: true, addresses: [{ address: '127.0.0.5', ttlS: 0 }] });
  assert.deepEqual(hostsFileAnswer('SVC.local', 'AUTO', path), { ok: true, addresses: [{ address: '::5', ttlS: 0 }] });
  assert.deepEqual(hostsFileAnswer('svc.local', 'ALL', path),
    { ok: true, addresses: [{ address: '127.0.0.5', ttlS: 0 }, { address: '::5', ttlS: 0 }] });
  assert.deepEqual(hostsFileAnswer('other', 'V4_PREFERRED', path), {
    ok: true, addresses: [{ address: '127.0.0.5', ttlS: 0 }, { address: '10.1.1.1', ttlS: 0 }],
  });
  assert.equal(hostsFileAnswer('other', 'V6_ONLY', path), null);
  assert.equal(hostsFileAnswer('missing', 'AUTO', path), null);
  const fs = await import('node:fs');
  await new Promise((r) => setTimeout(r, 20));
  fs.writeFileSync(path, '127.0.0.9 svc.local\n');
  assert.deepEqual(hostsFileAnswer('svc.local', 'V4_ONLY', path), { ok: true, addresses: [{ address: '127.0.0.9', ttlS: 0 }] });
  assert.deepEqual(literalAnswer('10.0.0.1', 'AUTO'), { ok: true, addresses: [{ address: '10.0.0.1', ttlS: 0 }] });
  assert.equal(literalAnswer('10.0.0.1', 'V6_ONLY')?.ok, false);
  assert.equal(literalAnswer('name.test', 'AUTO'), null);
  assert.deepEqual(familyOrder('AUTO'), { order: [6, 4], both: false });
  assert.deepEqual(familyOrder('V4_PREFERRED'), { order: [4, 6], both: false });
});

test('jittered exponential backoff: uniform below an interval that doubles up to the max; reset starts over', () => {
  const b = new JitteredExponentialBackOff(100, 500, () => 0.999);
  assert.deepEqual([1, 2, 3, 4, 5].map(() => b.nextBackOffMs()), [99, 199, 399, 499, 499]);
  b.reset();
  assert.equal(b.nextBackOffMs(), 99);
  const z = new JitteredExponentialBackOff(100, 500, () => 0);
  assert.equal(z.nextBackOffMs(), 0);
  assert.equal(new FixedBackOff(250).nextBackOffMs(), 250);
});
