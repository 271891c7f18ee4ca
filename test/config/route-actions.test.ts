// Route actions in the config (router/compile-action.ts): what compiles into the route snapshot,
// and what Legate does not act on refused by field path.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateBootstrap } from '../../src/config/load.ts';
import { VH0, compileConfig, configErrors, hcmOf, minimal } from './fixtures.ts';

const R0 = `${VH0}.routes[0]`;

function withRoute(route: Record<string, unknown>, rc: Record<string, unknown> = {}): any {
  const cfg = minimal();
  const h = hcmOf(cfg);
  Object.assign(h.route_config, rc);
  const r = h.route_config.virtual_hosts[0].routes[0];
  delete r.route;
  Object.assign(r, route);
  return cfg;
}
function routeOf(cfg: unknown): any {
  const snap: any = compileConfig(cfg);
  return snap.listeners[0].filterChains[0].filters[0].config.routeConfig.virtualHosts[0].routes[0];
}
function clusterOf(cfg: any): string {
  return cfg.static_resources.clusters[0].name;
}
function refused(cfg: unknown): string[] {
  return configErrors(() => validateBootstrap(cfg)).slice(1);
}

test('redirect compiles with Envoy defaults (301, nothing else set)', () => {
  assert.deepEqual(routeOf(withRoute({ redirect: { https_redirect: true } })).action, {
    kind: 'redirect',
    redirect: { scheme: 'https', host: '', port: '', path: '', prefixRewrite: '', regexRewrite: null, status: 301, stripQuery: false },
  });
  const r = routeOf(withRoute({ redirect: { scheme_redirect: 'ftp', port_redirect: 8443, response_code: 'PERMANENT_REDIRECT', strip_query: true } }));
  assert.equal(r.action.redirect.port, ':8443');
  assert.equal(r.action.redirect.status, 308);
  assert.equal(r.action.redirect.scheme, 'ftp');
});

test('route action fields compile: cluster_header, weighted_clusters, rewrites, mirrors, metadata', () => {
  const cfg = minimal();
  const c = clusterOf(cfg);
  const r = routeOf(withRoute({
    route: {
      weighted_clusters: { clusters: [{ name: c, weight: 3, host_rewrite_literal: 'w.test' }, { cluster_header: 'X-C', weight: 1 }], header_name: 'X-R' },
      regex_rewrite: { pattern: { regex: '^/a/(.*)$' }, substitution: '/b/\\1' },
      host_rewrite_header: 'X-Host',
      max_stream_duration: { max_stream_duration: '2s' },
      request_mirror_policies: [{ cluster: c }, { cluster_header: 'X-Shadow', disable_shadow_host_suffix_append: true }],
      cluster_not_found_response_code: 'NOT_FOUND',
    },
    metadata: { filter_metadata: { 'acme.auth': { team: 'x', n: 1 } } },
  }));
  const a = r.action;
  assert.deepEqual(a.weightedClusters, {
    clusters: [
      { name: c, clusterHeader: null, weight: 3, runtimeKey: null, hostRewrite: 'w.test', requestHeaderParsers: null, responseHeaderParsers: null },
      { name: '', clusterHeader: 'x-c', weight: 1, runtimeKey: null, hostRewrite: null, requestHeaderParsers: null, responseHeaderParsers: null },
    ],
    totalWeight: 4, headerName: 'x-r', runtime: false,
  });
  assert.deepEqual(a.regexRewrite, { pattern: '^/a/(.*)$', substitution: '/b/\\1' });
  assert.equal(a.hostRewriteHeader, 'x-host');
  assert.equal(a.maxStreamDurationMs, 2000);
  assert.equal(a.timeoutMs, 0, 'max_stream_duration turns the route timeout off (Envoy new timeouts)');
  assert.equal(a.clusterNotFoundStatus, 404);
  assert.deepEqual(a.mirrors, [
    { cluster: c, clusterHeader: null, disableHostSuffix: false, runtimeFraction: null },
    { cluster: '', clusterHeader: 'x-shadow', disableHostSuffix: true, runtimeFraction: null },
  ]);
  assert.deepEqual(r.metadata, { 'acme.auth': { team: 'x', n: 1 } });
  assert.equal(routeOf(withRoute({ route: { cluster_header: 'X-Cluster' } })).action.clusterHeader, 'x-cluster');
});

