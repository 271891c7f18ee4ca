// The layered runtime through real Legate processes: a static layer at GET /runtime and the
// runtime.* stats; the null runtime Envoy has without layered_runtime; a disk layer re-read when
// its symlink is swapped (a key added, one removed, one changed) without a restart; bad layers
// refused at startup with their field paths; a reload may not change the layers; and an admin
// override reaching both workers of --concurrency 2, shown by LEAST_REQUEST's active_request_bias
// (the runtime's first consumer), which each worker re-reads at its next host set update, as
// Envoy does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { hcmListener, proxyConfig, routeAll, runLegate, tmpFile, type Legate } from '../helpers/legate.ts';
import { rawRequest, until, type RawResponse } from './fixtures/clients.ts';
import { httpUp, legateFor, track } from './fixtures/tracked.ts';

interface RuntimeDump {
  entries: Record<string, { final_value: string; layer_values: string[] }>;
  layers: string[];
}

async function runtimeDump(l: Legate): Promise<RuntimeDump> {
  const r = await fetch(`${l.admin}/runtime`, { signal: AbortSignal.timeout(5000) });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('content-type'), 'application/json');
  return await r.json() as RuntimeDump;
}

async function modify(l: Legate, query: string): Promise<{ status: number; body: string }> {
  const r = await fetch(`${l.admin}/runtime_modify?${query}`, { method: 'POST', signal: AbortSignal.timeout(5000) });
  return { status: r.status, body: await r.text() };
}

async function runtimeStats(l: Legate): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const [k, v] of await l.stats()) if (k.startsWith('runtime.')) out[k] = v;
  return out;
}

/** A runtime directory tree: `<root>/<version>/<subdirectory>/...` and the symlink `current`. */
function runtimeTree(): { root: string; write(version: string, files: Record<string, string>): void; swap(version: string): void } {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'legate-runtime-'));
  track(async () => fs.rmSync(root, { recursive: true, force: true }));
  return {
    root,
    write(version, files) {
      for (const [f, text] of Object.entries(files)) {
        const p = path.join(root, version, f);
        fs.mkdirSync(path.dirname(p), { recursive: true });
        fs.writeFileSync(p, text);
      }
    },
    // Envoy's documented swap: `ln -s v2 new && mv -Tf new current` (rename(2) over the link).
    swap(version) {
      fs.symlinkSync(path.join(root, version), path.join(root, 'new'));
      fs.renameSync(path.join(root, 'new'), path.join(root, 'current'));
    },
  };
}

const NO_TRAFFIC = `
static_resources:
  listeners: []
  clusters: []
`;

