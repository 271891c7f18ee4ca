// Route matching, table-driven: every path specifier and condition of RouteMatch, the header matcher
// rules of Envoy's HeaderUtility (invert, missing headers, ranges), virtual host precedence, the
// indexed runs of plain routes against the plain walk, and explain().
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RouteTable } from '../../src/router/route-table.ts';
import { HeaderMatcher } from '../../src/router/matchers.ts';
import { RequestHeaders } from '../../src/http/types.ts';
import { uriTemplateRegex } from '../../src/router/uri-template.ts';
import type { HeaderMatchSnap, RouteMatchSnap, RouteSnap, VirtualHostSnap } from '../../src/router/config.ts';
import type { SslConnectionInfo } from '../../src/network/transport-socket.ts';
import { ThreadLoader } from '../../src/runtime/snapshot.ts';
import { createEntry, type JsonValue } from '../../src/runtime/entry.ts';
import { newStreamInfo } from '../../src/http/types.ts';

process.env.LEGATE_TEST = '1';

function route(name: string, match: Partial<RouteMatchSnap>, headers: HeaderMatchSnap[] = []): RouteSnap {
  return {
    name,
    match: { kind: 'prefix', value: '/', caseSensitive: true, ...match },
    headers,
    action: { kind: 'direct', status: 200, body: name },
    metadata: null,
    perFilterConfig: null,
  };
}
function hdr(name: string, m: Partial<HeaderMatchSnap>): HeaderMatchSnap {
  return { name, kind: 'exact', value: '', ignoreCase: false, invert: false, present: false, ...m };
}
function req(path: string, headers: string[] = [], authority = 'h', method = 'GET'): RequestHeaders {
  return new RequestHeaders(method, path, authority, 'http', 'HTTP/1.1', headers);
}
/** The name of the route `path` (and headers) gets from one route and a catch-all. */
function one(match: Partial<RouteMatchSnap>, path: string, headers: string[] = [], hm: HeaderMatchSnap[] = [],
  ssl: SslConnectionInfo | null = null): boolean {
  const t = new RouteTable([{ name: 'v', domains: ['*'], routes: [route('r', match, hm)] }]);
  const r = t.route(req(path, headers), ssl);
  // explain agrees with the hot path (it throws under LEGATE_TEST when it does not).
  const e = t.explain(req(path, headers), ssl);
  assert.equal(e.route?.name ?? null, r?.snap.name ?? null);
  if (r === null) assert.ok(e.skipped[0].reasons.length > 0);
  return r !== null;
}

test('path specifiers: prefix, path, safe_regex, path_separated_prefix, templates; case_sensitive', () => {
  const cases: [Partial<RouteMatchSnap>, string, boolean][] = [
    [{ kind: 'prefix', value: '/api' }, '/api/x', true],
    [{ kind: 'prefix', value: '/api' }, '/apix', true],
    [{ kind: 'prefix', value: '/api' }, '/API', false],
    [{ kind: 'prefix', value: '/API', caseSensitive: false }, '/api/x', true],
    [{ kind: 'prefix', value: '/a' }, '/b?x=/a', false],
    [{ kind: 'path', value: '/a' }, '/a?q', true],
    [{ kind: 'path', value: '/a' }, '/a#f', true],
    [{ kind: 'path', value: '/a' }, '/a/', false],
    [{ kind: 'path', value: '/A', caseSensitive: false }, '/a', true],
    // safe_regex: a full match on the path without the query; case_sensitive does not apply.
    [{ kind: 'regex', value: '/re/[0-9]+' }, '/re/123?x', true],
    [{ kind: 'regex', value: '/re/[0-9]+' }, '/re/123x', false],
    [{ kind: 'regex', value: '/RE', caseSensitive: false }, '/re', false],
    [{ kind: 'regex', value: '(?i)/RE' }, '/re', true],
    [{ kind: 'regex', value: '/\\pL+' }, '/abc', true],
    [{ kind: 'regex', value: '/[[:digit:]]+' }, '/42', true],
    [{ kind: 'regex', value: '/a|/b' }, '/b', true],
    [{ kind: 'separated', value: '/api' }, '/api', true],
    [{ kind: 'separated', value: '/api' }, '/api/v1', true],
    [{ kind: 'separated', value: '/api' }, '/api?x', true],
    [{ kind: 'separated', value: '/api' }, '/apiv1', false],
    [{ kind: 'separated', value: '/API', caseSensitive: false }, '/api/x', true],
    [{ kind: 'template', value: '/{a}/**', regex: uriTemplateRegex('/{a}/**') }, '/x/y/z', true],
    [{ kind: 'template', value: '/{a}/**', regex: uriTemplateRegex('/{a}/**') }, '/x', false],
    [{ kind: 'template', value: '/*/b', regex: uriTemplateRegex('/*/b') }, '/a/b', true],
    [{ kind: 'template', value: '/*/b', regex: uriTemplateRegex('/*/b') }, '/a/c/b', false],
  ];
  for (const [m, path, want] of cases) assert.equal(one(m, path), want, `${JSON.stringify(m)} ${path}`);
});

