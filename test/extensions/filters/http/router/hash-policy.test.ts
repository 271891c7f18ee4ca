// The router as a LoadBalancerContext: computeHashKey applies the route's hash_policy when the load
// balancer asks (once per request), with the stream's downstream address for source_ip, and a
// generated hash cookie goes back on the upstream's response head as Set-Cookie (Envoy's
// router_test.cc AddCookie, AddCookieNoDuplicate, AddMultipleCookies: `name="value"; Max-Age=N;
// HttpOnly`, after the upstream's own Set-Cookie headers).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RouterFilter } from '../../../../../src/extensions/filters/http/router/filter.ts';
import { HashMethodKind, type HashMethodSnap, type HashPolicySnap } from '../../../../../src/http/hash-policy.ts';
import { RequestHeaders, ResponseHeaders, newStreamInfo } from '../../../../../src/http/types.ts';
import type { StreamDecoderFilterCallbacks } from '../../../../../src/http/filter.ts';
import { compileRoute, type CompiledRoute } from '../../../../../src/router/route-table.ts';
import { NULL_LOADER } from '../../../../../src/runtime/snapshot.ts';
import { NO_ROUTE_ACTION_EXTRA } from '../../../../../src/router/route-action.ts';
import type { ClusterManager } from '../../../../../src/upstream/cluster-manager.ts';
import type { LoadBalancerContext } from '../../../../../src/upstream/load-balancer.ts';

function route(hashPolicy: HashPolicySnap | null): CompiledRoute {
  return compileRoute({
    name: 'r', match: { kind: 'prefix', value: '/', caseSensitive: true }, headers: [],
    action: {
      kind: 'cluster', cluster: 'c', timeoutMs: 0, idleTimeoutMs: 0, prefixRewrite: null, hostRewrite: null,
      upgrades: null, hashPolicy, retryPolicy: null, includeAttemptCount: false, ...NO_ROUTE_ACTION_EXTRA,
    },
    metadata: null, perFilterConfig: null,
  });
}

/** A router over one cluster whose load balancer asks for the hash key `asks` times, with a pool
 *  that takes the request and never answers; what reaches the client is recorded. */
function setup(hashPolicy: HashPolicySnap | null, opts: { asks?: number; remote?: string; connection?: boolean } = {}) {
  const keys: (bigint | null)[] = [];
  const encoded: ResponseHeaders[] = [];
  const host = { hostString: '127.0.0.1:8080' };
  const pool = { host, newStream: () => ({ cancel() {} }) };
  const cluster = {
    info: { name: 'c', stats: { v: new Float64Array(8) }, s: {} },
    loadBalancer: {
      chooseHost(ctx: LoadBalancerContext | null) {
        for (let i = 0; i < (opts.asks ?? 1); i++) keys.push(ctx!.computeHashKey());
        return host;
      },
    },
    httpConnPool: () => pool,
  };
  const cm = { getThreadLocalCluster: (name: string) => (name === 'c' ? cluster : undefined) } as unknown as ClusterManager;
  const conn = { remoteAddress: '127.0.0.1:40000', localAddress: '127.0.0.1:10000' };
  const cb = {
    route: route(hashPolicy),
    streamInfo: newStreamInfo(0, opts.remote ?? '10.1.2.3:5555', opts.remote ?? '10.1.2.3:5555', null),
    hcmStats: { rq_total: 0 },
    stats: { v: new Float64Array(4) },
    connection: () => (opts.connection === false ? null : conn),
    setDownstreamWatermarkCallbacks() {},
    encodeHeaders(h: ResponseHeaders) { encoded.push(h); },
    sendLocalReply(status: number) { throw new Error(`local reply ${status}`); },
  } as unknown as StreamDecoderFilterCallbacks;
  const router = new RouterFilter(cm, NULL_LOADER);
  router.setDecoderFilterCallbacks(cb);
  return { router, keys, encoded };
}

function request(headers: string[] = []): RequestHeaders {
  return new RequestHeaders('GET', '/', 'example.com', 'http', 'HTTP/1.1', headers);
}

