// Route table and router features through a real Legate: virtual hosts by domain, prefix / path /
// safe_regex matches, header matchers, prefix_rewrite and host_rewrite_literal, x-forwarded-for
// with use_remote_address, round robin over endpoints, and a file access log in a custom format.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { request } from 'undici';
import { fileAccessLog, hcmListener, staticCluster } from '../helpers/legate.ts';
import { pollLog } from './fixtures/clients.ts';
import { legateFor, httpUp } from './fixtures/tracked.ts';

function get(port: number, p: string, headers: Record<string, string> = {}) {
  return request(`http://127.0.0.1:${port}${p}`, { headers, reset: true });
}

function config(upPorts: number[], logPath: string): string {
  return `
static_resources:
  listeners:${hcmListener('proxy', 'ingress', '', {
    hcmExtra: `
          use_remote_address: true${fileAccessLog(logPath, '%START_TIME% %REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %RESPONSE_CODE% %RESPONSE_FLAGS% %UPSTREAM_CLUSTER%\\n')}`,
    virtualHosts: `
            - name: api
              domains: ["api.example.com", "*.api.example.com"]
              routes:
              - match: { prefix: "/" }
                direct_response: { status: 200, body: { inline_string: "api vhost" } }
            - name: default
              domains: ["*"]
              routes:
              - match:
                  prefix: "/"
                  headers: [{ name: x-canary, string_match: { exact: "1" } }]
                direct_response: { status: 200, body: { inline_string: "canary" } }
              - match: { path: "/exact" }
                direct_response: { status: 200, body: { inline_string: "exact" } }
              - match: { safe_regex: { regex: "/items/[0-9]+" } }
                route: { cluster: upstream }
              - match: { prefix: "/old/" }
                route: { cluster: upstream, prefix_rewrite: "/new/", host_rewrite_literal: rewritten.example }
              - match: { prefix: "/rr" }
                route: { cluster: upstream }`,
  })}
  clusters:${staticCluster('upstream', upPorts)}
`;
}

const upA = await httpUp();
const upB = await httpUp();
const logPath = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'legate-routing-')), 'access.log');
const legate = await legateFor(config([upA.port, upB.port], logPath));
const port = legate.port('proxy');
/** The one request the upstreams received since `mark()` (two endpoints: order is per endpoint). */
const mark = () => [upA.requests.length, upB.requests.length];
function onlyNew(m: number[]) {
  const n = [...upA.requests.slice(m[0]), ...upB.requests.slice(m[1])];
  assert.equal(n.length, 1, 'exactly one request reached the upstreams');
  return n[0];
}

test('virtual hosts: exact and wildcard domains win over *', async () => {
  for (const host of ['api.example.com', 'v2.api.example.com']) {
    const r = await get(port, '/anything', { host });
    assert.equal(await r.body.text(), 'api vhost', host);
  }
  const other = await get(port, '/exact', { host: 'example.org' });
  assert.equal(await other.body.text(), 'exact');
});

test('path, safe_regex (whole path, query ignored) and header matchers; no match is 404', async () => {
  assert.equal(await (await get(port, '/exact?x=1')).body.text(), 'exact');
  assert.equal((await get(port, '/exact/more')).statusCode, 404);
  let m = mark();
  const r = await get(port, '/items/42?q=1');
  assert.equal(r.statusCode, 200);
  await r.body.dump();
  assert.equal(onlyNew(m).url, '/items/42?q=1');
  const bad = await get(port, '/items/42x');
  assert.equal(bad.statusCode, 404);
  await bad.body.dump();
  assert.equal(await (await get(port, '/items/1', { 'x-canary': '1' })).body.text(), 'canary');
  m = mark();
  const notCanary = await get(port, '/items/1', { 'x-canary': '2' });
  assert.equal(notCanary.statusCode, 200);
  await notCanary.body.dump();
  assert.equal(onlyNew(m).url, '/items/1');
});

test('prefix_rewrite and host_rewrite_literal; the original path travels in x-envoy-original-path', async () => {
  const m = mark();
  const r = await get(port, '/old/thing?a=b', { host: 'client.example' });
  assert.equal(r.statusCode, 200);
  await r.body.dump();
  const s = onlyNew(m);
  assert.equal(s.url, '/new/thing?a=b');
  assert.equal(s.headers.host, 'rewritten.example');
  assert.equal(s.headers['x-envoy-original-path'], '/old/thing?a=b');
});

test('use_remote_address: the peer is appended to x-forwarded-for; x-forwarded-proto is set', async () => {
  const m = mark();
  const r = await get(port, '/rr/xff', { 'x-forwarded-for': '203.0.113.7' });
  await r.body.dump();
  const s = onlyNew(m);
  assert.equal(s.headers['x-forwarded-for'], '203.0.113.7,127.0.0.1');
  assert.equal(s.headers['x-forwarded-proto'], 'http');
});

test('round robin spreads requests evenly over the endpoints', async () => {
  const a0 = upA.requests.length;
  const b0 = upB.requests.length;
  for (let i = 0; i < 10; i++) {
    const r = await get(port, `/rr/${i}`);
    assert.equal(r.statusCode, 200);
    await r.body.dump();
  }
  assert.equal(upA.requests.length - a0, 5);
  assert.equal(upB.requests.length - b0, 5);
});

test('the file access log gets one line per request in the configured format', async () => {
  const before = Date.now();
  const r = await get(port, '/old/logged');
  await r.body.dump();
  const miss = await get(port, '/exact/nope');
  await miss.body.dump();
  const text = await pollLog(logPath, (t) => t.includes('GET /exact/nope 404 NR -'));
  const after = Date.now();
  // "<START_TIME> <rest>": the start time is the request's, in Envoy's ISO form (the log has the
  // earlier tests' requests too).
  const lines = new Map<string, string>();
  for (const l of text.trim().split('\n')) {
    const sp = l.indexOf(' ');
    assert.match(l.slice(0, sp), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, l);
    lines.set(l.slice(sp + 1), l.slice(0, sp));
  }
  for (const rest of ['GET /old/logged 200 - upstream', 'GET /exact/nope 404 NR -']) {
    const start = lines.get(rest);
    assert.ok(start !== undefined, text);
    const t = Date.parse(start);
    assert.ok(t >= before - 2 && t <= after, `start time ${start} outside the test's window`);
  }
});
