// Live config updates: the config file is rewritten and POST /reload (or SIGHUP) applies it on
// every worker. A changed route takes effect on existing keep-alive connections and new ones, a
// cluster swapped under a route by name takes the traffic, listeners come and go, a bad config is
// refused whole (the running one keeps serving), and wrk sees no failed request while routes
// change under load.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { execFile } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { hcmListener, proxyConfig, routeAll, staticCluster, startLegate, type Legate } from '../helpers/legate.ts';
import { httpUpstream, type HttpUpstream } from './fixtures/upstreams.ts';
import { RawClient, rawRequest } from './fixtures/clients.ts';

const cleanup: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const f of cleanup.reverse()) await f();
});

async function upstream(tag: string): Promise<HttpUpstream> {
  const up = await httpUpstream((req, res) => {
    res.setHeader('content-type', 'text/plain');
    res.end(`${tag} ${req.url}`);
  });
  cleanup.push(() => up.close());
  return up;
}

async function start(yaml: string, concurrency = 2): Promise<Legate> {
  const l = await startLegate(yaml, { concurrency });
  cleanup.push(() => l.stop());
  return l;
}

async function reload(l: Legate): Promise<{ status: number; body: string }> {
  const r = await fetch(`${l.admin}/reload`, { method: 'POST', signal: AbortSignal.timeout(15_000) });
  return { status: r.status, body: await r.text() };
}

/** Two clusters; the route sends `/` to `target`. */
function twoClusters(a: number, b: number, target: string, hcmExtra = ''): string {
  return proxyConfig([], {
    routes: routeAll(target),
    clusters: staticCluster('blue', [a]) + staticCluster('green', [b]),
    hcmExtra,
  });
}

test('a route change reaches keep-alive and new connections on every worker; stats count the reload', async () => {
  const blue = await upstream('blue');
  const green = await upstream('green');
  const l = await start(twoClusters(blue.port, green.port, 'blue'));
  const port = l.port('proxy');
  const kept = await RawClient.connect(port);
  cleanup.push(async () => kept.destroy());
  await kept.write('GET /k HTTP/1.1\r\nHost: h\r\n\r\n');
  assert.equal((await kept.readResponse()).body.toString(), 'blue /k');

  fs.writeFileSync(l.configPath, twoClusters(blue.port, green.port, 'green'));
  const r = await reload(l);
  assert.equal(r.status, 200, r.body);
  assert.equal(r.body, 'OK: config version 2\n');

  // New connections (spread over both workers by the kernel) see the new route at once.
  for (let i = 0; i < 20; i++) {
    const got = await rawRequest(port, `GET /n${i} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n`);
    assert.equal(got.body.toString(), `green /n${i}`);
  }
  // The kept connection's next response still comes (from the config it was accepted on) and
  // says connection: close; its client reconnects onto the new one.
  await kept.write('GET /k2 HTTP/1.1\r\nHost: h\r\n\r\n');
  const k2 = await kept.readResponse();
  assert.equal(k2.status, 200);
  assert.equal(k2.headers.connection, 'close');
  const stats = await l.stats();
  assert.equal(stats.get('server.legate.reload_success'), 1);
  assert.equal(stats.get('listener_manager.listener_modified'), 1);
  assert.equal(stats.get('cluster_manager.cluster_modified') ?? 0, 0);
});

test('a bad config is refused with its field path; the running config keeps serving', async () => {
  const blue = await upstream('blue');
  const green = await upstream('green');
  const l = await start(twoClusters(blue.port, green.port, 'blue'));
  fs.writeFileSync(l.configPath, twoClusters(blue.port, green.port, 'green').replace('lb_policy: ROUND_ROBIN', 'lb_policy: ROUNDROBIN'));
  const r = await reload(l);
  assert.equal(r.status, 400);
  assert.match(r.body, /static_resources\.clusters\[0\]\.lb_policy: unknown value "ROUNDROBIN"/);
  // A listener whose address would change is refused too.
  fs.writeFileSync(l.configPath, twoClusters(blue.port, green.port, 'green').replace('port_value: 0 }', 'port_value: 1 }'));
  const moved = await reload(l);
  assert.equal(moved.status, 400);
  assert.match(moved.body, /listeners\[0\]: listener 'proxy': its address and how it is bound cannot change/);
  const got = await rawRequest(l.port('proxy'), 'GET /still HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n');
  assert.equal(got.body.toString(), 'blue /still');
  assert.equal((await l.stats()).get('server.legate.reload_rejected'), 2);
});

