// compileRewrite: RE2::GlobalReplace semantics (route regex_rewrite, host_rewrite_path_regex,
// redirect regex_rewrite), checked against results RE2 gives.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileRewrite, RegexError } from '../../src/common/regex.ts';

const rw = (p: string, s: string, x: string) => compileRewrite(p, s).replaceAll(x);

test('groups, every match, the query untouched by the caller', () => {
  assert.equal(rw('^/service/([^/]+)(/.*)$', '\\2/instance/\\1', '/service/foo/v1/api'), '/v1/api/instance/foo');
  assert.equal(rw('one', 'two', '/xxx/one/yyy/one/zzz'), '/xxx/two/yyy/two/zzz');
  assert.equal(rw('(a)|b', '[\\1]', 'ab'), '[a][]', 'a group that did not take part is empty');
  assert.equal(rw('x', '\\\\', 'axb'), 'a\\b');
  assert.equal(rw('x', '<\\0>', 'axbx'), 'a<x>b<x>');
  assert.equal(rw('nomatch', 'y', '/path'), '/path');
});

test('empty matches as RE2: none right after a match, one per position otherwise', () => {
  assert.equal(rw('a*', '-', 'baaac'), '-b-c-');
  assert.equal(rw('b*', 'x', 'abc'), 'xaxcx');
  assert.equal(rw('', '-', 'abc'), '-a-b-c-');
  assert.equal(rw('', '-', 'é😀'), '-é-😀-', 'a code point at a time');
  assert.equal(rw('^', '/p', '/x'), '/p/x', '^ is the start of the subject only');
});

test('substitutions RE2 would not apply are refused', () => {
  assert.throws(() => compileRewrite('(a)', '\\2'), RegexError);
  assert.throws(() => compileRewrite('(a)', '\\q'), RegexError);
  assert.throws(() => compileRewrite('(a)', 'tail\\'), RegexError);
  assert.throws(() => compileRewrite('(?=a)', ''), /lookahead/);
});
