import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startAdmin, type AdminServer, type ClusterStatus, type ServerInfo } from '../../src/admin/index.ts';
import { StatsLayout } from '../../src/stats/layout.ts';
import { StatsStore } from '../../src/stats/store.ts';
import { ServerStats } from '../../src/stats/server.ts';

// A small, fully known stats state: the exact-format assertions below depend on every value.
const layout = new StatsLayout();
const store = new StatsStore(layout);
const s = {
  rqTotal: layout.counter('cluster.x.upstream_rq_total'),
  cxActive: layout.gauge('cluster.x.upstream_cx_active'),
  rq2xx: layout.counter('http.y.downstream_rq_2xx'),
  unused: layout.counter('http.y.downstream_rq_5xx'),
  rqTime: layout.histogram('cluster.x.upstream_rq_time', 'ms'),
  connectMs: layout.histogram('cluster.x.upstream_cx_connect_ms', 'ms'),
  hcmTime: layout.histogram('http.y.downstream_rq_time', 'ms'),
};
const host = layout.resolve('cluster.x.127.0.0.1:8080.', {
  counters: ['cx_total', 'cx_connect_fail', 'rq_total', 'rq_success', 'rq_error', 'rq_timeout'] as const,
  gauges: ['cx_active', 'rq_active'] as const,
}, { hidden: true });

const w = store.main; // stands in for a worker: same class, same writes
w.add(s.rqTotal, 3);
w.set(s.cxActive, 2);
w.add(s.rq2xx, 5);
w.record(s.rqTime, 1);
store.flush(); // rq_time's 1 is in the interval; connect_ms below is not
w.record(s.connectMs, 5);
w.add(host.cx_total, 4);
w.add(host.rq_total, 3);
w.set(host.cx_active, 1);

const clusters: ClusterStatus[] = [{
  name: 'x',
  circuit_breakers: { default: { max_connections: 1024, max_pending_requests: 1024, max_requests: 1024, max_retries: 3 } },
  hosts: [{ address: '127.0.0.1', port: 8080, health_flags: [], stats: host }],
}];

let ready = true;
let quits = 0;
let onQuitCalled: () => void = () => {};
const info = (): ServerInfo => ({
  version: 'abc/0.1.0/Clean/RELEASE/node',
  state: ready ? 'LIVE' : 'PRE_INITIALIZING',
  uptime_current_epoch: 12,
  uptime_all_epochs: 34,
  command_line_options: { concurrency: 4, config_path: '/etc/legate.yaml' },
  node: { id: 'n1', cluster: 'c1' },
});

let admin: AdminServer;
let reloads = 0;
let base: string;
// The runtime the admin sees: Envoy's runtime_handler_test layers, and what /runtime_modify asked.
const raw = (v: string) => ({ raw: v });
const runtimeLayers = [
  { name: 'layer1', values: new Map([['string_key', raw('foo')], ['int_key', raw('1')], ['other_key', raw('bar')]]) },
  { name: 'layer2', values: new Map([['string_key', raw('override')], ['extra_key', raw('bar')]]) },
];
const modified: Map<string, string>[] = [];
let refuseModify: string | null = null;

before(async () => {
  admin = await startAdmin({
    host: '127.0.0.1',
    port: 0,
    stats: store,
    certs: () => [],
    serverInfo: info,
    clusters: () => clusters,
    listeners: () => [{ name: 'listener_0', address: '0.0.0.0', port: 10000 }, { name: 'v6', address: '::1', port: 443 }],
    configDump: () => [{ key: 'bootstrap', message: { '@type': 'type.googleapis.com/envoy.admin.v3.BootstrapConfigDump' } }],
    onQuit: () => {
      quits++;
      onQuitCalled();
    },
    onHealthCheck: () => {},
    onReload: async () => {
      reloads++;
      return reloads % 2 === 1 ? { ok: true, version: reloads + 1 }
        : { ok: false, errors: ['static_resources.clusters[0].lb_policy: unknown value "X"'] };
    },
    isReady: () => ready,
    // (GET /explain against a real config: test/integration/explain.test.ts.)
    explain: () => { throw new Error('not reached'); },
    runtimeLayers: () => runtimeLayers,
    onRuntimeModify: (values) => {
      modified.push(new Map(values));
      return refuseModify;
    },
  });
  base = `http://127.0.0.1:${admin.address.port}`;
});