test('uri templates: Envoy\'s translation and its refusals', () => {
  assert.equal(uriTemplateRegex('/'), '/');
  assert.equal(uriTemplateRegex('/a.b/{x=*}/v1'), '/a\\.b/(?P<x>[a-zA-Z0-9-._~%!$&\'()+,;:@]+)/v1');
  assert.equal(uriTemplateRegex('/**.m3u8'), '/[a-zA-Z0-9-._~%!$&\'()+,;:@/]*\\.m3u8');
  assert.equal(uriTemplateRegex('/a/'), '/a/');
  const bad: [string, string][] = [
    ['a', 'Invalid pattern'], ['/a b', 'Invalid pattern'], ['//a', 'Invalid literal'], ['/{x', 'Unmatched variable bracket'],
    ['/{1x}', 'Invalid variable name'], ['/{x=}', 'Empty variable match'], ['/**/*', 'Glob after text glob.'],
    ['/**/{x}', 'Implicit variable path glob after text glob.'], ['/{x}/{x}', 'Repeated variable name'],
    ['/{a}/{b}/{c}/{d}/{e}/{f}', 'Exceeded variable count limit'], ['/{abcdefghijklmnopq}', 'Invalid variable length'],
    ['/*.a/b', 'Prefix match not supported.'], ['/a=b', 'Invalid literal'],
  ];
  for (const [t, why] of bad) assert.throws(() => uriTemplateRegex(t), { message: why }, t);
});

