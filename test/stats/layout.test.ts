import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { StatKind, StatsLayout } from '../../src/stats/layout.ts';
import { StatsStore, WorkerStats } from '../../src/stats/store.ts';
import { LegateError } from '../../src/common/errors.ts';

describe('StatsLayout', () => {
  test('same name, same slot; counters and gauges share one numbering, histograms their own', () => {
    const l = new StatsLayout();
    const a = l.counter('cluster.x.upstream_rq_total');
    const g = l.gauge('cluster.x.upstream_cx_active');
    const h = l.histogram('cluster.x.upstream_rq_time', 'ms');
    assert.equal(l.counter('cluster.x.upstream_rq_total'), a);
    assert.equal(l.gauge('cluster.x.upstream_cx_active', 'neverImport'), g);
    assert.equal(l.histogram('cluster.x.upstream_rq_time'), h);
    assert.deepEqual([a, g, h], [0, 1, 0]);
    assert.equal(l.valueCount, 2);
    assert.equal(l.histogramCount, 1);
    assert.equal(l.kindOf(a), StatKind.Counter);
    assert.equal(l.kindOf(g), StatKind.Gauge);
    assert.equal(l.histogramUnit(h), 'ms');
    assert.equal(l.find('cluster.x.upstream_rq_total'), a);
    assert.equal(l.find('nope'), -1);
  });

  test('options: hidden stats and gauge import modes', () => {
    const l = new StatsLayout();
    const hidden = l.counter('cluster.x.127.0.0.1:80.cx_total', { hidden: true });
    const live = l.gauge('server.live', { mode: 'neverImport' });
    const up = l.gauge('server.uptime', 'accumulate');
    const hh = l.histogram('h', { unit: 'bytes', hidden: true });
    assert.equal(l.isHidden(hidden), true);
    assert.equal(l.isHidden(live), false);
    assert.equal(l.importMode(live), 'neverImport');
    assert.equal(l.importMode(up), 'accumulate');
    assert.equal(l.isHistogramHidden(hh), true);
    assert.equal(l.histogramUnit(hh), 'bytes');
  });

  test('a name reused with another kind is a config error with a code', () => {
    const l = new StatsLayout();
    l.counter('a');
    l.histogram('h');
    assert.throws(() => l.gauge('a'), (e: unknown) => e instanceof LegateError && e.code === 'LEGATE_ERR_STATS_KIND');
    assert.throws(() => l.histogram('a'), { code: 'LEGATE_ERR_STATS_KIND' });
    assert.throws(() => l.counter('h'), { code: 'LEGATE_ERR_STATS_KIND' });
  });

  test('limits: the slot after the last one is refused before anything is allocated', () => {
    const l = new StatsLayout({ maxValueSlots: 2, maxHistogramSlots: 1 });
    l.counter('a');
    l.gauge('b');
    assert.throws(() => l.counter('c'), { code: 'LEGATE_ERR_STATS_CAPACITY' });
    assert.equal(l.valueCount, 2);
    l.histogram('h');
    assert.throws(() => l.histogram('h2'), { code: 'LEGATE_ERR_STATS_CAPACITY' });
  });

  test('resolve() maps a component\'s const lists under a prefix', () => {
    const l = new StatsLayout();
    const s = l.resolve('cluster.x.', {
      counters: ['upstream_rq_total'] as const,
      gauges: ['upstream_cx_active'] as const,
      histograms: ['upstream_rq_time'] as const,
    });
    assert.equal(s.upstream_rq_total, l.find('cluster.x.upstream_rq_total'));
    assert.equal(s.upstream_cx_active, l.find('cluster.x.upstream_cx_active'));
    assert.equal(s.upstream_rq_time, l.findHistogram('cluster.x.upstream_rq_time'));
  });

  test('toTransfer/fromTransfer round-trips through structured clone', () => {
    const l = new StatsLayout();
    l.counter('c');
    l.gauge('g', { mode: 'neverImport', hidden: true });
    l.histogram('h', 'bytes');
    const back = StatsLayout.fromTransfer(structuredClone(l.toTransfer()));
    assert.equal(back.find('c'), 0);
    assert.equal(back.find('g'), 1);
    assert.equal(back.kindOf(1), StatKind.Gauge);
    assert.equal(back.isHidden(1), true);
    assert.equal(back.importMode(1), 'neverImport');
    assert.equal(back.histogramUnit(back.findHistogram('h')), 'bytes');
  });

  test('growth: every block grows as soon as a slot is added; the worker transfer stays shared', () => {
    const l = new StatsLayout();
    const store = new StatsStore(l);
    const t = store.attachWorker(0);
    const w = new WorkerStats(structuredClone(t)); // what a worker gets: the same memory
    const before = w.v.length;
    let slot = 0;
    for (let i = 0; slot <= before; i++) slot = l.counter(`c${i}`);
    assert.equal(store.main.v.length > slot, true, 'main block grew synchronously');
    assert.equal(w.refresh(), true);
    assert.equal(w.refresh(), false);
    w.v[slot] += 2;
    w.inc(slot);
    assert.equal(store.snapshot().value(slot), 3);
    store.close();
  });
});