test('runtime_key_prefix, per-cluster headers and mirror runtime_fraction compile', () => {
  const cfg = minimal();
  const c = clusterOf(cfg);
  const r = routeOf(withRoute({
    route: {
      weighted_clusters: {
        clusters: [
          { name: c, weight: 1, request_headers_to_add: [{ header: { key: 'X-A', value: 'b' } }], response_headers_to_remove: ['x-gone'] },
          { cluster_header: 'x-c', weight: 2 },
        ],
        runtime_key_prefix: 'rt.split',
      },
      request_mirror_policies: [
        { cluster: c, runtime_fraction: { default_value: { numerator: 50, denominator: 'TEN_THOUSAND' }, runtime_key: 'mirror.pct' } },
        { cluster: c, runtime_fraction: { default_value: { numerator: 5 } } },
      ],
    },
    request_headers_to_add: [{ header: { key: 'x-route', value: 'r' } }],
  }));
  const wc = r.action.weightedClusters;
  assert.equal(wc.runtime, true);
  assert.deepEqual(wc.clusters.map((x: any) => x.runtimeKey), [`rt.split.${c}`, 'rt.split.']);
  // The cluster's parser first, then the route's chain; a cluster without one shares the route's.
  assert.deepEqual(wc.clusters[0].requestHeaderParsers.map((p: any) => p.add.map((a: any) => a.name)), [['x-a'], ['x-route']]);
  assert.deepEqual(wc.clusters[0].responseHeaderParsers, [{ add: [], remove: ['x-gone'] }]);
  assert.deepEqual(wc.clusters[1].requestHeaderParsers, r.requestHeaderParsers);
  assert.equal(wc.clusters[1].responseHeaderParsers, null);
  assert.deepEqual(r.action.mirrors.map((m: any) => m.runtimeFraction), [
    { runtimeKey: 'mirror.pct', defaultValue: { numerator: 50, denominator: 'TEN_THOUSAND' } },
    { runtimeKey: '', defaultValue: { numerator: 5, denominator: 'HUNDRED' } },
  ]);
  // A weighted cluster's header names are checked as the route's are.
  assert.match(configErrors(() => compileConfig(withRoute({
    route: { weighted_clusters: { clusters: [{ name: c, weight: 1, request_headers_to_remove: ['Host'] }] } },
  })))[0], /weighted_clusters\.clusters\[0\]\.request_headers_to_remove\[0\]: :-prefixed or host headers may not be removed/);
});

test('what Legate does not act on is refused by field path', () => {
  const c = clusterOf(minimal());
  const errs = refused(withRoute({
    route: {
      weighted_clusters: {
        clusters: [{ name: c, weight: 1, metadata_match: { filter_metadata: { 'envoy.lb': { a: 'b' } } } }],
      },
      max_stream_duration: { grpc_timeout_header_max: '1s', grpc_timeout_header_offset: '1s' },
      request_mirror_policies: [{ cluster: c, trace_sampled: false }],
    },
    decorator: { operation: 'op' },
  }));
  for (const f of [
    `${R0}.route.weighted_clusters.clusters[0].metadata_match`,
    `${R0}.route.max_stream_duration.grpc_timeout_header_max`,
    `${R0}.route.max_stream_duration.grpc_timeout_header_offset`,
    `${R0}.route.request_mirror_policies[0].trace_sampled`,
    `${R0}.decorator`,
  ]) assert.ok(errs.some((e) => e.startsWith(`${f}:`)), `${f} in ${errs.join('\n')}`);
  assert.ok(refused(withRoute({ non_forwarding_action: {} })).some((e) => e.startsWith(`${R0}.non_forwarding_action:`)));
});

test('config-time checks: substitutions, weights, unknown clusters, body size, per-filter config', () => {
  const c = clusterOf(minimal());
  assert.match(configErrors(() => compileConfig(withRoute({
    route: { cluster: c, regex_rewrite: { pattern: { regex: '^/(a)$' }, substitution: '\\2' } },
  })))[0], /route\.regex_rewrite\.pattern\.regex: invalid regex .*group \\2/);
  assert.match(configErrors(() => compileConfig(withRoute({
    redirect: { regex_rewrite: { pattern: { regex: '^/(a)$' }, substitution: '\\x' } },
  })))[0], /redirect\.regex_rewrite\.pattern\.regex: .*invalid substitution/);
  assert.match(configErrors(() => compileConfig(withRoute({
    route: { weighted_clusters: { clusters: [{ name: c, weight: 0 }] } },
  })))[0], /Sum of weights in the weighted_cluster must be greater than 0/);
  assert.match(configErrors(() => compileConfig(withRoute({
    route: { weighted_clusters: { clusters: [{ name: c, weight: 2 }], total_weight: 3 } },
  })))[0], /total_weight: total_weight 3 is not the sum of the weights \(2\)/);
  assert.match(configErrors(() => compileConfig(withRoute({
    route: { weighted_clusters: { clusters: [{ name: 'nope', weight: 2 }] } },
  })))[0], /clusters\[0\]\.name: route: unknown weighted cluster 'nope'/);
  assert.match(configErrors(() => compileConfig(withRoute({
    route: { cluster: c, request_mirror_policies: [{ cluster: 'nope' }] },
  })))[0], /request_mirror_policies\[0\]\.cluster: route: unknown shadow cluster 'nope'/);
  assert.match(configErrors(() => compileConfig(withRoute({
    direct_response: { status: 200, body: { inline_string: 'x'.repeat(4097) } },
  })))[0], /direct_response\.body: response body size is 4097 bytes; maximum is 4096/);
  assert.equal(routeOf(withRoute({ direct_response: { status: 200, body: { inline_string: 'x'.repeat(5000) } } },
    { max_direct_response_body_size_bytes: 8192 })).action.body.length, 5000);
  assert.match(configErrors(() => compileConfig(withRoute({
    route: { cluster: c },
    typed_per_filter_config: { 'envoy.filters.http.router': { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } },
  })))[0], /typed_per_filter_config\["envoy\.filters\.http\.router"\]: the filter "envoy\.filters\.http\.router" .* has no per-route config in Legate/);
});
