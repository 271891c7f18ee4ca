import { test } from 'node:test';
import assert from 'node:assert/strict';
import { durationMs, formatDuration, parseDuration } from '../../src/config/duration.ts';

test('parseDuration: the proto3 JSON form', () => {
  assert.deepEqual(parseDuration('0.25s'), { seconds: 0, nanos: 250_000_000 });
  assert.deepEqual(parseDuration('15s'), { seconds: 15, nanos: 0 });
  assert.deepEqual(parseDuration('1.000000001s'), { seconds: 1, nanos: 1 });
  assert.deepEqual(parseDuration('-1.5s'), { seconds: -1, nanos: -500_000_000 });
  assert.deepEqual(parseDuration('-0.5s'), { seconds: 0, nanos: -500_000_000 });
  assert.deepEqual(parseDuration('315576000000s'), { seconds: 315_576_000_000, nanos: 0 });
  for (const bad of ['', 's', '1', '1.s', '.5s', '1ms', '1m', '1.0000000001s', '+1s', ' 1s', '1s ', '315576000001s']) {
    assert.equal(parseDuration(bad), null, bad);
  }
});

test('formatDuration: 0, 3, 6 or 9 fractional digits', () => {
  assert.equal(formatDuration({ seconds: 15, nanos: 0 }), '15s');
  assert.equal(formatDuration({ seconds: 0, nanos: 250_000_000 }), '0.250s');
  assert.equal(formatDuration({ seconds: 1, nanos: 1_000 }), '1.000001s');
  assert.equal(formatDuration({ seconds: 1, nanos: 1 }), '1.000000001s');
  assert.equal(formatDuration({ seconds: -1, nanos: -500_000_000 }), '-1.500s');
  assert.equal(formatDuration({ seconds: 0, nanos: -1_000_000 }), '-0.001s');
});

test('durationMs: the default when unset, truncated like Envoy', () => {
  assert.equal(durationMs(undefined, 15_000), 15_000);
  assert.equal(durationMs({ seconds: 0, nanos: 0 }, 15_000), 0);
  assert.equal(durationMs({ seconds: 0, nanos: 250_000_000 }, 0), 250);
  assert.equal(durationMs({ seconds: 2, nanos: 999_999 }, 0), 2000);
  assert.equal(durationMs({ seconds: 0, nanos: 500_000 }, 7), 0);
  assert.equal(durationMs({ seconds: -1, nanos: -500_000_000 }, 0), -1500);
});
