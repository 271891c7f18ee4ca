// envoy.filters.http.ratelimit through a real Legate (--concurrency 2) against a rate limit service
// speaking Envoy's RLS v3 proto over @grpc/grpc-js (fixtures/rls.ts): the descriptors the route's
// actions give reach the service as configured (stages, skip rules, the virtual host's when the
// route has none), OK passes with the service's headers, OVER_LIMIT answers 429 with
// x-envoy-ratelimited and the x-ratelimit-* headers, and a service that is down lets the request
// through or answers 500 per failure_mode_deny.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { Buffer } from 'node:buffer';
import { setTimeout as sleep } from 'node:timers/promises';
import { hcmListener, staticCluster } from '../helpers/legate.ts';
import { httpUp, legateFor } from './fixtures/tracked.ts';
import { deadPort, sha256 } from './fixtures/upstreams.ts';
import { rateLimitService, type RlsRequest } from './fixtures/rls.ts';

const TYPE = 'type.googleapis.com/envoy.extensions.filters.http.ratelimit.v3.RateLimit';

function filter(cluster: string, extra: string): string {
  return `
          - name: envoy.filters.http.ratelimit
            typed_config:
              "@type": ${TYPE}
              domain: test
              timeout: 2s${extra}
              rate_limit_service:
                transport_api_version: V3
                grpc_service: { envoy_grpc: { cluster_name: ${cluster} } }`;
}

const ROUTES = `
              rate_limits:
              - actions: [{ request_headers: { header_name: x-vh, descriptor_key: vh } }]
              routes:
              - match: { prefix: "/none" }
                route: { cluster: upstream }
              - match: { prefix: "/vh" }
                route: { cluster: upstream }
              - match: { prefix: "/" }
                route:
                  cluster: upstream
                  rate_limits:
                  - actions:
                    - request_headers: { header_name: X-User, descriptor_key: user }
                    - generic_key: { descriptor_value: api }
                  - actions:
                    - request_headers: { header_name: x-plan, descriptor_key: plan, skip_if_absent: true }
                    - remote_address: {}
                    - destination_cluster: {}
                    - source_cluster: {}
                  - actions:
                    - header_value_match: { descriptor_value: beta, headers: [{ name: x-beta, present_match: true }] }
                  - stage: 1
                    actions: [{ generic_key: { descriptor_value: stage1 } }]`;

function vhosts(): string {
  return `
            - name: all
              domains: ["*"]${ROUTES}`;
}

function config(upstreamPort: number, rlsPort: number, downPort: number): string {
  return `
node: { cluster: svc-a }
static_resources:
  listeners:${hcmListener('proxy', 'ingress', '', {
    httpFilters: filter('rls', `
              enable_x_ratelimit_headers: DRAFT_VERSION_03
              response_headers_to_add: [{ header: { key: x-rl-filter, value: limited } }]`),
    virtualHosts: vhosts(),
  })}${hcmListener('allow', 'allow', '', { httpFilters: filter('rls_down', ''), virtualHosts: vhosts() })}${
  hcmListener('deny', 'deny', '', { httpFilters: filter('rls_down', `
              stat_prefix: deny
              failure_mode_deny: true`), virtualHosts: vhosts() })}${
  hcmListener('slow', 'slow', '', { httpFilters: filter('rls', `
              stat_prefix: slow
              failure_mode_deny: true`).replace('timeout: 2s', 'timeout: 0.2s'), virtualHosts: vhosts() })}
  clusters:${staticCluster('upstream', [upstreamPort])}${staticCluster('rls', [rlsPort])}${staticCluster('rls_down', [downPort])}
`;
}

function entries(r: RlsRequest): string[][] {
  return r.descriptors.map((d) => d.entries.map((e) => `${e.key}=${e.value}`));
}

async function get(port: number, path: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`http://127.0.0.1:${port}${path}`, { headers, signal: AbortSignal.timeout(5000) });
}

