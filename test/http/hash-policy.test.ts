// Route hash policies (http/hash-policy.ts), ported from Envoy's tests:
// test/common/http/hash_policy_test.cc (HashPolicyImplTest), the RouterMatcherHashPolicyTest and
// RouterMatcherCookieHashPolicyTest cases of test/common/router/config_impl_test.cc, and the cookie
// cases of test/common/http/utility_test.cc.
//
// Where Envoy states an expectation as HashUtil::xxHash64("literal") the concrete value here comes
// from the reference xxHash (XXH64 of xxHash 0.8.1, via xxhsum -H1 and python3-xxhash, which give
// Envoy's own vectors for "foo", "bar" and the span {"foo", "bar"}), not from Legate's code; the
// combinations (rotl(a, 1) ^ b) were worked out with that library too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  HashMethodKind, generateHash, generatedCookieValue, hashTexts, ipOf, makeSetCookieValue, parseCookieValue,
  queryParameterValue, type HashMethodSnap, type HashPolicyCallbacks,
} from '../../src/http/hash-policy.ts';
import { RequestHeaders } from '../../src/http/types.ts';

// XXH64 of each string (seed 0).
const H = {
  foo: 3728699739546630719n, // Envoy's hash_test.cc
  bar: 5234164152756840025n, // Envoy's hash_test.cc
  testValue: 4724915109242149117n,
  cookieValue: 18280436253395164091n,
  newCookieValue: 14149051466428913032n,
  ip192: 4727775843391247014n, // "192.168.1.1"
  paramValue: 12592489336569404046n,
  ip4321: 1730939287958243388n,
  ip1234: 14026795738668939420n,
  slashFoo: 5016145685135863363n, // "/foo"
};

function req(path = '/', headers: string[] = []): RequestHeaders {
  return new RequestHeaders('GET', path, 'www.lyft.com', 'http', 'HTTP/1.1', headers);
}

function header(name: string, terminal = false): HashMethodSnap {
  return { kind: HashMethodKind.Header, terminal, name, generate: false, setCookieAttributes: '' };
}
function cookie(name: string, opts: { ttl?: boolean; terminal?: boolean } = {}): HashMethodSnap {
  return {
    kind: HashMethodKind.Cookie, terminal: opts.terminal === true, name, generate: opts.ttl === true,
    setCookieAttributes: '',
  };
}
function sourceIp(terminal = false): HashMethodSnap {
  return { kind: HashMethodKind.SourceIp, terminal, name: '', generate: false, setCookieAttributes: '' };
}
function queryParameter(name: string): HashMethodSnap {
  return { kind: HashMethodKind.QueryParameter, terminal: false, name, generate: false, setCookieAttributes: '' };
}

/** Records the cookie methods it is asked to generate for, answering `value`. */
function cookieCallbacks(value: string): HashPolicyCallbacks & { asked: HashMethodSnap[] } {
  const asked: HashMethodSnap[] = [];
  return { asked, addDownstreamSetCookie: (m) => { asked.push(m); return value; } };
}

// ---- HashPolicyImplTest (test/common/http/hash_policy_test.cc) -----------------------------------

test('HeaderHashForSingleHeaderValue', () => {
  assert.equal(generateHash([header('x-test-header')], req('/', ['x-test-header', 'test-value']), '', null), H.testValue);
});

test('MultipleHeaderValues: the values hashed in sorted order, each seeding the next', () => {
  // Envoy: HashUtil::xxHash64(span{"value1", "value2"}).
  const h = req('/', ['x-multi-header', 'value1', 'x-multi-header', 'value2']);
  assert.equal(generateHash([header('x-multi-header')], h, '', null), 9193721384592083371n);
});

test('HeaderHashMethodSameHashForDifferentHeaderOrder', () => {
  const p = [header('x-reorder-header')];
  const a = generateHash(p, req('/', ['x-reorder-header', 'value1', 'x-reorder-header', 'value2']), '', null);
  const b = generateHash(p, req('/', ['x-reorder-header', 'value2', 'x-other', 'x', 'x-reorder-header', 'value1']), '', null);
  assert.equal(a, b);
  // Sorted bytewise: {"foo", "bar"} hashes as the span {"bar", "foo"}.
  assert.equal(generateHash([header('x-h')], req('/', ['x-h', 'foo', 'x-h', 'bar']), '', null), 6648465492906218751n);
});

