// The process around the data plane: --mode validate, serve-mode config errors, the embedded
// default config (examples/default.yaml) with its ports moved, and SIGTERM draining a request.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import YAML from 'yaml';
import { Agent, request } from 'undici';
import { startLegate, runLegate, proxyConfig, tmpFile } from '../helpers/legate.ts';
import { deadPort, httpUpstream, echo, withTimeout, type HttpUpstream } from './fixtures/upstreams.ts';
import { RawClient, curl, pollStat } from './fixtures/clients.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const DEFAULT_YAML = path.join(ROOT, 'examples/default.yaml');

const cleanup: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const f of cleanup.reverse()) await f();
});

async function delayedUpstream(ms: number): Promise<HttpUpstream> {
  const up = await httpUpstream((req, res, body) => setTimeout(() => echo(req, res, body), ms));
  cleanup.push(() => up.close());
  return up;
}

test('--mode validate: a config with an unknown field exits non-zero and names the field path', async () => {
  const bad = proxyConfig([8080]).replace('lb_policy: ROUND_ROBIN', 'lb_polcy: ROUND_ROBIN');
  assert.ok(bad.includes('lb_polcy'));
  const r = await runLegate(['--mode', 'validate', '-c', tmpFile('bad.yaml', bad)]);
  assert.notEqual(r.code, 0, `exit ${r.code}; stdout: ${r.stdout}`);
  assert.ok(r.stderr.includes('static_resources.clusters[0].lb_polcy'), r.stderr);
});

test('--mode validate: a bad value exits non-zero and names the field path', async () => {
  const bad = proxyConfig([8080]).replace('connect_timeout: 1s', 'connect_timeout: soon');
  const r = await runLegate(['--mode', 'validate', '-c', tmpFile('bad-value.yaml', bad)]);
  assert.notEqual(r.code, 0, `exit ${r.code}; stdout: ${r.stdout}`);
  assert.ok(r.stderr.includes('static_resources.clusters[0].connect_timeout'), r.stderr);
});

test('--mode validate: a valid config exits 0', async () => {
  const r = await runLegate(['--mode', 'validate', '-c', tmpFile('good.yaml', proxyConfig([8080]))]);
  assert.equal(r.code, 0, r.stderr);
});

test('--mode validate -c examples/default.yaml exits 0', async () => {
  const r = await runLegate(['--mode', 'validate', '-c', DEFAULT_YAML]);
  assert.equal(r.code, 0, r.stderr);
});

test('the TLS, passthrough and WebSocket examples validate, with the certificates scripts/example-certs.sh makes', async () => {
  const certs = fs.mkdtempSync(path.join(os.tmpdir(), 'legate-example-certs-'));
  execFileSync(path.join(ROOT, 'scripts/example-certs.sh'), [certs], { stdio: 'ignore' });
  for (const name of ['tls-edge.yaml', 'tcp-sni-passthrough.yaml', 'websocket.yaml']) {
    const text = fs.readFileSync(path.join(ROOT, 'examples', name), 'utf8').replaceAll('examples/certs/', `${certs}/`);
    const r = await runLegate(['--mode', 'validate', '-c', tmpFile(name, text)]);
    assert.equal(r.code, 0, `${name}: ${r.stderr}`);
  }
});

test('serve mode with an invalid config exits 1 without listening, naming the field path', async () => {
  const bad = proxyConfig([8080]).replace('lb_policy: ROUND_ROBIN', 'lb_polcy: ROUND_ROBIN');
  const r = await runLegate(['-c', tmpFile('bad-serve.yaml', bad), '--admin-address', '127.0.0.1:0']);
  assert.equal(r.code, 1, r.stderr);
  assert.ok(r.stderr.includes('static_resources.clusters[0].lb_polcy'), r.stderr);
});