after(async () => {
  await admin.close();
  store.close();
});

async function get(path: string, init?: RequestInit): Promise<{ status: number; type: string; body: string }> {
  const res = await fetch(base + path, { ...init, signal: AbortSignal.timeout(10_000) });
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: await res.text() };
}

const P_RQ_TIME = 'P0(1,1) P25(1.025,1.025) P50(1.05,1.05) P75(1.075,1.075) P90(1.09,1.09) P95(1.095,1.095) '
  + 'P99(1.099,1.099) P99.5(1.0995,1.0995) P99.9(1.0999,1.0999) P100(1.1,1.1)';
const P_CONNECT = 'P0(nan,5) P25(nan,5.025) P50(nan,5.05) P75(nan,5.075) P90(nan,5.09) P95(nan,5.095) '
  + 'P99(nan,5.099) P99.5(nan,5.0995) P99.9(nan,5.0999) P100(nan,5.1)';

describe('GET /stats', () => {
  test('text: counters and gauges sorted, then histograms; hidden per-host stats left out', async () => {
    const r = await get('/stats');
    assert.equal(r.status, 200);
    assert.equal(r.type, 'text/plain; charset=UTF-8');
    assert.equal(r.body, [
      'cluster.x.upstream_cx_active: 2',
      'cluster.x.upstream_rq_total: 3',
      'http.y.downstream_rq_2xx: 5',
      'http.y.downstream_rq_5xx: 0',
      `cluster.x.upstream_cx_connect_ms: ${P_CONNECT}`,
      `cluster.x.upstream_rq_time: ${P_RQ_TIME}`,
      'http.y.downstream_rq_time: No recorded values',
      '',
    ].join('\n'));
  });

  test('filter is a regex searched in the name; usedonly drops what was never written', async () => {
    assert.equal((await get('/stats?filter=rq_[0-9]xx$')).body, 'http.y.downstream_rq_2xx: 5\nhttp.y.downstream_rq_5xx: 0\n');
    assert.equal((await get('/stats?filter=^http&usedonly')).body, 'http.y.downstream_rq_2xx: 5\n');
    assert.equal((await get(`/stats?filter=${encodeURIComponent('upstream_rq_time$')}`)).body, `cluster.x.upstream_rq_time: ${P_RQ_TIME}\n`);
    const bad = await get('/stats?filter=(');
    assert.equal(bad.status, 400);
  });

  test('type= selects counters, gauges or histograms', async () => {
    assert.equal((await get('/stats?type=Gauges')).body, 'cluster.x.upstream_cx_active: 2\n');
    assert.equal((await get('/stats?type=Counters&usedonly')).body,
      'cluster.x.upstream_rq_total: 3\nhttp.y.downstream_rq_2xx: 5\n');
    assert.equal((await get('/stats?type=Histograms&filter=connect')).body, `cluster.x.upstream_cx_connect_ms: ${P_CONNECT}\n`);
  });

  test('histogram_buckets=cumulative prints B<le>(interval,cumulative)', async () => {
    const r = await get('/stats?filter=connect_ms&histogram_buckets=cumulative');
    assert.equal(r.body, 'cluster.x.upstream_cx_connect_ms: B0.5(0,0) B1(0,0) B5(0,1) B10(0,1) B25(0,1) B50(0,1) '
      + 'B100(0,1) B250(0,1) B500(0,1) B1000(0,1) B2500(0,1) B5000(0,1) B10000(0,1) B30000(0,1) B60000(0,1) '
      + 'B300000(0,1) B600000(0,1) B1800000(0,1) B3600000(0,1)\n');
  });

  test('format=json: Envoy\'s shape, NaN intervals as null', async () => {
    const r = await get('/stats?format=json&filter=cluster');
    assert.equal(r.type, 'application/json');
    const q = (v: number): number[] => [0, 0.025, 0.05, 0.075, 0.09, 0.095, 0.099, 0.0995, 0.0999, 0.1].map((d) => Number((v + d).toFixed(4)));
    const want = {
      stats: [
        { name: 'cluster.x.upstream_cx_active', value: 2 },
        { name: 'cluster.x.upstream_rq_total', value: 3 },
        {
          histograms: {
            supported_quantiles: [0, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 100],
            computed_quantiles: [
              { name: 'cluster.x.upstream_cx_connect_ms', values: q(5).map((c) => ({ cumulative: c, interval: null })) },
              { name: 'cluster.x.upstream_rq_time', values: q(1).map((c) => ({ cumulative: c, interval: c })) },
            ],
          },
        },
      ],
    };
    assert.equal(r.body, JSON.stringify(want));
  });

  test('format=prometheus is the Prometheus handler', async () => {
    assert.equal((await get('/stats?format=prometheus')).body, (await get('/stats/prometheus')).body);
  });
});

