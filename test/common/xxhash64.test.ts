// xxHash64 against Envoy's own vectors (test/common/common/hash_test.cc, TEST(Hash, xxHash)): the
// hash policies and the consistent-hashing load balancers must place a key where Envoy does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { xxHash64 } from '../../src/common/xxhash64.ts';

test('Envoy HashUtil::xxHash64 vectors', () => {
  assert.equal(xxHash64('foo'), 3728699739546630719n);
  assert.equal(xxHash64('bar'), 5234164152756840025n);
  assert.equal(xxHash64('foo\nbar'), 8917841378505826757n);
  assert.equal(xxHash64('lyft'), 4400747396090729504n);
  assert.equal(xxHash64(''), 17241709254077376921n);
});

test('bytes and strings hash alike; a seed changes the hash', () => {
  assert.equal(xxHash64(Buffer.from('lyft')), 4400747396090729504n);
  assert.equal(xxHash64(new Uint8Array(Buffer.from('xfoo')).subarray(1)), 3728699739546630719n);
  // Envoy's xxHash64 of the span {"foo", "bar"} (TEST(Hash, xxHashWithVector)) is "bar" seeded
  // with the hash of "foo".
  assert.equal(xxHash64('bar', xxHash64('foo')), 17745830980996999794n);
});

test('inputs across the 32-byte stripe and the 8/4/1-byte tails', () => {
  // Expected values from the reference xxHash (xxhsum -H1, XXH64 0.8.1).
  const cases: [string, bigint][] = [
    ['192.168.1.1', 4727775843391247014n],
    ['new-cookie-value', 14149051466428913032n],
    ['The quick brown fox jumps over the lazy dog', 802816344064684476n],
    ['a'.repeat(100), 3985758137895276467n],
  ];
  for (const [s, h] of cases) assert.equal(xxHash64(s), h, s);
});
