// Route hash_policy end to end. Envoy computes a request's hash key only when the cluster's load
// balancer asks for it (ring hash, Maglev), so a generated cookie exists only then. Legate has no
// hashing load balancer yet, so:
// - in the in-process data plane (the real HTTP/1 codec, connection manager, router and pool over
//   real sockets) the cluster's round robin is made to ask first, as ring hash will: the keys it
//   gets, and the Set-Cookie that reaches the client byte for byte, in Envoy's format;
// - through a real Legate process, a route with every supported policy loads and proxies, and round
//   robin, which never asks, leaves the response alone (no Set-Cookie), as in Envoy; the same
//   config with lb_policy RING_HASH (or MAGLEV) is checked for the Set-Cookie once Legate has it.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startInProcess } from '../helpers/in-process.ts';
import { proxyConfig, staticCluster } from '../helpers/legate.ts';
import { fieldSupport } from '../../src/config/supported.ts';
import { xxHash64 } from '../../src/common/xxhash64.ts';
import type { LoadBalancerContext } from '../../src/upstream/load-balancer.ts';
import { RawClient } from './fixtures/clients.ts';
import { httpUp, legateFor } from './fixtures/tracked.ts';

const ROUTES = `
              - match: { prefix: "/sticky" }
                route:
                  cluster: upstream
                  hash_policy:
                  - cookie:
                      name: lb
                      ttl: 3600s
                      path: /sticky
                      attributes: [{ name: SameSite, value: Lax }, { name: Secure }]
              - match: { prefix: "/ip" }
                route:
                  cluster: upstream
                  hash_policy:
                  - header: { header_name: x-user }
                    terminal: true
                  - query_parameter: { name: shard }
                  - connection_properties: { source_ip: true }
              - match: { prefix: "/" }
                route: { cluster: upstream }`;

const up = await httpUp();

/** One request on its own connection: the response, and the two ends of that connection. */
async function get(port: number, path: string, headers = ''): Promise<{ res: Awaited<ReturnType<RawClient['readResponse']>>; client: string }> {
  const c = await RawClient.connect(port);
  try {
    await c.write(`GET ${path} HTTP/1.1\r\nhost: example.com\r\n${headers}\r\n`);
    const res = await c.readResponse();
    return { res, client: `127.0.0.1:${c.socket.localPort}` };
  } finally {
    c.destroy();
  }
}

/** Envoy's generated value for a connection: the hash of its remote then local address, 16 hex
 *  digits (xxHash64 checked against Envoy's vectors in test/common/xxhash64.test.ts). */
function generated(client: string, proxyPort: number): string {
  return xxHash64(`${client}127.0.0.1:${proxyPort}`).toString(16).padStart(16, '0');
}

test('in-process, with a load balancer that asks for the key', async (t) => {
  const ip = await startInProcess(proxyConfig([up.port], { routes: ROUTES }));
  after(() => ip.close());
  // Round robin that asks for the key first, as ring hash and Maglev do.
  const keys: (bigint | null)[] = [];
  const lb = ip.runtime.ctx.clusterManager.getThreadLocalCluster('upstream')!.loadBalancer;
  const choose = lb.chooseHost.bind(lb);
  lb.chooseHost = (ctx: LoadBalancerContext | null) => {
    keys.push(ctx!.computeHashKey());
    return choose(ctx);
  };

  await t.test('no cookie: one is generated, set on the response in Envoy\'s format, and hashed', async () => {
    keys.length = 0;
    const { res, client } = await get(ip.port, '/sticky/a');
    assert.equal(res.status, 200);
    const value = generated(client, ip.port);
    assert.equal(res.headers['set-cookie'], `lb="${value}"; Max-Age=3600; Path=/sticky; SameSite=Lax; Secure; HttpOnly`);
    assert.deepEqual(keys, [xxHash64(value)]);
  });

  await t.test('the cookie sent back: its value is the key, nothing is set', async () => {
    keys.length = 0;
    const { res } = await get(ip.port, '/sticky/a', 'cookie: other=1; lb="0123456789abcdef"\r\n');
    assert.equal(res.status, 200);
    assert.equal(res.headers['set-cookie'], undefined);
    assert.deepEqual(keys, [xxHash64('0123456789abcdef')]);
  });

  await t.test('source_ip: the stream\'s client address, x-forwarded-for\'s when it gives one', async () => {
    keys.length = 0;
    await get(ip.port, '/ip');
    await get(ip.port, '/ip', 'x-forwarded-for: 192.168.1.1\r\n');
    // XXH64("127.0.0.1") and XXH64("192.168.1.1") (reference xxHash).
    assert.deepEqual(keys, [13874206750357698471n, 4727775843391247014n]);
  });

  await t.test('a terminal header stops the list; without it, the query parameter and the address combine', async () => {
    keys.length = 0;
    await get(ip.port, '/ip?shard=foo', 'x-user: bar\r\n');
    await get(ip.port, '/ip?shard=foo', 'x-forwarded-for: 4.3.2.1\r\n');
    // XXH64("bar"); rotl(XXH64("foo"), 1) ^ XXH64("4.3.2.1") (reference xxHash).
    assert.deepEqual(keys, [5234164152756840025n, 9186086825419979842n]);
  });

  await t.test('a route without hash_policy: null', async () => {
    keys.length = 0;
    await get(ip.port, '/other');
    assert.deepEqual(keys, [null]);
  });
});

test('a real Legate: every supported policy loads; round robin never asks, so nothing is set', async () => {
  const legate = await legateFor(proxyConfig([up.port], { routes: ROUTES }));
  const port = legate.port('proxy');
  for (const path of ['/sticky/a', '/ip?shard=1', '/other']) {
    const { res } = await get(port, path, 'x-user: u\r\n');
    assert.equal(res.status, 200, path);
    assert.equal(res.headers['set-cookie'], undefined, path);
  }
});

const hashing = ['RING_HASH', 'MAGLEV'].find((p) => fieldSupport('envoy.config.cluster.v3.Cluster', 'lb_policy')
  ?.enumValues?.includes(p));

test('a real Legate with a hashing load balancer: the generated cookie as Set-Cookie', {
  skip: hashing === undefined ? 'no RING_HASH or MAGLEV load balancer in Legate yet' : false,
}, async () => {
  const clusters = staticCluster('upstream', [up.port]).replace('lb_policy: ROUND_ROBIN', `lb_policy: ${hashing}`);
  const legate = await legateFor(proxyConfig([up.port], { routes: ROUTES, clusters }));
  const port = legate.port('proxy');
  const { res, client } = await get(port, '/sticky/a');
  assert.equal(res.status, 200);
  assert.equal(res.headers['set-cookie'],
    `lb="${generated(client, port)}"; Max-Age=3600; Path=/sticky; SameSite=Lax; Secure; HttpOnly`);
  const again = await get(port, '/sticky/a', `cookie: lb="${generated(client, port)}"\r\n`);
  assert.equal(again.res.headers['set-cookie'], undefined);
});