test('ratelimit: descriptors from route actions, OK / OVER_LIMIT, failure_mode_deny both ways', async () => {
  const up = await httpUp();
  const rls = await rateLimitService();
  const l = await legateFor(config(up.port, rls.port, await deadPort()), { concurrency: 2 });
  const port = l.port('proxy');

  // Descriptors as configured: stage 0 only; the request_headers entry without the header drops its
  // whole descriptor (skip_if_absent false) or only itself (true); header_value_match only with
  // the header; remote_address without port; destination_cluster is the route's cluster;
  // source_cluster is node.cluster.
  let r = await get(port, '/a', { 'x-user': 'alice', 'x-beta': '1', 'x-plan': 'gold' });
  assert.equal(r.status, 200);
  await r.arrayBuffer();
  assert.equal(rls.requests.length, 1);
  assert.equal(rls.requests[0].domain, 'test');
  assert.deepEqual(entries(rls.requests[0]), [
    ['user=alice', 'generic_key=api'],
    ['plan=gold', 'remote_address=127.0.0.1', 'destination_cluster=upstream', 'source_cluster=svc-a'],
    ['header_match=beta'],
  ]);
  r = await get(port, '/a');
  await r.arrayBuffer();
  assert.deepEqual(entries(rls.requests[1]), [
    ['remote_address=127.0.0.1', 'destination_cluster=upstream', 'source_cluster=svc-a'],
  ]);
  // The route has no rate_limits: its virtual host's apply (Envoy's default, OVERRIDE).
  r = await get(port, '/vh', { 'x-vh': 'v1' });
  await r.arrayBuffer();
  assert.deepEqual(entries(rls.requests[2]), [['vh=v1']]);
  // No descriptor for the request (the virtual host's action needs x-vh): no call, and on.
  r = await get(port, '/none');
  assert.equal(r.status, 200);
  await r.arrayBuffer();
  assert.equal(rls.requests.length, 3);

  // OK: the service's request headers reach the upstream, its response headers and the
  // x-ratelimit-* headers of its statuses reach the client.
  rls.answer = () => ({
    overall_code: 'OK',
    statuses: [
      { code: 'OK', current_limit: { requests_per_unit: 100, unit: 'MINUTE', name: 'per-user' }, limit_remaining: 42,
        duration_until_reset: { seconds: 17 } },
      { code: 'OK', current_limit: { requests_per_unit: 1000, unit: 'HOUR' }, limit_remaining: 900,
        duration_until_reset: { seconds: 1000 } },
    ],
    request_headers_to_add: [{ key: 'x-rl-request', value: 'from-rls' }],
    response_headers_to_add: [{ key: 'x-rl-response', value: 'ok' }],
  });
  const seen = up.nextRequest();
  r = await get(port, '/a', { 'x-user': 'bob' });
  assert.equal(r.status, 200);
  await r.arrayBuffer();
  assert.equal((await seen).headers['x-rl-request'], 'from-rls');
  assert.equal(r.headers.get('x-rl-response'), 'ok');
  assert.equal(r.headers.get('x-ratelimit-limit'), '100, 100;w=60;name="per-user", 1000;w=3600');
  assert.equal(r.headers.get('x-ratelimit-remaining'), '42');
  assert.equal(r.headers.get('x-ratelimit-reset'), '17');
  assert.equal(r.headers.get('x-envoy-ratelimited'), null);
  assert.equal(r.headers.get('x-rl-filter'), null);

  // OVER_LIMIT: 429, x-envoy-ratelimited, the service's body and headers, the filter's
  // response_headers_to_add; the upstream sees nothing.
  rls.answer = () => ({
    overall_code: 'OVER_LIMIT',
    statuses: [{ code: 'OVER_LIMIT', current_limit: { requests_per_unit: 5, unit: 'SECOND' }, limit_remaining: 0,
      duration_until_reset: { seconds: 1 } }],
    response_headers_to_add: [{ key: 'x-rl-response', value: 'over' }],
    raw_body: Buffer.from('slow down'),
  });
  const before = up.requests.length;
  r = await get(port, '/a', { 'x-user': 'carol' });
  assert.equal(r.status, 429);
  assert.equal(await r.text(), 'slow down');
  assert.equal(r.headers.get('x-envoy-ratelimited'), 'true');
  assert.equal(r.headers.get('x-rl-response'), 'over');
  assert.equal(r.headers.get('x-rl-filter'), 'limited');
  assert.equal(r.headers.get('x-ratelimit-limit'), '5, 5;w=1');
  assert.equal(r.headers.get('x-ratelimit-remaining'), '0');
  assert.equal(up.requests.length, before);

  // The service down: failure_mode_deny false lets the request through, true answers 500.
  r = await get(l.port('allow'), '/a');
  assert.equal(r.status, 200);
  await r.arrayBuffer();
  r = await get(l.port('deny'), '/a');
  assert.equal(r.status, 500);
  await r.arrayBuffer();

  const s = await l.stats();
  assert.equal(s.get('cluster.rls.ratelimit.ok'), 4);
  assert.equal(s.get('cluster.rls.ratelimit.over_limit'), 1);
  assert.equal(s.get('cluster.rls.ratelimit.error'), 0);
  assert.equal(s.get('cluster.rls_down.ratelimit.error'), 1);
  assert.equal(s.get('cluster.rls_down.ratelimit.failure_mode_allowed'), 1);
  assert.equal(s.get('cluster.rls_down.deny.ratelimit.error'), 1);
  assert.equal(s.get('cluster.rls_down.deny.ratelimit.failure_mode_allowed'), 0);
});