test('static_layer: nested keys joined with ".", values at GET /runtime, runtime.* stats; an admin override on top', async () => {
  const l = await legateFor(`
layered_runtime:
  layers:
  - name: base
    static_layer:
      health_check: { min_interval: 5, max_interval: 1.5 }
      routing: { traffic_shift: { foo: { numerator: 5, denominator: TEN_THOUSAND } } }
      flag: true
      text: hello
  - name: admin
    admin_layer: {}
${NO_TRAFFIC}`);
  let d = await runtimeDump(l);
  assert.deepEqual(d.layers, ['base', 'admin']);
  assert.deepEqual(Object.keys(d.entries), ['flag', 'health_check.max_interval', 'health_check.min_interval', 'routing.traffic_shift.foo', 'text']);
  assert.deepEqual(d.entries['health_check.min_interval'], { final_value: '5', layer_values: ['5', ''] });
  assert.deepEqual(d.entries['health_check.max_interval'], { final_value: '1.5', layer_values: ['1.5', ''] });
  assert.deepEqual(d.entries.flag, { final_value: 'true', layer_values: ['true', ''] });
  // A FractionalPercent struct prints as its DebugString (Envoy's raw value for a struct).
  assert.match(d.entries['routing.traffic_shift.foo'].final_value, /key: "denominator"\n {2}value \{\n {4}string_value: "TEN_THOUSAND"/);
  assert.deepEqual(await runtimeStats(l), {
    'runtime.admin_overrides_active': 0, 'runtime.load_error': 0, 'runtime.load_success': 1, 'runtime.num_keys': 5,
    'runtime.num_layers': 2, 'runtime.override_dir_exists': 0, 'runtime.override_dir_not_exists': 1,
  });

  assert.deepEqual(await modify(l, 'health_check.min_interval=7&new.key=x'), { status: 200, body: 'OK\n' });
  d = await runtimeDump(l);
  assert.deepEqual(d.entries['health_check.min_interval'], { final_value: '7', layer_values: ['5', '7'] });
  assert.deepEqual(d.entries['new.key'], { final_value: 'x', layer_values: ['', 'x'] });
  let s = await runtimeStats(l);
  assert.equal(s['runtime.admin_overrides_active'], 1);
  assert.equal(s['runtime.num_keys'], 6);
  assert.equal(s['runtime.load_success'], 2);
  // An empty value removes the override; with none left the gauge is back to 0.
  assert.deepEqual(await modify(l, 'health_check.min_interval=&new.key='), { status: 200, body: 'OK\n' });
  d = await runtimeDump(l);
  assert.deepEqual(d.entries['health_check.min_interval'], { final_value: '5', layer_values: ['5', ''] });
  assert.equal(d.entries['new.key'], undefined);
  s = await runtimeStats(l);
  assert.equal(s['runtime.admin_overrides_active'], 0);
  assert.equal(s['runtime.num_keys'], 5);
  // A value that is not YAML is refused whole: nothing changes.
  const bad = await modify(l, `a=1&b=${encodeURIComponent('{ nope')}`);
  assert.equal(bad.status, 503);
  assert.match(bad.body, /^Unable to parse YAML for runtime key 'b': /);
  assert.equal((await runtimeDump(l)).entries.a, undefined);
  // A form body, as Envoy's admin takes it; GET is refused as for every mutating endpoint.
  const form = await fetch(`${l.admin}/runtime_modify`, {
    method: 'POST', body: 'form.key=42', headers: { 'content-type': 'application/x-www-form-urlencoded' },
    signal: AbortSignal.timeout(5000),
  });
  assert.equal(form.status, 200);
  assert.equal((await runtimeDump(l)).entries['form.key'].final_value, '42');
  assert.equal((await fetch(`${l.admin}/runtime_modify?x=1`, { signal: AbortSignal.timeout(5000) })).status, 405);
});

test('no layered_runtime: the null runtime (no layer; /runtime_modify is 503); an empty layered_runtime has an admin layer', async () => {
  const none = await legateFor(NO_TRAFFIC);
  assert.deepEqual(await runtimeDump(none), { entries: {}, layers: [] });
  assert.deepEqual(await modify(none, 'a=1'), { status: 503, body: 'No admin layer specified' });
  assert.equal((await runtimeStats(none))['runtime.num_layers'], 0);
  const empty = await legateFor(`layered_runtime: {}\n${NO_TRAFFIC}`);
  assert.deepEqual(await modify(empty, 'a=1'), { status: 200, body: 'OK\n' });
  assert.deepEqual(await runtimeDump(empty), { entries: { a: { final_value: '1', layer_values: ['1'] } }, layers: [''] });
});

test('disk_layer: files are keys; a symlink swap is read within a second, without a restart (a key added, one changed, one removed)', async () => {
  const t = runtimeTree();
  t.write('v1', {
    'envoy/health_check/min_interval': '5\n',
    'envoy/flags/on': '# a comment line\ntrue\n',
    'envoy/gone': '1',
    'other/ignored': 'not in the subdirectory',
  });
  t.write('v2', { 'envoy/health_check/min_interval': '10', 'envoy/flags/on': 'false', 'envoy/added': 'numerator: 1\ndenominator: MILLION' });
  t.swap('v1');
  const l = await legateFor(`
layered_runtime:
  layers:
  - name: disk0
    disk_layer: { symlink_root: ${t.root}/current, subdirectory: envoy }
  - name: admin
    admin_layer: {}
${NO_TRAFFIC}`);
  let d = await runtimeDump(l);
  assert.deepEqual(d.layers, ['disk0', 'admin']);
  assert.deepEqual(Object.fromEntries(Object.entries(d.entries).map(([k, v]) => [k, v.final_value])),
    { 'flags.on': 'true', gone: '1', 'health_check.min_interval': '5' });
  const before = await runtimeStats(l);
  assert.equal(before['runtime.num_keys'], 3);

  const swapped = Date.now();
  t.swap('v2');
  await until('the swapped tree is read', async () => (await runtimeDump(l)).entries.gone === undefined, 1000);
  const ms = Date.now() - swapped;
  d = await runtimeDump(l);
  assert.deepEqual(Object.fromEntries(Object.entries(d.entries).map(([k, v]) => [k, v.final_value])),
    { added: 'numerator: 1\ndenominator: MILLION', 'flags.on': 'false', 'health_check.min_interval': '10' });
  const after = await runtimeStats(l);
  assert.ok(after['runtime.load_success'] > before['runtime.load_success'], `${ms} ms`);
  assert.equal(after['runtime.num_keys'], 3);
  assert.equal(after['runtime.load_error'], 0);

  // A tree that cannot be read (a broken link inside) leaves the layer out and counts load_error.
  t.write('v3', { 'envoy/ok': '1' });
  fs.symlinkSync(path.join(t.root, 'nowhere'), path.join(t.root, 'v3/envoy/broken'));
  t.swap('v3');
  await until('the bad tree is counted', async () => (await runtimeStats(l))['runtime.load_error'] === 1, 3000);
  d = await runtimeDump(l);
  assert.deepEqual(d.layers, ['admin']);
  assert.equal((await runtimeStats(l))['runtime.num_layers'], 1);
  // A symlink to a directory without the subdirectory: no layer, not an error.
  fs.mkdirSync(path.join(t.root, 'v4'));
  t.swap('v4');
  await until('the empty tree is read', async () => (await runtimeStats(l))['runtime.load_success'] > after['runtime.load_success'], 3000);
  assert.equal((await runtimeStats(l))['runtime.load_error'], 1);
});

test('bad layers are refused at startup with their field path', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'legate-runtime-'));
  track(async () => fs.rmSync(dir, { recursive: true, force: true }));
  const protoCases = `
  - static_layer: {}
  - name: x
  - name: r
    rtds_layer: { name: x }`;
  const runtimeCases = `
  - name: a
    admin_layer: {}
  - name: a
    static_layer: {}
  - name: b
    admin_layer: {}
  - name: s
    static_layer: { a: { b: [1, 2] } }
  - name: d
    disk_layer: { symlink_root: ${dir}/missing/current }
  - name: e
    disk_layer: { symlink_root: current }`;
  // Legate lists every problem at once: the protos' (and unsupported fields) first, then the
  // runtime's own checks, which run once the protos pass.
  const cases: [string, RegExp[]][] = [
    [protoCases, [
      /layered_runtime\.layers\[0\]\.name: value length must be at least 1 characters/,
      /layered_runtime\.layers\[1\]: one of "static_layer", "disk_layer", "admin_layer", "rtds_layer" must be set/,
      /layered_runtime\.layers\[2\]\.rtds_layer: field is not supported by Legate/,
    ]],
    [runtimeCases, [
      /layered_runtime\.layers\[1\]\.name: Duplicate layer name: a/,
      /layered_runtime\.layers\[2\]\.admin_layer: Too many admin layers specified in LayeredRuntime, at most one may be specified/,
      /layered_runtime\.layers\[3\]\.static_layer\.a\.b: Invalid runtime entry value for a\.b/,
      new RegExp(`layered_runtime\\.layers\\[4\\]\\.disk_layer\\.symlink_root: unable to add filesystem watch for file ${dir}/missing/current`),
      /layered_runtime\.layers\[5\]\.disk_layer\.symlink_root: invalid file path current/,
    ]],
  ];
  for (const [layers, wants] of cases) {
    const r = await runLegate(['--mode', 'validate', '-c', tmpFile('c.yaml', `layered_runtime:\n  layers:${layers}\n${NO_TRAFFIC}`)]);
    assert.equal(r.code, 1, layers);
    for (const want of wants) assert.match(r.stderr, want);
  }
  // append_service_cluster reads symlink_root/subdirectory/<node.cluster>.
  fs.mkdirSync(path.join(dir, 'tree/envoy/svc'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'tree/envoy/svc/k'), 'v');
  fs.symlinkSync(path.join(dir, 'tree'), path.join(dir, 'current'));
  const l = await legateFor(`
node: { id: n, cluster: svc }
layered_runtime:
  layers:
  - name: d
    disk_layer: { symlink_root: ${dir}/current, subdirectory: envoy, append_service_cluster: true }
${NO_TRAFFIC}`);
  assert.deepEqual((await runtimeDump(l)).entries, { k: { final_value: 'v', layer_values: ['v'] } });
});

