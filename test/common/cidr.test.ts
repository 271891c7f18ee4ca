// CIDR ranges and the allow-list test (src/common/cidr.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cidrContains, ipBytes, parseCidr, type CidrRange } from '../../src/common/cidr.ts';

function ranges(...specs: [string, number][]): CidrRange[] {
  return specs.map(([a, n]) => {
    const c = parseCidr(a, n);
    assert.notEqual(typeof c, 'string', String(c));
    return c as CidrRange;
  });
}

test('IPv4 and IPv6 prefixes, host bits ignored in the range', () => {
  const r = ranges(['10.1.2.3', 8], ['192.168.1.0', 24], ['2001:db8::1', 32]);
  assert.equal(cidrContains(r, '10.200.0.1'), true);
  assert.equal(cidrContains(r, '11.0.0.1'), false);
  assert.equal(cidrContains(r, '192.168.1.77'), true);
  assert.equal(cidrContains(r, '192.168.2.1'), false);
  assert.equal(cidrContains(r, '2001:db8:ffff::5'), true);
  assert.equal(cidrContains(r, '2001:db9::5'), false);
});

test('an IPv4-mapped IPv6 peer is tested as its IPv4 address; /0 and /32 edges', () => {
  assert.equal(cidrContains(ranges(['127.0.0.0', 8]), '::ffff:127.0.0.1'), true);
  assert.equal(cidrContains(ranges(['0.0.0.0', 0]), '8.8.8.8'), true);
  assert.equal(cidrContains(ranges(['0.0.0.0', 0]), '::1'), false);
  assert.equal(cidrContains(ranges(['1.2.3.4', 32]), '1.2.3.4'), true);
  assert.equal(cidrContains(ranges(['1.2.3.4', 32]), '1.2.3.5'), false);
  assert.equal(cidrContains(ranges(['::', 0]), '::1'), true);
  assert.equal(cidrContains([], '1.2.3.4'), false);
  assert.equal(cidrContains(ranges(['1.2.3.4', 32]), 'not-an-ip'), false);
});

test('a zone is ignored, an IPv4-mapped range is IPv4; bad ranges are refused with a reason', () => {
  assert.deepEqual([...ipBytes('fe80::1%eth0')!.slice(0, 2)], [0xfe, 0x80]);
  assert.deepEqual(parseCidr('::ffff:10.0.0.0', 104), { bytes: Uint8Array.of(10, 0, 0, 0), len: 8 });
  assert.equal(parseCidr('10.0.0.0', 33), 'invalid prefix length 33 for 10.0.0.0');
  assert.equal(parseCidr('::', 129), 'invalid prefix length 129 for ::');
  assert.equal(parseCidr('nope', 8), 'malformed IP address: nope');
});
