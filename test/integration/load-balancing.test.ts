// Load balancers through real Legate processes (two workers) to real upstreams: weighted round
// robin over 10k requests, least request steering away from a slow host, priority failover and
// panic from the endpoints' health_status, random, and locality-weighted balancing
// (locality_weighted_lb_config): shares by locality weight, a locality that loses its hosts to
// health_status or to active health checks losing its share.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, request } from 'undici';
import { hcmListener, routeAll, type Legate } from '../helpers/legate.ts';
import { legateFor, httpUp, track } from './fixtures/tracked.ts';
import { until } from './fixtures/clients.ts';
import { echo, type HttpUpstream } from './fixtures/upstreams.ts';

interface Endpoint {
  port: number;
  weight?: number;
  priority?: number;
  unhealthy?: boolean;
}

function cluster(lbPolicy: string, endpoints: Endpoint[], extra = ''): string {
  const byPriority = new Map<number, Endpoint[]>();
  for (const e of endpoints) byPriority.set(e.priority ?? 0, [...(byPriority.get(e.priority ?? 0) ?? []), e]);
  const locs = [...byPriority.entries()].sort((a, b) => a[0] - b[0]).map(([p, es]) => `
      - priority: ${p}
        lb_endpoints:${es.map((e) => `
        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${e.port} } } }
          load_balancing_weight: ${e.weight ?? 1}${e.unhealthy ? `
          health_status: UNHEALTHY` : ''}`).join('')}`).join('');
  return `
static_resources:
  listeners:${hcmListener('proxy', 'ingress', routeAll('up'))}
  clusters:
  - name: up
    connect_timeout: 1s
    lb_policy: ${lbPolicy}${extra}
    load_assignment:
      cluster_name: up
      endpoints:${locs}
`;
}