function cookieMethod(name: string, attributes: string): HashMethodSnap {
  return { kind: HashMethodKind.Cookie, terminal: false, name, generate: true, setCookieAttributes: attributes };
}

test('no hash_policy: null, and nothing added to the response', () => {
  const { router, keys, encoded } = setup(null);
  router.decodeHeaders(request(), true);
  assert.deepEqual(keys, [null]);
  router.onUpstreamHeaders(new ResponseHeaders(200, []), false);
  assert.equal(encoded[0].get('set-cookie'), undefined);
});

test('source_ip hashes the stream\'s downstream remote address (as x-forwarded-for left it)', () => {
  const p: HashPolicySnap = [{ kind: HashMethodKind.SourceIp, terminal: false, name: '', generate: false, setCookieAttributes: '' }];
  // XXH64("192.168.1.1") (reference xxHash).
  const { router, keys } = setup(p, { remote: '192.168.1.1:0' });
  router.decodeHeaders(request(), true);
  assert.deepEqual(keys, [4727775843391247014n]);
});

function setCookies(h: ResponseHeaders): string[] {
  const l = h.headers;
  const out: string[] = [];
  for (let i = 0; i < l.length; i += 2) if (l[i] === 'set-cookie') out.push(l[i + 1]);
  return out;
}

// The generated value: XXH64 of the connection's remote then local address, 16 hex digits (the
// reference xxHash of "127.0.0.1:40000127.0.0.1:10000" is 0x97464cb52965fff1).
const GENERATED = '97464cb52965fff1';

test('AddCookie: the generated cookie on the response; the key is computed once', () => {
  const { router, keys, encoded } = setup([cookieMethod('foo', '; Max-Age=1337; HttpOnly')], { asks: 2 });
  router.decodeHeaders(request(), true);
  assert.equal(keys.length, 2);
  assert.notEqual(keys[0], null);
  assert.equal(keys[0], keys[1]);
  router.onUpstreamHeaders(new ResponseHeaders(200, []), false);
  // Asked twice, generated once.
  assert.deepEqual(setCookies(encoded[0]), [`foo="${GENERATED}"; Max-Age=1337; HttpOnly`]);
});

test('AddCookieNoDuplicate: the upstream\'s own Set-Cookie stays first', () => {
  const { router, encoded } = setup([cookieMethod('foo', '; Max-Age=1337; HttpOnly')]);
  router.decodeHeaders(request(), true);
  router.onUpstreamHeaders(new ResponseHeaders(200, ['set-cookie', 'foo=baz']), false);
  assert.equal(encoded[0].get('set-cookie'), 'foo=baz');
  assert.deepEqual(setCookies(encoded[0]), ['foo=baz', `foo="${GENERATED}"; Max-Age=1337; HttpOnly`]);
});

test('a request that has the cookie gets no Set-Cookie', () => {
  const { router, keys, encoded } = setup([cookieMethod('foo', '; HttpOnly')]);
  router.decodeHeaders(request(['cookie', 'foo=bar']), true);
  assert.deepEqual(keys, [5234164152756840025n]); // XXH64("bar"), Envoy's hash_test.cc
  router.onUpstreamHeaders(new ResponseHeaders(200, []), false);
  assert.equal(encoded[0].get('set-cookie'), undefined);
});

test('AddMultipleCookies: one Set-Cookie per generated cookie', () => {
  const { router, encoded } = setup([
    cookieMethod('choco', '; Max-Age=15; HttpOnly'), cookieMethod('foo', '; Max-Age=1337; Path=/path; HttpOnly'),
  ]);
  router.decodeHeaders(request(), true);
  router.onUpstreamHeaders(new ResponseHeaders(200, []), false);
  assert.deepEqual(setCookies(encoded[0]), [
    `choco="${GENERATED}"; Max-Age=15; HttpOnly`, `foo="${GENERATED}"; Max-Age=1337; Path=/path; HttpOnly`,
  ]);
});

test('without a downstream connection no cookie is generated (no hash from that method)', () => {
  const { router, keys } = setup([cookieMethod('foo', '; HttpOnly')], { connection: false });
  router.decodeHeaders(request(), true);
  assert.deepEqual(keys, [null]);
});
