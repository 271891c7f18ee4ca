// Active health checks through real Legate processes (two workers; one checker on the main thread):
// HTTP, TCP and gRPC checkers take a host out and put it back within their thresholds, against real
// servers (node:http, a TCP responder, an @grpc/grpc-js server with grpc.health.v1.Health); a host
// that fails its first check gets no traffic from the start; stats and the event log. An endpoint's
// health_check_config.hostname is its checks' Host (and :authority); HTTP checks over HTTP/2 (h2c,
// node:http2); an upstream answering x-envoy-immediate-health-check-fail leaves at once
// (passive_failure) and comes back with its next successful check.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import http2 from 'node:http2';
import { Buffer } from 'node:buffer';
import * as grpc from '@grpc/grpc-js';
import { request } from 'undici';
import { hcmListener, routeAll, tmpFile, type Legate } from '../helpers/legate.ts';
import { until } from './fixtures/clients.ts';
import { legateFor, httpUp, track } from './fixtures/tracked.ts';
import { echo, listen, type HttpUpstream } from './fixtures/upstreams.ts';

interface Ep {
  port: number;
  hcPort?: number;
  /** health_check_config.hostname. */
  hostname?: string;
}

function config(eps: Ep[], healthCheck: string, timing = `
    - timeout: 0.5s
      interval: 0.1s
      no_traffic_interval: 0.1s
      unhealthy_threshold: 2
      healthy_threshold: 2`): string {
  const hcc = (e: Ep): string => {
    const f = [e.hcPort === undefined ? '' : `port_value: ${e.hcPort}`, e.hostname === undefined ? '' : `hostname: ${e.hostname}`];
    return f.some((x) => x !== '') ? `
            health_check_config: { ${f.filter((x) => x !== '').join(', ')} }` : '';
  };
  const lbs = eps.map((e) => `
        - endpoint:
            address: { socket_address: { address: 127.0.0.1, port_value: ${e.port} } }${hcc(e)}`).join('');
  return `
static_resources:
  listeners:${hcmListener('proxy', 'ingress', routeAll('up'))}
  clusters:
  - name: up
    connect_timeout: 1s
    health_checks:${timing}${healthCheck}
    load_assignment:
      cluster_name: up
      endpoints:
      - lb_endpoints:${lbs}
`;
}

/** A host that answers /health with `health.status`, and echoes the rest. */
async function checkedHost(): Promise<HttpUpstream & { health: { status: number; degraded: boolean } }> {
  const health = { status: 200, degraded: false };
  const up = await httpUp((req, res, body) => {
    if (req.url === '/health') {
      res.writeHead(health.status, health.degraded ? { 'x-envoy-degraded': '1' } : {});
      res.end();
    } else {
      echo(req, res, body);
    }
  });
  return Object.assign(up, { health });
}

/** Which of `ups` served `n` requests (counts, /health excluded). */
async function spread(port: number, ups: HttpUpstream[], n: number): Promise<number[]> {
  const count = (u: HttpUpstream): number => u.requests.filter((r) => r.url !== '/health').length;
  const before = ups.map(count);
  for (let i = 0; i < n; i++) {
    const r = await request(`http://127.0.0.1:${port}/x${i}`, { reset: true });
    await r.body.dump();
    assert.equal(r.statusCode, 200);
  }
  return ups.map((u, i) => count(u) - before[i]);
}


async function stat(l: Legate, name: string): Promise<number> {
  return (await l.stats()).get(name) ?? -1;
}