/** `n` GETs, `concurrency` at a time, through `port`. */
async function load(port: number, n: number, concurrency: number): Promise<void> {
  const agent = new Agent({ connections: concurrency, keepAliveTimeout: 10_000 });
  track(() => agent.close());
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n) {
      next++;
      const r = await request(`http://127.0.0.1:${port}/`, { dispatcher: agent });
      await r.body.dump();
      assert.equal(r.statusCode, 200);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

function counts(ups: HttpUpstream[]): number[] {
  return ups.map((u) => u.requests.length);
}

test('weighted round robin: 10k requests split 1:2:7 within 2%', async () => {
  const ups = [await httpUp(), await httpUp(), await httpUp()];
  const l = await legateFor(cluster('ROUND_ROBIN', [
    { port: ups[0].port, weight: 1 }, { port: ups[1].port, weight: 2 }, { port: ups[2].port, weight: 7 },
  ]), { concurrency: 2 });
  await load(l.port('proxy'), 10_000, 32);
  const c = counts(ups);
  const total = c.reduce((a, b) => a + b, 0);
  assert.equal(total, 10_000);
  [0.1, 0.2, 0.7].forEach((want, i) => {
    assert.ok(Math.abs(c[i] / total - want) < 0.02, `host ${i}: ${c[i]} of ${total} (want ${want})`);
  });
});

test('least request steers away from a slow host', async () => {
  const fast = [await httpUp(), await httpUp()];
  const slow = await httpUp((req, res, body) => { setTimeout(() => echo(req, res, body), 150); });
  const all = [...fast, slow];
  const reset = (): void => { for (const u of all) u.requests.length = 0; };
  // Two choices of three hosts: the slow one (always the busier) wins only when both samples are
  // it, about 1 in 9; round robin would give it 1 in 3.
  const l = await legateFor(cluster('LEAST_REQUEST', all.map((u) => ({ port: u.port }))), { concurrency: 2 });
  await load(l.port('proxy'), 400, 16);
  let c = counts(all);
  assert.equal(c[0] + c[1] + c[2], 400);
  assert.ok(c[2] < 0.2 * 400, `slow host got ${c[2]} of 400 (${c})`);
  // More choices steer harder.
  reset();
  const five = await legateFor(cluster('LEAST_REQUEST', all.map((u) => ({ port: u.port })), `
    least_request_lb_config: { choice_count: 5 }`), { concurrency: 2 });
  await load(five.port('proxy'), 400, 16);
  c = counts(all);
  assert.ok(c[2] < 0.05 * 400, `slow host got ${c[2]} of 400 with 5 choices (${c})`);
  // Round robin over the same hosts gives each its third (the contrast).
  reset();
  const rr = await legateFor(cluster('ROUND_ROBIN', all.map((u) => ({ port: u.port }))), { concurrency: 1 });
  await load(rr.port('proxy'), 90, 16);
  assert.deepEqual(counts(all), [30, 30, 30]);
});

test('priorities: failover to P1 when P0 is unhealthy; panic spreads over every host and is counted', async () => {
  const ups = [await httpUp(), await httpUp(), await httpUp(), await httpUp(), await httpUp()];
  // P0 all unhealthy (one host), P1 healthy: P1 takes everything.
  const failover = await legateFor(cluster('ROUND_ROBIN', [
    { port: ups[0].port, unhealthy: true }, { port: ups[1].port, priority: 1 },
  ]));
  await load(failover.port('proxy'), 50, 4);
  assert.deepEqual(counts(ups.slice(0, 2)), [0, 50]);
  for (const u of ups) u.requests.length = 0;
  // One of four healthy (25% < the 50% panic threshold): every host of P0 gets traffic.
  const panic = await legateFor(cluster('ROUND_ROBIN', [
    { port: ups[1].port }, { port: ups[2].port, unhealthy: true }, { port: ups[3].port, unhealthy: true },
    { port: ups[4].port, unhealthy: true },
  ]));
  await load(panic.port('proxy'), 80, 4);
  assert.deepEqual(counts(ups.slice(1)), [20, 20, 20, 20]);
  assert.equal((await panic.stats()).get('cluster.up.lb_healthy_panic'), 80);
  // With the threshold at 0 there is no panic: only the healthy host.
  for (const u of ups) u.requests.length = 0;
  const noPanic = await legateFor(cluster('ROUND_ROBIN', [
    { port: ups[1].port }, { port: ups[2].port, unhealthy: true },
  ], `
    common_lb_config: { healthy_panic_threshold: { value: 0 } }`));
  await load(noPanic.port('proxy'), 20, 4);
  assert.deepEqual(counts(ups.slice(1, 3)), [20, 0]);
  assert.equal((await noPanic.stats()).get('cluster.up.lb_healthy_panic'), 0);
});

test('random spreads over every healthy host', async () => {
  const ups = [await httpUp(), await httpUp(), await httpUp()];
  const l = await legateFor(cluster('RANDOM', [
    { port: ups[0].port }, { port: ups[1].port }, { port: ups[2].port, unhealthy: true },
  ]), { concurrency: 2 });
  await load(l.port('proxy'), 600, 8);
  const c = counts(ups);
  assert.equal(c[2], 0);
  assert.ok(c[0] > 200 && c[1] > 200, `${c}`);
});

interface LocalityEps {
  zone: string;
  /** LocalityLbEndpoints.load_balancing_weight (unset: none). */
  weight?: number;
  priority?: number;
  endpoints: Endpoint[];
}

/** A cluster with locality_weighted_lb_config, one LocalityLbEndpoints per locality. */
function localityCluster(lbPolicy: string, localities: LocalityEps[], extra = ''): string {
  const locs = localities.map((l) => `
      - locality: { region: r1, zone: ${l.zone} }${l.weight === undefined ? '' : `
        load_balancing_weight: ${l.weight}`}${l.priority === undefined ? '' : `
        priority: ${l.priority}`}
        lb_endpoints:${l.endpoints.map((e) => `
        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${e.port} } } }${e.unhealthy ? `
          health_status: UNHEALTHY` : ''}`).join('')}`).join('');
  return `
static_resources:
  listeners:${hcmListener('proxy', 'ingress', routeAll('up'))}
  clusters:
  - name: up
    connect_timeout: 1s
    lb_policy: ${lbPolicy}
    common_lb_config:
      locality_weighted_lb_config: {}${extra}
    load_assignment:
      cluster_name: up
      endpoints:${locs}
`;
}

/** Each group's share of what `groups`' hosts served. */
function shares(groups: HttpUpstream[][]): number[] {
  const c = groups.map((g) => g.reduce((n, u) => n + u.requests.length, 0));
  const total = c.reduce((a, b) => a + b, 0);
  return c.map((n) => n / total);
}

function assertShares(got: number[], want: number[], tol: number, what: string): void {
  want.forEach((w, i) => assert.ok(Math.abs(got[i] - w) <= tol, `${what}: locality ${i} got ${got[i]} (want ${w}; ${got})`));
}

test('locality weights 1:3: 25% / 75% of 10k requests within 2%, whatever the localities\' host counts', async () => {
  // Three hosts in the light locality, two in the heavy one: the shares follow the localities'
  // weights, not the host counts.
  const a = [await httpUp(), await httpUp(), await httpUp()];
  const b = [await httpUp(), await httpUp()];
  const l = await legateFor(localityCluster('ROUND_ROBIN', [
    { zone: 'a', weight: 1, endpoints: a.map((u) => ({ port: u.port })) },
    { zone: 'b', weight: 3, endpoints: b.map((u) => ({ port: u.port })) },
  ]), { concurrency: 2 });
  await load(l.port('proxy'), 10_000, 32);
  assertShares(shares([a, b]), [0.25, 0.75], 0.02, 'round robin');
  // Within a locality, round robin over its hosts.
  for (const u of b) assert.ok(Math.abs(u.requests.length - 3750) < 200, `${counts(b)}`);
  // The EDS dump shows the localities' weights.
  const dump = await (await request(`${l.admin}/config_dump?include_eds`)).body.json() as any;
  const eds = dump.configs.find((c: any) => c['@type'].endsWith('EndpointsConfigDump'));
  const les = eds.static_endpoint_configs[0].endpoint_config.endpoints;
  assert.deepEqual(les.map((le: any) => [le.locality.zone, le.load_balancing_weight]), [['a', 1], ['b', 3]]);
});