test('header matchers: string kinds, ignore_case, present, range, invert, missing headers', () => {
  // [matcher, header lines, expected]
  const cases: [Partial<HeaderMatchSnap>, string[], boolean][] = [
    [{ kind: 'exact', value: 'v' }, ['x', 'v'], true],
    [{ kind: 'exact', value: 'v' }, ['x', 'V'], false],
    [{ kind: 'exact', value: 'v', ignoreCase: true }, ['x', 'V'], true],
    [{ kind: 'prefix', value: 'ab' }, ['x', 'abc'], true],
    [{ kind: 'suffix', value: 'bc' }, ['x', 'abc'], true],
    [{ kind: 'contains', value: 'b' }, ['x', 'abc'], true],
    [{ kind: 'contains', value: 'b', ignoreCase: true }, ['x', 'ABC'], true],
    [{ kind: 'regex', value: 'a.c' }, ['x', 'abc'], true],
    [{ kind: 'regex', value: 'a.c' }, ['x', 'abcd'], false],
    // Several lines of a name: joined with ',' (getAllOfHeaderAsString).
    [{ kind: 'exact', value: 'a,b' }, ['x', 'a', 'x', 'b'], true],
    [{ kind: 'exact', value: '' }, ['x', ''], true],
    [{ kind: 'present', present: true }, ['x', ''], true],
    [{ kind: 'present', present: true }, [], false],
    [{ kind: 'present', present: false }, [], true],
    [{ kind: 'present', present: false }, ['x', '1'], false],
    [{ kind: 'present', present: true, invert: true }, [], true],
    [{ kind: 'present', present: false, invert: true }, [], false],
    // An absent header never matches a value matcher, inverted or not...
    [{ kind: 'exact', value: 'v', invert: true }, [], false],
    [{ kind: 'exact', value: 'v', invert: true }, ['x', 'w'], true],
    // ...unless treat_missing_header_as_empty.
    [{ kind: 'exact', value: '', treatMissingAsEmpty: true }, [], true],
    [{ kind: 'exact', value: 'v', invert: true, treatMissingAsEmpty: true }, [], true],
    [{ kind: 'range', rangeStart: '-10', rangeEnd: '0' }, ['x', '-1'], true],
    [{ kind: 'range', rangeStart: '-10', rangeEnd: '0' }, ['x', '0'], false],
    [{ kind: 'range', rangeStart: '-10', rangeEnd: '0' }, ['x', '-10'], true],
    [{ kind: 'range', rangeStart: '0', rangeEnd: '10' }, ['x', ' +5 '], true],
    [{ kind: 'range', rangeStart: '0', rangeEnd: '10' }, ['x', '5x'], false],
    [{ kind: 'range', rangeStart: '0', rangeEnd: '10' }, ['x', '0x5'], false],
    [{ kind: 'range', rangeStart: '0', rangeEnd: '10' }, ['x', '99999999999999999999'], false],
    [{ kind: 'range', rangeStart: '0', rangeEnd: '10', invert: true }, ['x', '11'], true],
    [{ kind: 'range', rangeStart: '0', rangeEnd: '10', invert: true, treatMissingAsEmpty: true }, [], true],
    [{ kind: 'range', rangeStart: '9223372036854775806', rangeEnd: '9223372036854775807' }, ['x', '9223372036854775806'], true],
  ];
  for (const [m, lines, want] of cases) {
    const snap = hdr('x', m);
    assert.equal(one({}, '/', lines, [snap]), want, `${JSON.stringify(m)} ${JSON.stringify(lines)}`);
    assert.equal(new HeaderMatcher(snap).matchesValue(lines.length === 0 ? undefined : lines.filter((_, i) => i % 2 === 1).join(',')), want);
  }
  // Pseudo-headers.
  assert.equal(one({}, '/p?q', [], [hdr(':path', { value: '/p?q' })]), true);
  assert.equal(one({}, '/', [], [hdr(':method', { value: 'GET' })]), true);
  assert.equal(one({}, '/', [], [hdr(':authority', { value: 'h' })]), true);
});

test('query parameters, grpc and tls_context', () => {
  const qp = (name: string, m: Partial<RouteMatchSnap['queryParameters'] & object>[number] | object) =>
    ({ queryParameters: [{ name, match: null, present: null, ...m }] });
  const cases: [Partial<RouteMatchSnap>, string, boolean][] = [
    [qp('a', {}), '/?a', true],
    [qp('a', {}), '/?b=1', false],
    [qp('a', { match: { kind: 'exact', value: '1', ignoreCase: false } }), '/?a=1&a=2', true],
    [qp('a', { match: { kind: 'exact', value: '2', ignoreCase: false } }), '/?a=1&a=2', false],
    [qp('a', { match: { kind: 'exact', value: 'x%20y', ignoreCase: false } }), '/?a=x%20y', true],
    [qp('a', { match: { kind: 'regex', value: '[0-9]+', ignoreCase: false } }), '/?b&a=12', true],
    [qp('a', { match: { kind: 'exact', value: '', ignoreCase: false } }), '/?a', true],
    [qp('a', { present: false }), '/?b', true],
    [qp('a', { present: false }), '/?a=', false],
    [qp('a', { present: true }), '/x?a=1#frag', true],
  ];
  for (const [m, path, want] of cases) assert.equal(one(m, path), want, `${JSON.stringify(m)} ${path}`);
  assert.equal(one({ grpc: true }, '/', ['content-type', 'application/grpc']), true);
  assert.equal(one({ grpc: true }, '/', ['content-type', 'application/grpc+proto']), true);
  assert.equal(one({ grpc: true }, '/', ['content-type', 'application/grpc-web']), false);
  assert.equal(one({ grpc: true }, '/', []), false);
  const ssl = (presented: boolean, validated: boolean) =>
    ({ peerCertificatePresented: presented, peerCertificateValidated: validated }) as SslConnectionInfo;
  assert.equal(one({ tlsPresented: true }, '/', [], [], ssl(true, false)), true);
  assert.equal(one({ tlsPresented: true }, '/', [], [], null), false);
  assert.equal(one({ tlsPresented: false }, '/', [], [], null), true);
  assert.equal(one({ tlsValidated: true }, '/', [], [], ssl(true, false)), false);
  assert.equal(one({ tlsPresented: true, tlsValidated: true }, '/', [], [], ssl(true, true)), true);
});

