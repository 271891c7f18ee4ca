import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isValidAuthority } from '../../src/http/authority.ts';

const VALID = [
  'a', 'shop.test', 'shop.test:8080', 'shop.test:', '127.0.0.1', '127.0.0.1:80', 'xn--bcher-kva.example',
  'a-b_c~d.e', "sub!$&'()*+,;=delims", 'pct%20ok', '[::1]', '[::1]:443', '[2001:db8::7]', '[::]',
  '[2001:db8:0:0:0:0:2:1]', '[::ffff:192.0.2.128]:80', '[v7.fe80::a+en1]', 'localhost:99999', 'a,b',
];
const INVALID = [
  '', ':80', 'shop.test evil', 'shop.test/evil', 'shop.test\\evil', 'user@shop.test', 'shop.test?q',
  'shop.test#f', 'shop.test:8x', 'shop.test:80:80', 'a, b', '[]', '[::1', '::1', '[::1]x', '[::1]:8x',
  '[1:2:3:4:5:6:7:8:9]', '[1::2::3]', '[12345::]', '[::ffff:192.0.2.256]', '[::1.2.3]', '[v.x]', '[vz.x]',
  'pct%2', 'pct%zz', 'caf\u00e9', 'tab\there', 'nul\0', '"quoted"', '<a>', 'a b:80',
];

test('isValidAuthority: RFC 3986 authorities without userinfo are valid', () => {
  for (const a of VALID) assert.equal(isValidAuthority(a), true, JSON.stringify(a));
});

test('isValidAuthority: spaces, slashes, userinfo, bad ports and malformed IP literals are invalid', () => {
  for (const a of INVALID) assert.equal(isValidAuthority(a), false, JSON.stringify(a));
});

test('isValidAuthority: the last valid value is remembered, an invalid one never is', () => {
  assert.equal(isValidAuthority('shop.test'), true);
  assert.equal(isValidAuthority('shop.test'), true);
  assert.equal(isValidAuthority('shop.test evil'), false);
  assert.equal(isValidAuthority('shop.test evil'), false);
  assert.equal(isValidAuthority('shop.test'), true);
});
