// RING_HASH and MAGLEV clusters through a real Legate and real upstreams. Routes carry no
// hash_policy, so every request has no hash key and, as in Envoy, a random value picks the host:
// both upstreams serve. A bad maglev_lb_config is refused at startup with its path.
import { test } from 'node:test';
import assert from 'node:assert/strict';
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
