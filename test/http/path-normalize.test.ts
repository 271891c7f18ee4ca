// The HCM's path and host normalization (http/path-normalize.ts), table-driven against the cases of
// Envoy's path_utility_test.cc, conn_manager_utility_test.cc and header_utility_test.cc.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  EscapedSlashes, PathAction, maybeNormalizePath, mergeSlashes, normalizePath, stripPort, stripTrailingHostDot,
  unescapeSlashes,
} from '../../src/http/path-normalize.ts';

test('normalize_path: dot segments, backslashes, unreserved escapes decoded, others kept or added', () => {
  const cases: [string, string | null][] = [
    ['/', '/'],
    ['/a/b', '/a/b'],
    ['/a/./b', '/a/b'],
    ['/a/../b', '/b'],
    ['/../a', '/a'],
    ['/a/b/..', '/a/'],
    ['/a/b/.', '/a/b/'],
    ['/a/%2e%2E/b', '/b'],
    ['/a/.%2e/b', '/b'],
    ['/a/..b/c', '/a/..b/c'],
    ['/a/...', '/a/...'],
    ['/a\\b', '/a/b'],
    ['/a\\..\\b', '/b'],
    ['/%41%62%7e%2D', '/Ab~-'],
    ['/a%2fb', '/a%2fb'],
    ['/a%2Fb', '/a%2Fb'],
    ['/a%20b', '/a%20b'],
    ['/a b', '/a%20b'],
    ['/a"<>`{|}^', '/a%22%3C%3E%60%7B%7C%7D%5E'],
    ['/%zz', '/%zz'],
    ['/%', '/%'],
    ['/%%30%30', '/%2500'],
    ['/a?x=/../y', '/a?x=/../y'],
    ['/a/../b?q=a/../b', '/b?q=a/../b'],
    ['/a%00b', null],
    ['/a\x00b', null],
    ['/\xe9', '/%E9'],
  ];
  for (const [input, want] of cases) assert.equal(normalizePath(input), want, JSON.stringify(input));
});

test('merge_slashes and escaped slashes', () => {
  assert.equal(mergeSlashes('//a//b///c/'), '/a/b/c/');
  assert.equal(mergeSlashes('/a//b?x=//y'), '/a/b?x=//y');
  assert.equal(mergeSlashes('/a/b'), '/a/b');
  assert.equal(unescapeSlashes('/a%2Fb%2fc%5Cd%5ce?x=%2F'), '/a/b/c\\d\\e?x=%2F');
  assert.equal(unescapeSlashes('/a%20b'), null);
  assert.equal(unescapeSlashes('/a?x=%2F'), null);
});

test('maybeNormalizePath: the order of the steps and the actions', () => {
  const run = (path: string, cfg: Partial<Parameters<typeof maybeNormalizePath>[1]>): [number, string] => {
    const h = { path };
    const a = maybeNormalizePath(h, { normalizePath: false, mergeSlashes: false, escapedSlashes: EscapedSlashes.KeepUnchanged, ...cfg });
    return [a, h.path];
  };
  assert.deepEqual(run('/a#f', {}), [PathAction.Reject, '/a#f']);
  assert.deepEqual(run('/a%2F..%2Fb', {}), [PathAction.Continue, '/a%2F..%2Fb']);
  assert.deepEqual(run('/a%2Fb', { escapedSlashes: EscapedSlashes.RejectRequest }), [PathAction.Reject, '/a%2Fb']);
  assert.deepEqual(run('/a%2Fb', { escapedSlashes: EscapedSlashes.UnescapeAndRedirect }), [PathAction.Redirect, '/a/b']);
  assert.deepEqual(run('/a%2Fb', { escapedSlashes: EscapedSlashes.UnescapeAndForward }), [PathAction.Continue, '/a/b']);
  // Unescaped first, then normalized: the %2F..%2F climbs.
  assert.deepEqual(run('/x/a%2F..%2Fb', { escapedSlashes: EscapedSlashes.UnescapeAndForward, normalizePath: true }),
    [PathAction.Continue, '/x/b']);
  assert.deepEqual(run('/a%5C..%5Cb', { escapedSlashes: EscapedSlashes.UnescapeAndForward, normalizePath: true }),
    [PathAction.Continue, '/b']);
  assert.deepEqual(run('//a/./b//c', { normalizePath: true, mergeSlashes: true }), [PathAction.Continue, '/a/b/c']);
  assert.deepEqual(run('/a%00', { normalizePath: true }), [PathAction.Reject, '/a%00']);
});

test('host: ports stripped (matching, any), a trailing dot dropped', () => {
  const cases: [string, number | null, string][] = [
    ['a.com:80', 80, 'a.com'],
    ['a.com:80', 81, 'a.com:80'],
    ['a.com:80', null, 'a.com'],
    ['a.com', null, 'a.com'],
    ['a.com:', null, 'a.com:'],
    ['a.com:x', null, 'a.com:x'],
    ['[::1]:443', 443, '[::1]'],
    ['[::1]', null, '[::1]'],
  ];
  for (const [a, port, want] of cases) assert.equal(stripPort(a, port), want, `${a} ${port}`);
  assert.equal(stripTrailingHostDot('a.com.'), 'a.com');
  assert.equal(stripTrailingHostDot('a.com.:80'), 'a.com:80');
  assert.equal(stripTrailingHostDot('a.com'), 'a.com');
});
