// Route matching in the config: what compiles, and what is refused with its field path (RE2
// rejections, Envoy's own load-time errors, fields Legate does not act on).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileConfig, configErrors, hcmOf, minimal, VH0, HCM } from './fixtures.ts';

const TEMPLATE = 'type.googleapis.com/envoy.extensions.path.match.uri_template.v3.UriTemplateMatchConfig';

function withRoutes(routes: unknown[], vhosts: unknown[] = []): any {
  const cfg = minimal();
  const rc = hcmOf(cfg).route_config;
  rc.virtual_hosts[0].routes = routes;
  rc.virtual_hosts.push(...vhosts);
  return cfg;
}
const r = (match: unknown) => ({ match, route: { cluster: 'c0' } });
const routesOf = (cfg: unknown): any[] =>
  (compileConfig(cfg) as any).listeners[0].filterChains[0].filters[0].config.routeConfig.virtualHosts[0].routes;

test('every path specifier and condition compiles', () => {
  const routes = routesOf(withRoutes([
    r({ path_separated_prefix: '/api', case_sensitive: false }),
    r({ path_match_policy: { name: 'm', typed_config: { '@type': TEMPLATE, path_template: '/{a}/**' } } }),
    r({ safe_regex: { regex: '/re/\\d+' } }),
    r({
      prefix: '/', grpc: {}, tls_context: { presented: true },
      query_parameters: [{ name: 'q', string_match: { prefix: 'A', ignore_case: true } }, { name: 'p', present_match: false }],
      headers: [
        { name: 'X-Range', range_match: { start: -5, end: '10' }, invert_match: true },
        { name: 'x-old', exact_match: 'v' }, { name: 'x-old-re', safe_regex_match: { regex: 'a+' } },
        { name: 'x-missing', string_match: { exact: '' }, treat_missing_header_as_empty: true },
        { name: 'x-present' },
      ],
    }),
  ]));
  assert.deepEqual(routes.map((x) => [x.match.kind, x.match.value]), [
    ['separated', '/api'], ['template', '/{a}/**'], ['regex', '/re/\\d+'], ['prefix', '/'],
  ]);
  const m = routes[3];
  assert.deepEqual([m.match.grpc, m.match.tlsPresented, m.match.tlsValidated], [true, true, null]);
  assert.deepEqual(m.match.queryParameters, [
    { name: 'q', match: { kind: 'prefix', value: 'a', ignoreCase: true }, present: null },
    { name: 'p', match: null, present: false },
  ]);
  assert.deepEqual(m.headers.map((h: any) => [h.name, h.kind, h.value, h.invert, h.rangeStart, h.rangeEnd, h.treatMissingAsEmpty, h.present]), [
    ['x-range', 'range', '', true, '-5', '10', false, false],
    ['x-old', 'exact', 'v', false, '', '', false, false],
    ['x-old-re', 'regex', 'a+', false, '', '', false, false],
    ['x-missing', 'exact', '', false, '', '', true, false],
    ['x-present', 'present', '', false, '', '', false, true],
  ]);
});

test('runtime_fraction compiles (the denominator defaults to HUNDRED; default_value is required)', () => {
  const routes = routesOf(withRoutes([
    r({ prefix: '/a', runtime_fraction: { default_value: { numerator: 25, denominator: 'MILLION' }, runtime_key: 'routing.a' } }),
    r({ prefix: '/b', runtime_fraction: { default_value: { numerator: 7 } } }),
    r({ prefix: '/c' }),
  ]));
  assert.deepEqual(routes.map((x) => x.match.runtimeFraction), [
    { runtimeKey: 'routing.a', defaultValue: { numerator: 25, denominator: 'MILLION' } },
    { runtimeKey: '', defaultValue: { numerator: 7, denominator: 'HUNDRED' } },
    null,
  ]);
  const errors = configErrors(() => compileConfig(withRoutes([r({ prefix: '/', runtime_fraction: { runtime_key: 'k' } })])));
  assert.ok(errors.some((e) => e.startsWith(`${VH0}.routes[0].match.runtime_fraction.default_value: `)), errors.join('\n'));
});