describe('GET /stats/prometheus', () => {
  test('the two canonical lines come out exactly', async () => {
    const r = await get('/stats/prometheus');
    assert.equal(r.status, 200);
    const lines = r.body.split('\n');
    assert.ok(lines.includes('envoy_cluster_upstream_rq_total{envoy_cluster_name="x"} 3'), r.body);
    assert.ok(lines.includes('envoy_http_downstream_rq_xx{envoy_response_code_class="2",envoy_http_conn_manager_prefix="y"} 5'), r.body);
  });

  test('whole output: counters, gauges, histograms; groups under one # TYPE', async () => {
    const r = await get('/stats/prometheus');
    const buckets = (name: string, tags: string, counts: number[], sum: string): string[] => {
      const le = ['0.5', '1', '5', '10', '25', '50', '100', '250', '500', '1000', '2500', '5000', '10000', '30000',
        '60000', '300000', '600000', '1800000', '3600000'];
      return [
        ...le.map((b, i) => `${name}_bucket{${tags},le="${b}"} ${counts[i]}`),
        `${name}_bucket{${tags},le="+Inf"} ${counts[counts.length - 1]}`,
        `${name}_sum{${tags}} ${sum}`,
        `${name}_count{${tags}} ${counts[counts.length - 1]}`,
      ];
    };
    const ones = (from: number): number[] => Array.from({ length: 19 }, (_, i) => (i >= from ? 1 : 0));
    const zeros = Array.from({ length: 19 }, () => 0);
    assert.equal(r.body, [
      '# TYPE envoy_cluster_upstream_rq_total counter',
      'envoy_cluster_upstream_rq_total{envoy_cluster_name="x"} 3',
      '# TYPE envoy_http_downstream_rq_xx counter',
      'envoy_http_downstream_rq_xx{envoy_response_code_class="2",envoy_http_conn_manager_prefix="y"} 5',
      'envoy_http_downstream_rq_xx{envoy_response_code_class="5",envoy_http_conn_manager_prefix="y"} 0',
      '# TYPE envoy_cluster_upstream_cx_active gauge',
      'envoy_cluster_upstream_cx_active{envoy_cluster_name="x"} 2',
      '# TYPE envoy_cluster_upstream_cx_connect_ms histogram',
      ...buckets('envoy_cluster_upstream_cx_connect_ms', 'envoy_cluster_name="x"', ones(2), '5'),
      '# TYPE envoy_cluster_upstream_rq_time histogram',
      ...buckets('envoy_cluster_upstream_rq_time', 'envoy_cluster_name="x"', ones(1), '1'),
      '# TYPE envoy_http_downstream_rq_time histogram',
      ...buckets('envoy_http_downstream_rq_time', 'envoy_http_conn_manager_prefix="y"', zeros, '0'),
      '',
    ].join('\n'));
  });

  test('usedonly and filter', async () => {
    const r = await get('/stats/prometheus?usedonly&filter=http');
    assert.equal(r.body, [
      '# TYPE envoy_http_downstream_rq_xx counter',
      'envoy_http_downstream_rq_xx{envoy_response_code_class="2",envoy_http_conn_manager_prefix="y"} 5',
      '',
    ].join('\n'));
  });
});