test('HeaderNotPresent', () => {
  assert.equal(generateHash([header('x-missing-header')], req(), '', null), null);
  assert.equal(generateHash([header('x-missing-header')], req('/', ['x-other', 'v']), '', null), null);
});

test('CookieHashForPresentCookie', () => {
  const h = req('/', ['cookie', 'test-cookie=cookie-value']);
  assert.equal(generateHash([cookie('test-cookie')], h, '', null), H.cookieValue);
});

test('CookieHashForAbsentCookieWithTTL: the generated value is hashed', () => {
  const cb = cookieCallbacks('new-cookie-value');
  const m = cookie('test-cookie', { ttl: true });
  assert.equal(generateHash([m], req(), '', cb), H.newCookieValue);
  assert.deepEqual(cb.asked, [m]);
});

test('CookieHashForAbsentCookieWithoutTTL', () => {
  const cb = cookieCallbacks('new-cookie-value');
  assert.equal(generateHash([cookie('test-cookie')], req(), '', cb), null);
  assert.equal(cb.asked.length, 0);
});

test('IpHashForValidIp: the address without its port', () => {
  assert.equal(generateHash([sourceIp()], req(), '192.168.1.1:4567', null), H.ip192);
  assert.equal(generateHash([sourceIp()], req(), '192.168.1.1:0', null), H.ip192);
});

test('IpHashForNullAddress', () => {
  assert.equal(generateHash([sourceIp()], req(), '', null), null);
});

test('QueryParameterHashForExistingParameter', () => {
  assert.equal(generateHash([queryParameter('test-param')], req('/test?test-param=param-value'), '', null), H.paramValue);
});

test('QueryParameterHashForAbsentParameter', () => {
  assert.equal(generateHash([queryParameter('missing-param')], req('/test?some-param=other-value'), '', null), null);
});

test('QueryParameterHashForMissingPathHeader (no query at all)', () => {
  assert.equal(generateHash([queryParameter('test-param')], req('/test'), '', null), null);
});

// ---- RouterMatcherHashPolicyTest (test/common/router/config_impl_test.cc) -------------------------

test('HashHeaders: a header hash only when the header is there; pseudo-headers too', () => {
  assert.equal(generateHash([header('foo_header')], req('/foo'), '', null), null);
  assert.equal(generateHash([header('foo_header')], req('/foo', ['foo_header', 'bar']), '', null), H.bar);
  assert.equal(generateHash([header(':path')], req('/foo'), '', null), H.slashFoo);
  // Host is :authority (the codec takes it out of the list), as in Envoy.
  assert.equal(generateHash([header('host')], req('/foo'), '', null), null);
});

test('NoTtl / DifferentCookies: only the named cookie', () => {
  const p = [cookie('hash')];
  assert.equal(generateHash(p, req('/foo'), '', null), null);
  assert.equal(generateHash(p, req('/foo', ['cookie', 'choco=late; su=gar']), '', null), null);
  assert.equal(generateHash(p, req('/foo', ['cookie', 'choco=late; hash=foo']), '', null), H.foo);
  assert.notEqual(generateHash(p, req('/foo', ['cookie', 'hash=brown']), '', null),
    generateHash(p, req('/foo', ['cookie', 'hash=green']), '', null));
});

test('TtlSet: generated only when the cookie is absent; different values, different hashes', () => {
  const m = cookie('hash', { ttl: true });
  const cb = cookieCallbacks('AAAAAAA');
  assert.notEqual(generateHash([m], req('/foo'), '', cb), null);
  assert.notEqual(generateHash([m], req('/foo', ['cookie', 'choco=late; su=gar']), '', cb), null);
  assert.equal(cb.asked.length, 2);
  assert.equal(generateHash([m], req('/foo', ['cookie', 'choco=late; hash=foo']), '', cb), H.foo);
  assert.equal(cb.asked.length, 2);
  assert.notEqual(generateHash([m], req('/foo'), '', cookieCallbacks('AAAAAAA')),
    generateHash([m], req('/foo'), '', cookieCallbacks('BBBBBBB')));
  // An empty cookie value counts as absent; a generator that gives nothing gives no hash.
  assert.equal(generateHash([m], req('/foo', ['cookie', 'hash=']), '', cookieCallbacks('')), null);
});

