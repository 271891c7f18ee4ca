// /clusters, /clusters?format=json and /config_dump?include_eds of a real Legate (two workers) whose
// clusters show what the main thread knows at run time: a STATIC cluster (weights, priorities,
// localities), a STRICT_DNS cluster whose hosts come from a DNS server the test runs and changes
// (test/helpers/dns-server.ts), and a cluster with an HTTP health check that one host fails.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { DnsServer } from '../helpers/dns-server.ts';
import { hcmListener, routeAll } from '../helpers/legate.ts';
import { until } from './fixtures/clients.ts';
import { legateFor, httpUp, track } from './fixtures/tracked.ts';
import { echo } from './fixtures/upstreams.ts';

const dns = await DnsServer.start();
track(() => dns.close());
dns.set('svc.test', { a: ['127.0.0.2', '127.0.0.3'], ttl: 30 });

// The health-checked hosts: `bad` answers /health with 503 from the start.
const health = (status: number) => httpUp((req, res, body) => {
  if (req.url === '/health') {
    res.writeHead(status);
    res.end();
  } else {
    echo(req, res, body);
  }
});
const good = await health(200);
const bad = await health(503);
const s0 = await httpUp();
const s1 = await httpUp();
const DNS_PORT = 8081;

const legate = await legateFor(`
static_resources:
  listeners:${hcmListener('proxy', 'ingress', routeAll('checked'))}
  clusters:
  - name: static_up
    connect_timeout: 1s
    load_assignment:
      cluster_name: static_up
      endpoints:
      - priority: 1
        locality: { region: r2 }
        lb_endpoints:
        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${s1.port} } } }
      - locality: { region: r1, zone: z1 }
        lb_endpoints:
        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${s0.port} } } }
          load_balancing_weight: 2
  - name: dns_up
    type: STRICT_DNS
    connect_timeout: 1s
    dns_lookup_family: V4_ONLY
    dns_refresh_rate: 0.2s${dns.resolverYaml}
    load_assignment:
      cluster_name: dns_up
      endpoints:
      - locality: { zone: zd }
        lb_endpoints:
        - endpoint: { address: { socket_address: { address: svc.test, port_value: ${DNS_PORT} } } }
          load_balancing_weight: 3
  - name: checked
    connect_timeout: 1s
    health_checks:
    - timeout: 0.5s
      interval: 0.1s
      no_traffic_interval: 0.1s
      unhealthy_threshold: 2
      healthy_threshold: 2
      http_health_check: { path: /health }
    load_assignment:
      cluster_name: checked
      endpoints:
      - lb_endpoints:
        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${good.port} } } }
        - endpoint:
            address: { socket_address: { address: 127.0.0.1, port_value: ${bad.port} } }
            health_check_config: { port_value: ${bad.port} }
`, { concurrency: 2 });

for (let i = 0; i < 4; i++) {
  const r = await request(`http://127.0.0.1:${legate.port('proxy')}/x${i}`, { reset: true });
  await r.body.dump();
  assert.equal(r.statusCode, 200);
}

async function admin(path: string): Promise<{ status: number; type: string; text: string }> {
  const r = await request(`${legate.admin}${path}`);
  return { status: r.statusCode, type: String(r.headers['content-type']), text: await r.body.text() };
}

/** Lines `<cluster>::<host>::<field>::<value>` of /clusters, as `<host>::<field>` -> value. */
function hostLines(text: string, cluster: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const parts = line.split('::');
    // (The circuit-breaker lines have 4 parts too; a host is `address:port`.)
    if (parts[0] !== cluster || parts.length !== 4 || !/:\d+$/.test(parts[1])) continue;
    out.set(`${parts[1]}::${parts[2]}`, parts[3]);
  }
  return out;
}