describe('GET /clusters', () => {
  test('text, as Envoy prints it', async () => {
    const r = await get('/clusters');
    assert.equal(r.status, 200);
    const h = 'x::127.0.0.1:8080';
    assert.equal(r.body, [
      'x::observability_name::x',
      'x::default_priority::max_connections::1024',
      'x::default_priority::max_pending_requests::1024',
      'x::default_priority::max_requests::1024',
      'x::default_priority::max_retries::3',
      'x::high_priority::max_connections::1024',
      'x::high_priority::max_pending_requests::1024',
      'x::high_priority::max_requests::1024',
      'x::high_priority::max_retries::3',
      'x::added_via_api::false',
      `${h}::cx_active::1`,
      `${h}::cx_connect_fail::0`,
      `${h}::cx_total::4`,
      `${h}::rq_active::0`,
      `${h}::rq_error::0`,
      `${h}::rq_success::0`,
      `${h}::rq_timeout::0`,
      `${h}::rq_total::3`,
      `${h}::hostname::`,
      `${h}::health_flags::healthy`,
      `${h}::weight::1`,
      `${h}::region::`,
      `${h}::zone::`,
      `${h}::sub_zone::`,
      `${h}::canary::false`,
      `${h}::priority::0`,
      `${h}::success_rate::-1`,
      `${h}::local_origin_success_rate::-1`,
      '',
    ].join('\n'));
  });

  test('format=json: envoy.admin.v3.Clusters', async () => {
    const r = await get('/clusters?format=json');
    assert.equal(r.type, 'application/json');
    const j = JSON.parse(r.body);
    const c = j.cluster_statuses[0];
    assert.equal(c.name, 'x');
    assert.deepEqual(c.circuit_breakers.thresholds[0], {
      max_connections: 1024, max_pending_requests: 1024, max_requests: 1024, max_retries: 3,
    });
    assert.equal(c.circuit_breakers.thresholds[1].priority, 'HIGH');
    const hs = c.host_statuses[0];
    assert.deepEqual(hs.address, { socket_address: { address: '127.0.0.1', port_value: 8080 } });
    assert.deepEqual(hs.health_status, { eds_health_status: 'HEALTHY' });
    assert.deepEqual(hs.stats.find((m: { name: string }) => m.name === 'cx_total'), { name: 'cx_total', value: '4' });
    assert.deepEqual(hs.stats.find((m: { name: string }) => m.name === 'cx_active'), { name: 'cx_active', value: '1', type: 'GAUGE' });
    assert.equal(hs.weight, 1);
  });
});

describe('GET /listeners', () => {
  test('text and json', async () => {
    assert.equal((await get('/listeners')).body, 'listener_0::0.0.0.0:10000\nv6::[::1]:443\n');
    const j = JSON.parse((await get('/listeners?format=json')).body);
    assert.deepEqual(j, {
      listener_statuses: [
        { name: 'listener_0', local_address: { socket_address: { address: '0.0.0.0', port_value: 10000 } } },
        { name: 'v6', local_address: { socket_address: { address: '::1', port_value: 443 } } },
      ],
    });
  });
});

describe('GET /ready, /server_info, /config_dump', () => {
  test('/ready: 200 LIVE, 503 with the state when not ready', async () => {
    assert.deepEqual(await get('/ready'), { status: 200, type: 'text/plain; charset=UTF-8', body: 'LIVE\n' });
    ready = false;
    try {
      const r = await get('/ready');
      assert.equal(r.status, 503);
      assert.equal(r.body, 'PRE_INITIALIZING\n');
    } finally {
      ready = true;
    }
  });

  test('/server_info: Envoy\'s ServerInfo JSON', async () => {
    const r = await get('/server_info');
    assert.equal(r.type, 'application/json');
    const j = JSON.parse(r.body);
    assert.equal(j.version, 'abc/0.1.0/Clean/RELEASE/node');
    assert.equal(j.state, 'LIVE');
    assert.equal(j.uptime_current_epoch, '12s');
    assert.equal(j.uptime_all_epochs, '34s');
    assert.equal(j.command_line_options.concurrency, 4);
    assert.equal(j.command_line_options.config_path, '/etc/legate.yaml');
    assert.equal(j.command_line_options.drain_time, '600s');
    assert.equal(j.command_line_options.base_id, '0');
    assert.deepEqual(j.node, { id: 'n1', cluster: 'c1' });
    assert.ok(r.body.startsWith('{\n "version": '), 'pretty-printed with one-space indent');
  });

  test('/config_dump returns the control plane\'s entries as a ConfigDump', async () => {
    const r = await get('/config_dump');
    assert.equal(r.type, 'application/json');
    assert.equal(r.body, '{\n "configs": [\n  {\n   "@type": "type.googleapis.com/envoy.admin.v3.BootstrapConfigDump"\n  }\n ]\n}\n');
  });
});

