// envoy.filters.http.rbac and envoy.filters.http.cors in the config: compiled (policies sorted by
// name, stats under Envoy's names), per-route configs at the route, virtual host and route
// configuration (most specific wins for RBAC, merged field by field for CORS), the deprecated
// `cors`, and what Legate does not implement refused by name with its field path.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateBootstrap } from '../../src/config/load.ts';
import { buildSnapshot } from '../../src/config/snapshot.ts';
import { StatsLayout } from '../../src/stats/layout.ts';
import { RbacAction } from '../../src/extensions/filters/http/rbac/engine.ts';
import { HCM, ROUTER_TYPE, VH0, configErrors, hcmOf, minimal } from './fixtures.ts';

const RBAC = 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC';
const RBAC_ROUTE = 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBACPerRoute';
const CORS = 'type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors';
const CORS_POLICY = 'type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy';

function withFilters(filters: unknown[]): any {
  const cfg = minimal();
  hcmOf(cfg).http_filters = [...filters, { name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER_TYPE } }];
  return cfg;
}

function compile(cfg: unknown): { snap: any; layout: StatsLayout } {
  const { bootstrap } = validateBootstrap(cfg);
  const layout = new StatsLayout();
  return { snap: buildSnapshot(bootstrap, layout, { bufferLimit: 1 << 20, version: 1 }), layout };
}
const hcmSnap = (snap: any): any => snap.listeners[0].filterChains[0].filters[0].config;
const errorsOf = (cfg: unknown): string[] => configErrors(() => compile(cfg));

const ANY = { any: true };

test('rbac: policies in name order, Envoy stat names with the rule prefixes, the config name for per-route lookups', () => {
  const { snap, layout } = compile(withFilters([{
    name: 'authz',
    typed_config: {
      '@type': RBAC,
      rules: {
        action: 'DENY',
        policies: {
          zeta: { permissions: [ANY], principals: [{ remote_ip: { address_prefix: '10.0.0.0', prefix_len: 8 } }] },
          alpha: {
            permissions: [{ or_rules: { rules: [{ destination_port: 8080 }, { url_path: { path: { exact: '/x' } } }] } }],
            principals: [{ not_id: { authenticated: { principal_name: { suffix: '.corp' } } } }],
          },
        },
      },
      rules_stat_prefix: 'enf',
      shadow_rules: { action: 'LOG', policies: {} },
    },
  }]));
  const f = hcmSnap(snap).httpFilters[0];
  assert.equal(f.name, 'envoy.filters.http.rbac');
  assert.equal(f.config.configName, 'authz');
  assert.equal(f.config.enforced.action, RbacAction.Deny);
  assert.deepEqual(f.config.enforced.policies.map((p: any) => p.name), ['alpha', 'zeta']);
  assert.deepEqual(f.config.enforced.policies[0].permissions[0], {
    k: 'or', of: [{ k: 'destination_port', port: 8080 }, { k: 'url_path', match: { kind: 'exact', value: '/x', ignoreCase: false } }],
  });
  assert.deepEqual(f.config.enforced.policies[0].principals[0], {
    k: 'not', of: { k: 'authenticated', match: { kind: 'suffix', value: '.corp', ignoreCase: false } },
  });
  assert.equal(f.config.shadow.action, RbacAction.Log);
  assert.equal(layout.nameOf(f.config.stats.allowed), 'http.http.rbac.enf.allowed');
  assert.equal(layout.nameOf(f.config.stats.denied), 'http.http.rbac.enf.denied');
  assert.equal(layout.nameOf(f.config.stats.shadowAllowed), 'http.http.rbac.shadow_allowed');
  assert.equal(layout.nameOf(f.config.stats.shadowDenied), 'http.http.rbac.shadow_denied');
});

test('rbac: RBACPerRoute at the route configuration, virtual host and route; the most specific wins', () => {
  const cfg = withFilters([{ name: 'authz', typed_config: { '@type': RBAC } }]);
  const rc = hcmOf(cfg).route_config;
  const deny = (name: string) => ({ '@type': RBAC_ROUTE, rbac: { rules: { action: 'DENY', policies: { [name]: { permissions: [ANY], principals: [ANY] } } } } });
  rc.typed_per_filter_config = { authz: deny('rc') };
  rc.virtual_hosts[0].typed_per_filter_config = { authz: deny('vh') };
  rc.virtual_hosts[0].routes = [
    { match: { prefix: '/r' }, route: { cluster: 'c0' }, typed_per_filter_config: { authz: { '@type': RBAC_ROUTE } } },
    { match: { prefix: '/' }, route: { cluster: 'c0' } },
  ];
  rc.virtual_hosts.push({ name: 'other', domains: ['other'], routes: [{ match: { prefix: '/' }, route: { cluster: 'c0' } }] });
  const { snap } = compile(cfg);
  const vhs = hcmSnap(snap).routeConfig.virtualHosts;
  assert.deepEqual(vhs[0].routes[0].perFilterConfig.authz, { enforced: null, shadow: null, rulesPrefix: '', shadowPrefix: '' });
  assert.equal(vhs[0].routes[1].perFilterConfig.authz.enforced.policies[0].name, 'vh');
  assert.equal(vhs[1].routes[0].perFilterConfig.authz.enforced.policies[0].name, 'rc');
});

