// STRICT_DNS and LOGICAL_DNS clusters against a DNS server the test runs (test/helpers/dns-server.ts)
// whose answers change while Legate runs: upstreams on 127.0.0.2-4 (one port, several loopback
// addresses stand in for hosts), requests through real Legate processes (two workers).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { request } from 'undici';
import { setTimeout as sleep } from 'node:timers/promises';
import { DnsServer } from '../helpers/dns-server.ts';
import fs from 'node:fs';
import { fileAccessLog, hcmListener, routeAll, runLegate, tmpFile, type Legate } from '../helpers/legate.ts';
import { legateFor, track } from './fixtures/tracked.ts';
import { pollStat, until } from './fixtures/clients.ts';

const ADDRS = ['127.0.0.2', '127.0.0.3', '127.0.0.4'];

interface Hosts {
  port: number;
  /** Requests served, by address. */
  served: Map<string, number>;
}

/** An HTTP server on each address, all on one port, answering with their address. `close`: each
 *  response closes its connection (a new request needs a new upstream connection). */
async function hostsOnOnePort(addrs: string[], close = false): Promise<Hosts> {
  const served = new Map<string, number>();
  for (let attempt = 0; attempt < 20; attempt++) {
    const servers: http.Server[] = [];
    let port = 0;
    try {
      for (const a of addrs) {
        const s = http.createServer((req, res) => {
          served.set(a, (served.get(a) ?? 0) + 1);
          req.resume();
          req.on('end', () => {
            res.writeHead(200, { 'content-type': 'text/plain', ...(close ? { connection: 'close' } : {}) });
            res.end(a);
          });
        });
        await new Promise<void>((resolve, reject) => {
          s.once('error', reject);
          s.listen(port, a, () => resolve());
        });
        servers.push(s);
        if (port === 0) port = (s.address() as { port: number }).port;
      }
      track(async () => { for (const s of servers) { s.closeAllConnections(); s.close(); } });
      return { port, served };
    } catch {
      // That port is taken on another address: try another one.
      for (const s of servers) s.close();
    }
  }
  throw new Error('no port free on every address');
}

async function startDns(): Promise<DnsServer> {
  const d = await DnsServer.start();
  track(() => d.close());
  return d;
}

function dnsCluster(type: 'STRICT_DNS' | 'LOGICAL_DNS', names: string[], port: number, dns: DnsServer,
  extra = ''): string {
  const endpoints = names.map((n) => `
        - endpoint:
            address:
              socket_address: { address: ${n}, port_value: ${port} }`).join('');
  return `
  - name: up
    type: ${type}
    connect_timeout: 1s
    dns_lookup_family: V4_ONLY${extra}${dns.resolverYaml}
    load_assignment:
      cluster_name: up
      endpoints:
      - lb_endpoints:${endpoints}`;
}

function config(cluster: string): string {
  return `
static_resources:
  listeners:${hcmListener('proxy', 'ingress', routeAll('up'))}
  clusters:${cluster}
`;
}

async function get(port: number, path = '/'): Promise<{ status: number; body: string }> {
  const r = await request(`http://127.0.0.1:${port}${path}`, { reset: true });
  return { status: r.statusCode, body: await r.body.text() };
}

/** The addresses `n` requests reached. */
async function spread(port: number, n: number): Promise<Map<string, number>> {
  const seen = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const r = await get(port);
    const k = r.status === 200 ? r.body : `status ${r.status}`;
    seen.set(k, (seen.get(k) ?? 0) + 1);
  }
  return seen;
}