test('locality weights with least request and random (4k requests each, within 3%)', async () => {
  for (const policy of ['LEAST_REQUEST', 'RANDOM']) {
    const a = [await httpUp(), await httpUp()];
    const b = [await httpUp(), await httpUp()];
    const l = await legateFor(localityCluster(policy, [
      { zone: 'a', weight: 1, endpoints: a.map((u) => ({ port: u.port })) },
      { zone: 'b', weight: 3, endpoints: b.map((u) => ({ port: u.port })) },
    ]), { concurrency: 2 });
    await load(l.port('proxy'), 4000, 16);
    assertShares(shares([a, b]), [0.25, 0.75], 0.03, policy);
  }
});

test('a locality whose hosts are all UNHEALTHY (health_status) loses its share to the others, by their weights', async () => {
  const a = [await httpUp(), await httpUp()];
  const b = [await httpUp(), await httpUp()];
  const c = [await httpUp(), await httpUp()];
  const unweighted = [await httpUp()];
  const l = await legateFor(localityCluster('ROUND_ROBIN', [
    { zone: 'a', weight: 1, endpoints: a.map((u) => ({ port: u.port, unhealthy: true })) },
    { zone: 'b', weight: 1, endpoints: b.map((u) => ({ port: u.port })) },
    { zone: 'c', weight: 2, endpoints: c.map((u) => ({ port: u.port })) },
    // A locality without a weight gets nothing (Envoy: no load).
    { zone: 'd', endpoints: unweighted.map((u) => ({ port: u.port })) },
  ]), { concurrency: 2 });
  await load(l.port('proxy'), 3000, 16);
  assert.deepEqual(counts([...a, ...unweighted]), [0, 0, 0]);
  assertShares(shares([b, c]), [1 / 3, 2 / 3], 0.02, 'b and c');
});

/** A host that answers /health with `health.status`, and echoes the rest. */
async function checkedHost(): Promise<HttpUpstream & { health: { status: number } }> {
  const health = { status: 200 };
  const up = await httpUp((req, res, body) => {
    if (req.url === '/health') {
      res.writeHead(health.status);
      res.end();
    } else {
      echo(req, res, body);
    }
  });
  return Object.assign(up, { health });
}

test('a locality whose hosts fail their health checks loses its share at once, and gets it back', async () => {
  const a = [await checkedHost(), await checkedHost()];
  const b = [await checkedHost(), await checkedHost()];
  const c = [await checkedHost(), await checkedHost()];
  const l = await legateFor(localityCluster('ROUND_ROBIN', [
    { zone: 'a', weight: 2, endpoints: a.map((u) => ({ port: u.port })) },
    { zone: 'b', weight: 1, endpoints: b.map((u) => ({ port: u.port })) },
    { zone: 'c', weight: 1, endpoints: c.map((u) => ({ port: u.port })) },
  ], `
    health_checks:
    - timeout: 0.5s
      interval: 0.1s
      no_traffic_interval: 0.1s
      unhealthy_threshold: 1
      healthy_threshold: 1
      http_health_check: { path: /health }`), { concurrency: 2 });
  const all = [...a, ...b, ...c];
  const served = (): number[] => [a, b, c].map((g) => g.reduce((n, u) => n + u.requests.filter((r) => r.url !== '/health').length, 0));
  const round = async (n: number): Promise<number[]> => {
    const before = served();
    await load(l.port('proxy'), n, 8);
    const after = served();
    const d = after.map((x, i) => x - before[i]);
    return d.map((x) => x / n);
  };
  assertShares(await round(2000), [0.5, 0.25, 0.25], 0.03, 'all healthy');
  for (const u of a) u.health.status = 503;
  await until('a ejected', async () => (await healthy(l)) === 4);
  assertShares(await round(2000), [0, 0.5, 0.5], 0.03, 'a failing its checks');
  for (const u of a) u.health.status = 200;
  await until('a back', async () => (await healthy(l)) === 6);
  assertShares(await round(2000), [0.5, 0.25, 0.25], 0.03, 'a back');
  assert.equal(all.length, 6);
});

async function healthy(l: Legate): Promise<number> {
  return (await l.stats()).get('cluster.up.health_check.healthy') ?? -1;
}