test('rbac: the matcher API, CEL, metadata and the rest Legate does not act on are refused by name', () => {
  const P = `${HCM}.http_filters[0].typed_config`;
  const errors = errorsOf(withFilters([{
    name: 'authz',
    typed_config: {
      '@type': RBAC,
      rules: {
        policies: {
          p: {
            permissions: [{ metadata: { filter: 'f', path: [{ key: 'k' }], value: { present_match: true } } }],
            principals: [{ filter_state: { key: 'k', string_match: { exact: 'v' } } }],
            condition: { const_expr: { bool_value: true } },
          },
        },
        audit_logging_options: { audit_condition: 'ON_DENY' },
      },
      matcher: {},
      track_per_rule_stats: true,
    },
  }]));
  const has = (re: RegExp): void => assert.ok(errors.some((e) => re.test(e)), `${re} in\n${errors.join('\n')}`);
  has(new RegExp(`^${esc(P)}\\.matcher: field is not supported by Legate`));
  has(new RegExp(`^${esc(P)}\\.track_per_rule_stats: field is not supported by Legate`));
  has(new RegExp(`^${esc(P)}\\.rules\\.audit_logging_options: field is not supported by Legate`));
  has(/\.rules\.policies\["p"\]\.condition: field is not supported by Legate/);
  has(/\.rules\.policies\["p"\]\.permissions\[0\]\.metadata: field is not supported by Legate/);
  has(/\.rules\.policies\["p"\]\.principals\[0\]\.filter_state: field is not supported by Legate/);
});

test('rbac: a bad CIDR range and a bad port range name their field', () => {
  const policy = (p: unknown) => withFilters([{ name: 'authz', typed_config: { '@type': RBAC, rules: { policies: { p } } } }]);
  let errors = errorsOf(policy({ permissions: [{ destination_port_range: { start: 90, end: 80 } }], principals: [ANY] }));
  assert.match(errors[0], /\.rules\.policies\["p"\]\.permissions\[0\]\.destination_port_range: range start 90 cannot be greater or equal than range end 80$/);
  errors = errorsOf(policy({ permissions: [ANY], principals: [{ direct_remote_ip: { address_prefix: '10.0.0.300', prefix_len: 8 } }] }));
  assert.match(errors[0], /\.principals\[0\]\.direct_remote_ip: malformed IP address: 10\.0\.0\.300$/);
});

test('cors: stats, per-route policies merged field by field, the deprecated cors', () => {
  const cfg = withFilters([{ name: 'cors', typed_config: { '@type': CORS } }]);
  const vh = hcmOf(cfg).route_config.virtual_hosts[0];
  vh.typed_per_filter_config = {
    cors: {
      '@type': CORS_POLICY, allow_origin_string_match: [{ exact: 'https://a' }], allow_methods: 'GET', max_age: '60',
      allow_credentials: true, filter_enabled: { default_value: { numerator: 50 }, runtime_key: 'cors.on' },
    },
  };
  vh.cors = { allow_origin_string_match: [{ exact: 'https://legacy' }] };
  vh.routes = [
    { match: { prefix: '/r' }, route: { cluster: 'c0', cors: { allow_methods: 'PUT' } },
      typed_per_filter_config: { cors: { '@type': CORS_POLICY, allow_methods: 'POST', allow_credentials: false } } },
    { match: { prefix: '/' }, route: { cluster: 'c0', cors: { allow_methods: 'PUT' } } },
  ];
  const { snap, layout } = compile(cfg);
  const f = hcmSnap(snap).httpFilters[0];
  assert.equal(layout.nameOf(f.config.stats.origin_valid), 'http.http.cors.origin_valid');
  assert.equal(layout.nameOf(f.config.stats.origin_invalid), 'http.http.cors.origin_invalid');
  const [r0, r1] = hcmSnap(snap).routeConfig.virtualHosts[0].routes;
  // The route's fields, the virtual host's where the route sets none; filter_enabled is the most
  // specific level's only (the route has none: enabled).
  assert.deepEqual(r0.perFilterConfig.cors, {
    allowOrigins: [{ kind: 'exact', value: 'https://a', ignoreCase: false }], allowMethods: 'POST', allowHeaders: '',
    exposeHeaders: '', maxAge: '60', allowCredentials: false, allowPrivateNetworkAccess: null,
    forwardNotMatchingPreflights: null, filterEnabled: null, shadowEnabled: null,
  });
  assert.deepEqual(r1.perFilterConfig.cors.filterEnabled, { key: 'cors.on', defaultValue: { numerator: 50, denominator: 'HUNDRED' } });
  // The deprecated policies are compiled (the filter reads them only without a per-filter one).
  assert.deepEqual(r0.cors.allowOrigins, [{ kind: 'exact', value: 'https://legacy', ignoreCase: false }]);
  assert.equal(r0.cors.allowMethods, 'PUT');
});

test('cors: a bad regex in allow_origin_string_match names its field', () => {
  const cfg = withFilters([{ name: 'cors', typed_config: { '@type': CORS } }]);
  const vh = hcmOf(cfg).route_config.virtual_hosts[0];
  vh.cors = { allow_origin_string_match: [{ safe_regex: { regex: '(' } }] };
  const errors = errorsOf(cfg);
  assert.ok(errors.some((e) => e.startsWith(`${VH0}.cors.allow_origin_string_match[0].safe_regex.regex:`)), errors.join('\n'));
});

function esc(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