test('virtual hosts: exact, longest suffix wildcard, longest prefix wildcard, *, ports', () => {
  const vh = (name: string, domains: string[]): VirtualHostSnap => ({ name, domains, routes: [route(name, {})] });
  const t = new RouteTable([
    vh('exact', ['api.example.com', 'port.example.com:8080']),
    vh('suffix', ['*.example.com']),
    vh('dash', ['*-bar.example.com']),
    vh('prefix', ['foo.*']),
    vh('prefix-long', ['foo.bar.*']),
    vh('default', ['*']),
  ]);
  const cases: [string, string, string][] = [
    ['api.example.com', 'exact', 'api.example.com'],
    ['API.Example.COM', 'exact', 'api.example.com'],
    ['port.example.com:8080', 'exact', 'port.example.com:8080'],
    ['x.example.com', 'suffix wildcard', '*.example.com'],
    ['baz-bar.example.com', 'suffix wildcard', '*-bar.example.com'],
    ['-bar.example.com', 'suffix wildcard', '*.example.com'],
    ['.example.com', 'default', '*'],
    ['port.example.com:9090', 'default', '*'],
    ['foo.x', 'prefix wildcard', 'foo.*'],
    ['foo.bar.x', 'prefix wildcard', 'foo.bar.*'],
    ['foo.', 'default', '*'],
    // A suffix wildcard wins over a prefix one.
    ['foo.example.com', 'suffix wildcard', '*.example.com'],
    ['', 'default', '*'],
  ];
  for (const [authority, rule, domain] of cases) {
    const e = t.explain(req('/', [], authority));
    assert.deepEqual([e.virtualHost?.rule, e.virtualHost?.domain], [rule, domain], authority);
  }
  assert.equal(t.route(req('/', [], 'baz-bar.example.com'))!.snap.name, 'dash');
  // ignore_port_in_host_matching.
  const p = new RouteTable([vh('a', ['a.com']), vh('b', ['*'])], true);
  assert.equal(p.route(req('/', [], 'a.com:1234'))!.snap.name, 'a');
  assert.equal(p.route(req('/', [], '[::1]:80'))!.snap.name, 'b');
  // No `*`: an unknown host has no virtual host.
  assert.equal(new RouteTable([vh('a', ['a.com'])]).explain(req('/', [], 'b.com')).virtualHost, null);
});

