// Routing that reads the runtime, through a real Legate with two workers and real upstreams:
// weighted_clusters' runtime_key_prefix and RouteMatch runtime_fraction split 10k requests as
// the static layer says (within 2%); /runtime_modify changes routing live on both workers (0% and
// 100%, so every response after the change must follow it); a mirror with runtime_fraction 0
// sends nothing and one with 100% everything; a weighted cluster's own request and response
// header mutations reach the upstream and the client (local replies included), before the route's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type http from 'node:http';
import { Pool, request } from 'undici';
import { staticCluster } from '../helpers/legate.ts';
import { deadPort } from './fixtures/upstreams.ts';
import { httpUp, legateFor } from './fixtures/tracked.ts';

const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';

/** An upstream that answers with its name (and a header for the routes to remove). */
const named = (name: string) => (_req: http.IncomingMessage, res: http.ServerResponse) => {
  res.writeHead(200, { 'x-up': name, 'x-up-drop': 'yes' });
  res.end(name);
};

async function setup() {
  const a = await httpUp(named('a'));
  const b = await httpUp(named('b'));
  const shadow = await httpUp(named('shadow'));
  const dead = await deadPort();
  const yaml = `
layered_runtime:
  layers:
  - name: static
    static_layer:
      routing:
        split: { a: 80, b: 20 }
        fraction: { numerator: 3000, denominator: TEN_THOUSAND }
  - name: admin
    admin_layer: {}
static_resources:
  listeners:
  - name: proxy
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": ${HCM}
          stat_prefix: ingress
          http_filters:
          - name: envoy.filters.http.router
            typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: { prefix: /weighted }
                route:
                  weighted_clusters:
                    runtime_key_prefix: routing.split
                    clusters: [{ name: a, weight: 50 }, { name: b, weight: 50 }]
              - match: { prefix: /fraction, runtime_fraction: { default_value: { numerator: 90 }, runtime_key: routing.fraction } }
                route: { cluster: a }
              - match: { prefix: /fraction }
                route: { cluster: b }
              - match: { prefix: /live, runtime_fraction: { default_value: { numerator: 0 }, runtime_key: routing.live } }
                route: { cluster: a }
              - match: { prefix: /live }
                route: { cluster: b }
              - match: { prefix: /mirror-none }
                route:
                  cluster: a
                  request_mirror_policies:
                  - { cluster: shadow, runtime_fraction: { default_value: { numerator: 0 }, runtime_key: mirror.none } }
              - match: { prefix: /mirror-all }
                route:
                  cluster: a
                  request_mirror_policies:
                  - { cluster: shadow, runtime_fraction: { default_value: { numerator: 100 }, runtime_key: mirror.all } }
              - match: { prefix: /mirror-live }
                route:
                  cluster: a
                  request_mirror_policies:
                  - { cluster: shadow, runtime_fraction: { default_value: { numerator: 0 }, runtime_key: mirror.live } }
              - match: { prefix: /wc-headers }
                request_headers_to_add:
                - { header: { key: x-order, value: route }, append_action: APPEND_IF_EXISTS_OR_ADD }
                - { header: { key: x-wins, value: route }, append_action: OVERWRITE_IF_EXISTS_OR_ADD }
                response_headers_to_add:
                - { header: { key: x-resp-order, value: route }, append_action: APPEND_IF_EXISTS_OR_ADD }
                route:
                  weighted_clusters:
                    clusters:
                    - name: a
                      weight: 1
                      request_headers_to_add:
                      - { header: { key: x-order, value: cluster }, append_action: APPEND_IF_EXISTS_OR_ADD }
                      - { header: { key: x-wins, value: cluster }, append_action: OVERWRITE_IF_EXISTS_OR_ADD }
                      - { header: { key: x-cluster, value: "%UPSTREAM_CLUSTER%" } }
                      request_headers_to_remove: [x-drop]
                      response_headers_to_add:
                      - { header: { key: x-resp-order, value: cluster }, append_action: APPEND_IF_EXISTS_OR_ADD }
                      - { header: { key: x-picked, value: a } }
                      response_headers_to_remove: [x-up-drop]
              - match: { prefix: /wc-dead }
                route:
                  weighted_clusters:
                    clusters:
                    - name: dead
                      weight: 1
                      response_headers_to_add: [{ header: { key: x-picked, value: dead } }]
  clusters:${staticCluster('a', [a.port])}${staticCluster('b', [b.port])}${staticCluster('shadow', [shadow.port])}${staticCluster('dead', [dead])}
`;
  // (LEGATE_TEST_HOOKS: the server header names the worker that answered.)
  const legate = await legateFor(yaml, { concurrency: 2, env: { LEGATE_TEST_HOOKS: '1' } });
  return { a, b, shadow, legate, port: legate.port('proxy') };
}

const ctx = setup();

/** `n` GETs of `path` over 64 connections; how many each upstream body named. */
async function split(port: number, path: string, n: number, connections = 64): Promise<Record<string, number>> {
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections, pipelining: 1 });
  const got: Record<string, number> = {};
  let next = 0;
  const worker = async () => {
    while (next < n) {
      next++;
      const r = await pool.request({ path, method: 'GET' });
      const body = await r.body.text();
      assert.equal(r.statusCode, 200);
      got[body] = (got[body] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: connections }, worker));
  await pool.close();
  return got;
}

/** `n` requests, each on a new connection, so that both workers take some (checked): the
 *  upstreams' names, as they answered. */
