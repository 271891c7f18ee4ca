// envoy.filters.http.local_ratelimit through a real Legate with two workers and real clients: the
// bucket holds the configured rate for the whole process (10 tokens per second admit about 10 a
// second, not 20), the 429 carries its headers, descriptors from route actions and a per-route
// config get buckets of their own, the stats count what happened, and a bucket outlives a reload
// that leaves it unchanged.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { hcmListener, proxyConfig, staticCluster } from '../helpers/legate.ts';
import { httpUp, legateFor } from './fixtures/tracked.ts';

const TYPE = 'type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit';

function config(upstreamPort: number): string {
  return `
static_resources:
  listeners:${hcmListener('proxy', 'ingress', '', {
    // (Connections go to the worker with the fewest: both serve.)
    listenerExtra: `
    connection_balance_config: { exact_balance: {} }`,
    httpFilters: `
          - name: lrl
            typed_config:
              "@type": ${TYPE}
              stat_prefix: lrl
              token_bucket: { max_tokens: 10, tokens_per_fill: 10, fill_interval: 1s }
              filter_enabled: { default_value: { numerator: 100 } }
              filter_enforced: { default_value: { numerator: 100 } }
              enable_x_ratelimit_headers: DRAFT_VERSION_03
              response_headers_to_add: [{ header: { key: x-limited-by, value: legate } }]
              descriptors:
              - entries: [{ key: client, value: gold }]
                token_bucket: { max_tokens: 3, tokens_per_fill: 1, fill_interval: 60s }`,
    virtualHosts: `
            - name: all
              domains: ["*"]
              routes:
              - match: { prefix: "/route" }
                route: { cluster: upstream }
                typed_per_filter_config:
                  lrl:
                    "@type": ${TYPE}
                    stat_prefix: lrl_route
                    token_bucket: { max_tokens: 2, tokens_per_fill: 1, fill_interval: 60s }
                    filter_enabled: { default_value: { numerator: 100 } }
                    filter_enforced: { default_value: { numerator: 100 } }
                    status: { code: ServiceUnavailable }
              - match: { prefix: "/shadow" }
                route: { cluster: upstream }
                typed_per_filter_config:
                  lrl:
                    "@type": ${TYPE}
                    stat_prefix: lrl_shadow
                    token_bucket: { max_tokens: 1, tokens_per_fill: 1, fill_interval: 60s }
                    filter_enabled: { default_value: { numerator: 100 } }
                    filter_enforced: { default_value: { numerator: 0 } }
                    request_headers_to_add_when_not_enforced: [{ header: { key: x-rl-shadow, value: limited } }]
              - match: { prefix: "/" }
                route:
                  cluster: upstream
                  rate_limits:
                  - actions: [{ request_headers: { header_name: x-client, descriptor_key: client } }]`,
  })}
  clusters:${staticCluster('upstream', [upstreamPort])}
`;
}

interface Res { status: number; headers: http.IncomingHttpHeaders }

