// envoy.filters.http.rbac through a real Legate (two workers) to a real upstream, driven by undici:
// requests denied by the client's address (remote_ip from x-forwarded-for), by a header and by
// the path get 403 `RBAC: access denied` and never reach the upstream; shadow rules only count;
// a route's RBACPerRoute replaces the rules or turns them off; the stats and the response code
// details are Envoy's. Over TLS (node:tls clients with and without a client certificate):
// `authenticated` principals by the certificate's URI SAN, and `requested_server_name`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { Agent, request } from 'undici';
import { fileAccessLog, hcmListener, staticCluster, tmpFile } from '../helpers/legate.ts';
import { httpUp, legateFor } from './fixtures/tracked.ts';
import { pollLog, pollStat } from './fixtures/clients.ts';
import { makeCa } from '../helpers/certs.ts';
import { downstreamTls, tlsGet, tlsProxyConfig } from './fixtures/tls.ts';

const RBAC = 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC';
const PER_ROUTE = 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBACPerRoute';

function config(upstreamPort: number, log: string): string {
  const routes = `
              - match: { prefix: "/open" }
                route: { cluster: upstream }
                typed_per_filter_config:
                  rbac: { "@type": ${PER_ROUTE} }
              - match: { prefix: "/strict" }
                route: { cluster: upstream }
                typed_per_filter_config:
                  rbac:
                    "@type": ${PER_ROUTE}
                    rbac:
                      rules:
                        action: ALLOW
                        policies:
                          needs-key:
                            permissions:
                            - and_rules:
                                rules:
                                - header: { name: x-key, string_match: { exact: secret } }
                                - destination_port_range: { start: 1, end: 65536 }
                            principals:
                            - not_id: { remote_ip: { address_prefix: 192.168.0.0, prefix_len: 16 } }
              - match: { prefix: "/" }
                route: { cluster: upstream }`;
  return `
static_resources:
  listeners:${hcmListener('proxy', 'ingress', routes, {
    hcmExtra: fileAccessLog(log, '%REQ(:PATH)% %RESPONSE_CODE% %RESPONSE_CODE_DETAILS% %DYNAMIC_METADATA(envoy.filters.http.rbac)%\\n'),
    httpFilters: `
          - name: rbac
            typed_config:
              "@type": ${RBAC}
              rules:
                action: DENY
                policies:
                  deny-ip:
                    permissions: [{ any: true }]
                    principals: [{ remote_ip: { address_prefix: 10.0.0.0, prefix_len: 8 } }]
                  deny-header:
                    permissions: [{ header: { name: x-block, present_match: true } }]
                    principals: [{ any: true }]
                  deny path:
                    permissions: [{ url_path: { path: { prefix: /admin/ } } }]
                    principals: [{ direct_remote_ip: { address_prefix: 127.0.0.1, prefix_len: 32 } }]
              shadow_rules_stat_prefix: sh
              shadow_rules:
                action: ALLOW
                policies:
                  local-with-header:
                    permissions: [{ any: true }]
                    principals:
                    - and_ids:
                        ids:
                        - direct_remote_ip: { address_prefix: 127.0.0.0, prefix_len: 8 }
                        - header: { name: x-shadow, string_match: { exact: "yes" } }`,
  })}
  clusters:${staticCluster('upstream', [upstreamPort])}
`;
}