test('runs of plain routes are indexed and keep first-match order', () => {
  // Random tables of prefix/path routes with a few conditional routes between them, checked
  // against explain's route-by-route walk.
  let seed = 7;
  const rnd = (n: number) => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n; };
  const segs = ['a', 'b', 'ab', 'c'];
  const path = () => '/' + Array.from({ length: 1 + rnd(3) }, () => segs[rnd(segs.length)]).join('/') + (rnd(3) === 0 ? '/' : '');
  for (let round = 0; round < 20; round++) {
    const routes: RouteSnap[] = [];
    for (let i = 0; i < 40; i++) {
      const k = rnd(10);
      if (k < 4) routes.push(route(`p${i}`, { kind: 'prefix', value: path().slice(0, 1 + rnd(5)) }));
      else if (k < 8) routes.push(route(`e${i}`, { kind: 'path', value: path() }));
      else if (k === 8) routes.push(route(`h${i}`, { kind: 'prefix', value: '/' }, [hdr('x', { value: '1' })]));
      else routes.push(route(`c${i}`, { kind: 'prefix', value: path().toUpperCase(), caseSensitive: false }));
    }
    const t = new RouteTable([{ name: 'v', domains: ['*'], routes }]);
    for (let j = 0; j < 50; j++) {
      const r = req(path() + (rnd(2) ? '?q=1' : ''), rnd(2) ? ['x', '1'] : []);
      // explain() throws (LEGATE_TEST) if the indexed route() disagrees with its walk.
      const e = t.explain(r);
      assert.equal(t.route(r)?.snap.name ?? null, e.route?.name ?? null);
    }
  }
});

test('explain: the virtual host rule, the route, and why each earlier route did not match', () => {
  const t = new RouteTable([{
    name: 'v', domains: ['*.example.com'], routes: [
      route('a', { kind: 'prefix', value: '/b' }),
      route('b', { kind: 'path', value: '/a/x' }),
      route('c', { kind: 'prefix', value: '/a' }, [hdr('x-foo', { kind: 'present', present: true })]),
      route('d', { kind: 'prefix', value: '/a', queryParameters: [{ name: 'v', match: null, present: null }], grpc: true }),
      route('e', { kind: 'regex', value: '/a/[0-9]+' }),
      route('f', { kind: 'prefix', value: '/' }),
    ],
  }]);
  const e = t.explainRequest('GET', 'www.Example.com', '/a/y?w=1', [['X-Bar', '1']]);
  assert.deepEqual(e, {
    host: 'www.example.com',
    virtualHost: { name: 'v', rule: 'suffix wildcard', domain: '*.example.com' },
    route: { index: 5, name: 'f' },
    skipped: [
      { index: 0, name: 'a', reasons: ['path "/a/y" does not start with prefix "/b"'] },
      { index: 1, name: 'b', reasons: ['path "/a/y" is not path "/a/x"'] },
      { index: 2, name: 'c', reasons: ['header x-foo: absent (present_match: true)'] },
      { index: 3, name: 'd', reasons: [
        'grpc: content-type absent is not application/grpc', 'query parameter v: absent (present)',
      ] },
      { index: 4, name: 'e', reasons: ['path "/a/y" does not fully match safe_regex "/a/[0-9]+"'] },
    ],
  });
  const none = t.explainRequest('GET', 'other', '/');
  assert.deepEqual([none.virtualHost, none.route, none.skipped], [null, null, []]);
});

function values(v: Record<string, JsonValue>) {
  return new Map(Object.entries(v).map(([k, x]) => [k, createEntry(x)]));
}