test('STRICT_DNS: every address is a host; answers that change add and remove hosts; SERVFAIL keeps the last ones', async () => {
  const hosts = await hostsOnOnePort(ADDRS);
  const dns = await startDns();
  dns.set('svc.test', { a: ['127.0.0.2', '127.0.0.3'], ttl: 30 });
  const l = await legateFor(config(dnsCluster('STRICT_DNS', ['svc.test'], hosts.port, dns, `
    dns_refresh_rate: 0.2s`)), { concurrency: 2 });
  const port = l.port('proxy');
  // Warmed: the first request already has both hosts.
  let seen = await spread(port, 20);
  assert.deepEqual([...seen.keys()].sort(), ['127.0.0.2', '127.0.0.3']);
  let st = await l.stats();
  assert.equal(st.get('cluster.up.membership_total'), 2);
  assert.equal(st.get('cluster.up.membership_healthy'), 2);
  assert.equal(st.get('cluster.up.update_failure'), 0);

  // A third address appears.
  dns.set('svc.test', { a: ['127.0.0.2', '127.0.0.3', '127.0.0.4'], ttl: 30 });
  await pollStat(l, 'cluster.up.membership_total', (v) => v === 3);
  seen = await spread(port, 30);
  assert.deepEqual([...seen.keys()].sort(), ADDRS);

  // One vanishes: no request reaches it any more.
  dns.set('svc.test', { a: ['127.0.0.3', '127.0.0.4'], ttl: 30 });
  await pollStat(l, 'cluster.up.membership_total', (v) => v === 2);
  seen = await spread(port, 20);
  assert.deepEqual([...seen.keys()].sort(), ['127.0.0.3', '127.0.0.4']);

  // The server fails: the last hosts stay, and the failures are counted.
  dns.set('svc.test', 'SERVFAIL');
  const failures = (await l.stats()).get('cluster.up.update_failure')!;
  await pollStat(l, 'cluster.up.update_failure', (v) => v >= failures + 2);
  seen = await spread(port, 10);
  assert.deepEqual([...seen.keys()].sort(), ['127.0.0.3', '127.0.0.4']);
  st = await l.stats();
  assert.equal(st.get('cluster.up.membership_total'), 2);
  assert.ok(st.get('cluster.up.update_attempt')! >= st.get('cluster.up.update_success')! + st.get('cluster.up.update_failure')!);
  assert.ok(st.get('cluster.up.update_no_rebuild')! > 0, 'unchanged answers are counted as no rebuild');
  // Each change counted once: the first set, +.4, -.2.
  assert.equal(st.get('cluster.up.membership_change'), 3);

  // /clusters lists the resolved hosts.
  const clusters = await (await request(`${l.admin}/clusters`)).body.text();
  assert.match(clusters, new RegExp(`up::127\\.0\\.0\\.3:${hosts.port}::`));
  assert.doesNotMatch(clusters, new RegExp(`up::127\\.0\\.0\\.2:${hosts.port}::`));
});

test('respect_dns_ttl: the answer\'s TTL sets when the name is asked again; without it, dns_refresh_rate does', async () => {
  const hosts = await hostsOnOnePort(['127.0.0.2']);
  const dns = await startDns();
  dns.set('ttl.test', { a: ['127.0.0.2'], ttl: 1 });
  dns.set('nottl.test', { a: ['127.0.0.2'], ttl: 1 });
  const ttl = await legateFor(config(dnsCluster('STRICT_DNS', ['ttl.test'], hosts.port, dns, `
    dns_refresh_rate: 60s
    respect_dns_ttl: true`)));
  const plain = await legateFor(config(dnsCluster('STRICT_DNS', ['nottl.test'], hosts.port, dns, `
    dns_refresh_rate: 60s`)));
  assert.equal((await get(ttl.port('proxy'))).status, 200);
  assert.equal((await get(plain.port('proxy'))).status, 200);
  const a = dns.queriesFor('ttl.test');
  const b = dns.queriesFor('nottl.test');
  await sleep(2600);
  assert.ok(dns.queriesFor('ttl.test') >= a + 2, `TTL 1 s: ${dns.queriesFor('ttl.test') - a} queries in 2.6 s`);
  assert.equal(dns.queriesFor('nottl.test'), b, 'refresh rate 60 s: asked again');
});

