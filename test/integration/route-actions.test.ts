// Route actions through a real Legate: redirects (checked with curl), direct-response Location,
// path and host rewrites, cluster_header, weighted clusters (10k requests), request mirroring
// (the -shadow authority, and a slow shadow that does not slow the primary), max_stream_duration.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Pool, request } from 'undici';
import { legateFor, httpUp } from './fixtures/tracked.ts';
import { staticCluster } from '../helpers/legate.ts';

const run = promisify(execFile);

/** curl's status and redirect_url for a GET (no redirect followed). */
async function curl(port: number, path: string, host: string, extra: string[] = []): Promise<string> {
  const { stdout } = await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code} %{redirect_url}',
    '-H', `Host: ${host}`, ...extra, `http://127.0.0.1:${port}${path}`]);
  return stdout;
}

function rmp(name: string, domain: string, routes: string): string {
  return `
            - name: ${name}
              domains: ["${domain}", "${domain}:*"]
              routes:${routes}`;
}

async function setup() {
  const a = await httpUp();
  const b = await httpUp();
  const c = await httpUp();
  const shadow = await httpUp((_req, res) => { setTimeout(() => res.end('shadow'), 3000); });
  const slow = await httpUp((_req, res) => { setTimeout(() => res.end('late'), 2000); });
  const yaml = `
static_resources:
  listeners:
  - name: proxy
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ingress
          http_filters:
          - name: envoy.filters.http.router
            typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }
          route_config:
            virtual_hosts:${rmp('redirects', 'r.test', `
              - match: { prefix: /https }
                redirect: { https_redirect: true }
              - match: { prefix: /host }
                redirect: { host_redirect: new.test, port_redirect: 8080, response_code: FOUND }
              - match: { prefix: /pathq }
                redirect: { path_redirect: "/q?own=1", strip_query: true }
              - match: { prefix: /path }
                redirect: { path_redirect: /elsewhere, response_code: SEE_OTHER }
              - match: { prefix: /old/ }
                redirect: { prefix_rewrite: /new/, response_code: TEMPORARY_REDIRECT }
              - match: { prefix: /strip }
                redirect: { strip_query: true, response_code: PERMANENT_REDIRECT }
              - match: { prefix: /rx/ }
                redirect:
                  regex_rewrite: { pattern: { regex: "^/rx/([^/]+)/(.*)$" }, substitution: "/\\\\2/\\\\1" }
              - match: { prefix: /moved }
                direct_response: { status: 301 }
              - match: { prefix: /created }
                direct_response: { status: 201, body: { inline_string: made } }`)}${rmp('rewrites', 'w.test', `
              - match: { safe_regex: { regex: "/re/[a-z]+" } }
                route: { cluster: a, prefix_rewrite: /fixed }
              - match: { prefix: /svc/ }
                route:
                  cluster: a
                  regex_rewrite: { pattern: { regex: "^/svc/([^/]+)/(.*)$" }, substitution: "/\\\\2/instance/\\\\1" }
              - match: { prefix: /hh }
                route: { cluster: a, host_rewrite_header: x-target-host }
              - match: { prefix: /hp/ }
                route:
                  cluster: a
                  host_rewrite_path_regex: { pattern: { regex: "^/hp/([^/]+)/.*$" }, substitution: "\\\\1" }
              - match: { prefix: /auto }
                route: { cluster: named, auto_host_rewrite: true }
              - match: { prefix: /ch404 }
                route: { cluster_header: x-cluster, cluster_not_found_response_code: NOT_FOUND }
              - match: { prefix: /ch }
                route: { cluster_header: x-cluster }
              - match: { prefix: /weighted }
                route:
                  weighted_clusters:
                    clusters:
                    - { name: a, weight: 20 }
                    - { name: b, weight: 30 }
                    - { name: c, weight: 50 }
              - match: { prefix: /mirror }
                route:
                  cluster: a
                  request_mirror_policies: [{ cluster: shadow }]
              - match: { prefix: /duration }
                route: { cluster: slow, max_stream_duration: { max_stream_duration: 0.3s } }`)}
  clusters:${staticCluster('a', [a.port])}${staticCluster('b', [b.port])}${staticCluster('c', [c.port])}${staticCluster('shadow', [shadow.port])}${staticCluster('slow', [slow.port])}
  - name: named
    type: STATIC
    connect_timeout: 1s
    load_assignment:
      cluster_name: named
      endpoints:
      - lb_endpoints:
        - endpoint:
            hostname: backend.internal
            address: { socket_address: { address: 127.0.0.1, port_value: ${b.port} } }
`;
  const legate = await legateFor(yaml);
  return { a, b, c, shadow, slow, legate, port: legate.port('proxy') };
}

const ctx = setup();

