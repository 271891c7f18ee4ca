// RING_HASH and MAGLEV clusters through a real Legate and real upstreams. Without a hash_policy a
// request has no hash key and, as in Envoy, a random value picks the host: both upstreams serve.
// With one (header x-key), a key maps to one host on both workers, and a removed host moves few of
// the other keys. A bad maglev_lb_config is refused at startup with its path.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { request } from 'undici';
import { hcmListener, runLegate, tmpFile } from '../helpers/legate.ts';
import { legateFor, httpUp } from './fixtures/tracked.ts';

function cluster(name: string, policy: string, ports: number[], lbConfig: string): string {
  const eps = ports.map((p) => `
        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${p} } } }`).join('');
  return `
  - name: ${name}
    type: STATIC
    connect_timeout: 1s
    lb_policy: ${policy}${lbConfig}
    load_assignment:
      cluster_name: ${name}
      endpoints:
      - lb_endpoints:${eps}`;
}

function config(ports: number[], maglevTableSize = 251): string {
  const routes = `
              - match: { prefix: "/ring" }
                route: { cluster: ring }
              - match: { prefix: "/maglev" }
                route: { cluster: maglev }`;
  return `
static_resources:
  listeners:${hcmListener('proxy', 'ingress', routes)}
  clusters:${cluster('ring', 'RING_HASH', ports, `
    ring_hash_lb_config: { minimum_ring_size: 64, hash_function: XX_HASH }`)}${cluster('maglev', 'MAGLEV', ports, `
    maglev_lb_config: { table_size: ${maglevTableSize} }`)}
`;
}

const upA = await httpUp();
const upB = await httpUp();
const legate = await legateFor(config([upA.port, upB.port]), { concurrency: 2 });
const port = legate.port('proxy');

for (const path of ['/ring', '/maglev']) {
  test(`${path}: requests without a hash key spread over both hosts`, async () => {
    const before = [upA.requests.length, upB.requests.length];
    for (let i = 0; i < 40; i++) {
      const r = await request(`http://127.0.0.1:${port}${path}/${i}`, { reset: true });
      assert.equal(r.statusCode, 200);
      assert.equal(await r.body.text(), `GET ${path}/${i}`);
    }
    const a = upA.requests.length - before[0];
    const b = upB.requests.length - before[1];
    assert.equal(a + b, 40);
    // Each host holds about half of the ring / table; 40 random picks all on one: p < 2^-30.
    assert.ok(a > 0 && b > 0, `${a} / ${b}`);
  });
}

test('upstream_rq stats count per cluster', async () => {
  const stats = await legate.stats();
  assert.ok((stats.get('cluster.ring.upstream_rq_total') ?? 0) >= 40);
  assert.ok((stats.get('cluster.maglev.upstream_rq_total') ?? 0) >= 40);
});

test('a table size that is not prime is refused at startup, with its path', async () => {
  const r = await runLegate(['-c', tmpFile('c.yaml', config([1, 2], 65536)), '--mode', 'validate']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /static_resources\.clusters\[1\]\.maglev_lb_config\.table_size: The table size of maglev must be prime number, got 65536/);
});

/** Ten upstreams; RING_HASH and MAGLEV clusters over them, routes hashing on header x-key. */
async function hashedSetup(): Promise<{ ups: Awaited<ReturnType<typeof httpUp>>[]; yaml: (ports: number[]) => string }> {
  const ups = await Promise.all(Array.from({ length: 10 }, () => httpUp()));
  const routes = (c: string): string => `
              - match: { prefix: "/${c}" }
                route:
                  cluster: ${c}
                  hash_policy:
                  - header: { header_name: x-key }`;
  const yaml = (ports: number[]): string => `
static_resources:
  listeners:${hcmListener('proxy', 'ingress', routes('ring') + routes('maglev'))}
  clusters:${cluster('ring', 'RING_HASH', ports, '')}${cluster('maglev', 'MAGLEV', ports, '')}
`;
  return { ups, yaml };
}

/** Which upstream (index) served each key, on fresh connections (so both workers serve). */
async function hostsOf(port: number, path: string, ups: { requests: { url: string }[] }[], keys: string[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const k of keys) {
    const before = ups.map((u) => u.requests.length);
    const r = await request(`http://127.0.0.1:${port}${path}/${k}`, { reset: true, headers: { 'x-key': k } });
    assert.equal(r.statusCode, 200);
    await r.body.dump();
    const i = ups.findIndex((u, j) => u.requests.length > before[j]);
    assert.ok(i >= 0 && ups[i].requests.at(-1)?.url === `${path}/${k}`, `no upstream saw ${path}/${k}`);
    out.set(k, i);
  }
  return out;
}

test('a hash_policy key picks the same host on both workers, and most keys stay when a host goes', async () => {
  const { ups, yaml } = await hashedSetup();
  const l = await legateFor(yaml(ups.map((u) => u.port)), { concurrency: 2, env: { LEGATE_TEST_HOOKS: '1' } });
  const port = l.port('proxy');
  const keys = Array.from({ length: 300 }, (_, i) => `user-${i}`);
  for (const path of ['/ring', '/maglev']) {
    const first = await hostsOf(port, path, ups, keys);
    const again = await hostsOf(port, path, ups, keys);
    assert.deepEqual([...again], [...first], `${path}: a key moved between requests (workers disagree)`);
    assert.ok(new Set(first.values()).size >= 8, `${path}: keys used only ${new Set(first.values()).size} hosts`);
  }
  const before = { ring: await hostsOf(port, '/ring', ups, keys), maglev: await hostsOf(port, '/maglev', ups, keys) };
  // Host 3 goes (a reload with nine).
  fs.writeFileSync(l.configPath, yaml(ups.filter((_, i) => i !== 3).map((u) => u.port)));
  const r = await fetch(`${l.admin}/reload`, { method: 'POST', signal: AbortSignal.timeout(15_000) });
  assert.equal(r.status, 200, await r.text());
  for (const [path, was] of [['/ring', before.ring], ['/maglev', before.maglev]] as const) {
    const now = await hostsOf(port, path, ups, keys);
    const others = keys.filter((k) => was.get(k) !== 3);
    const stayed = others.filter((k) => now.get(k) === was.get(k)).length;
    // Envoy's ring gives the nine a ring resized by the lightest weight (114 entries each instead of
    // 103): the new entries take keys from the other survivors, ~94% stay over 10k keys
    // (test/extensions/load-balancers/ring-hash.test.ts), 88-95% over these 300 with random ports.
    // Maglev keeps ~99%.
    const want = path === '/ring' ? 0.85 : 0.95;
    assert.ok(stayed / others.length >= want, `${path}: ${stayed} of ${others.length} keys stayed`);
    for (const k of keys) assert.notEqual(now.get(k), 3, `${path}: ${k} still on the removed host`);
  }
});