test('a name that does not resolve yet: Legate starts, answers 503 UH, then serves once it resolves', async () => {
  const hosts = await hostsOnOnePort(['127.0.0.2']);
  const dns = await startDns();
  const log = tmpFile('access.log', '');
  const cluster = dnsCluster('STRICT_DNS', ['late.test'], hosts.port, dns, `
    dns_refresh_rate: 10s
    dns_failure_refresh_rate: { base_interval: 0.1s, max_interval: 0.3s }`);
  const l = await legateFor(`
static_resources:
  listeners:${hcmListener('proxy', 'ingress', routeAll('up'), { hcmExtra: fileAccessLog(log, '%RESPONSE_CODE% %RESPONSE_FLAGS%\\n') })}
  clusters:${cluster}
`);
  const port = l.port('proxy');
  const r = await get(port);
  assert.equal(r.status, 503);
  assert.equal(r.body, 'no healthy upstream');
  assert.ok((await l.stats()).get('cluster.up.update_failure')! >= 1);
  dns.set('late.test', { a: ['127.0.0.2'], ttl: 30 });
  await until('the name resolves', async () => (await get(port)).status === 200);
  assert.equal((await get(port)).body, '127.0.0.2');
  await until('the access log', async () => fs.readFileSync(log, 'utf8').includes('503 UH'));
});

test('LOGICAL_DNS: one host at the first address; new connections follow the newest answer', async () => {
  const hosts = await hostsOnOnePort(['127.0.0.2', '127.0.0.3'], true);
  const dns = await startDns();
  dns.set('logical.test', { a: ['127.0.0.2', '127.0.0.3'], ttl: 30 });
  const l = await legateFor(config(dnsCluster('LOGICAL_DNS', ['logical.test'], hosts.port, dns, `
    dns_refresh_rate: 0.2s`)), { concurrency: 2 });
  const port = l.port('proxy');
  let seen = await spread(port, 10);
  assert.deepEqual([...seen.keys()], ['127.0.0.2'], 'only the first address');
  assert.equal((await l.stats()).get('cluster.up.membership_total'), 1);
  dns.set('logical.test', { a: ['127.0.0.3'], ttl: 30 });
  await until('the host moves', async () => (await get(port)).body === '127.0.0.3');
  seen = await spread(port, 10);
  assert.deepEqual([...seen.keys()], ['127.0.0.3'], 'every worker moved');
  const st = await l.stats();
  assert.equal(st.get('cluster.up.membership_total'), 1);
  // An empty answer keeps the host where it is.
  dns.set('logical.test', 'NXDOMAIN');
  const failures = st.get('cluster.up.update_failure')!;
  await pollStat(l, 'cluster.up.update_failure', (v) => v > failures);
  assert.equal((await get(port)).body, '127.0.0.3');
  const clusters = await (await request(`${l.admin}/clusters`)).body.text();
  assert.match(clusters, new RegExp(`up::127\\.0\\.0\\.3:${hosts.port}::cx_total::`));
});

test('the default resolver answers from the hosts file; getaddrinfo resolves through the system', async () => {
  const hosts = await hostsOnOnePort(['127.0.0.1']);
  for (const resolver of ['', `
    typed_dns_resolver_config:
      name: envoy.network.dns_resolver.getaddrinfo
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.network.dns_resolver.getaddrinfo.v3.GetAddrInfoDnsResolverConfig`]) {
    const l = await legateFor(config(`
  - name: up
    type: STRICT_DNS
    dns_lookup_family: V4_ONLY${resolver}
    load_assignment:
      cluster_name: up
      endpoints:
      - lb_endpoints:
        - endpoint: { address: { socket_address: { address: localhost, port_value: ${hosts.port} } } }`));
    const r = await get(l.port('proxy'));
    assert.equal(r.status, 200, resolver);
    assert.equal(r.body, '127.0.0.1');
  }
});