test('redirects: scheme, host and port, path, prefix and regex rewrites, query rules, codes', async () => {
  const { port } = await ctx;
  assert.equal(await curl(port, '/https/x?q=1', 'r.test'), '301 https://r.test/https/x?q=1');
  // The default port of the request's scheme goes when the scheme changes (x-forwarded-proto).
  assert.equal(await curl(port, '/https', 'r.test:80'), '301 https://r.test/https');
  assert.equal(await curl(port, '/https', 'r.test:8000'), '301 https://r.test:8000/https');
  assert.equal(await curl(port, '/host/a?b', 'r.test:81'), '302 http://new.test:8080/host/a?b');
  // path_redirect keeps the request's query; its own query wins and strip_query leaves it.
  assert.equal(await curl(port, '/path?x=1', 'r.test'), '303 http://r.test/elsewhere?x=1');
  assert.equal(await curl(port, '/pathq?x=1', 'r.test'), '301 http://r.test/q?own=1');
  assert.equal(await curl(port, '/old/a/b?k', 'r.test'), '307 http://r.test/new/a/b?k');
  assert.equal(await curl(port, '/strip/x?a=1&b=2', 'r.test'), '308 http://r.test/strip/x');
  assert.equal(await curl(port, '/rx/one/two/three?z', 'r.test'), '301 http://r.test/two/three/one?z');
  // A 3xx or 201 direct response gets the request's own URL as Location.
  assert.equal(await curl(port, '/moved?m', 'r.test'), '301 http://r.test/moved?m');
  const { stdout } = await run('curl', ['-s', '-D', '-', '-H', 'Host: r.test', `http://127.0.0.1:${port}/created`]);
  assert.match(stdout, /^HTTP\/1\.1 201/);
  assert.match(stdout, /\r\nlocation: http:\/\/r\.test\/created\r\n/i);
  assert.match(stdout, /made$/);
});

async function seen(port: number, path: string, headers: Record<string, string> = {}) {
  const r = await request(`http://127.0.0.1:${port}${path}`, { headers: { host: 'w.test', ...headers }, reset: true });
  const body = await r.body.text();
  return { status: r.statusCode, body, headers: r.headers };
}

test('path and host rewrites reach the upstream', async () => {
  const { port, a, b } = await ctx;
  let r = await seen(port, '/re/abc?q=1');
  assert.equal(r.body, 'GET /fixed?q=1', 'a regex route\'s prefix_rewrite replaces the whole path, the query stays');
  r = await seen(port, '/svc/foo/v1/api?x');
  assert.equal(r.body, 'GET /v1/api/instance/foo?x');
  const last = () => a.requests[a.requests.length - 1];
  assert.equal(last().headers['x-envoy-original-path'], '/svc/foo/v1/api?x');
  await seen(port, '/hh', { 'x-target-host': 'from-header.test' });
  assert.equal(last().headers.host, 'from-header.test');
  await seen(port, '/hh');
  assert.equal(last().headers.host, 'w.test', 'no header: the host stays');
  await seen(port, '/hp/api.example.com/rest');
  assert.equal(last().headers.host, 'api.example.com');
  await seen(port, '/auto');
  assert.equal(b.requests[b.requests.length - 1].headers.host, 'backend.internal', 'STATIC endpoint.hostname');
});

test('cluster_header: the named cluster, else 503 NC (or the configured code)', async () => {
  const { port, legate, c } = await ctx;
  const before = c.requests.length;
  assert.equal((await seen(port, '/ch', { 'x-cluster': 'c' })).status, 200);
  assert.equal(c.requests.length, before + 1);
  assert.equal((await seen(port, '/ch')).status, 503);
  assert.equal((await seen(port, '/ch', { 'x-cluster': 'nope' })).status, 503);
  assert.equal((await seen(port, '/ch404', { 'x-cluster': 'nope' })).status, 404);
  const s = await legate.stats();
  assert.equal(s.get('http.ingress.no_cluster'), 3);
});

test('weighted_clusters: 20/30/50 within 2% over 10k requests', async () => {
  const { port, a, b, c } = await ctx;
  const base = [a.requests.length, b.requests.length, c.requests.length];
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: 64, pipelining: 1 });
  const N = 10_000;
  let next = 0;
  const worker = async () => {
    while (next < N) {
      next++;
      const r = await pool.request({ path: '/weighted', method: 'GET', headers: { host: 'w.test' } });
      await r.body.dump();
      assert.equal(r.statusCode, 200);
    }
  };
  await Promise.all(Array.from({ length: 64 }, worker));
  await pool.close();
  const got = [a.requests.length - base[0], b.requests.length - base[1], c.requests.length - base[2]];
  assert.equal(got[0] + got[1] + got[2], N);
  const want = [0.2, 0.3, 0.5];
  for (let i = 0; i < 3; i++) {
    assert.ok(Math.abs(got[i] / N - want[i]) < 0.02, `cluster ${i}: ${got[i]} of ${N}`);
  }
});

test('request_mirror_policies: the shadow gets a -shadow copy, and a slow shadow does not slow the primary', async () => {
  const { port, shadow } = await ctx;
  const t0 = performance.now();
  const wait = shadow.nextRequest(5000);
  const r = await request(`http://127.0.0.1:${port}/mirror/x?y`, {
    method: 'POST', body: 'payload', headers: { host: 'w.test:8080' }, reset: true,
  });
  assert.equal(r.statusCode, 200);
  assert.equal(await r.body.text(), 'payload');
  const ms = performance.now() - t0;
  assert.ok(ms < 500, `primary took ${ms} ms`);
  const s = await wait;
  assert.equal(s.headers.host, 'w.test-shadow:8080');
  assert.equal(s.url, '/mirror/x?y');
  assert.equal(s.body.toString(), 'payload');
});

test('max_stream_duration: a stream past it is answered 504 (downstream duration timeout)', async () => {
  const { port, legate } = await ctx;
  const t0 = performance.now();
  const r = await seen(port, '/duration');
  assert.equal(r.status, 504);
  assert.equal(r.body, 'downstream duration timeout');
  assert.ok(performance.now() - t0 < 1500);
  assert.equal((await legate.stats()).get('http.ingress.downstream_rq_max_duration_reached'), 1);
});