test('HTTP: a failing host leaves at once, comes back after healthy_threshold; network failures need unhealthy_threshold', async () => {
  const a = await checkedHost();
  const b = await checkedHost();
  const log = tmpFile('hc-events.log', '');
  const l = await legateFor(config([{ port: a.port }, { port: b.port }], `
      event_log_path: ${log}
      http_health_check: { path: /health, host: hc.test }`), { concurrency: 2 });
  const port = l.port('proxy');
  // Warmed: both checked before the first request.
  assert.deepEqual(await spread(port, [a, b], 20), [10, 10]);
  assert.equal(await stat(l, 'cluster.up.health_check.healthy'), 2);
  const seen = a.requests.find((r) => r.url === '/health')!;
  assert.equal(seen.headers.host, 'hc.test');
  assert.equal(seen.headers['user-agent'], 'Envoy/HC');
  // A 503 is an active failure: b is ejected at its next check.
  b.health.status = 503;
  await until('b ejected', async () => (await stat(l, 'cluster.up.health_check.healthy')) === 1);
  assert.deepEqual(await spread(port, [a, b], 10), [10, 0]);
  assert.ok(await stat(l, 'cluster.up.health_check.failure') >= 1);
  // Back: two successes in a row.
  b.health.status = 200;
  await until('b back', async () => (await stat(l, 'cluster.up.health_check.healthy')) === 2);
  assert.deepEqual(await spread(port, [a, b], 10), [5, 5]);
  // Degraded: still served, counted.
  b.health.degraded = true;
  await until('b degraded', async () => (await stat(l, 'cluster.up.health_check.degraded')) === 1);
  b.health.degraded = false;
  // a stops listening: network failures, ejected after two of them.
  await a.close();
  await until('a ejected', async () => (await stat(l, 'cluster.up.health_check.healthy')) === 1);
  assert.ok(await stat(l, 'cluster.up.health_check.network_failure') >= 2);
  assert.deepEqual(await spread(port, [b], 6), [6]);
  const events = fs.readFileSync(log, 'utf8').trim().split('\n').map((x) => JSON.parse(x));
  const kinds = events.map((e) => Object.keys(e).find((k) => k.endsWith('_event') || k.endsWith('_host')));
  assert.ok(kinds.includes('eject_unhealthy_event') && kinds.includes('add_healthy_event'), kinds.join(' '));
  const eject = events.find((e) => e.eject_unhealthy_event?.failure_type === 'ACTIVE');
  assert.equal(eject.health_checker_type, 'HTTP');
  assert.equal(eject.cluster_name, 'up');
  assert.equal(eject.host.socket_address.port_value, b.port);
  assert.ok(events.some((e) => e.eject_unhealthy_event?.failure_type === 'NETWORK'));
});

test('a host that fails its first check gets no traffic from the first request on', async () => {
  const a = await checkedHost();
  const b = await checkedHost();
  b.health.status = 500;
  const l = await legateFor(config([{ port: a.port }, { port: b.port }], `
      http_health_check: { path: /health, expected_statuses: [{ start: 200, end: 300 }] }`), { concurrency: 2 });
  assert.deepEqual(await spread(l.port('proxy'), [a, b], 10), [10, 0]);
  const clusters = await (await request(`${l.admin}/clusters`)).body.text();
  assert.match(clusters, new RegExp(`up::127\\.0\\.0\\.1:${b.port}::health_flags::/failed_active_hc`));
  assert.match(clusters, new RegExp(`up::127\\.0\\.0\\.1:${a.port}::health_flags::healthy`));
});

/** A TCP responder answering PONG (in pieces, among other bytes) to PING while `answering`. */
async function responder(): Promise<{ port: number; state: { answering: boolean } }> {
  const state = { answering: true };
  const server = net.createServer((s) => {
    s.on('data', (d) => { if (state.answering && d.includes('PING')) s.write('xxPOyyNGzz'); });
    s.on('error', () => {});
  });
  const port = await listen(server);
  track(() => new Promise<void>((r) => server.close(() => r())));
  return { port, state };
}

test('TCP: send and receive payloads on the health_check_config port', async () => {
  const a = await checkedHost();
  const b = await checkedHost();
  const ra = await responder();
  const rb = await responder();
  const hex = (t: string): string => Buffer.from(t).toString('hex');
  const l = await legateFor(config([{ port: a.port, hcPort: ra.port }, { port: b.port, hcPort: rb.port }], `
      tcp_health_check:
        send: { text: "${hex('PING')}" }
        receive: [{ text: "${hex('PO')}" }, { text: "${hex('NG')}" }]`), { concurrency: 2 });
  const port = l.port('proxy');
  assert.deepEqual(await spread(port, [a, b], 10), [5, 5]);
  rb.state.answering = false;
  await until('b ejected (timeouts)', async () => (await stat(l, 'cluster.up.health_check.healthy')) === 1);
  assert.deepEqual(await spread(port, [a, b], 6), [6, 0]);
  assert.ok(await stat(l, 'cluster.up.health_check.network_failure') >= 2);
  rb.state.answering = true;
  await until('b back', async () => (await stat(l, 'cluster.up.health_check.healthy')) === 2);
  assert.deepEqual(await spread(port, [a, b], 6), [3, 3]);
});