test('/clusters: resolved hosts with their hostname, the failed health check, weights, priorities, localities', async () => {
  const { status, text } = await admin('/clusters');
  assert.equal(status, 200);
  // STATIC: priority 0's host first, though the config lists priority 1 first.
  const st = hostLines(text, 'static_up');
  const h0 = `127.0.0.1:${s0.port}`;
  const h1 = `127.0.0.1:${s1.port}`;
  assert.deepEqual([...new Set([...st.keys()].map((k) => k.split('::')[0]))], [h0, h1]);
  assert.equal(st.get(`${h0}::weight`), '2');
  assert.equal(st.get(`${h0}::priority`), '0');
  assert.equal(st.get(`${h0}::region`), 'r1');
  assert.equal(st.get(`${h0}::zone`), 'z1');
  assert.equal(st.get(`${h1}::weight`), '1');
  assert.equal(st.get(`${h1}::priority`), '1');
  assert.equal(st.get(`${h1}::region`), 'r2');
  assert.equal(st.get(`${h0}::hostname`), '');
  // STRICT_DNS: every address the name resolved to, named after it.
  const d = hostLines(text, 'dns_up');
  for (const a of ['127.0.0.2', '127.0.0.3']) {
    assert.equal(d.get(`${a}:${DNS_PORT}::hostname`), 'svc.test', text);
    assert.equal(d.get(`${a}:${DNS_PORT}::weight`), '3');
    assert.equal(d.get(`${a}:${DNS_PORT}::zone`), 'zd');
    assert.equal(d.get(`${a}:${DNS_PORT}::health_flags`), 'healthy');
    assert.equal(d.get(`${a}:${DNS_PORT}::cx_total`), '0');
  }
  // Health checked: the failing host is out, the other served every request (both workers').
  const c = hostLines(text, 'checked');
  assert.equal(c.get(`127.0.0.1:${good.port}::health_flags`), 'healthy');
  assert.equal(c.get(`127.0.0.1:${bad.port}::health_flags`), '/failed_active_hc');
  assert.equal(c.get(`127.0.0.1:${good.port}::rq_total`), '4');
  assert.equal(c.get(`127.0.0.1:${bad.port}::rq_total`), '0');
  assert.ok(text.includes('checked::added_via_api::false\n'));
});

test('/clusters?format=json: envoy.admin.v3.Clusters with the same hosts', async () => {
  const r = await admin('/clusters?format=json');
  assert.equal(r.type, 'application/json');
  const j = JSON.parse(r.text);
  const byName = new Map(j.cluster_statuses.map((c: { name: string }) => [c.name, c]));
  assert.deepEqual([...byName.keys()], ['static_up', 'dns_up', 'checked']);
  const st = byName.get('static_up') as any;
  assert.deepEqual(st.host_statuses.map((h: any) => [h.address.socket_address.port_value, h.weight, h.priority, h.locality]), [
    [s0.port, 2, undefined, { region: 'r1', zone: 'z1' }],
    [s1.port, 1, 1, { region: 'r2' }],
  ]);
  assert.equal(st.observability_name, 'static_up');
  assert.equal(st.added_via_api, undefined);
  assert.deepEqual(st.circuit_breakers.thresholds[1].priority, 'HIGH');
  const d = byName.get('dns_up') as any;
  assert.deepEqual(d.host_statuses.map((h: any) => [h.address, h.hostname, h.weight, h.locality, h.health_status]), [
    [{ socket_address: { address: '127.0.0.2', port_value: DNS_PORT } }, 'svc.test', 3, { zone: 'zd' }, { eds_health_status: 'HEALTHY' }],
    [{ socket_address: { address: '127.0.0.3', port_value: DNS_PORT } }, 'svc.test', 3, { zone: 'zd' }, { eds_health_status: 'HEALTHY' }],
  ]);
  const c = byName.get('checked') as any;
  const hs = new Map(c.host_statuses.map((h: any) => [h.address.socket_address.port_value, h]));
  assert.deepEqual((hs.get(bad.port) as any).health_status, { failed_active_health_check: true, eds_health_status: 'HEALTHY' });
  assert.deepEqual((hs.get(good.port) as any).health_status, { eds_health_status: 'HEALTHY' });
  assert.deepEqual((hs.get(good.port) as any).stats.find((m: any) => m.name === 'rq_total'), { name: 'rq_total', value: '4' });
  assert.deepEqual((hs.get(good.port) as any).stats.find((m: any) => m.name === 'cx_active').type, 'GAUGE');
});

