// Route matching through a real Legate: path normalization before routing (normalize_path,
// merge_slashes, escaped slashes redirected or refused, a #fragment refused) with Envoy's stats,
// host port stripping, and a few matchers (path_separated_prefix, uri template, range and
// query parameter, grpc), over raw sockets so the exact request bytes reach Legate.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rawRequest } from './fixtures/clients.ts';
import { legateFor, httpUp } from './fixtures/tracked.ts';

function config(up: number, listeners: { name: string; hcm: string }[]): string {
  const ls = listeners.map(({ name, hcm }) => `
  - name: ${name}
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ${name}
${hcm}
          http_filters:
          - name: envoy.filters.http.router
            typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }
          route_config:
            virtual_hosts:
            - name: exact
              domains: ["a.example"]
              routes:
              - match: { prefix: "/" }
                direct_response: { status: 200, body: { inline_string: "vhost a" } }
            - name: default
              domains: ["*"]
              routes:
              - match: { path_separated_prefix: "/sep" }
                direct_response: { status: 200, body: { inline_string: "sep" } }
              - match:
                  path_match_policy:
                    name: envoy.path.match.uri_template.uri_template_matcher
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.path.match.uri_template.v3.UriTemplateMatchConfig
                      path_template: "/videos/{id}/**.m3u8"
                direct_response: { status: 200, body: { inline_string: "template" } }
              - match:
                  prefix: "/q"
                  headers: [{ name: x-n, range_match: { start: 10, end: 20 } }]
                  query_parameters: [{ name: v, string_match: { exact: "2" } }]
                direct_response: { status: 200, body: { inline_string: "range+query" } }
              - match: { prefix: "/", grpc: {} }
                direct_response: { status: 200, body: { inline_string: "grpc" } }
              - match: { prefix: "/" }
                route: { cluster: upstream }`).join('');
  return `
static_resources:
  listeners:${ls}
  clusters:
  - name: upstream
    type: STATIC
    connect_timeout: 1s
    load_assignment:
      cluster_name: upstream
      endpoints:
      - lb_endpoints:
        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${up} } } }
`;
}

const up = await httpUp();
const legate = await legateFor(config(up.port, [
  { name: 'plain', hcm: '' },
  { name: 'norm', hcm: `          normalize_path: true
          merge_slashes: true
          path_with_escaped_slashes_action: UNESCAPE_AND_REDIRECT
          strip_matching_host_port: true` },
  { name: 'strict', hcm: `          path_with_escaped_slashes_action: REJECT_REQUEST
          strip_any_host_port: true` },
]));

async function get(listener: string, target: string, host = 'h', extra = ''): Promise<{ status: number; body: string; location?: string }> {
  const r = await rawRequest(legate.port(listener), `GET ${target} HTTP/1.1\r\nHost: ${host}\r\n${extra}Connection: close\r\n\r\n`);
  return { status: r.status, body: r.body.toString(), location: r.headers.location };
}
/** The path the upstream saw for the next request. */
async function forwarded(listener: string, target: string): Promise<string> {
  const n = up.requests.length;
  const r = await get(listener, target);
  assert.equal(r.status, 200, `${target}: ${r.body}`);
  return up.requests[n].url;
}

test('matchers through the HCM: path_separated_prefix, a uri template, range + query, grpc', async () => {
  const cases: [string, string, string][] = [
    ['/sep', '', 'sep'], ['/sep/x', '', 'sep'], ['/sepx', '', 'GET /sepx'],
    ['/videos/7/a/b.m3u8', '', 'template'], ['/videos/7.m3u8', '', 'GET /videos/7.m3u8'],
    ['/q?v=2', 'x-n: 15\r\n', 'range+query'], ['/q?v=2', 'x-n: 20\r\n', 'GET /q?v=2'], ['/q?v=3', 'x-n: 15\r\n', 'GET /q?v=3'],
    ['/g', 'content-type: application/grpc\r\n', 'grpc'], ['/g', 'content-type: application/grpc-web\r\n', 'GET /g'],
  ];
  for (const [target, extra, want] of cases) assert.equal((await get('plain', target, 'h', extra)).body, want, target);
});

test('normalize_path and merge_slashes before routing; the upstream gets the normalized path', async () => {
  assert.equal(await forwarded('norm', '/a/./b/../c//d?x=/../y'), '/a/c/d?x=/../y');
  assert.equal(await forwarded('norm', '/%61%62c'), '/abc');
  assert.equal(await forwarded('plain', '/a/./b//c'), '/a/./b//c');
  // Normalized, then routed: /x/../sep is /sep.
  assert.equal((await get('norm', '/x/../sep')).body, 'sep');
});

test('escaped slashes: redirected (307 to the unescaped path), refused (400), kept', async () => {
  const s0 = await legate.stats();
  const red = await get('norm', '/a%2Fb?q=%2F');
  assert.deepEqual([red.status, red.location], [307, '/a/b?q=%2F']);
  const rej = await get('strict', '/a%2fb');
  assert.equal(rej.status, 400);
  const grpcRedirect = await get('norm', '/a%2Fb', 'h', 'content-type: application/grpc\r\n');
  assert.equal(grpcRedirect.status, 400);
  assert.equal(await forwarded('plain', '/a%2Fb'), '/a%2Fb');
  // A fragment is refused on any listener (Envoy's http_reject_path_with_fragment).
  assert.equal((await get('plain', '/a#f')).status, 400);
  const s1 = await legate.stats();
  const d = (n: string) => (s1.get(n) ?? 0) - (s0.get(n) ?? 0);
  assert.equal(d('http.norm.downstream_rq_redirected_with_normalized_path'), 1);
  assert.equal(d('http.norm.downstream_rq_failed_path_normalization'), 1);
  assert.equal(d('http.strict.downstream_rq_failed_path_normalization'), 1);
  assert.equal(d('http.plain.downstream_rq_failed_path_normalization'), 1);
});

test('host ports: stripped when they match the listener (or any), else the vhost misses', async () => {
  const normPort = legate.port('norm');
  assert.equal((await get('plain', '/', `a.example:${legate.port('plain')}`)).body, 'GET /');
  assert.equal((await get('norm', '/', `a.example:${normPort}`)).body, 'vhost a');
  assert.equal((await get('norm', '/', `a.example:${normPort + 1}`)).body, 'GET /');
  assert.equal((await get('strict', '/', 'A.example:1')).body, 'vhost a');
  // The stripped Host is what the upstream sees.
  const n = up.requests.length;
  await get('strict', '/up', 'b.example:99');
  assert.equal(up.requests[n].headers.host, 'b.example');
});