/** A grpc-js server implementing grpc.health.v1.Health/Check with `state.status`. */
async function grpcHealth(): Promise<{ port: number; state: { status: number }; services: string[]; authorities: string[] }> {
  const state = { status: 1 };
  const services: string[] = [];
  const authorities: string[] = [];
  const server = new grpc.Server();
  server.addService({
    Check: {
      path: '/grpc.health.v1.Health/Check', requestStream: false, responseStream: false,
      requestSerialize: (x: Buffer) => x, responseDeserialize: (x: Buffer) => x,
      requestDeserialize: (b: Buffer): string => (b.length > 2 ? b.subarray(2, 2 + b[1]).toString() : ''),
      responseSerialize: (v: number): Buffer => (v === 0 ? Buffer.alloc(0) : Buffer.from([0x08, v])),
    },
  }, {
    Check: (call: grpc.ServerUnaryCall<string, number>, cb: grpc.sendUnaryData<number>) => {
      services.push(call.request);
      authorities.push(call.getHost());
      cb(null, state.status);
    },
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0',
    grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  track(() => new Promise<void>((r) => server.tryShutdown(() => r())));
  return { port, state, services, authorities };
}

test('gRPC: grpc.health.v1 SERVING / NOT_SERVING from a grpc-js server', async () => {
  const a = await checkedHost();
  const b = await checkedHost();
  const ga = await grpcHealth();
  const gb = await grpcHealth();
  const l = await legateFor(config([{ port: a.port, hcPort: ga.port }, { port: b.port, hcPort: gb.port, hostname: 'b-hc.test' }], `
      grpc_health_check: { service_name: legate.test.Echo }`), { concurrency: 2 });
  const port = l.port('proxy');
  assert.deepEqual(await spread(port, [a, b], 10), [5, 5]);
  assert.equal(gb.services[0], 'legate.test.Echo');
  // :authority: the cluster's name, or the endpoint's health_check_config.hostname.
  assert.equal(ga.authorities[0], 'up');
  assert.equal(gb.authorities[0], 'b-hc.test');
  gb.state.status = 2; // NOT_SERVING: an active failure
  await until('b ejected', async () => (await stat(l, 'cluster.up.health_check.healthy')) === 1);
  assert.deepEqual(await spread(port, [a, b], 6), [6, 0]);
  gb.state.status = 1;
  await until('b back', async () => (await stat(l, 'cluster.up.health_check.healthy')) === 2);
  assert.deepEqual(await spread(port, [a, b], 6), [3, 3]);
});

test('an endpoint\'s health_check_config.hostname is the Host of its checks, before http_health_check.host', async () => {
  const a = await checkedHost();
  const b = await checkedHost();
  const l = await legateFor(config([{ port: a.port }, { port: b.port, hostname: 'b-hc.test' }], `
      http_health_check: { path: /health, host: cluster-hc.test }`), { concurrency: 1 });
  await until('both checked', async () => (await stat(l, 'cluster.up.health_check.healthy')) === 2);
  const hosts = (u: HttpUpstream): Set<unknown> => new Set(u.requests.filter((r) => r.url === '/health').map((r) => r.headers.host));
  assert.deepEqual([...hosts(a)], ['cluster-hc.test']);
  assert.deepEqual([...hosts(b)], ['b-hc.test']);
  // Proxied requests keep the client's Host.
  const r = await request(`http://127.0.0.1:${l.port('proxy')}/x`, { headers: { host: 'client.test' }, reset: true });
  await r.body.dump();
  assert.ok([...a.requests, ...b.requests].some((q) => q.url === '/x' && q.headers.host === 'client.test'));
});

/** An h2c (prior knowledge) server answering every request with `state.status`; what it saw. */
async function h2cHealth(): Promise<{
  port: number; state: { status: number }; seen: http2.IncomingHttpHeaders[]; sessions: () => number;
}> {
  const state = { status: 200 };
  const seen: http2.IncomingHttpHeaders[] = [];
  let sessions = 0;
  const server = http2.createServer();
  server.on('stream', (stream, headers) => {
    seen.push(headers);
    (stream as http2.ServerHttp2Stream).respond({ ':status': state.status });
    stream.end();
  });
  server.on('session', (sess) => {
    sessions++;
    sess.on('error', () => {});
  });
  const port = await listen(server as unknown as net.Server);
  track(() => new Promise<void>((r) => server.close(() => r())));
  return { port, state, seen, sessions: () => sessions };
}

test('HTTP over HTTP/2 (codec_client_type HTTP2): h2c checks take a host out on 503 and back on 200', async () => {
  const a = await checkedHost();
  const b = await checkedHost();
  const ha = await h2cHealth();
  const hb = await h2cHealth();
  const l = await legateFor(config([{ port: a.port, hcPort: ha.port }, { port: b.port, hcPort: hb.port, hostname: 'b-hc.test' }], `
      http_health_check:
        path: /healthz
        host: cluster-hc.test
        codec_client_type: HTTP2
        request_headers_to_add: [{ header: { key: x-hc, value: "1" } }]
        retriable_statuses: [{ start: 429, end: 430 }]`), { concurrency: 2 });
  const port = l.port('proxy');
  assert.deepEqual(await spread(port, [a, b], 10), [5, 5]);
  const h = ha.seen[0];
  assert.equal(h[':method'], 'GET');
  assert.equal(h[':path'], '/healthz');
  assert.equal(h[':authority'], 'cluster-hc.test');
  assert.equal(h['user-agent'], 'Envoy/HC');
  assert.equal(h['x-hc'], '1');
  assert.equal(hb.seen[0][':authority'], 'b-hc.test');
  // One connection kept between checks (reuse_connection).
  await until('several checks', () => ha.seen.length >= 3);
  assert.equal(ha.sessions(), 1);
  hb.state.status = 503;
  await until('b ejected', async () => (await stat(l, 'cluster.up.health_check.healthy')) === 1);
  assert.deepEqual(await spread(port, [a, b], 6), [6, 0]);
  hb.state.status = 200;
  await until('b back', async () => (await stat(l, 'cluster.up.health_check.healthy')) === 2);
  assert.deepEqual(await spread(port, [a, b], 6), [3, 3]);
  // A retriable status counts toward unhealthy_threshold (2) like a network failure.
  const failures = await stat(l, 'cluster.up.health_check.failure');
  hb.state.status = 429;
  await until('a 429 seen', async () => (await stat(l, 'cluster.up.health_check.failure')) > failures);
  await until('b ejected after two', async () => (await stat(l, 'cluster.up.health_check.healthy')) === 1);
  assert.equal(await stat(l, 'cluster.up.health_check.network_failure'), 0);
});

test('x-envoy-immediate-health-check-fail: the host leaves at once (passive_failure) and returns with its next successful check', async () => {
  const flags = { failing: false };
  const a = await checkedHost();
  const b = await httpUp((req, res, body) => {
    if (req.url === '/health') {
      res.writeHead(200);
      res.end();
    } else {
      if (flags.failing) res.setHeader('x-envoy-immediate-health-check-fail', 'true');
      echo(req, res, body);
    }
  });
  const l = await legateFor(config([{ port: a.port }, { port: b.port }], `
      http_health_check: { path: /health }`, `
    - timeout: 0.5s
      interval: 2s
      no_traffic_interval: 2s
      unhealthy_threshold: 2
      healthy_threshold: 1`), { concurrency: 2 });
  const port = l.port('proxy');
  assert.equal(await stat(l, 'cluster.up.health_check.passive_failure'), 0);
  assert.deepEqual(await spread(port, [a, b], 4), [2, 2]);
  // Right after one of b's checks (two seconds before the next), b answers with the header.
  const checksOfB = (): number => b.requests.filter((r) => r.url === '/health').length;
  const n = checksOfB();
  await until('a check of b', () => checksOfB() > n, 4000);
  flags.failing = true;
  let forwarded: string | undefined;
  for (let i = 0; i < 4 && forwarded === undefined; i++) {
    const r = await request(`http://127.0.0.1:${port}/f${i}`, { reset: true });
    await r.body.dump();
    assert.equal(r.statusCode, 200);
    // (Forwarded to the client, as Envoy's router does.)
    forwarded = r.headers['x-envoy-immediate-health-check-fail'] as string | undefined;
  }
  assert.equal(forwarded, 'true');
  await until('passive failure', async () => (await stat(l, 'cluster.up.health_check.passive_failure')) === 1, 2000);
  await until('b out', async () => (await stat(l, 'cluster.up.health_check.healthy')) === 1, 2000);
  assert.equal(await stat(l, 'cluster.up.health_check.failure'), 1);
  const clusters = await (await request(`${l.admin}/clusters`)).body.text();
  assert.match(clusters, new RegExp(`up::127\\.0\\.0\\.1:${b.port}::health_flags::/failed_active_hc/excluded_via_immediate_hc_fail`));
  // Every worker sends the next requests to a.
  assert.deepEqual(await spread(port, [a, b], 6), [6, 0]);
  flags.failing = false;
  // b's next check (within its interval) succeeds: back, both flags gone.
  await until('b back', async () => (await stat(l, 'cluster.up.health_check.healthy')) === 2, 4000);
  assert.deepEqual(await spread(port, [a, b], 6), [3, 3]);
  const after = await (await request(`${l.admin}/clusters`)).body.text();
  assert.match(after, new RegExp(`up::127\\.0\\.0\\.1:${b.port}::health_flags::healthy`));
});

test('x-envoy-immediate-health-check-fail is not acted on for a cluster without active health checks', async () => {
  const a = await httpUp((req, res, body) => {
    res.setHeader('x-envoy-immediate-health-check-fail', 'true');
    echo(req, res, body);
  });
  const b = await httpUp();
  const l = await legateFor(`
static_resources:
  listeners:${hcmListener('proxy', 'ingress', routeAll('up'))}
  clusters:
  - name: up
    connect_timeout: 1s
    load_assignment:
      cluster_name: up
      endpoints:
      - lb_endpoints:
        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${a.port} } } }
        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${b.port} } } }
`, { concurrency: 1 });
  const port = l.port('proxy');
  assert.deepEqual(await spread(port, [a, b], 4), [2, 2]);
  await new Promise((r) => setTimeout(r, 250));
  assert.deepEqual(await spread(port, [a, b], 4), [2, 2]);
  assert.equal(await stat(l, 'cluster.up.health_check.passive_failure'), -1);
});
