// The HTTP checker over HTTP/2 (codec_client_type HTTP2, ../common/h2.ts) against a real h2c server:
// statuses, reuse_connection, and what counts as a network failure (refused, reset, timeout).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import type net from 'node:net';
import httpChecker, { type HttpCheckSnap } from '../../../src/extensions/health-checkers/http/index.ts';
import { deadPort, listen } from '../../integration/fixtures/upstreams.ts';

const snap = (extra: Partial<HttpCheckSnap> = {}): HttpCheckSnap => ({
  host: '', path: '/hc', method: 'GET', headers: [], remove: [], expected: [[200, 201]], retriable: [], http2: true, ...extra,
});

const answer = { status: 200, reset: false, silent: false };
let sessions = 0;
const seen: http2.IncomingHttpHeaders[] = [];
const server = http2.createServer();
server.on('session', (s) => { sessions++; s.on('error', () => {}); });
server.on('stream', (stream, headers) => {
  seen.push(headers);
  stream.on('error', () => {});
  if (answer.silent) return;
  if (answer.reset) return stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
  (stream as http2.ServerHttp2Stream).respond({ ':status': answer.status, ...(answer.status === 299 ? { 'x-envoy-degraded': '1' } : {}) });
  // (A HEAD answer ends with its headers.)
  if (headers[':method'] !== 'HEAD') stream.end('ignored body');
});
const port = await listen(server as unknown as net.Server);
after(() => new Promise<void>((r) => { server.close(() => r()); }));
const target = { address: '127.0.0.1', port, hostname: '' };

test('statuses, Host precedence and one session kept between checks', async () => {
  const c = httpChecker.createCheck(snap({ expected: [[200, 300]], retriable: [[429, 430]] }), { cluster: 'up', reuseConnection: true });
  const before = sessions;
  assert.deepEqual(await c.check(target, 1000), { ok: true, degraded: false });
  assert.equal(seen.at(-1)![':authority'], 'up');
  answer.status = 299;
  assert.deepEqual(await c.check({ ...target, hostname: 'ep.test' }, 1000), { ok: true, degraded: true });
  assert.equal(seen.at(-1)![':authority'], 'ep.test');
  answer.status = 429;
  assert.deepEqual(await c.check(target, 1000), { ok: false, network: false, retriable: true, reason: 'status 429' });
  answer.status = 503;
  assert.deepEqual(await c.check(target, 1000), { ok: false, network: false, retriable: false, reason: 'status 503' });
  assert.equal(sessions - before, 1);
  c.stop();
  answer.status = 200;
});

test('without reuse_connection each check has its own session', async () => {
  const c = httpChecker.createCheck(snap({ method: 'HEAD' }), { cluster: 'up', reuseConnection: false });
  const before = sessions;
  for (let i = 0; i < 3; i++) assert.equal((await c.check(target, 1000)).ok, true);
  assert.equal(seen.at(-1)![':method'], 'HEAD');
  assert.equal(sessions - before, 3);
  c.stop();
});

test('refused, reset and timed out checks are network failures', async () => {
  const c = httpChecker.createCheck(snap(), { cluster: 'up', reuseConnection: true });
  const refused = await c.check({ address: '127.0.0.1', port: await deadPort(), hostname: '' }, 1000);
  assert.equal(!refused.ok && refused.network, true);
  answer.reset = true;
  const reset = await c.check(target, 1000);
  assert.equal(!reset.ok && reset.network, true);
  answer.reset = false;
  answer.silent = true;
  const t0 = Date.now();
  const timedOut = await c.check(target, 200);
  assert.deepEqual(timedOut, { ok: false, network: true, retriable: false, reason: 'timeout' });
  assert.ok(Date.now() - t0 < 1000);
  answer.silent = false;
  // A fresh session after the failures.
  assert.equal((await c.check(target, 1000)).ok, true);
  c.stop();
});
