// The admin endpoints of a real Legate (--concurrency 2) after real traffic: /clusters with the
// per-host counters the workers wrote, /server_info, /config_dump, /ready, the histograms in
// /stats, and /quitquitquit (GET refused, POST drains and exits 0).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { proxyConfig } from '../helpers/legate.ts';
import { legateFor, httpUp } from './fixtures/tracked.ts';

const up = await httpUp();
const legate = await legateFor(proxyConfig([up.port], { clusterExtra: `
    circuit_breakers: { thresholds: [{ max_connections: 77 }] }` }), { concurrency: 2 });
const port = legate.port('proxy');
const N = 6;
for (let i = 0; i < N; i++) {
  // A fresh connection each, so both workers may serve some.
  const r = await request(`http://127.0.0.1:${port}/a/${i}`, { reset: true });
  await r.body.dump();
  assert.equal(r.statusCode, 200);
}

async function admin(path: string, method = 'GET'): Promise<{ status: number; text: string }> {
  const r = await request(`${legate.admin}${path}`, { method });
  return { status: r.statusCode, text: await r.body.text() };
}

test('/clusters shows the host with the counters both workers wrote, and the configured breakers', async () => {
  const { status, text } = await admin('/clusters');
  assert.equal(status, 200);
  const host = `upstream::127.0.0.1:${up.port}::`;
  assert.ok(text.includes(`${host}rq_total::${N}\n`), text);
  assert.ok(text.includes(`${host}rq_success::${N}\n`), text);
  assert.ok(text.includes(`${host}health_flags::healthy\n`), text);
  assert.ok(text.includes('upstream::default_priority::max_connections::77\n'), text);
  const cx = Number(/::cx_total::(\d+)/.exec(text)?.[1]);
  assert.ok(cx >= 1 && cx <= 2, `one pooled connection per worker at most, got ${cx}`);
});

test('/server_info, /ready and /config_dump describe this process', async () => {
  const info = JSON.parse((await admin('/server_info')).text);
  assert.equal(info.state, 'LIVE');
  assert.equal(info.command_line_options.concurrency, 2);
  const ready = await admin('/ready');
  assert.equal(ready.status, 200);
  assert.equal(ready.text.trim(), 'LIVE');
  const dump = JSON.parse((await admin('/config_dump')).text);
  const bootstrap = dump.configs.find((c: { '@type': string }) => c['@type'].endsWith('BootstrapConfigDump')).bootstrap;
  assert.equal(bootstrap.static_resources.clusters[0].name, 'upstream');
});

test('/stats has the request-time histograms with recorded samples', async () => {
  const { text } = await admin('/stats?filter=rq_time');
  assert.match(text, /^cluster\.upstream\.upstream_rq_time: P0\(/m);
  assert.match(text, /^http\.ingress\.downstream_rq_time: P0\(/m);
  assert.doesNotMatch(text, /upstream_rq_time: No recorded values/);
});

test('membership stats: counted once for the process, not once per worker', async () => {
  const { text } = await admin('/stats?filter=cluster\\.upstream\\.(membership|max_host_weight)');
  assert.match(text, /^cluster\.upstream\.membership_total: 1$/m);
  assert.match(text, /^cluster\.upstream\.membership_healthy: 1$/m);
  assert.match(text, /^cluster\.upstream\.membership_degraded: 0$/m);
  assert.match(text, /^cluster\.upstream\.max_host_weight: 1$/m);
  // Envoy counts the initial host set as a change.
  assert.match(text, /^cluster\.upstream\.membership_change: 1$/m);
});

test('/quitquitquit: GET is refused, POST drains and the process exits 0', async () => {
  assert.equal((await admin('/quitquitquit')).status, 405);
  const exited = new Promise<number | null>((resolve) => legate.proc.once('exit', (code) => resolve(code)));
  const r = await admin('/quitquitquit', 'POST');
  assert.equal(r.status, 200);
  const code = await Promise.race([exited, new Promise<string>((res) => setTimeout(() => res('timeout'), 15_000))]);
  assert.equal(code, 0);
});
