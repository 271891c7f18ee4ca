// Per-connection and per-request objects must not outlive their connection: after many proxied
// requests over short connections, the connection objects are collected (FinalizationRegistry).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import v8 from 'node:v8';
import vm from 'node:vm';
import { setTimeout as sleep } from 'node:timers/promises';
import { startInProcess } from '../../helpers/in-process.ts';
import { proxyConfig } from '../../helpers/legate.ts';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

const upstream = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => res.end('ok'));
});
await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
const upstreamPort = (upstream.address() as net.AddressInfo).port;
const proxy = await startInProcess(proxyConfig([upstreamPort]));

after(async () => {
  await proxy.close();
  await new Promise<void>((r) => upstream.close(() => r()));
});

function twoRequests(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    const t = setTimeout(() => { s.destroy(); reject(new Error('timeout')); }, 5000);
    s.on('data', (d) => {
      got += d.toString('latin1');
      if (got.split('\r\n\r\nok').length === 3) s.end();
    });
    s.on('close', () => { clearTimeout(t); resolve(got); });
    s.on('error', reject);
    s.write('GET /a HTTP/1.1\r\nHost: x\r\n\r\nPOST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc');
  });
}

test('connections and their streams are collected after they close', async () => {
  let created = 0;
  let collected = 0;
  const registry = new FinalizationRegistry(() => { collected++; });
  proxy.onConnection = (c) => { created++; registry.register(c, null); };
  const N = 200;
  for (let i = 0; i < N; i += 20) {
    const out = await Promise.all(Array.from({ length: 20 }, () => twoRequests(proxy.port)));
    for (const o of out) assert.equal(o.match(/HTTP\/1\.1 200 OK/g)?.length, 2);
  }
  assert.equal(created, N);
  assert.equal(proxy.counter('http.ingress.downstream_rq_2xx'), 2 * N);
  for (let i = 0; i < 20 && collected < N; i++) {
    gc();
    await sleep(50);
  }
  // All but a handful (the last sockets may still be closing) must be gone.
  assert.ok(collected >= N - 5, `only ${collected} of ${N} connections were collected`);
  assert.equal(proxy.counter('http.ingress.downstream_cx_active'), 0);
  assert.equal(proxy.counter('http.ingress.downstream_rq_active'), 0);
});

test('connections whose client leaves mid-request are collected too (no timer keeps them)', async () => {
  let created = 0;
  let collected = 0;
  const registry = new FinalizationRegistry(() => { collected++; });
  proxy.onConnection = (c) => { created++; registry.register(c, null); };
  const N = 100;
  const aborts = Array.from({ length: N }, (_, i) => new Promise<void>((resolve) => {
    const s = net.connect(proxy.port, '127.0.0.1');
    s.on('error', () => {});
    s.on('close', () => resolve());
    // Half a head (a stream exists from the first byte), or a whole head with half its body.
    s.write(i % 2 === 0 ? 'GET /a HTTP/1.1\r\nHo' : 'POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc',
      () => setTimeout(() => s.destroy(), 20));
  }));
  await Promise.all(aborts);
  for (let i = 0; i < 40 && (created < N || proxy.counter('http.ingress.downstream_cx_active') > 0); i++) await sleep(25);
  assert.equal(created, N);
  for (let i = 0; i < 20 && collected < N; i++) {
    gc();
    await sleep(50);
  }
  assert.ok(collected >= N - 5, `only ${collected} of ${N} aborted connections were collected`);
  assert.equal(proxy.counter('http.ingress.downstream_rq_active'), 0);
});
