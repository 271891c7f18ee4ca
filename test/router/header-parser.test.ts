// router/header-parser.ts: the append_action table (with the header present and absent), removals
// before additions, values formatted against the headers before any addition, keep_empty_value,
// the deprecated append, and the order of the three levels with and without
// most_specific_header_mutations_wins.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HeaderParser, compileHeaderParser, routeChain, finalizeRequestHeaders } from '../../src/router/header-parser.ts';
import { HeaderMap, RequestHeaders, newStreamInfo } from '../../src/http/types.ts';

const ctx = { fail: (path: string, message: string): never => { throw new Error(`${path}: ${message}`); } };

function parser(add: object[], remove: string[] = []): HeaderParser {
  return new HeaderParser(compileHeaderParser(add as any, remove, 'add', 'remove', ctx)!);
}

function lines(h: HeaderMap): string[] {
  const out: string[] = [];
  for (let i = 0; i < h.headers.length; i += 2) out.push(`${h.headers[i]}: ${h.headers[i + 1]}`);
  return out;
}

test('append_action: each action with the header present and absent', () => {
  const table: [string, string[], string[]][] = [
    // action, present (x: old) -> result, absent -> result
    ['APPEND_IF_EXISTS_OR_ADD', ['x: old', 'x: new'], ['x: new']],
    ['ADD_IF_ABSENT', ['x: old'], ['x: new']],
    ['OVERWRITE_IF_EXISTS_OR_ADD', ['x: new'], ['x: new']],
    ['OVERWRITE_IF_EXISTS', ['x: new'], []],
  ];
  for (const [action, present, absent] of table) {
    const p = parser([{ header: { key: 'X', value: 'new' }, append_action: action }]);
    const a = new HeaderMap(['x', 'old']);
    p.evaluateHeaders(a, null);
    assert.deepEqual(lines(a), present, action);
    const b = new HeaderMap([]);
    p.evaluateHeaders(b, null);
    assert.deepEqual(lines(b), absent, `${action} absent`);
  }
  // An overwrite replaces every line of the name with one, at the end (Envoy's setReferenceKey).
  const h = new HeaderMap(['x', '1', 'y', '1', 'x', '2']);
  parser([{ header: { key: 'x', value: '3' }, append_action: 'OVERWRITE_IF_EXISTS' }]).evaluateHeaders(h, null);
  assert.deepEqual(lines(h), ['y: 1', 'x: 3']);
});

test('the deprecated append: true appends, false overwrites; with append_action it is refused', () => {
  const h = new HeaderMap(['a', '1', 'b', '1']);
  parser([{ header: { key: 'a', value: '2' }, append: true }, { header: { key: 'b', value: '2' }, append: false }])
    .evaluateHeaders(h, null);
  assert.deepEqual(lines(h), ['a: 1', 'b: 2', 'a: 2']);
  assert.throws(() => parser([{ header: { key: 'a', value: '2' }, append: true, append_action: 'ADD_IF_ABSENT' }]),
    { message: "add[0]: Both append and append_action are set and it's not allowed" });
});

test('removals first; empty values skipped unless keep_empty_value; conditions see the headers before any add', () => {
  const h = new HeaderMap(['gone', '1', 'keep', '1']);
  parser([
    { header: { key: 'gone', value: 'back' }, append_action: 'ADD_IF_ABSENT' },
    { header: { key: 'e', value: '' } },
    { header: { key: 'e2', value: '' }, keep_empty_value: true },
    { header: { key: 'n', value: '1' } },
    { header: { key: 'n', value: '2' }, append_action: 'ADD_IF_ABSENT' },
    { header: { key: 'n', value: '3' }, append_action: 'OVERWRITE_IF_EXISTS' },
  ], ['Gone']).evaluateHeaders(h, null);
  // `n` was absent when the values were evaluated: ADD_IF_ABSENT adds, OVERWRITE_IF_EXISTS does not.
  assert.deepEqual(lines(h), ['keep: 1', 'gone: back', 'e2: ', 'n: 1', 'n: 2']);
});

test('names that may not be set or removed are refused with the path', () => {
  for (const [key, msg] of [[':path', ':-prefixed or host headers may not be modified'],
    ['Host', ':-prefixed or host headers may not be modified']]) {
    assert.throws(() => parser([{ header: { key, value: 'v' } }]), { message: `add[0].header.key: ${msg}` });
  }
  assert.throws(() => parser([], ['x', 'host']), { message: 'remove[1]: :-prefixed or host headers may not be removed' });
  assert.throws(() => parser([{ header: { key: 'transfer-encoding', value: 'v' } }]), /add\[0\]\.header\.key: header "transfer-encoding" may not be modified by Legate/);
  assert.throws(() => parser([{ header: { key: 'x', value: '%BOGUS%' } }]), /^Error: add\[0\]\.header\.value: Not supported field in StreamInfo: BOGUS/);
});

test('route, virtual host, route configuration: the last evaluated wins an overwrite', () => {
  const level = (v: string) => compileHeaderParser([
    { header: { key: 'x-level', value: v }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
    { header: { key: 'x-list', value: v } },
  ], [], 'a', 'r', ctx);
  const run = (most: boolean): string[] => {
    const req = new RequestHeaders('GET', '/', 'h', 'http', 'HTTP/1.1', []);
    finalizeRequestHeaders(routeChain(level('route'), level('vhost'), level('global'), most)!, req, newStreamInfo(0, '', '', null));
    return [req.get('x-level')!, ...lines(req).filter((l) => l.startsWith('x-list'))];
  };
  assert.deepEqual(run(false), ['global', 'x-list: route', 'x-list: vhost', 'x-list: global']);
  assert.deepEqual(run(true), ['route', 'x-list: global', 'x-list: vhost', 'x-list: route']);
  assert.equal(routeChain(null, null, null, false), null);
});

test('formatted values: %REQ% reads the request as it was before this parser added to it', () => {
  const req = new RequestHeaders('GET', '/p?q', 'h', 'http', 'HTTP/1.1', ['x-a', '1']);
  finalizeRequestHeaders([compileHeaderParser([
    { header: { key: 'x-a', value: '2' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
    { header: { key: 'x-copy', value: '%REQ(x-a)% %REQ(:path)% %REQ(x-none)%' } },
  ], [], 'a', 'r', ctx)!], req, newStreamInfo(0, '', '', null));
  assert.deepEqual(lines(req), ['x-a: 2', 'x-copy: 1 /p?q ']);
});
