// The admin port under hostile input, through a real Legate: malformed request targets, every
// endpoint with bad query parameters, and a `filter` regex that backtracks exponentially in an
// ECMAScript engine. Each must be answered (200, 400, 404 or 405) in bounded time; none may
// crash the process or hang its main thread (which also runs the listeners' supervision).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { proxyConfig } from '../helpers/legate.ts';
import { legateFor, httpUp, track } from './fixtures/tracked.ts';
import { RawClient, parseResponse } from './fixtures/clients.ts';

const up = await httpUp();
const legate = await legateFor(proxyConfig([up.port]));
const adminPort = Number(new URL(legate.admin).port);

/** One request on a fresh raw connection; the status line's code, or 'closed'. */
async function rawAdmin(bytes: string, timeoutMs = 3000): Promise<number | 'closed'> {
  const c = await RawClient.connect(adminPort);
  track(async () => c.destroy());
  await c.write(bytes);
  const r = await c.until(() => {
    const p = parseResponse(c.buf, { ended: c.ended });
    if (p !== null) return p.res.status;
    return c.ended ? ('closed' as const) : undefined;
  }, timeoutMs, `an answer to ${JSON.stringify(bytes.slice(0, 60))}`);
  c.destroy();
  return r;
}

async function get(path: string, timeoutMs = 3000): Promise<{ status: number; text: string; ms: number }> {
  const start = performance.now();
  const r = await request(`${legate.admin}${path}`, { signal: AbortSignal.timeout(timeoutMs) });
  const text = await r.body.text();
  return { status: r.statusCode, text, ms: performance.now() - start };
}

async function stillServing(): Promise<void> {
  assert.equal(legate.proc.exitCode, null, `legate exited:\n${legate.stderr()}`);
  assert.equal((await get('/ready')).status, 200);
  const r = await request(`http://127.0.0.1:${legate.port('proxy')}/ok`);
  await r.body.dump();
  assert.equal(r.statusCode, 200);
}

const MALFORMED_TARGETS: [string, readonly (number | 'closed')[]][] = [
  ['GET // HTTP/1.1', [404]],
  ['GET http://[ HTTP/1.1', [400]],
  ['GET http://admin/stats?filter=server.live HTTP/1.1', [200]],
  ['GET * HTTP/1.1', [400]],
  ['OPTIONS * HTTP/1.1', [400]],
  ['GET ?a=b HTTP/1.1', [400]],
  ['GET %zz HTTP/1.1', [400]],
  ['GET /stats?filter=%ZZ%%% HTTP/1.1', [200]],
  ['GET /stats?%=%&=&&format HTTP/1.1', [200, 400]],
  ['GET /stats#frag HTTP/1.1', [200]],
  ['GET /stats?format=json#frag HTTP/1.1', [200]],
  ['GET /\u00ff\u00fe HTTP/1.1', [400, 404]],
  ['GET /ready/../stats HTTP/1.1', [404]],
  [`GET /${'a'.repeat(20_000)} HTTP/1.1`, [404, 414, 431]],
  ['GET /stats HTTP/9.9', [400, 505, 'closed']],
  ['BREW /stats HTTP/1.1', [200, 400, 405]],
];

for (const [line, expect] of MALFORMED_TARGETS) {
  test(`admin: ${JSON.stringify(line.slice(0, 60))} is answered ${expect.join(' or ')}, and Legate keeps serving`, async () => {
    const status = await rawAdmin(`${line}\r\nHost: admin\r\nConnection: close\r\n\r\n`);
    assert.ok(expect.includes(status), `got ${status}`);
    await stillServing();
  });
}

const ENDPOINTS = ['/', '/help', '/clusters', '/config_dump', '/listeners', '/ready', '/server_info',
  '/stats', '/stats/prometheus', '/quitquitquit', '/runtime', '/runtime_modify'];
const BAD_PARAMS = ['format=bogus', 'format=json', 'format=prometheus', 'format=html', 'format=', 'filter=(',
  'filter=%5B', 'filter=(a)%5C1', 'filter=(%3F%3Dx)', 'type=bogus', 'type=', 'histogram_buckets=bogus',
  'histogram_buckets=cumulative&format=json', 'usedonly=maybe', 'resource=x', 'mask=a,b', 'include_eds',
  `filter=${'a'.repeat(10_000)}`, 'format=json&format=text', 'filter=%00', 'format=%FF'];

test('admin: every endpoint with every bad query parameter is answered 200/400/404/405 in bounded time', async () => {
  for (const ep of ENDPOINTS) {
    for (const q of BAD_PARAMS) {
      const r = await get(`${ep}?${q}`);
      assert.ok([200, 400, 404, 405].includes(r.status), `${ep}?${q.slice(0, 40)}: ${r.status} ${r.text.slice(0, 200)}`);
    }
  }
  await stillServing();
});

test('admin: a filter that is exponential for a backtracking engine answers at once (RE2 semantics)', async () => {
  // `^([a-z_.]+)+!` never matches a stat name; a backtracking engine tries 2^n splits per name.
  for (const f of ['^([a-z_.]+)+!', '(a+)+$', '(.*a){20}', '([a-z]+)*[0-9]!']) {
    const r = await get(`/stats?filter=${encodeURIComponent(f)}`, 5000);
    assert.equal(r.status, 200, r.text);
    assert.ok(r.ms < 3000, `${f}: ${r.ms} ms`);
  }
  const p = await get(`/stats/prometheus?filter=${encodeURIComponent('^([a-z_.]+)+!')}`, 5000);
  assert.equal(p.status, 200);
  await stillServing();
});

test('admin: RE2 syntax in filter; backreferences and lookaround are a 400 that says why', async () => {
  const r = await get(`/stats?filter=${encodeURIComponent('(?i)^SERVER\\.LIVE$')}`);
  assert.equal(r.status, 200);
  assert.equal(r.text, 'server.live: 1\n');
  for (const [f, why] of [['(a)\\1', 'backreferences'], ['x(?=y)', 'lookahead'], ['(?<=x)y', 'lookbehind']]) {
    const bad = await get(`/stats?filter=${encodeURIComponent(f)}`);
    assert.equal(bad.status, 400);
    assert.match(bad.text, new RegExp(`Invalid re2 regex: .*${why} (is|are) not supported`));
  }
});