test('ratelimit: the request body waits for the answer and arrives whole; a slow service times out; a client gone mid-call', async () => {
  const up = await httpUp();
  const rls = await rateLimitService();
  const l = await legateFor(config(up.port, rls.port, await deadPort()), { concurrency: 2 });

  // The body is held while the call is out (StopIterationAndWatermark), then goes upstream whole.
  rls.delayMs = 300;
  const body = Buffer.alloc(300_000, 'x');
  const r = await fetch(`http://127.0.0.1:${l.port('proxy')}/a`, {
    method: 'POST', body, headers: { 'x-user': 'dave' }, signal: AbortSignal.timeout(5000),
  });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('x-seen-sha256'), sha256(body));
  await r.arrayBuffer();

  // timeout 0.2 s against a service answering after 1 s: an error, denied (failure_mode_deny).
  rls.delayMs = 1000;
  const t0 = Date.now();
  const slow = await fetch(`http://127.0.0.1:${l.port('slow')}/a`, { signal: AbortSignal.timeout(5000) });
  assert.equal(slow.status, 500);
  await slow.arrayBuffer();
  assert.ok(Date.now() - t0 < 900, `answered after the filter's timeout, not the service (${Date.now() - t0} ms)`);

  // A client that leaves while the call is out: the call is cancelled, the stream ends, Legate
  // serves on.
  const s = net.connect(l.port('proxy'), '127.0.0.1');
  await new Promise<void>((resolve) => s.once('connect', () => resolve()));
  const n = rls.requests.length;
  s.write('GET /a HTTP/1.1\r\nhost: x\r\n\r\n');
  for (let i = 0; i < 100 && rls.requests.length === n; i++) await sleep(20);
  s.destroy();
  rls.delayMs = 0;
  const after = await fetch(`http://127.0.0.1:${l.port('proxy')}/a`, { signal: AbortSignal.timeout(5000) });
  assert.equal(after.status, 200);
  await after.arrayBuffer();
  await sleep(1100);
  const stats = await l.stats();
  assert.equal(stats.get('cluster.rls.slow.ratelimit.error'), 1);
  assert.equal(stats.get('http.ingress.downstream_rq_active'), 0);
});