test('HashIp: the port does not count; addresses do; IPv6 without brackets', () => {
  const p = [sourceIp()];
  assert.equal(generateHash(p, req('/foo'), '1.2.3.4:8081', null), generateHash(p, req('/foo'), '1.2.3.4:1331', null));
  assert.equal(generateHash(p, req('/foo'), '4.3.2.1:80', null), H.ip4321);
  assert.equal(generateHash(p, req('/foo'), '[::1]:8081', null), 6441869463509800047n);
  assert.equal(generateHash(p, req('/foo'), '[2001:db8::1]:0', null), 2793145402038030385n);
  // Adding a header changes nothing.
  assert.equal(generateHash(p, req('/foo', ['foo_header', 'bar']), '4.3.2.1:80', null), H.ip4321);
});

test('HashQueryParameters', () => {
  const p = [queryParameter('param')];
  assert.equal(generateHash(p, req('/foo'), '', null), null);
  assert.equal(generateHash(p, req('/foo?param=foo'), '', null), H.foo);
});

test('HashMultiple: hash = rotl(hash, 1) ^ next', () => {
  const p = [header('foo_header'), sourceIp()];
  assert.equal(generateHash(p, req('/foo'), '', null), null);
  assert.equal(generateHash(p, req('/foo', ['foo_header', 'foo']), '', null), H.foo);
  assert.equal(generateHash(p, req('/foo'), '4.3.2.1:1', null), H.ip4321);
  // rotl(xxHash64("test-value"), 1) ^ xxHash64("192.168.1.1")
  assert.equal(generateHash(p, req('/foo', ['foo_header', 'test-value']), '192.168.1.1:1', null), 14031217048319697756n);
  // Three methods: rotl(rotl(foo, 1) ^ bar, 1) ^ xxHash64("4.3.2.1").
  const three = [header('a'), cookie('c'), sourceIp()];
  assert.equal(generateHash(three, req('/', ['a', 'foo', 'cookie', 'c=bar']), '4.3.2.1:9', null), 5169978014181190770n);
  // Two equal methods do not cancel out: rotl(foo, 1) ^ foo.
  assert.equal(generateHash([header('a'), header('a')], req('/', ['a', 'foo']), '', null), 6107164738285588033n);
});

test('HashTerminal: a terminal method stops the list once there is a hash', () => {
  // cookie, header (terminal), source ip.
  const p = [cookie('cookie_hash'), header('foo_header', true), sourceIp()];
  const both = ['cookie', 'cookie_hash=foo;', 'foo_header', 'bar'];
  const h1 = generateHash(p, req('/foo', both), '4.3.2.1:1', null);
  assert.equal(h1, generateHash(p, req('/foo', both), '1.2.3.4:1', null));
  assert.equal(h1, 3449051153737634343n); // rotl(foo, 1) ^ bar: the address is not hashed
  // No hash before the terminal one: the rest of the list goes on.
  assert.equal(generateHash(p, req('/foo'), '4.3.2.1:1', null), H.ip4321);
  assert.equal(generateHash(p, req('/foo'), '1.2.3.4:1', null), H.ip1234);
  // Envoy stops on `terminal && hash`: a terminal method that yields nothing still ends the list
  // when an earlier method produced a hash.
  assert.equal(generateHash(p, req('/foo', ['cookie', 'cookie_hash=foo']), '4.3.2.1:1', null), H.foo);
});

// ---- cookies and query strings as Envoy parses them (test/common/http/utility_test.cc) -----------

test('TestParseCookie', () => {
  const h = req('/', [
    'someheader', '10.0.0.1',
    'cookie', 'somekey=somevalue; someotherkey=someothervalue',
    'cookie', 'abc=def; token=abc123; Expires=Wed, 09 Jun 2021 10:18:14 GMT',
    'cookie', 'key2=value2; key3=value3',
  ]);
  assert.equal(parseCookieValue(h, 'token'), 'abc123');
});

test('TestParseCookieDuplicates: the first one wins, even empty', () => {
  const h = req('/', ['someheader', '10.0.0.1', 'cookie', 'a=; b=1; a=2', 'cookie', 'a=3; b=2', 'cookie', 'b=3']);
  assert.equal(parseCookieValue(h, 'a'), '');
  assert.equal(parseCookieValue(h, 'b'), '1');
});

test('TestParseCookieBadValues', () => {
  const h = req('/', [
    'cookie', 'token1=abc123; = ', 'cookie', 'token2=abc123;   ', 'cookie', '; token3=abc123;',
    'cookie', '=; token4="abc123"',
  ]);
  for (const k of ['token1', 'token2', 'token3', 'token4']) assert.equal(parseCookieValue(h, k), 'abc123', k);
});