function get(agent: http.Agent, port: number, path: string, headers: Record<string, string> = {}): Promise<Res> {
  return new Promise((resolve, reject) => {
    const req = http.get({ agent, host: '127.0.0.1', port, path, headers, timeout: 5000 }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

test('local_ratelimit: 10 tokens/s hold process-wide with --concurrency 2; 429 with its headers; descriptors and per-route buckets', async () => {
  const up = await httpUp();
  const l = await legateFor(config(up.port), { concurrency: 2, env: { LEGATE_TEST_HOOKS: '1' } });
  const port = l.port('proxy');

  // Many connections, so that both workers' reuse-port sockets take some. For ~2 s: a full bucket
  // (10) plus 10 a second. Two independent buckets would admit about twice that.
  const agent = new http.Agent({ keepAlive: false, maxSockets: 32 });
  const start = Date.now();
  const WINDOW_MS = 2000;
  let ok = 0;
  let limited = 0;
  let sample: Res | null = null;
  let okSample: Res | null = null;
  const workers = new Set<string>();
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (Date.now() - start < WINDOW_MS) {
      const r = await get(agent, port, '/any');
      workers.add(/worker-(\d+)/.exec(String(r.headers.server))?.[1] ?? '?');
      if (r.status === 200) {
        ok++;
        okSample ??= r;
      } else {
        assert.equal(r.status, 429);
        limited++;
        sample ??= r;
      }
    }
  }));
  const elapsed = (Date.now() - start) / 1000;
  agent.destroy();
  const expected = 10 + 10 * elapsed;
  assert.ok(ok >= expected * 0.75 && ok <= expected * 1.25,
    `${ok} admitted in ${elapsed.toFixed(2)} s (expected about ${expected.toFixed(0)}; ${limited} limited)`);
  assert.ok(limited > ok, `the clients asked far more than the rate (${limited} limited)`);
  assert.deepEqual([...workers].sort(), ['0', '1'], 'both workers served (one bucket for both)');

  // The 429: its body's reason in the headers Envoy sets, and x-ratelimit-* (DRAFT_VERSION_03).
  const s = sample as Res | null;
  assert.ok(s !== null);
  assert.equal(s.headers['x-limited-by'], 'legate');
  assert.equal(s.headers['x-ratelimit-limit'], '10');
  assert.equal(s.headers['x-ratelimit-remaining'], '0');
  assert.ok(Number(s.headers['x-ratelimit-reset']) >= 0);
  const o = okSample as Res | null;
  assert.ok(o !== null);
  assert.equal(o.headers['x-ratelimit-limit'], '10');
  assert.equal(o.headers['x-limited-by'], undefined, 'response_headers_to_add only on the limited reply');

  const stats = await l.stats();
  const total = ok + limited;
  assert.equal(stats.get('lrl.http_local_rate_limit.enabled'), total);
  assert.equal(stats.get('lrl.http_local_rate_limit.ok'), ok);
  assert.equal(stats.get('lrl.http_local_rate_limit.rate_limited'), limited);
  assert.equal(stats.get('lrl.http_local_rate_limit.enforced'), limited);

  // Wait for the bucket to refill a few, then: the descriptor's own bucket (3 tokens, no refill
  // within the test) limits x-client: gold, while other clients still pass.
  await sleep(600);
  const one = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const gold: number[] = [];
  for (let i = 0; i < 4; i++) gold.push((await get(one, port, '/g', { 'x-client': 'gold' })).status);
  assert.deepEqual(gold, [200, 200, 200, 429]);
  const goldLimited = await get(one, port, '/g', { 'x-client': 'gold' });
  assert.equal(goldLimited.headers['x-ratelimit-limit'], '3', 'the descriptor bucket is the one shown');
  assert.equal((await get(one, port, '/g', { 'x-client': 'silver' })).status, 200);

  // The route's own LocalRateLimit: 2 tokens, status 503, its own stats.
  const routeStatuses: number[] = [];
  for (let i = 0; i < 3; i++) routeStatuses.push((await get(one, port, '/route')).status);
  assert.deepEqual(routeStatuses, [200, 200, 503]);
  // Not enforced: the request goes on, marked with request_headers_to_add_when_not_enforced.
  const shadow: (string | undefined)[] = [];
  for (let i = 0; i < 2; i++) {
    const seen = up.nextRequest();
    assert.equal((await get(one, port, '/shadow')).status, 200);
    shadow.push((await seen).headers['x-rl-shadow'] as string | undefined);
  }
  assert.deepEqual(shadow, [undefined, 'limited']);
  one.destroy();
  const after = await l.stats();
  assert.equal(after.get('lrl_shadow.http_local_rate_limit.rate_limited'), 1);
  assert.equal(after.get('lrl_shadow.http_local_rate_limit.enforced'), 0);
  assert.equal(after.get('lrl_route.http_local_rate_limit.ok'), 2);
  assert.equal(after.get('lrl_route.http_local_rate_limit.enforced'), 1);
});

test('local_ratelimit: a reload that keeps the bucket keeps its tokens; a changed bucket starts full', async () => {
  const up = await httpUp();
  const yaml = (maxTokens: number, tag: string): string => proxyConfig([up.port], {
    httpFilters: `
          - name: lrl
            typed_config:
              "@type": ${TYPE}
              stat_prefix: lrl
              token_bucket: { max_tokens: ${maxTokens}, fill_interval: 3600s }
              filter_enabled: { default_value: { numerator: 100 } }
              filter_enforced: { default_value: { numerator: 100 } }
              response_headers_to_add: [{ header: { key: x-tag, value: ${tag} } }]`,
  });
  const l = await legateFor(yaml(2, 'a'), { concurrency: 2 });
  // A new connection each time: one accepted before a reload keeps the config it was accepted on
  // while it drains.
  const fresh = new http.Agent({ keepAlive: false });
  const statuses = async (n: number): Promise<number[]> => {
    const out: number[] = [];
    for (let i = 0; i < n; i++) out.push((await get(fresh, l.port('proxy'), '/')).status);
    return out;
  };
  const reload = async (): Promise<void> => {
    const r = await fetch(`${l.admin}/reload`, { method: 'POST', signal: AbortSignal.timeout(15_000) });
    assert.equal(r.status, 200, await r.text());
  };
  assert.deepEqual(await statuses(3), [200, 200, 429]);
  // The filter is compiled again (its response headers changed), its bucket is the same: still empty.
  fs.writeFileSync(l.configPath, yaml(2, 'b'));
  await reload();
  assert.deepEqual(await statuses(1), [429]);
  // A different bucket: a new one, full.
  fs.writeFileSync(l.configPath, yaml(3, 'b'));
  await reload();
  assert.deepEqual(await statuses(4), [200, 200, 200, 429]);
});
