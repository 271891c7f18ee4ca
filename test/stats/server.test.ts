import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { StatsStore } from '../../src/stats/store.ts';
import { ServerState, ServerStats } from '../../src/stats/server.ts';

describe('ServerStats', () => {
  test("Envoy's server.* names, state values and import modes", () => {
    const store = new StatsStore();
    const s = new ServerStats(store, { concurrency: 2, startTime: 1_000_000 });
    const v = (name: string): number => store.value(store.layout.find(name));
    assert.equal(v('server.state'), ServerState.PRE_INITIALIZING);
    assert.equal(v('server.live'), 0);
    assert.equal(v('server.concurrency'), 2);
    s.setState('LIVE');
    assert.equal(v('server.state'), 0);
    assert.equal(v('server.live'), 1);
    s.setState('DRAINING');
    assert.deepEqual([v('server.state'), v('server.live')], [1, 0]);
    s.refresh({ totalConnections: 3, parentConnections: 1 }, 1_000_000 + 90_500);
    assert.equal(v('server.uptime'), 90);
    assert.equal(v('server.total_connections'), 3);
    assert.equal(v('server.parent_connections'), 1);
    assert.ok(v('server.memory_heap_size') > 0);
    s.workerRestarted();
    s.workerRestarted();
    assert.equal(v('server.legate.worker_restarts'), 2);
    s.recordInitializationTime(12);
    assert.equal(store.snapshot().histogram(store.layout.findHistogram('server.initialization_time_ms')).cumulative.sampleCount, 1);
    assert.equal(store.layout.importMode(store.layout.find('server.live')), 'neverImport');
    assert.equal(store.layout.importMode(store.layout.find('server.uptime')), 'accumulate');
    store.close();
  });
});