test('TestParseCookieWithQuotes', () => {
  const h = req('/', [
    'someheader', '10.0.0.1',
    'cookie', 'dquote="; quoteddquote="""',
    'cookie', 'leadingdquote="foobar;',
    'cookie', 'abc=def; token="abc123"; Expires=Wed, 09 Jun 2021 10:18:14 GMT',
  ]);
  assert.equal(parseCookieValue(h, 'token'), 'abc123');
  assert.equal(parseCookieValue(h, 'dquote'), '"');
  assert.equal(parseCookieValue(h, 'quoteddquote'), '"');
  assert.equal(parseCookieValue(h, 'leadingdquote'), '"foobar');
});

test('query parameters as QueryParamsMulti::parseQueryString reads them', () => {
  assert.equal(queryParameterValue('/?param=test&debug&id=01', 'param'), 'test');
  assert.equal(queryParameterValue('/?param=test&debug&id=01', 'debug'), '');
  assert.equal(queryParameterValue('/?param=test&debug&id=01', 'id'), '01');
  assert.equal(queryParameterValue('/?a=1&a=2', 'a'), '1');
  assert.equal(queryParameterValue('/?a=b=c', 'a'), 'b=c');
  assert.equal(queryParameterValue('/?%61=1', 'a'), null); // not decoded
  assert.equal(queryParameterValue('/?A=1', 'a'), null); // case-sensitive
  assert.equal(queryParameterValue('/?', 'a'), null);
  assert.equal(queryParameterValue('/x?&&a', 'a'), '');
  assert.equal(queryParameterValue('/x', 'a'), null);
});

test('TestMakeSetCookieValue', () => {
  assert.equal(makeSetCookieValue('name', 'value', '', 10, false, []), 'name="value"; Max-Age=10');
  assert.equal(makeSetCookieValue('name', 'value', '', 0, false, []), 'name="value"');
  assert.equal(makeSetCookieValue('name', 'value', '', 10, true, []), 'name="value"; Max-Age=10; HttpOnly');
  assert.equal(makeSetCookieValue('name', 'value', '', 0, true, []), 'name="value"; HttpOnly');
  assert.equal(makeSetCookieValue('name', 'value', '/', 10, false, []), 'name="value"; Max-Age=10; Path=/');
  assert.equal(makeSetCookieValue('name', 'value', '/', 0, false, []), 'name="value"; Path=/');
  assert.equal(makeSetCookieValue('name', 'value', '/', 10, true, []), 'name="value"; Max-Age=10; Path=/; HttpOnly');
  assert.equal(makeSetCookieValue('name', 'value', '/', 0, true, []), 'name="value"; Path=/; HttpOnly');
  const attributes = [{ name: 'SameSite', value: 'None' }, { name: 'Secure', value: '' }, { name: 'Partitioned', value: '' }];
  assert.equal(makeSetCookieValue('name', 'value', '/', 0, true, attributes),
    'name="value"; Path=/; SameSite=None; Secure; Partitioned; HttpOnly');
});

test('the generated cookie value: the connection addresses, hashed, 16 hex digits', () => {
  // XXH64("127.0.0.1:40000127.0.0.1:10000"): remote then local address, as Envoy's router joins them.
  assert.equal(generatedCookieValue('127.0.0.1:40000', '127.0.0.1:10000'), '97464cb52965fff1');
  assert.match(generatedCookieValue('[::1]:1', '[::1]:2'), /^[0-9a-f]{16}$/);
});

test('hashTexts is Envoy\'s xxHash64 of a span (TEST(Hash, xxHashWithVector))', () => {
  assert.equal(hashTexts(['foo', 'bar']), 17745830980996999794n);
  assert.equal(hashTexts([]), 0n);
});

test('header bytes are hashed as they came off the wire (latin1), not re-encoded', () => {
  // The byte 0xE9 alone (reference XXH64), not its UTF-8 encoding.
  assert.equal(generateHash([header('x')], req('/', ['x', '\u00e9']), '', null), 8238827249329541468n);
});

test('ipOf', () => {
  assert.equal(ipOf('10.0.0.1:80'), '10.0.0.1');
  assert.equal(ipOf('[fe80::1]:443'), 'fe80::1');
  assert.equal(ipOf(''), '');
});