describe('/quitquitquit, index, unknown paths', () => {
  test('GET is refused with 405 like every mutating Envoy endpoint', async () => {
    const r = await get('/quitquitquit');
    assert.equal(r.status, 405);
    assert.equal(r.body, 'Method GET not allowed, POST required.');
    assert.equal(quits, 0);
  });

  test('POST answers "OK\\n" and then calls onQuit', async () => {
    const called = new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('onQuit was not called')), 5000);
      onQuitCalled = () => {
        clearTimeout(t);
        resolve();
      };
    });
    const r = await get('/quitquitquit', { method: 'POST' });
    assert.equal(r.status, 200);
    assert.equal(r.body, 'OK\n');
    await called;
    assert.equal(quits, 1);
  });

  test('GET / lists the handlers; an unknown path is 404 with the list', async () => {
    const home = await get('/');
    assert.equal(home.status, 200);
    assert.ok(home.body.startsWith('admin commands are:\n'));
    for (const p of ['/certs', '/clusters', '/config_dump', '/listeners', '/quitquitquit', '/ready', '/server_info', '/stats', '/stats/prometheus']) {
      assert.ok(home.body.includes(`  ${p}: `), p);
    }
    const nf = await get('/nope');
    assert.equal(nf.status, 404);
    assert.ok(nf.body.startsWith('invalid path. admin commands are:\n'));
  });
});

describe('ServerStats through the admin', () => {
  test('server.* gauges and the worker restart counter', async () => {
    const l = new StatsLayout();
    const st = new StatsStore(l);
    const srv = new ServerStats(st, { concurrency: 4, startTime: Date.now() - 65_000 });
    const listenerCx = l.gauge('listener.0.0.0.0_80.downstream_cx_active');
    srv.trackConnections([listenerCx]);
    st.addFlushHook(() => srv.refresh());
    st.main.set(listenerCx, 7);
    srv.setState('LIVE');
    srv.workerRestarted();
    st.flush();
    const a = await startAdmin({
      host: '127.0.0.1', port: 0, stats: st, serverInfo: info, clusters: () => [], listeners: () => [], certs: () => [],
      configDump: () => [], onQuit: () => {}, onReload: async () => ({ ok: true, version: 1 }), isReady: () => true, onHealthCheck: () => {},
      runtimeLayers: () => [], onRuntimeModify: () => null, explain: () => { throw new Error('not reached'); },
    });
    try {
      const res = await fetch(`http://127.0.0.1:${a.address.port}/stats?filter=^server\\.(live|state|concurrency|uptime|total_connections|legate\\.worker)`,
        { signal: AbortSignal.timeout(10_000) });
      assert.equal(await res.text(), [
        'server.concurrency: 4',
        'server.legate.worker_restarts: 1',
        'server.live: 1',
        'server.state: 0',
        'server.total_connections: 7',
        'server.uptime: 65',
        '',
      ].join('\n'));
      const prom = await (await fetch(`http://127.0.0.1:${a.address.port}/stats/prometheus?filter=worker_restarts`,
        { signal: AbortSignal.timeout(10_000) })).text();
      assert.equal(prom, '# TYPE envoy_server_legate_worker_restarts counter\nenvoy_server_legate_worker_restarts{} 1\n');
    } finally {
      await a.close();
      st.close();
    }
  });
});