test('DNS cluster config errors name the field', async () => {
  const dns = await startDns();
  const cases: [string, RegExp][] = [
    [dnsCluster('LOGICAL_DNS', ['a.test', 'b.test'], 80, dns),
      /static_resources\.clusters\[0\]\.load_assignment: LOGICAL_DNS clusters must have a single locality_lb_endpoint and a single lb_endpoint/],
    [dnsCluster('STRICT_DNS', ['a.test'], 80, dns, `
    dns_failure_refresh_rate: { base_interval: 2s, max_interval: 1s }`),
      /static_resources\.clusters\[0\]\.dns_failure_refresh_rate\.max_interval: dns_failure_refresh_rate must have max_interval greater than or equal to the base_interval/],
    [`
  - name: up
    type: STATIC
    dns_refresh_rate: 1s
    load_assignment:
      cluster_name: up
      endpoints:
      - lb_endpoints:
        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 80 } } }`,
      /static_resources\.clusters\[0\]\.dns_refresh_rate: applies to STRICT_DNS and LOGICAL_DNS clusters only/],
    [dnsCluster('STRICT_DNS', ['a.test'], 80, dns).replace('envoy.network.dns_resolver.cares', 'envoy.network.dns_resolver.apple')
      .replace('envoy.extensions.network.dns_resolver.cares.v3.CaresDnsResolverConfig',
        'envoy.extensions.network.dns_resolver.apple.v3.AppleDnsResolverConfig')
      .replace(/\n\s+resolvers:\n.*\n/, '\n'),
      /typed_dns_resolver_config.*"envoy\.network\.dns_resolver\.apple".*not supported by Legate/],
    [dnsCluster('STRICT_DNS', ['a.test'], 80, dns).replace('address: 127.0.0.1, port_value: ' + dns.port, 'address: dns.example, port_value: 53'),
      /typed_config\.resolvers\[0\]\.socket_address\.address: a DNS resolver must be an IP address, got "dns\.example"/],
  ];
  for (const [cluster, want] of cases) {
    const r = await runLegate(['--mode', 'validate', '-c', tmpFile('c.yaml', config(cluster))]);
    assert.notEqual(r.code, 0, cluster);
    assert.match(r.stderr, want);
  }
});

async function reload(l: Legate): Promise<number> {
  const r = await fetch(`${l.admin}/reload`, { method: 'POST', signal: AbortSignal.timeout(15_000) });
  await r.text();
  return r.status;
}

test('reloads keep an unchanged DNS cluster resolving; a changed name is resolved before workers use it; a replaced worker starts with the hosts', async () => {
  const hosts = await hostsOnOnePort(['127.0.0.2', '127.0.0.3']);
  const dns = await startDns();
  dns.set('one.test', { a: ['127.0.0.2'], ttl: 30 });
  dns.set('two.test', { a: ['127.0.0.3'], ttl: 30 });
  const cluster = (name: string): string => dnsCluster('STRICT_DNS', [name], hosts.port, dns, `
    dns_refresh_rate: 0.3s`);
  const l = await legateFor(config(cluster('one.test')), { concurrency: 2, env: { LEGATE_TEST_HOOKS: '1' } });
  const port = l.port('proxy');
  assert.equal((await get(port)).body, '127.0.0.2');
  // An unchanged cluster (another listener added around it): same service, same hosts.
  const withAdmin = config(cluster('one.test')).replace('stat_prefix: ingress', 'stat_prefix: ingress2');
  const before = (await l.stats()).get('cluster.up.membership_change');
  fs.writeFileSync(l.configPath, withAdmin);
  assert.equal(await reload(l), 200);
  assert.equal((await get(port)).body, '127.0.0.2');
  assert.equal((await l.stats()).get('cluster.up.membership_change'), before, 'the kept cluster was not rebuilt');
  // A changed name: the first request after the reload goes to its host.
  fs.writeFileSync(l.configPath, config(cluster('two.test')));
  assert.equal(await reload(l), 200);
  const seen = await spread(port, 10);
  assert.deepEqual([...seen.keys()], ['127.0.0.3']);
  // A worker that starts now gets the current hosts with its config.
  process.kill(l.proc.pid!, 'SIGUSR2');
  assert.equal(await pollStat(l, 'server.legate.worker_restarts', (v) => v === 1, 10_000), 1);
  const after = await spread(port, 20);
  assert.deepEqual([...after.keys()], ['127.0.0.3']);
});

