// RouteAction.hash_policy in the config: compiled into http/hash-policy.ts's plain data (names
// lowercased, the Set-Cookie attributes prepared once), what Legate does not implement refused by
// field path, and Envoy's proto rules enforced.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateBootstrap } from '../../src/config/load.ts';
import { HashMethodKind } from '../../src/http/hash-policy.ts';
import { VH0, compileConfig, configErrors, hcmOf, minimal } from './fixtures.ts';

const R0 = `${VH0}.routes[0].route`;

function withPolicy(list: unknown[]): any {
  const cfg = minimal();
  hcmOf(cfg).route_config.virtual_hosts[0].routes[0].route.hash_policy = list;
  return cfg;
}

/** The first route's compiled hash policy. */
function policyOf(cfg: unknown): unknown {
  const snap: any = compileConfig(cfg);
  return snap.listeners[0].filterChains[0].filters[0].config.routeConfig.virtualHosts[0].routes[0].action.hashPolicy;
}

test('every supported kind compiles, in order', () => {
  assert.deepEqual(policyOf(withPolicy([
    { header: { header_name: 'X-User' }, terminal: true },
    { cookie: { name: 'sticky', ttl: '3600s', path: '/app', attributes: [{ name: 'SameSite', value: 'Lax' }, { name: 'Secure' }] } },
    { cookie: { name: 'passive' } },
    { cookie: { name: 'session', ttl: '0.5s' } },
    { connection_properties: { source_ip: true } },
    { query_parameter: { name: 'Shard' } },
    { header: { header_name: ':path' } },
  ])), [
    { kind: HashMethodKind.Header, terminal: true, name: 'x-user', generate: false, setCookieAttributes: '' },
    {
      kind: HashMethodKind.Cookie, terminal: false, name: 'sticky', generate: true,
      setCookieAttributes: '; Max-Age=3600; Path=/app; SameSite=Lax; Secure; HttpOnly',
    },
    { kind: HashMethodKind.Cookie, terminal: false, name: 'passive', generate: false, setCookieAttributes: '' },
    // Envoy takes the ttl's whole seconds: 0 makes a session cookie (no Max-Age), still generated.
    { kind: HashMethodKind.Cookie, terminal: false, name: 'session', generate: true, setCookieAttributes: '; HttpOnly' },
    { kind: HashMethodKind.SourceIp, terminal: false, name: '', generate: false, setCookieAttributes: '' },
    // Query parameter names are case-sensitive.
    { kind: HashMethodKind.QueryParameter, terminal: false, name: 'Shard', generate: false, setCookieAttributes: '' },
    { kind: HashMethodKind.Header, terminal: false, name: ':path', generate: false, setCookieAttributes: '' },
  ]);
});

test('no hash_policy, or only source_ip: false (Envoy adds no method for it): null', () => {
  assert.equal(policyOf(minimal()), null);
  assert.equal(policyOf(withPolicy([{ connection_properties: { source_ip: false } }])), null);
  assert.equal(policyOf(withPolicy([{ connection_properties: {} }])), null);
});

test('non-ASCII names and attributes are kept as their UTF-8 bytes (what Envoy compares and writes)', () => {
  const p = policyOf(withPolicy([{ cookie: { name: 'sé', ttl: '1s', path: '/é' } }])) as any[];
  assert.equal(p[0].name, 's\u00c3\u00a9');
  assert.equal(p[0].setCookieAttributes, '; Max-Age=1; Path=/\u00c3\u00a9; HttpOnly');
});

test('regex_rewrite and filter_state are refused by field path', () => {
  assert.deepEqual(configErrors(() => validateBootstrap(withPolicy([
    { header: { header_name: 'x', regex_rewrite: { pattern: { regex: '^/(\\w+)$' }, substitution: '\\1' } } },
    { filter_state: { key: 'k' } },
  ]))), [
    '2 field(s) set that Legate does not act on yet; remove them, or set allowUnsupportedFields '
      + '(they are then ignored with a warning):',
    `${R0}.hash_policy[0].header.regex_rewrite: field is not supported by Legate`,
    `${R0}.hash_policy[1].filter_state: field is not supported by Legate`,
  ]);
});

test('Envoy\'s proto rules: one specifier, names not empty, valid header names', () => {
  assert.deepEqual(configErrors(() => validateBootstrap(withPolicy([
    {},
    { header: { header_name: '' } },
    { cookie: { name: '' } },
    { query_parameter: { name: '' } },
    // (strict: false in the proto: only NUL, CR and LF are refused.)
    { header: { header_name: 'bad\nname' } },
    { cookie: { name: 'c', ttl: '1s', attributes: [{ name: 'bad\rname' }] } },
    { header: { header_name: 'x' }, query_parameter: { name: 'q' } },
  ]))), [
    `${R0}.hash_policy[0]: one of "header", "cookie", "connection_properties", "query_parameter", "filter_state" `
      + 'must be set (oneof "policy_specifier" is required)',
    `${R0}.hash_policy[1].header.header_name: value length must be at least 1 characters, got ""`,
    `${R0}.hash_policy[2].cookie.name: value length must be at least 1 characters, got ""`,
    `${R0}.hash_policy[3].query_parameter.name: value length must be at least 1 characters, got ""`,
    `${R0}.hash_policy[4].header.header_name: value must be a valid HTTP header name, got "bad\\nname"`,
    `${R0}.hash_policy[5].cookie.attributes[0].name: value must be a valid HTTP header name, got "bad\\rname"`,
    `${R0}.hash_policy[6]: fields "header" and "query_parameter" are both set, but only one of oneof `
      + '"policy_specifier" may be',
  ]);
});
