import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { StatsLayout } from '../../src/stats/layout.ts';
import { StatsStore } from '../../src/stats/store.ts';
import { INITIAL_HISTOGRAM_SLOTS, INITIAL_VALUE_SLOTS } from '../../src/stats/indexes.ts';
import { spawnStatsWorker, type StatsWorker } from './worker-helper.ts';

const spawned: StatsWorker[] = [];
after(async () => {
  await Promise.all(spawned.map((w) => w.kill()));
});

async function spawn(store: StatsStore, index: number): Promise<StatsWorker> {
  const w = await spawnStatsWorker(store.attachWorker(index));
  spawned.push(w);
  return w;
}

describe('StatsStore with real worker threads', () => {
  test('writes from two workers and the main thread are summed', async () => {
    const layout = new StatsLayout();
    const store = new StatsStore(layout);
    const rq = layout.counter('cluster.x.upstream_rq_total');
    const active = layout.gauge('cluster.x.upstream_cx_active');
    const time = layout.histogram('cluster.x.upstream_rq_time', 'ms');
    const w0 = await spawn(store, 0);
    const w1 = await spawn(store, 1);
    await w0.call({ op: 'inc', slot: rq, times: 1000 });
    await w1.call({ op: 'inc', slot: rq, times: 234 });
    await w0.call({ op: 'set', slot: active, value: 3 });
    await w1.call({ op: 'set', slot: active, value: 4 });
    await w0.call({ op: 'record', slot: time, values: [1, 2, 3] });
    await w1.call({ op: 'record', slot: time, values: [4, 5] });
    store.main.inc(rq);

    const snap = store.snapshot();
    assert.equal(snap.value(rq), 1235);
    assert.equal(store.value(rq), 1235);
    assert.equal(snap.value(active), 7);
    const h = snap.histogram(time);
    assert.equal(h.cumulative.sampleCount, 5);
    assert.equal(h.cumulative.sampleSum, 15);
    assert.equal(h.used, true);
    store.close();
  });

  test('retireWorker keeps counters and histograms, zeroes gauges, and the block is reused', async () => {
    const layout = new StatsLayout();
    const store = new StatsStore(layout);
    const rq = layout.counter('http.in.downstream_rq_total');
    const cx = layout.gauge('http.in.downstream_cx_active');
    const time = layout.histogram('http.in.downstream_rq_time', 'ms');
    const w = await spawn(store, 0);
    await w.call({ op: 'inc', slot: rq, times: 50 });
    await w.call({ op: 'set', slot: cx, value: 9 });
    await w.call({ op: 'record', slot: time, values: [10, 20, 30] });
    assert.equal(store.snapshot().value(cx), 9);

    await w.kill(); // the crash
    store.retireWorker(0);
    let snap = store.snapshot();
    assert.equal(snap.value(rq), 50, 'counter total does not go backwards');
    assert.equal(snap.value(cx), 0, "the dead worker's connections are gone");
    assert.equal(snap.histogram(time).cumulative.sampleCount, 3);
    assert.equal(snap.histogram(time).cumulative.sampleSum, 60);

    const again = await spawn(store, 0); // the replacement gets the same, zeroed block
    await again.call({ op: 'inc', slot: rq, times: 5 });
    await again.call({ op: 'set', slot: cx, value: 1 });
    await again.call({ op: 'record', slot: time, values: [40] });
    snap = store.snapshot();
    assert.equal(snap.value(rq), 55);
    assert.equal(snap.value(cx), 1);
    assert.equal(snap.histogram(time).cumulative.sampleCount, 4);
    assert.equal(snap.histogram(time).cumulative.sampleSum, 100);
    store.close();
  });

  test('the layout grows after workers attached; a worker refreshes and writes the new slots', async () => {
    const layout = new StatsLayout();
    const store = new StatsStore(layout);
    const first = layout.counter('cluster.a.upstream_rq_total');
    const w = await spawn(store, 0);
    assert.equal(w.started.values, INITIAL_VALUE_SLOTS);
    // Dynamic config adds enough clusters to outgrow the initial capacity.
    let last = first;
    for (let i = 0; last < INITIAL_VALUE_SLOTS + 10; i++) last = layout.counter(`cluster.c${i}.upstream_rq_total`);
    let lastHist = 0;
    for (let i = 0; lastHist < INITIAL_HISTOGRAM_SLOTS + 2; i++) lastHist = layout.histogram(`cluster.c${i}.upstream_rq_time`);
    const r = await w.call({ op: 'refresh' });
    assert.ok(r.values > last, `worker view covers slot ${last} (${r.values})`);
    await w.call({ op: 'inc', slot: last, times: 7 });
    await w.call({ op: 'inc', slot: first, times: 1 });
    await w.call({ op: 'record', slot: lastHist, values: [123] });
    const snap = store.snapshot();
    assert.equal(snap.value(last), 7);
    assert.equal(snap.value(first), 1);
    assert.equal(snap.histogram(lastHist).cumulative.sampleSum, 123);
    store.close();
  });
});

describe('StatsStore (main thread only)', () => {
  test('interval statistics are cut at flush()', () => {
    const layout = new StatsLayout();
    const store = new StatsStore(layout);
    const h = layout.histogram('h1');
    store.main.record(h, 200);
    store.flush();
    store.main.record(h, 100);
    store.flush();
    const s = store.snapshot().histogram(h);
    // Envoy's own test: interval holds only 100, cumulative both.
    assert.deepEqual(s.interval.quantiles.slice(0, 2), [100, 102.5]);
    assert.deepEqual(s.cumulative.quantiles.slice(0, 2), [100, 105]);
    store.flush();
    const idle = store.snapshot().histogram(h);
    assert.ok(Number.isNaN(idle.interval.quantiles[0]), 'an idle interval has no quantiles');
    assert.equal(idle.cumulative.sampleCount, 2);
    store.close();
  });

  test('entries are sorted, hidden stats are left out, used tracks gauges that went back to 0', () => {
    const layout = new StatsLayout();
    const store = new StatsStore(layout);
    const b = layout.counter('b.counter');
    const a = layout.gauge('a.gauge');
    layout.counter('cluster.x.127.0.0.1:80.cx_total', { hidden: true });
    const c = layout.counter('c.unused');
    store.main.inc(b);
    store.main.set(a, 2);
    store.snapshot();
    store.main.set(a, 0);
    const snap = store.snapshot();
    assert.deepEqual(snap.entries().map((e) => [e.name, e.value, e.used]), [
      ['a.gauge', 0, true],
      ['b.counter', 1, true],
      ['c.unused', 0, false],
    ]);
    assert.equal(snap.used(c), false);
    store.close();
  });

  test('flush hooks run before the cut; the flush timer is unref’d and stoppable', () => {
    const store = new StatsStore();
    let ran = 0;
    store.addFlushHook(() => ran++);
    store.flush();
    assert.equal(ran, 1);
    store.startFlushTimer(10_000);
    store.stopFlushTimer();
    store.close();
  });
});