test('rbac: allow and deny by address, header and path; shadow rules only count; per-route rules', async () => {
  const up = await httpUp();
  const log = path.join(path.dirname(tmpFile('x', '')), 'access.log');
  const l = await legateFor(config(up.port, log), { concurrency: 2 });
  const agent = new Agent({ connections: 2 });
  const port = l.port('proxy');
  const get = async (p: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> => {
    const r = await request(`http://127.0.0.1:${port}${p}`, { dispatcher: agent, headers });
    return { status: r.statusCode, body: await r.body.text() };
  };
  const denied = { status: 403, body: 'RBAC: access denied' };

  // The filter's own rules (DENY policies).
  assert.deepEqual(await get('/a'), { status: 200, body: 'GET /a' });
  assert.deepEqual(await get('/b', { 'x-shadow': 'yes' }), { status: 200, body: 'GET /b' });
  assert.deepEqual(await get('/c', { 'x-forwarded-for': '10.9.9.9' }), denied);
  assert.deepEqual(await get('/d', { 'x-forwarded-for': '11.9.9.9' }), { status: 200, body: 'GET /d' });
  assert.deepEqual(await get('/e', { 'x-block': '' }), denied);
  assert.deepEqual(await get('/admin/users?q=1'), denied);
  // Case-sensitive prefix; the query is not part of the path.
  assert.deepEqual(await get('/Admin/users'), { status: 200, body: 'GET /Admin/users' });
  assert.deepEqual(await get('/x?/admin/'), { status: 200, body: 'GET /x?/admin/' });

  // RBACPerRoute without rules: no enforcement (and no shadow rules) on that route.
  assert.deepEqual(await get('/open', { 'x-block': '1', 'x-forwarded-for': '10.0.0.1' }), { status: 200, body: 'GET /open' });
  // RBACPerRoute with its own ALLOW rules replaces the filter's.
  assert.deepEqual(await get('/strict'), denied);
  assert.deepEqual(await get('/strict', { 'x-key': 'secret' }), { status: 200, body: 'GET /strict' });
  assert.deepEqual(await get('/strict', { 'x-key': 'secret', 'x-forwarded-for': '192.168.1.1' }), denied);
  assert.deepEqual(await get('/strict', { 'x-key': 'secret', 'x-block': '1' }), { status: 200, body: 'GET /strict' });

  // Denied requests never reached the upstream.
  assert.deepEqual(up.requests.map((r) => r.url).sort(),
    ['/Admin/users', '/a', '/b', '/d', '/open', '/strict', '/strict', '/x?/admin/']);

  // allowed: /a /b /d /Admin /x and two /strict; denied: /c /e /admin and two /strict.
  assert.equal(await pollStat(l, 'http.ingress.rbac.allowed', (v) => v === 7), 7);
  assert.equal(await pollStat(l, 'http.ingress.rbac.denied', (v) => v === 5), 5);
  // Shadow rules (on the routes without an RBACPerRoute): only /b has the header.
  assert.equal(await pollStat(l, 'http.ingress.rbac.sh.shadow_allowed', (v) => v === 1), 1);
  assert.equal(await pollStat(l, 'http.ingress.rbac.sh.shadow_denied', (v) => v === 7), 7);
  const stats = await l.stats();
  assert.equal(stats.get('http.ingress.rbac.shadow_allowed'), undefined);

  const text = await pollLog(log, (t) => t.split("\n").length > 13);
  // Each engine's result in the dynamic metadata (keys: the prefix and the name concatenated, as
  // Envoy; the filter sets no rules_stat_prefix, the shadow one is `sh`).
  const deniedMd = (p: string) => `{"shshadow_engine_result":"denied","enforced_effective_policy_id":"${p}","enforced_engine_result":"denied"}`;
  const line = (l: string) => assert.ok(text.split('\n').includes(l), `${l} in\n${text}`);
  line(`/c 403 rbac_access_denied_matched_policy[deny-ip] ${deniedMd('deny-ip')}`);
  line(`/e 403 rbac_access_denied_matched_policy[deny-header] ${deniedMd('deny-header')}`);
  line(`/admin/users?q=1 403 rbac_access_denied_matched_policy[deny_path] ${deniedMd('deny path')}`);
  // The route's engines (no shadow rules there); a route whose RBACPerRoute has none sets nothing.
  line('/strict 403 rbac_access_denied_matched_policy[none] {"enforced_engine_result":"denied"}');
  line('/strict 200 via_upstream {"enforced_effective_policy_id":"needs-key","enforced_engine_result":"allowed"}');
  line('/a 200 via_upstream {"shshadow_engine_result":"denied","enforced_engine_result":"allowed"}');
  line('/b 200 via_upstream {"shshadow_effective_policy_id":"local-with-header","shshadow_engine_result":"allowed",'
    + '"enforced_engine_result":"allowed"}');
  line('/open 200 via_upstream -');
  await agent.close();
});

test('rbac over TLS: authenticated by the client certificate\'s SAN, requested_server_name', async () => {
  const ca = makeCa();
  const server = ca.issue('a.test');
  const client = ca.issue('client.test', { client: true, sans: ['DNS:client.test', 'URI:spiffe://legate/client'] });
  const stranger = ca.issue('stranger.test', { client: true });
  const up = await httpUp();
  const tlsContext = downstreamTls([server], `
            validation_context:
              trusted_ca: { filename: ${ca.certPath} }`);
  const yaml = tlsProxyConfig(tlsContext, [up.port]).replace('          http_filters:', `          http_filters:
          - name: envoy.filters.http.rbac
            typed_config:
              "@type": ${RBAC}
              rules:
                action: ALLOW
                policies:
                  service:
                    permissions: [{ url_path: { path: { prefix: /svc } } }]
                    principals: [{ authenticated: { principal_name: { exact: "spiffe://legate/client" } } }]
                  public:
                    permissions:
                    - and_rules:
                        rules:
                        - url_path: { path: { prefix: /pub } }
                        - requested_server_name: { exact: a.test }
                    principals: [{ any: true }]`);
  const l = await legateFor(yaml);
  const port = l.port('proxy');
  const status = async (path: string, opts: Record<string, unknown>): Promise<number> =>
    (await tlsGet(port, { ca: ca.cert, servername: 'a.test', ...opts }, path)).status;
  assert.equal(await status('/svc', { cert: client.cert, key: client.key }), 200);
  assert.equal(await status('/svc', {}), 403);
  assert.equal(await status('/svc', { cert: stranger.cert, key: stranger.key }), 403);
  assert.equal(await status('/pub', {}), 200);
  assert.equal(await status('/pub', { servername: undefined, checkServerIdentity: () => undefined }), 403);
  assert.deepEqual(up.requests.map((r) => r.url), ['/svc', '/pub']);
  assert.equal(await pollStat(l, 'http.ingress.rbac.denied', (v) => v === 3), 3);
});