test('a reload may not change the runtime layers; admin overrides survive a reload', async () => {
  const up = await httpUp();
  const yaml = (value: number, timeout: string): string => `
layered_runtime:
  layers:
  - { name: s, static_layer: { k: ${value} } }
  - { name: admin, admin_layer: {} }
${proxyConfig([up.port], { routeTimeout: timeout })}`;
  const l = await legateFor(yaml(1, '5s'));
  assert.equal((await modify(l, 'o=1')).status, 200);
  fs.writeFileSync(l.configPath, yaml(2, '5s'));
  let r = await fetch(`${l.admin}/reload`, { method: 'POST', signal: AbortSignal.timeout(15_000) });
  assert.equal(r.status, 400);
  assert.match(await r.text(), /layered_runtime: the runtime layers cannot change while running/);
  fs.writeFileSync(l.configPath, yaml(1, '6s'));
  r = await fetch(`${l.admin}/reload`, { method: 'POST', signal: AbortSignal.timeout(15_000) });
  assert.equal(r.status, 200, await r.text());
  assert.equal((await runtimeDump(l)).entries.o.final_value, '1');
});

// LEAST_REQUEST over hosts of different weights is EDF over weight / (active + 1)^bias. Host A
// (weight 4) holds each request 1.5 s; B and C (weight 1) answer at once. With bias 0 A takes
// about 4 picks in 6 whatever its load; with bias 8 a busy A weighs nothing, and after its first
// two picks (made while it is idle) every pick goes elsewhere. Each worker counts its own active
// requests and reads the bias at its own host set updates, so what each worker's responses show
// (LEGATE_TEST_HOOKS=1 names the worker in `server`) is the bias that worker has.
test('POST /runtime_modify reaches both workers: LEAST_REQUEST re-reads active_request_bias at the next host set update', async () => {
  const health = { status: 200 };
  const a = await httpUp((req, res) => {
    if (req.url === '/health') return void res.end();
    setTimeout(() => res.end('A'), 1500);
  });
  const b = await httpUp((req, res) => { res.end(req.url === '/health' ? '' : 'B'); });
  const c = await httpUp((req, res) => {
    if (req.url === '/health') {
      res.statusCode = health.status;
      return void res.end();
    }
    res.end('C');
  });
  const ep = (port: number, weight: number): string => `
        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${port} } } }
          load_balancing_weight: ${weight}`;
  const l = await legateFor(`
layered_runtime:
  layers:
  - name: base
    static_layer: { lb: { bias: 0 } }
  - name: admin
    admin_layer: {}
static_resources:
  listeners:${hcmListener('proxy', 'ingress', routeAll('up'))}
  clusters:
  - name: up
    connect_timeout: 1s
    lb_policy: LEAST_REQUEST
    least_request_lb_config:
      active_request_bias: { default_value: 1, runtime_key: lb.bias }
    health_checks:
    - timeout: 1s
      interval: 0.1s
      no_traffic_interval: 0.1s
      unhealthy_threshold: 1
      healthy_threshold: 1
      http_health_check: { path: /health }
    load_assignment:
      cluster_name: up
      endpoints:
      - lb_endpoints:${ep(a.port, 4)}${ep(b.port, 1)}${ep(c.port, 1)}
`, { concurrency: 2, env: { LEGATE_TEST_HOOKS: '1' } });
  const port = l.port('proxy');

  /** 32 requests on fresh connections, 20 ms apart (so A's earlier ones are active when later
   *  ones are picked): per worker, how many each host served. */
  async function burst(): Promise<Map<string, Record<string, number>>> {
    const pending: Promise<RawResponse>[] = [];
    for (let i = 0; i < 32; i++) {
      pending.push(rawRequest(port, `GET /${i} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n`, { timeoutMs: 10_000 }));
      await sleep(20);
    }
    const byWorker = new Map<string, Record<string, number>>();
    for (const r of await Promise.all(pending)) {
      assert.equal(r.status, 200);
      const w = /worker-(\d+)$/.exec(r.headers.server ?? '')?.[1] ?? '?';
      const counts = byWorker.get(w) ?? { A: 0, B: 0, C: 0, n: 0 };
      counts[r.body.toString()]++;
      counts.n++;
      byWorker.set(w, counts);
    }
    assert.deepEqual([...byWorker.keys()].sort(), ['0', '1'], JSON.stringify([...byWorker]));
    for (const [w, k] of byWorker) assert.ok(k.n >= 5, `worker ${w} served ${k.n} of 32: too few to tell`);
    return byWorker;
  }
  const clusterHealth = async (): Promise<string> => (await (await fetch(`${l.admin}/clusters`)).text());

  // The static layer's bias 0: weighted round robin, A takes most on both workers.
  for (const [w, k] of await burst()) assert.ok(k.A >= k.n / 2, `bias 0, worker ${w}: ${JSON.stringify(k)}`);

  // An admin override of the bias, then a host set update (C fails its health check).
  assert.deepEqual(await modify(l, 'lb.bias=8'), { status: 200, body: 'OK\n' });
  assert.deepEqual((await runtimeDump(l)).entries['lb.bias'], { final_value: '8', layer_values: ['0', '8'] });
  health.status = 503;
  await until('C is out', async () => (await clusterHealth()).includes(`up::127.0.0.1:${c.port}::health_flags::/failed_active_hc`));
  await sleep(200);
  for (const [w, k] of await burst()) {
    assert.equal(k.C, 0, `worker ${w}: ${JSON.stringify(k)}`);
    // (Two picks while A is idle; a third when requests bunch up before A's first one is counted.)
    assert.ok(k.A <= 3 && k.A < k.n / 2, `bias 8, worker ${w}: ${JSON.stringify(k)}`);
  }

  // The override removed, and C back (another update): bias 0 again on both workers.
  assert.deepEqual(await modify(l, 'lb.bias='), { status: 200, body: 'OK\n' });
  health.status = 200;
  await until('C is back', async () => (await clusterHealth()).includes(`up::127.0.0.1:${c.port}::health_flags::healthy`));
  await sleep(200);
  for (const [w, k] of await burst()) assert.ok(k.A >= k.n / 2, `bias 0 again, worker ${w}: ${JSON.stringify(k)}`);
});