test('wait_for_warm_on_init: false starts before the first answer (503 UH until it comes)', async () => {
  const hosts = await hostsOnOnePort(['127.0.0.2']);
  const dns = await startDns();
  dns.set('slow.test', 'DROP');
  const t0 = Date.now();
  const l = await legateFor(config(dnsCluster('STRICT_DNS', ['slow.test'], hosts.port, dns, `
    wait_for_warm_on_init: false
    dns_refresh_rate: 0.2s
    dns_failure_refresh_rate: { base_interval: 0.1s, max_interval: 0.2s }`)));
  assert.ok(Date.now() - t0 < 4000, `startup waited for DNS (${Date.now() - t0} ms)`);
  const r = await get(l.port('proxy'));
  assert.equal(r.status, 503);
  assert.equal(r.body, 'no healthy upstream');
  dns.set('slow.test', { a: ['127.0.0.2'], ttl: 30 });
  await until('the name resolves', async () => (await get(l.port('proxy'))).status === 200, 20_000);
});

test('wait_for_warm_on_init: false with a health check: no wait for DNS nor the first check; an unchecked host is unhealthy, taken in panic', async () => {
  // One host whose first health check is slow to answer (later ones are quick).
  let healthDelayMs = 2000;
  const s = http.createServer((req, res) => {
    req.resume();
    if (req.url === '/health') {
      setTimeout(() => res.writeHead(200).end(), healthDelayMs);
      healthDelayMs = 0;
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain' }).end('127.0.0.2');
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.2', r));
  track(async () => { s.closeAllConnections(); s.close(); });
  const port = (s.address() as { port: number }).port;
  const dns = await startDns();
  dns.set('checked.test', 'DROP');
  const t0 = Date.now();
  const l = await legateFor(config(dnsCluster('STRICT_DNS', ['checked.test'], port, dns, `
    wait_for_warm_on_init: false
    dns_refresh_rate: 0.2s
    dns_failure_refresh_rate: { base_interval: 0.1s, max_interval: 0.2s }
    health_checks:
    - timeout: 5s
      interval: 0.1s
      no_traffic_interval: 0.1s
      unhealthy_threshold: 1
      healthy_threshold: 1
      http_health_check: { path: /health }`)));
  // Envoy's cluster initializes before any answer, with no host: no first check to wait for.
  assert.ok(Date.now() - t0 < 4000, `startup waited (${Date.now() - t0} ms)`);
  const r = await get(l.port('proxy'));
  assert.equal(r.status, 503);
  assert.equal(r.body, 'no healthy upstream');
  // The name resolves; the host's first check is under way. Unchecked, it is unhealthy, not
  // excluded: with no healthy host the load balancer panics and picks it (Envoy's default).
  dns.set('checked.test', { a: ['127.0.0.2'], ttl: 30 });
  await until('the host takes requests', async () => (await get(l.port('proxy'))).status === 200, 20_000);
  const st = await l.stats();
  assert.equal(st.get('cluster.up.health_check.success'), 0, 'the first check has not answered yet');
  assert.ok((st.get('cluster.up.lb_healthy_panic') ?? 0) >= 1);
  const clusters = await (await fetch(`${l.admin}/clusters`)).text();
  assert.match(clusters, new RegExp(`^up::127\\.0\\.0\\.2:${port}::health_flags::/failed_active_hc$`, 'm'));
  // Once it passes, the host is healthy: no more panic.
  await pollStat(l, 'cluster.up.health_check.healthy', (v) => v === 1, 10_000);
  await until('every worker has the verdict', async () => {
    const before = (await l.stats()).get('cluster.up.lb_healthy_panic');
    for (let i = 0; i < 4; i++) assert.equal((await get(l.port('proxy'))).status, 200);
    return (await l.stats()).get('cluster.up.lb_healthy_panic') === before;
  });
});