async function eachNew(port: number, path: string, n: number): Promise<string[]> {
  const workers = new Set<string>();
  const out = await Promise.all(Array.from({ length: n }, async () => {
    const r = await request(`http://127.0.0.1:${port}${path}`, { reset: true });
    assert.equal(r.statusCode, 200);
    workers.add(/worker-(\d+)$/.exec(String(r.headers.server))?.[1] ?? '?');
    return r.body.text();
  }));
  assert.deepEqual([...workers].sort(), ['0', '1']);
  return out;
}

async function modify(admin: string, query: string): Promise<void> {
  const r = await fetch(`${admin}/runtime_modify?${query}`, { method: 'POST', signal: AbortSignal.timeout(5000) });
  assert.equal(r.status, 200, await r.text());
}

/** Let each worker take the runtime message the admin sent it (postMessage: the admin answers
 *  once the values are sent, a worker applies them at its next turn). */
const settle = () => new Promise((r) => setTimeout(r, 100));

test('weighted_clusters runtime_key_prefix: the static layer\'s 80/20 over the configured 50/50, within 2% over 10k', async () => {
  const { port } = await ctx;
  const N = 10_000;
  const got = await split(port, '/weighted', N);
  assert.equal((got.a ?? 0) + (got.b ?? 0), N);
  assert.ok(Math.abs((got.a ?? 0) / N - 0.8) < 0.02, `a: ${got.a} of ${N}`);
});

test('runtime_fraction: the static layer\'s 3000/10000 over the default 90%, within 2% over 10k', async () => {
  const { port } = await ctx;
  const N = 10_000;
  const got = await split(port, '/fraction', N);
  assert.equal((got.a ?? 0) + (got.b ?? 0), N);
  assert.ok(Math.abs((got.a ?? 0) / N - 0.3) < 0.02, `a: ${got.a} of ${N}`);
});

test('runtime_modify changes routing at once on both workers (runtime_fraction and weights)', async () => {
  const { port, legate } = await ctx;
  // The default 0%: every request falls through to b.
  assert.deepEqual(new Set(await eachNew(port, '/live', 50)), new Set(['b']));
  await modify(legate.admin, 'routing.live=100');
  await settle();
  assert.deepEqual(new Set(await eachNew(port, '/live', 50)), new Set(['a']));
  // A FractionalPercent value through the admin: 0 of a million.
  await modify(legate.admin, `routing.live=${encodeURIComponent('{numerator: 0, denominator: MILLION}')}`);
  await settle();
  assert.deepEqual(new Set(await eachNew(port, '/live', 50)), new Set(['b']));
  // Weights: all to b, then all to a.
  await modify(legate.admin, 'routing.split.a=0&routing.split.b=7');
  await settle();
  assert.deepEqual(new Set(await eachNew(port, '/weighted', 50)), new Set(['b']));
  await modify(legate.admin, 'routing.split.a=1&routing.split.b=0');
  await settle();
  assert.deepEqual(new Set(await eachNew(port, '/weighted', 50)), new Set(['a']));
  // Weights that sum to 0: no route (Envoy's route lookup finds none), 404 NR.
  await modify(legate.admin, 'routing.split.a=0&routing.split.b=0');
  await settle();
  const r = await request(`http://127.0.0.1:${port}/weighted`, { reset: true });
  assert.equal(r.statusCode, 404);
  await r.body.dump();
  // Back to the static layer's values.
  await modify(legate.admin, 'routing.split.a=&routing.split.b=&routing.live=');
});

test('request_mirror_policies runtime_fraction: 0% mirrors nothing, 100% everything; the admin turns one on', async () => {
  const { port, shadow, legate } = await ctx;
  const before = shadow.requests.length;
  await eachNew(port, '/mirror-none', 40);
  await eachNew(port, '/mirror-all', 40);
  // (Shadows are fire-and-forget: wait for the 40 to arrive, then for any straggler.)
  const deadline = Date.now() + 5000;
  while (shadow.requests.length - before < 40 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, 200));
  const seen = shadow.requests.slice(before).map((s) => s.url);
  assert.equal(seen.filter((u) => u === '/mirror-all').length, 40);
  assert.equal(seen.filter((u) => u === '/mirror-none').length, 0);
  await modify(legate.admin, 'mirror.live=100');
  await settle();
  const at = shadow.requests.length;
  await eachNew(port, '/mirror-live', 20);
  const until = Date.now() + 5000;
  while (shadow.requests.length - at < 20 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  assert.equal(shadow.requests.slice(at).filter((s) => s.url === '/mirror-live').length, 20);
  await modify(legate.admin, 'mirror.live=');
});

test('weighted cluster headers: its own mutations first, then the route\'s, upstream, in the response and on local replies', async () => {
  const { port, a } = await ctx;
  const wait = a.nextRequest(5000);
  const r = await request(`http://127.0.0.1:${port}/wc-headers`, { headers: { 'x-drop': 'gone', 'x-order': 'client' } });
  assert.equal(r.statusCode, 200);
  assert.equal(await r.body.text(), 'a');
  const up = await wait;
  assert.equal(up.headers['x-drop'], undefined);
  assert.equal(up.headers['x-order'], 'client, cluster, route');
  // (The later parser wins an overwrite: the route's, after the cluster's.)
  assert.equal(up.headers['x-wins'], 'route');
  assert.equal(up.headers['x-cluster'], 'a');
  assert.equal(r.headers['x-up'], 'a');
  assert.equal(r.headers['x-up-drop'], undefined);
  assert.equal(r.headers['x-picked'], 'a');
  assert.deepEqual(r.headers['x-resp-order'], ['cluster', 'route']);
  // A local reply of the router after the pick carries the cluster's response headers too.
  const d = await request(`http://127.0.0.1:${port}/wc-dead`);
  assert.equal(d.statusCode, 503);
  assert.equal(d.headers['x-picked'], 'dead');
  await d.body.dump();
});
