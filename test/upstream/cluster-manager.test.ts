// The thread-local cluster: lookup by name, pools per host per protocol created on first use, a
// removed host's pool drained; and the HTTP/1 pool through the codec-neutral interface against a
// real HTTP server (framing derived from the headers, max_requests held for the stream's life).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type net from 'node:net';
import { Buffer } from 'node:buffer';
import { registerAll } from '../../src/extensions/index.ts';
import { ClusterManager } from '../../src/upstream/cluster-manager.ts';
import { upstreamFactories } from '../../src/extensions/registry.ts';
import { Protocol } from '../../src/upstream/conn-pool.ts';
import { Host } from '../../src/upstream/host.ts';
import { RequestHeaders } from '../../src/http/types.ts';
import { PoolExchange, TestSink, clusterSnap, hostSnap } from './fixtures.ts';

registerAll();

const servers: http.Server[] = [];
after(() => {
  for (const s of servers) s.close();
});

async function httpServer(): Promise<{ port: number; seen: { te?: string; cl?: string; body: string }[] }> {
  const seen: { te?: string; cl?: string; body: string }[] = [];
  const s = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      seen.push({ te: req.headers['transfer-encoding'], cl: req.headers['content-length'], body });
      res.end(`got ${body.length}`);
    });
  });
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return { port: (s.address() as net.AddressInfo).port, seen };
}

test('clusters by name; pools created on first use per host and protocol', () => {
  const sink = new TestSink();
  const cm = new ClusterManager([
    clusterSnap(sink, [hostSnap(sink, '127.0.0.1', 1), hostSnap(sink, '127.0.0.1', 2)], { name: 'a' }),
    clusterSnap(sink, [], { name: 'b' }),
  ], sink, 0, upstreamFactories);
  assert.equal(cm.getThreadLocalCluster('nope'), undefined);
  const a = cm.getThreadLocalCluster('a')!;
  assert.equal(a.info.name, 'a');
  assert.equal(cm.getThreadLocalCluster('b')!.loadBalancer.chooseHost(null), null);
  const [h1, h2] = a.prioritySet.hostSetsPerPriority[0].hosts;
  assert.equal(h1.httpPools[Protocol.Http11], null);
  const p1 = a.httpConnPool(h1, Protocol.Http11)!;
  assert.equal(a.httpConnPool(h1, Protocol.Http11), p1);
  assert.notEqual(a.httpConnPool(h2, Protocol.Http11), p1);
  assert.equal(p1.host, h1);
  assert.equal(a.httpConnPool(h1, Protocol.Http2), null);
  assert.equal(a.tcpConnPool(h1), a.tcpConnPool(h1));
  // A host that leaves the set has its pools drained.
  a.prioritySet.updateHosts(0, [h2]);
  assert.equal((p1 as any).draining, true);
  assert.equal((a.httpConnPool(h2, Protocol.Http11) as any).draining, false);
  assert.equal(a.loadBalancer.chooseHost(null), h2);
  // Back again: a fresh pool, not the draining one.
  a.prioritySet.updateHosts(0, [h1, h2]);
  const p1b = a.httpConnPool(h1, Protocol.Http11)!;
  assert.notEqual(p1b, p1);
  assert.equal((p1b as any).draining, false);
});

test('an unknown cluster type or lb_policy is a clear error', () => {
  const sink = new TestSink();
  assert.throws(() => new ClusterManager([clusterSnap(sink, [], { lbPolicy: 'CLUSTER_PROVIDED' })], sink, 0, upstreamFactories),
    /lb_policy CLUSTER_PROVIDED is not registered/);
  assert.throws(() => new ClusterManager([clusterSnap(sink, [], { type: 'EDS' })], sink, 0, upstreamFactories),
    /cluster type EDS is not registered/);
});


test('HTTP/1 pool: framing from the headers, connection reuse, max_requests held per stream', async () => {
  const srv = await httpServer();
  const sink = new TestSink();
  const snap = clusterSnap(sink, [hostSnap(sink, '127.0.0.1', srv.port)], { maxRequests: 1 });
  const cm = new ClusterManager([snap], sink, 0, upstreamFactories);
  const c = cm.getThreadLocalCluster('c')!;
  const pool = c.httpConnPool(c.loadBalancer.chooseHost(null)!, Protocol.Http11)!;
  const s = snap.stats;
  const rq = (cl: string | null) => new RequestHeaders('POST', '/', 'x', 'http', 'HTTP/1.1',
    cl === null ? [] : ['content-length', cl]);
  // No content-length and a body to come: chunked.
  const e1 = new PoolExchange(rq(null), ['ab', 'cd']);
  assert.notEqual(pool.newStream(e1, e1), null); // queued behind its connection
  // While it waits for its connection the max_requests slot is taken: the next overflows.
  const e2 = new PoolExchange(rq('3'), ['xyz']);
  assert.equal(pool.newStream(e2, e2), null);
  assert.equal(e2.failure, 'overflow');
  assert.equal(sink.v[s.upstream_rq_pending_overflow], 1);
  await e1.done;
  assert.equal(e1.status, 200);
  assert.equal(e1.body, 'got 4');
  assert.deepEqual(srv.seen[0], { te: 'chunked', cl: undefined, body: 'abcd' });
  assert.equal(c.info.resourceManager.requests.count, 0);
  assert.equal(sink.v[s.upstream_rq_active], 0);
  // Content-length passes through; the idle connection is reused.
  await new Promise((r) => setImmediate(r));
  const e3 = new PoolExchange(rq('3'), ['xyz']);
  assert.equal(pool.newStream(e3, e3), null); // served now: an idle connection was there
  await e3.done;
  assert.deepEqual(srv.seen[1], { te: undefined, cl: '3', body: 'xyz' });
  assert.equal(sink.v[s.upstream_cx_total], 1);
  assert.equal(sink.v[s.upstream_rq_total], 2);
  cm.drain();
});

test('update: an unchanged cluster is kept, a changed one replaced, a removed one gone, a new one added', () => {
  const sink = new TestSink();
  const a = clusterSnap(sink, [hostSnap(sink, '127.0.0.1', 1)], { name: 'a' });
  const b = clusterSnap(sink, [hostSnap(sink, '127.0.0.1', 2)], { name: 'b' });
  const cm = new ClusterManager([a, b], sink, 0, upstreamFactories);
  const a0 = cm.getThreadLocalCluster('a')!;
  const b0 = cm.getThreadLocalCluster('b')!;
  const b2 = { ...b, connectTimeoutMs: 2500 };
  const c = clusterSnap(sink, [hostSnap(sink, '127.0.0.1', 3)], { name: 'c' });
  cm.update([a, b2, c]);
  assert.equal(cm.getThreadLocalCluster('a'), a0, 'unchanged: the same cluster, pools and all');
  assert.notEqual(cm.getThreadLocalCluster('b'), b0);
  assert.equal(cm.getThreadLocalCluster('b')!.info.connectTimeoutMs, 2500);
  assert.equal(cm.getThreadLocalCluster('c')!.loadBalancer.chooseHost(null)!.port, 3);
  cm.update([c]);
  assert.equal(cm.getThreadLocalCluster('a'), undefined);
  assert.equal(cm.getThreadLocalCluster('b'), undefined);
  assert.ok(cm.getThreadLocalCluster('c'));
});
