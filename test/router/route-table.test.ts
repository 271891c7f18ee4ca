import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RouteTable } from '../../src/router/route-table.ts';
import { RequestHeaders } from '../../src/http/types.ts';
import type { RouteSnap, VirtualHostSnap } from '../../src/config/snapshot.ts';

function route(name: string, kind: 'prefix' | 'path' | 'regex', value: string, extra: Partial<RouteSnap> = {}): RouteSnap {
  return {
    name,
    match: { kind, value, caseSensitive: true },
    headers: [],
    action: { kind: 'direct', status: 200, body: name },
    metadata: null,
    perFilterConfig: null,
    ...extra,
  };
}
function req(authority: string, path: string, headers: string[] = [], method = 'GET'): RequestHeaders {
  return new RequestHeaders(method, path, authority, 'http', 'HTTP/1.1', headers);
}

const vhosts: VirtualHostSnap[] = [
  { name: 'exact', domains: ['api.example.com'], routes: [route('exact', 'prefix', '/')] },
  { name: 'suffix', domains: ['*.example.com'], routes: [route('suffix', 'prefix', '/')] },
  { name: 'longer-suffix', domains: ['*.b.example.com'], routes: [route('longer-suffix', 'prefix', '/')] },
  { name: 'prefix', domains: ['foo.*'], routes: [route('prefix', 'prefix', '/')] },
  {
    name: 'default', domains: ['*'], routes: [
      route('path', 'path', '/exact'),
      route('regex', 'regex', '/re/[0-9]+'),
      route('hdr', 'prefix', '/h', {
        headers: [{ name: 'x-v', kind: 'exact', value: '1', ignoreCase: false, invert: false, present: false }],
      }),
      route('present', 'prefix', '/h', {
        headers: [{ name: 'x-p', kind: 'present', value: '', ignoreCase: false, invert: false, present: true }],
      }),
      route('method', 'prefix', '/m', {
        headers: [{ name: ':method', kind: 'exact', value: 'POST', ignoreCase: false, invert: false, present: false }],
      }),
      route('nocase', 'prefix', '/CI', { match: { kind: 'prefix', value: '/CI', caseSensitive: false } }),
      route('catchall', 'prefix', '/'),
    ],
  },
];
const t = new RouteTable(vhosts);
const name = (r: RequestHeaders) => t.route(r)?.snap.name ?? null;

test('virtual host selection: exact, longest suffix wildcard, prefix wildcard, then *', () => {
  assert.equal(name(req('api.example.com', '/')), 'exact');
  assert.equal(name(req('API.Example.com', '/')), 'exact');
  assert.equal(name(req('x.example.com', '/')), 'suffix');
  assert.equal(name(req('x.b.example.com', '/')), 'longer-suffix');
  assert.equal(name(req('foo.bar', '/')), 'prefix');
  assert.equal(name(req('other', '/')), 'catchall');
});

test('route matching: path ignores the query, regex matches the whole path, headers', () => {
  assert.equal(name(req('h', '/exact?q=1')), 'path');
  assert.equal(name(req('h', '/exact/more')), 'catchall');
  assert.equal(name(req('h', '/re/123')), 'regex');
  assert.equal(name(req('h', '/re/123x')), 'catchall');
  assert.equal(name(req('h', '/h', ['x-v', '1'])), 'hdr');
  assert.equal(name(req('h', '/h', ['x-v', '2'])), 'catchall');
  assert.equal(name(req('h', '/h', ['x-p', ''])), 'present');
  assert.equal(name(req('h', '/m', [], 'POST')), 'method');
  assert.equal(name(req('h', '/m', [], 'GET')), 'catchall');
  assert.equal(name(req('h', '/ci/x')), 'nocase');
});

test('no virtual host and no route give null', () => {
  const only = new RouteTable([{ name: 'a', domains: ['a.com'], routes: [route('api', 'prefix', '/api')] }]);
  assert.equal(only.route(req('b.com', '/api')), null);
  assert.equal(only.route(req('a.com', '/other')), null);
  assert.equal(only.route(req('a.com', '/api/x'))?.snap.name, 'api');
});

test('the remembered last authority never answers for another one', () => {
  // Same authority twice (the cache), then others in turn, then back: each gets its own vhost.
  const seq: [string, string][] = [
    ['api.example.com', 'exact'], ['api.example.com', 'exact'], ['x.example.com', 'suffix'],
    ['api.example.com', 'exact'], ['other', 'catchall'], ['other', 'catchall'], ['foo.bar', 'prefix'],
    ['API.example.com', 'exact'], ['api.example.com', 'exact'],
  ];
  for (const [authority, want] of seq) assert.equal(name(req(authority, '/')), want, authority);
  // Only `*`: no lookup at all, every authority gets it.
  const star = new RouteTable([{ name: 'all', domains: ['*'], routes: [route('all', 'prefix', '/')] }]);
  assert.equal(star.route(req('anything', '/x'))?.snap.name, 'all');
  assert.equal(star.route(req('', '/x'))?.snap.name, 'all');
});