test('POST /reload answers once the reload is done: 200 with the version, 400 with the errors; GET is 405', async () => {
  const get = await fetch(`${base}/reload`, { signal: AbortSignal.timeout(5000) });
  assert.equal(get.status, 405);
  assert.equal(reloads, 0);
  const ok = await fetch(`${base}/reload`, { method: 'POST', signal: AbortSignal.timeout(5000) });
  assert.equal(ok.status, 200);
  assert.equal(await ok.text(), 'OK: config version 2\n');
  const refused = await fetch(`${base}/reload`, { method: 'POST', signal: AbortSignal.timeout(5000) });
  assert.equal(refused.status, 400);
  assert.match(await refused.text(), /^config refused, the running one is kept:\nstatic_resources\.clusters\[0\]\.lb_policy: unknown value "X"\n$/);
  assert.equal(reloads, 2);
});

test('GET /runtime: layers in order, each key with its value per layer and the last non-empty one (Envoy\'s runtime_handler_test)', async () => {
  const r = await get('/runtime');
  assert.equal(r.status, 200);
  assert.equal(r.type, 'application/json');
  assert.deepEqual(JSON.parse(r.body), {
    entries: {
      extra_key: { final_value: 'bar', layer_values: ['', 'bar'] },
      int_key: { final_value: '1', layer_values: ['1', ''] },
      other_key: { final_value: 'bar', layer_values: ['bar', ''] },
      string_key: { final_value: 'override', layer_values: ['foo', 'override'] },
    },
    layers: ['layer1', 'layer2'],
  });
  // Protobuf's pretty print of a Struct: one-space indent, keys sorted, a final newline.
  assert.ok(r.body.startsWith('{\n "entries": {\n  "extra_key": {\n   "final_value": "bar",\n'), r.body);
  assert.ok(r.body.endsWith(' "layers": [\n  "layer1",\n  "layer2"\n ]\n}\n'), r.body);
});

test('POST /runtime_modify: query parameters, else a form body; first value of a repeated key; 400 usage, 405, 503', async () => {
  modified.length = 0;
  const post = (path: string, init: RequestInit = {}) => fetch(`${base}${path}`, { method: 'POST', ...init, signal: AbortSignal.timeout(5000) });
  let r = await post('/runtime_modify?foo=bar&x=42&nothing=&x=43');
  assert.equal(r.status, 200);
  assert.equal(await r.text(), 'OK\n');
  assert.deepEqual([...modified[0]], [['foo', 'bar'], ['x', '42'], ['nothing', '']]);
  // Envoy's RuntimeModifyParamsInBody: a YAML FractionalPercent as a form value.
  r = await post('/runtime_modify', {
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: `routing.traffic_shift.foo=${encodeURIComponent('numerator: 1\ndenominator: TEN_THOUSAND\n')}`,
  });
  assert.equal(r.status, 200);
  assert.deepEqual([...modified[1]], [['routing.traffic_shift.foo', 'numerator: 1\ndenominator: TEN_THOUSAND\n']]);
  // The query wins over a body; a body of another content type is not read.
  r = await post('/runtime_modify?q=1', { headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'b=2' });
  assert.deepEqual([...modified[2]], [['q', '1']]);
  r = await post('/runtime_modify', { headers: { 'content-type': 'text/plain' }, body: 'b=2' });
  assert.equal(r.status, 400);
  assert.ok((await r.text()).startsWith('usage: /runtime_modify?key1=value1&key2=value2&keyN=valueN\n'));
  assert.equal((await post('/runtime_modify')).status, 400);
  const g = await fetch(`${base}/runtime_modify?a=1`, { signal: AbortSignal.timeout(5000) });
  assert.equal(g.status, 405);
  assert.equal(await g.text(), 'Method GET not allowed, POST required.');
  assert.equal(modified.length, 3);
  refuseModify = 'No admin layer specified';
  r = await post('/runtime_modify?a=1');
  assert.equal(r.status, 503);
  assert.equal(await r.text(), 'No admin layer specified');
  refuseModify = null;
});
