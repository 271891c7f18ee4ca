import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { addressString, fmtDouble, fmtG32, fmtValue } from '../../src/admin/format.ts';

describe('C++ number formatting', () => {
  test("fmtDouble is fmt's {} for doubles", () => {
    assert.equal(fmtDouble(NaN), 'nan');
    assert.equal(fmtDouble(Infinity), 'inf');
    assert.equal(fmtDouble(1), '1');
    assert.equal(fmtDouble(1.025), '1.025');
    assert.equal(fmtDouble(-1), '-1');
    assert.equal(fmtDouble(0.0001), '0.0001');
    assert.equal(fmtDouble(1.5e-5), '1.5e-05');
    assert.equal(fmtDouble(1e15), '1000000000000000');
    assert.equal(fmtDouble(1e16), '1e+16');
  });

  test("fmtG32 is printf's %.32g (Envoy's Prometheus sums and le bounds)", () => {
    assert.equal(fmtG32(5531.1160155998386471765115857124), '5531.1160155998386471765115857124');
    assert.equal(fmtG32(0.5), '0.5');
    assert.equal(fmtG32(3600000), '3600000');
    assert.equal(fmtG32(0), '0');
    assert.equal(fmtG32(0.1), '0.10000000000000000555111512312578');
    assert.equal(fmtG32(1e-5), '1.0000000000000000818030539140313e-05');
    assert.equal(fmtG32(1e25), '10000000000000000905969664');
    assert.equal(fmtG32(1e40), '1.0000000000000000303786028427004e+40');
  });

  test('values and addresses', () => {
    assert.equal(fmtValue(42), '42');
    assert.equal(fmtValue(2 ** 53), '9007199254740992');
    assert.equal(addressString('127.0.0.1', 80), '127.0.0.1:80');
    assert.equal(addressString('::1', 443), '[::1]:443');
  });
});