test('the default config, ports moved off 10000/10001/9901, proxies to its own direct_response', async () => {
  const doc = YAML.parse(fs.readFileSync(DEFAULT_YAML, 'utf8'));
  const backendPort = await deadPort(); // free right now; the backend listener must have a known port
  const [front, backend] = doc.static_resources.listeners;
  assert.equal(front.name, 'listener_0');
  assert.equal(backend.name, 'backend');
  front.address.socket_address.address = '127.0.0.1';
  front.address.socket_address.port_value = 0;
  backend.address.socket_address.port_value = backendPort;
  const ep = doc.static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0].endpoint;
  ep.address.socket_address.port_value = backendPort;
  // A short drain: Legate's own pooled connection listener_0 -> backend stays open until then.
  const l = await startLegate(YAML.stringify(doc), { args: ['--drain-time-s', '1'] });
  cleanup.push(() => l.stop());
  assert.equal(l.port('backend'), backendPort);
  const viaProxy = await curl([`http://127.0.0.1:${l.port('listener_0')}/`]);
  assert.equal(viaProxy.code, 0, viaProxy.stderr);
  assert.equal(viaProxy.stdout.toString(), 'Hello from Legate\n');
  const direct = await curl([`http://127.0.0.1:${backendPort}/`]);
  assert.equal(direct.stdout.toString(), 'Hello from Legate\n');
  assert.equal(await pollStat(l, 'http.ingress_http.downstream_rq_2xx', (v) => v === 1), 1);
  assert.equal(await pollStat(l, 'http.backend.downstream_rq_2xx', (v) => v === 2), 2);
  assert.equal(await pollStat(l, 'cluster.local_service.upstream_rq_total', (v) => v === 1), 1);
  // The stdout access log of listener_0 (Envoy's default format) has the proxied request.
  assert.equal(await l.stop(), 0);
  assert.match(l.stdout(), /"GET \/ HTTP\/1\.1" 200 - 0 18 \d+ \d+ "-" "curl\/[^"]+" "[0-9a-f-]{36}" "127\.0\.0\.1:\d+" "127\.0\.0\.1:\d+"/);
});

test('SIGTERM with a request in flight (Connection: close): the response completes, then exit 0', async () => {
  const up = await delayedUpstream(300);
  const l = await startLegate(proxyConfig([up.port]));
  cleanup.push(() => l.stop('SIGKILL'));
  const c = await RawClient.connect(l.port('proxy'));
  try {
    await c.write('POST /inflight HTTP/1.1\r\nHost: h\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello');
    await up.nextRequest();
    const t0 = performance.now();
    const exited = l.stop('SIGTERM');
    const r = await c.readResponse({ timeoutMs: 5000 });
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), 'hello');
    await c.waitForEnd();
    assert.equal(await withTimeout(exited, 10_000, 'legate to exit'), 0);
    const ms = performance.now() - t0;
    assert.ok(ms < 5000, `exited ${ms} ms after SIGTERM though its only request was done`);
  } finally {
    c.destroy();
  }
});

test('SIGTERM with a request in flight on a keep-alive connection: response completes with Connection: close, exit 0 promptly', async () => {
  const up = await delayedUpstream(300);
  const l = await startLegate(proxyConfig([up.port]));
  cleanup.push(() => l.stop('SIGKILL'));
  const agent = new Agent({ keepAliveTimeout: 60_000 });
  cleanup.push(() => agent.close());
  const port = l.port('proxy');
  // A first request leaves an idle keep-alive connection in the agent; the second is in flight.
  const warm = await request(`http://127.0.0.1:${port}/warm`, { dispatcher: agent });
  await warm.body.dump();
  const pending = request(`http://127.0.0.1:${port}/inflight`, { dispatcher: agent });
  await up.nextRequest();
  const t0 = performance.now();
  const exited = l.stop('SIGTERM');
  const r = await pending;
  assert.equal(r.statusCode, 200);
  assert.equal(await r.body.text(), 'GET /inflight');
  // Envoy's HTTP/1 drain: responses during drain say Connection: close and the connection ends.
  assert.equal(r.headers.connection, 'close');
  assert.equal(await withTimeout(exited, 15_000, 'legate to exit'), 0);
  const ms = performance.now() - t0;
  assert.ok(ms < 5000, `exited ${ms} ms after SIGTERM: the drained keep-alive connection held it until --drain-time-s`);
});

test('after SIGTERM the listener stops accepting new requests', async () => {
  const up = await delayedUpstream(300);
  const l = await startLegate(proxyConfig([up.port]));
  cleanup.push(() => l.stop('SIGKILL'));
  const port = l.port('proxy');
  const c = await RawClient.connect(port);
  try {
    await c.write('GET /hold HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n');
    await up.nextRequest();
    const exited = l.stop('SIGTERM');
    await new Promise((r) => setTimeout(r, 50));
    // A new connection is refused or closed without a proxied response.
    const seenBefore = up.requests.length;
    const late = await curl(['-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '3', `http://127.0.0.1:${port}/late`]);
    assert.notEqual(late.stdout.toString(), '200', 'a request after SIGTERM was proxied');
    assert.equal(up.requests.length, seenBefore);
    const r = await c.readResponse();
    assert.equal(r.status, 200);
    assert.equal(await withTimeout(exited, 10_000, 'legate to exit'), 0);
  } finally {
    c.destroy();
  }
});