test('clusters and listeners are added and removed by name; SIGHUP reloads too', async () => {
  const blue = await upstream('blue');
  const green = await upstream('green');
  const one = proxyConfig([], { clusters: staticCluster('upstream', [blue.port]) });
  const l = await start(one);
  // A second listener and a new cluster it routes to.
  const extra = hcmListener('second', 'second', routeAll('added'));
  const two = one.replace('  clusters:', `${extra}\n  clusters:`) + staticCluster('added', [green.port]);
  fs.writeFileSync(l.configPath, two);
  process.kill(l.proc.pid!, 'SIGHUP');
  let stats = await waitFor(l, (s) => s.get('server.legate.reload_success') === 1);
  assert.equal(stats.get('listener_manager.listener_added'), 1);
  assert.equal(stats.get('cluster_manager.cluster_added'), 1);
  await l.refreshPorts();
  const got = await rawRequest(l.port('second'), 'GET /two HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n');
  assert.equal(got.body.toString(), 'green /two');

  // Back to one listener: the second stops accepting, its cluster goes.
  const secondPort = l.port('second');
  fs.writeFileSync(l.configPath, one);
  const r = await reload(l);
  assert.equal(r.status, 200, r.body);
  stats = await l.stats();
  assert.equal(stats.get('listener_manager.listener_removed'), 1);
  assert.equal(stats.get('cluster_manager.cluster_removed'), 1);
  await assert.rejects(rawRequest(secondPort, 'GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n', { timeoutMs: 2000 }));
  const still = await rawRequest(l.port('proxy'), 'GET /one HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n');
  assert.equal(still.body.toString(), 'blue /one');
});

async function waitFor(l: Legate, ok: (s: Map<string, number>) => boolean, ms = 10_000): Promise<Map<string, number>> {
  const deadline = Date.now() + ms;
  for (;;) {
    const s = await l.stats();
    if (ok(s)) return s;
    if (Date.now() > deadline) throw new Error('stats never got there');
    await sleep(50);
  }
}

test('routes changed under wrk load: every worker switches within 1 s, no request fails', async () => {
  const blue = await upstream('blue');
  const green = await upstream('green');
  const l = await start(twoClusters(blue.port, green.port, 'blue'));
  const port = l.port('proxy');
  const wrk = new Promise<string>((resolve, reject) => {
    execFile('wrk', ['-t', '1', '-c', '16', '-d', '4s', `http://127.0.0.1:${port}/load`],
      { timeout: 20_000 }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
  });
  await sleep(1000);
  const greenBefore = green.requests.length;
  fs.writeFileSync(l.configPath, twoClusters(blue.port, green.port, 'green'));
  const t0 = Date.now();
  assert.equal((await reload(l)).status, 200);
  // Within 1 s the traffic has moved: the blue upstream stops getting requests.
  await sleep(1000 - (Date.now() - t0));
  const blueAt1s = blue.requests.length;
  await sleep(500);
  assert.equal(blue.requests.length, blueAt1s, 'blue still got requests more than 1 s after the reload');
  assert.ok(green.requests.length > greenBefore, 'green got no request');
  const out = await wrk;
  assert.doesNotMatch(out, /Socket errors/, out);
  assert.doesNotMatch(out, /Non-2xx or 3xx responses/, out);
  assert.match(out, /requests in/, out);
});

test('a reload that grows the stats blocks: the new listener and clusters count in every worker', async () => {
  const blue = await upstream('blue');
  const green = await upstream('green');
  const one = proxyConfig([], { clusters: staticCluster('upstream', [blue.port]) });
  const l = await start(one);
  // 60 clusters (about 40 stats each, 3 histograms each) outgrow the first stats blocks.
  let clusters = '';
  for (let i = 0; i < 60; i++) clusters += staticCluster(`grown${i}`, [green.port]);
  const listener = hcmListener('grown', 'grown', routeAll('grown59'));
  fs.writeFileSync(l.configPath, one.replace('  clusters:', `${listener}\n  clusters:`) + clusters);
  const r = await reload(l);
  assert.equal(r.status, 200, r.body);
  await l.refreshPorts();
  const n = 20;
  for (let i = 0; i < n; i++) {
    const got = await rawRequest(l.port('grown'), `GET /g${i} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n`);
    assert.equal(got.body.toString(), `green /g${i}`);
  }
  const stats = await waitFor(l, (s) => s.get('http.grown.downstream_rq_completed') === n);
  assert.equal(stats.get('http.grown.downstream_rq_total'), n);
  assert.equal(stats.get('cluster.grown59.upstream_rq_total'), n);
  assert.equal(stats.get('cluster.grown59.membership_total'), 1);
});

test('drain_timeout: a keep-alive connection idle at a reload closes after the grace, not at once', async () => {
  const blue = await upstream('blue');
  const green = await upstream('green');
  const grace = '\n          drain_timeout: 0.6s';
  const l = await start(twoClusters(blue.port, green.port, 'blue', grace), 1);
  const idle = await RawClient.connect(l.port('proxy'));
  cleanup.push(async () => idle.destroy());
  await idle.write('GET /i HTTP/1.1\r\nHost: h\r\n\r\n');
  assert.equal((await idle.readResponse()).body.toString(), 'blue /i');
  const had = idle.buf.length;
  fs.writeFileSync(l.configPath, twoClusters(blue.port, green.port, 'green', grace));
  const t0 = Date.now();
  assert.equal((await reload(l)).status, 200);
  // Still open well inside the grace (a request racing with the reload would still be answered)...
  await sleep(250);
  assert.equal(idle.closed, false, 'closed before drain_timeout');
  // ...and closed by the end of it, without a byte more.
  for (let i = 0; i < 60 && !idle.closed; i++) await sleep(50);
  assert.equal(idle.closed, true, 'not closed after drain_timeout');
  const took = Date.now() - t0;
  assert.ok(took >= 550 && took < 2500, `closed ${took} ms after the reload`);
  assert.equal(idle.buf.length, had, 'bytes arrived after the reload');
});