test('/config_dump?include_eds: the clusters as configured, and the endpoints they have now', async () => {
  const r = await admin('/config_dump?include_eds');
  assert.equal(r.status, 200);
  const j = JSON.parse(r.text);
  assert.deepEqual(j.configs.map((c: any) => c['@type'].split('.').at(-1)), [
    'BootstrapConfigDump', 'ClustersConfigDump', 'EndpointsConfigDump',
  ]);
  const clusters = j.configs[1].static_clusters;
  assert.deepEqual(clusters.map((c: any) => [c.cluster.name, c.cluster.type]), [
    ['static_up', undefined], ['dns_up', 'STRICT_DNS'], ['checked', undefined],
  ]);
  assert.equal(clusters[1].cluster.dns_refresh_rate, '0.200s');
  assert.equal(clusters[2].cluster.health_checks[0].interval, '0.100s');
  assert.match(clusters[0].last_updated, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z$/);
  const cla = new Map(j.configs[2].static_endpoint_configs.map((e: any) => [e.endpoint_config.cluster_name, e.endpoint_config]));
  assert.deepEqual((cla.get('dns_up') as any).endpoints, [{
    locality: { zone: 'zd' },
    lb_endpoints: ['127.0.0.2', '127.0.0.3'].map((address) => ({
      endpoint: { address: { socket_address: { address, port_value: DNS_PORT } }, health_check_config: {}, hostname: 'svc.test' },
      health_status: 'HEALTHY',
      metadata: {},
      load_balancing_weight: 3,
    })),
  }]);
  const st = (cla.get('static_up') as any).endpoints;
  assert.deepEqual(st.map((e: any) => [e.locality, e.priority, e.lb_endpoints[0].endpoint.address.socket_address.port_value]), [
    [{ region: 'r1', zone: 'z1' }, undefined, s0.port],
    [{ region: 'r2' }, 1, s1.port],
  ]);
  const checked = (cla.get('checked') as any).endpoints[0].lb_endpoints;
  assert.deepEqual(checked.map((e: any) => [e.endpoint.address.socket_address.port_value, e.health_status]), [
    [good.port, 'HEALTHY'], [bad.port, 'UNHEALTHY'],
  ]);
  assert.deepEqual((cla.get('checked') as any).policy, { overprovisioning_factor: 140 });
});

test('the DNS answer changes: /clusters and the EDS dump follow', async () => {
  dns.set('svc.test', { a: ['127.0.0.3', '127.0.0.4'], ttl: 30 });
  await until('new hosts shown', async () => {
    const d = hostLines((await admin('/clusters')).text, 'dns_up');
    return d.has(`127.0.0.4:${DNS_PORT}::hostname`) && !d.has(`127.0.0.2:${DNS_PORT}::hostname`);
  });
  const j = JSON.parse((await admin('/config_dump?include_eds&resource=static_endpoint_configs&name_regex=dns_up')).text);
  assert.equal(j.configs.length, 1);
  assert.deepEqual(j.configs[0].endpoint_config.endpoints[0].lb_endpoints.map((e: any) => e.endpoint.address.socket_address.address),
    ['127.0.0.3', '127.0.0.4']);
});

test('/config_dump refuses what Envoy refuses', async () => {
  assert.equal((await admin('/config_dump?resource=nope')).status, 404);
  assert.equal((await admin('/config_dump?mask=nope')).status, 400);
  assert.equal((await admin('/config_dump?name_regex=(')).status, 400);
  const m = JSON.parse((await admin('/config_dump?resource=static_clusters&mask=cluster.name')).text);
  assert.deepEqual(m.configs.map((c: any) => c.cluster.name), ['static_up', 'dns_up', 'checked']);
});