test('runtime_fraction: the runtime value (fraction or percent) or the default, on the stream\'s random value', () => {
  const runtime = new ThreadLoader();
  const rt = (runtimeKey: string, numerator: number, denominator: 'HUNDRED' | 'TEN_THOUSAND' | 'MILLION' = 'HUNDRED') =>
    ({ runtimeFraction: { runtimeKey, defaultValue: { numerator, denominator } } });
  const t = new RouteTable([{ name: 'v', domains: ['*'], routes: [
    route('a', { kind: 'prefix', value: '/', ...rt('routing.a', 30) }),
    route('b', { kind: 'prefix', value: '/', ...rt('', 60) }),
    route('c', { kind: 'prefix', value: '/' }),
  ] }], false, runtime);
  const pick = (random: number): string => {
    const info = newStreamInfo(0, '', '', null);
    info.streamId = random;
    const r = t.route(req('/x'), null, info)!;
    // explain agrees with the hot path for the same random value (it throws under LEGATE_TEST when not).
    assert.equal(t.explain(req('/x'), null, random).route!.name, r.snap.name);
    return r.snap.name;
  };
  // The default: random % 100 < 30. Both routes see the same value (Envoy's stream id), so b
  // gets 30% of the requests (30 <= random % 100 < 60), not 60% of the remaining 70%.
  assert.deepEqual([29, 129, 30, 59, 60, 99].map(pick), ['a', 'a', 'b', 'b', 'c', 'c']);
  // The runtime's value wins: a FractionalPercent, or a plain number read as a percentage.
  runtime.update(values({ 'routing.a': { numerator: 500, denominator: 'TEN_THOUSAND' } }));
  assert.deepEqual([499, 500, 10_499, 10_500].map(pick), ['a', 'b', 'a', 'b']);
  runtime.update(values({ 'routing.a': 100 }));
  assert.equal(pick(99), 'a');
  runtime.update(values({ 'routing.a': 0 }));
  assert.equal(pick(0), 'b');
  // Not a number nor a fraction: the default.
  runtime.update(values({ 'routing.a': 'x' }));
  assert.deepEqual([29, 30].map(pick), ['a', 'b']);
  // One random value per stream: every route of the lookup, and a second lookup, see the same.
  const info = newStreamInfo(0, '', '', null);
  const first = t.route(req('/x'), null, info)!.snap.name;
  assert.notEqual(info.streamId, -1);
  for (let i = 0; i < 20; i++) assert.equal(t.route(req('/x'), null, info)!.snap.name, first);
  // Roughly the fraction over many streams (no stream info: a value drawn per lookup).
  runtime.update(values({ 'routing.a': 50 }));
  let a = 0;
  for (let i = 0; i < 10_000; i++) if (t.route(req('/x'))!.snap.name === 'a') a++;
  assert.ok(Math.abs(a / 10_000 - 0.5) < 0.03, `${a}`);
});

test('runtime_fraction: explain says which value and which fraction', () => {
  const runtime = new ThreadLoader(values({ 'routing.set': 10 }));
  const t = new RouteTable([{ name: 'v', domains: ['*'], routes: [
    route('unset', { kind: 'prefix', value: '/', runtimeFraction: { runtimeKey: 'routing.unset', defaultValue: { numerator: 1, denominator: 'MILLION' } } }),
    route('set', { kind: 'prefix', value: '/', runtimeFraction: { runtimeKey: 'routing.set', defaultValue: { numerator: 90, denominator: 'HUNDRED' } } }),
    route('nokey', { kind: 'prefix', value: '/', runtimeFraction: { runtimeKey: '', defaultValue: { numerator: 0, denominator: 'HUNDRED' } } }),
    route('h', { kind: 'prefix', value: '/', runtimeFraction: { runtimeKey: '', defaultValue: { numerator: 100, denominator: 'HUNDRED' } } },
      [hdr('x-h', { kind: 'present', present: true })]),
    route('last', { kind: 'prefix', value: '/' }),
  ] }], false, runtime);
  const e = t.explainRequest('GET', 'h', '/', [], null, 55);
  assert.deepEqual(e.route, { index: 4, name: 'last' });
  assert.deepEqual(e.skipped.map((s) => s.reasons), [
    ['runtime_fraction: not enabled for random value 55 (default_value 1/1000000, runtime_key "routing.unset" not set)'],
    ['runtime_fraction: not enabled for random value 55 (default_value 90/100, runtime_key "routing.set" = "10")'],
    ['runtime_fraction: not enabled for random value 55 (default_value 0/100, no runtime_key)'],
    // (A fraction that passes is not a reason; the other conditions still are.)
    ['header x-h: absent (present_match: true)'],
  ]);
  // Without a loader the defaults apply (main's explain tool before a runtime exists, tests).
  const d = new RouteTable([{ name: 'v', domains: ['*'], routes: [
    route('set', { kind: 'prefix', value: '/', runtimeFraction: { runtimeKey: 'routing.set', defaultValue: { numerator: 90, denominator: 'HUNDRED' } } }),
  ] }]);
  assert.equal(d.explainRequest('GET', 'h', '/', [], null, 55).route?.name, 'set');
});
