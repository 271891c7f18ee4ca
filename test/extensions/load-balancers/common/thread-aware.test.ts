// The consistent-hashing LBs' shared base: the host string Envoy hashes, weight normalization, the
// random source for requests without a hash key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  hashKeyOf, normalizeHostWeights, random64,
} from '../../../../src/extensions/load-balancers/common/thread-aware.ts';
import { Env } from '../hash-fixtures.ts';

test('hashKeyOf: Envoy\'s address asString(), IPv6 in canonical form and brackets', () => {
  const env = new Env();
  assert.equal(hashKeyOf(env.host(90)), '127.0.0.1:90');
  assert.equal(hashKeyOf(env.host(80, { address: '::1' })), '[::1]:80');
  assert.equal(hashKeyOf(env.host(80, { address: '2001:DB8:0:0:1:0:0:1' })), '[2001:db8::1:0:0:1]:80');
  assert.equal(hashKeyOf(env.host(80, { address: '::ffff:0102:0304' })), '[::ffff:1.2.3.4]:80');
});

test('normalizeHostWeights: weight / sum, with the least and greatest', () => {
  const env = new Env();
  const n = normalizeHostWeights([env.host(1, { weight: 1 }), env.host(2, { weight: 3 })]);
  assert.deepEqual([...n.weights], [0.25, 0.75]);
  assert.deepEqual([n.min, n.max], [0.25, 0.75]);
  const none = normalizeHostWeights([]);
  assert.deepEqual([none.weights.length, none.min, none.max], [0, 1, 0]);
});

test('random64: 64-bit values, not repeating', () => {
  const seen = new Set<bigint>();
  let high = false;
  for (let i = 0; i < 1000; i++) {
    const r = random64();
    assert.ok(r >= 0n && r < 1n << 64n);
    if (r >= 1n << 63n) high = true;
    seen.add(r);
  }
  assert.equal(seen.size, 1000);
  assert.ok(high);
});