test('regexes RE2 refuses fail at config time, with their path and the reason', () => {
  const R = `${VH0}.routes`;
  const cases: [unknown, string][] = [
    [r({ safe_regex: { regex: '(a)\\1' } }), `${R}[0].match.safe_regex.regex: invalid regex "(a)\\\\1": backreferences are not supported (RE2 syntax)`],
    [r({ safe_regex: { regex: '/(?=x)' } }), `${R}[0].match.safe_regex.regex: invalid regex "/(?=x)": lookahead is not supported (RE2 syntax)`],
    [r({ prefix: '/', headers: [{ name: 'x', string_match: { safe_regex: { regex: '(?<=a)b' } } }] }),
      `${R}[0].match.headers[0].string_match.safe_regex.regex: invalid regex "(?<=a)b": lookbehind is not supported (RE2 syntax)`],
    [r({ prefix: '/', headers: [{ name: 'x', safe_regex_match: { regex: '(' } }] }),
      `${R}[0].match.headers[0].safe_regex_match.regex: invalid regex "(": missing closing ): (`],
    [r({ prefix: '/', query_parameters: [{ name: 'q', string_match: { safe_regex: { regex: 'a{2,1}' } } }] }),
      `${R}[0].match.query_parameters[0].string_match.safe_regex.regex: invalid regex "a{2,1}"`],
    [r({ prefix: '/', headers: [{ name: 'x', string_match: { safe_regex: { regex: 'a' }, ignore_case: true } }] }),
      `${R}[0].match.headers[0].string_match.ignore_case: ignore_case has no effect for safe_regex.`],
  ];
  for (const [route, want] of cases) {
    const errors = configErrors(() => compileConfig(withRoutes([route])));
    assert.ok(errors.some((e) => e.startsWith(want)), `${want}\n${errors.join('\n')}`);
  }
});

test('Envoy\'s load-time refusals: templates, domains, strip port modes, path_separated_prefix', () => {
  const tpl = configErrors(() => compileConfig(withRoutes([
    r({ path_match_policy: { name: 'm', typed_config: { '@type': TEMPLATE, path_template: '/**/*' } } }),
  ])));
  assert.deepEqual(tpl, [`${VH0}.routes[0].match.path_match_policy.typed_config.path_template: `
    + 'path_template "/**/*" is invalid: Glob after text glob.']);
  const dup = configErrors(() => compileConfig(withRoutes([r({ prefix: '/' })],
    [{ name: 'v2', domains: ['a.com', 'A.com'], routes: [r({ prefix: '/' })] }])));
  assert.deepEqual(dup, [`${HCM}.route_config.virtual_hosts[1].domains[1]: Only unique values for domains are permitted. `
    + 'Duplicate entry of domain a.com in route ']);
  const star = configErrors(() => compileConfig(withRoutes([r({ prefix: '/' })],
    [{ name: 'v2', domains: ['*'], routes: [r({ prefix: '/' })] }])));
  assert.deepEqual(star, [`${HCM}.route_config.virtual_hosts[1].domains[0]: Only a single wildcard domain is permitted in route `]);
  // `*.a` and `a*` live in different tables: no clash.
  compileConfig(withRoutes([r({ prefix: '/' })], [{ name: 'v2', domains: ['*.a', 'a.*', 'a'], routes: [r({ prefix: '/' })] }]));
  const strip = minimal();
  Object.assign(hcmOf(strip), { strip_matching_host_port: true, strip_any_host_port: true });
  assert.deepEqual(configErrors(() => compileConfig(strip)),
    [`${HCM}.strip_any_host_port: Only one of strip_matching_host_port or strip_any_host_port can be set.`]);
  const sep = configErrors(() => compileConfig(withRoutes([r({ path_separated_prefix: '/a/' })])));
  assert.ok(sep[0].startsWith(`${VH0}.routes[0].match.path_separated_prefix: value does not match regex pattern`), sep[0]);
});

test('what Legate does not act on is refused by name', () => {
  const errors = configErrors(() => compileConfig(withRoutes([
    r({ prefix: '/' }),
    r({ prefix: '/', dynamic_metadata: [{ filter: 'f', path: [{ key: 'k' }], value: { present_match: true } }] }),
    r({ connect_matcher: {} }),
  ])));
  for (const f of ['[1].match.dynamic_metadata', '[2].match.connect_matcher']) {
    assert.ok(errors.some((e) => e.startsWith(`${VH0}.routes${f}: field is not supported by Legate`)), `${f}\n${errors.join('\n')}`);
  }
});

test('the HCM\'s path and host options compile', () => {
  const cfg = minimal();
  Object.assign(hcmOf(cfg), {
    normalize_path: true, merge_slashes: true, path_with_escaped_slashes_action: 'UNESCAPE_AND_REDIRECT',
    strip_any_host_port: true, strip_trailing_host_dot: true,
  });
  const snap = (compileConfig(cfg) as any).listeners[0].filterChains[0].filters[0].config;
  assert.deepEqual([snap.pathNormalization, snap.normalizesPath, snap.stripPort, snap.stripTrailingHostDot],
    [{ normalizePath: true, mergeSlashes: true, escapedSlashes: 2 }, true, 2, true]);
});
