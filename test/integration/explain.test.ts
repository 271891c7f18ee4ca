// `legate explain` and GET /explain against a running Legate: for every request of a route table
// (virtual hosts by exact and wildcard domain, path / prefix / regex / header / query matchers,
// direct responses, a redirect, a prefix rewrite, custom request headers), what the explanation
// says must be what the proxy does: the same action, cluster, upstream path and headers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import path from 'node:path';
import { request } from 'undici';
import { legateFor, httpUp } from './fixtures/tracked.ts';
import { hcmListener, staticCluster } from '../helpers/legate.ts';
import type { Explanation } from '../../src/main/explain.ts';

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../..');

function config(a: number, b: number): string {
  return `
static_resources:
  listeners:${hcmListener('proxy', 'ingress', '', { hcmExtra: `
          merge_slashes: true`, virtualHosts: `
            - name: api
              domains: ["api.test", "*.api.test"]
              routes:
              - name: health
                match: { path: "/health" }
                direct_response: { status: 200, body: { inline_string: "ok" } }
              - name: beta
                match: { prefix: "/v2/", headers: [{ name: x-beta, string_match: { exact: "1" } }] }
                route: { cluster: b, prefix_rewrite: "/beta/" }
              - name: items
                match: { safe_regex: { regex: "/items/[0-9]+" } }
                route: { cluster: b }
              - name: search
                match: { prefix: "/search", query_parameters: [{ name: q, present_match: true }] }
                route: { cluster: b }
              - name: old
                match: { prefix: "/old" }
                redirect: { prefix_rewrite: "/new", response_code: FOUND }
              - name: rest
                match: { prefix: "/" }
                route: { cluster: a }
                request_headers_to_add: [{ header: { key: x-route, value: "rest %REQ(x-tag)%" } }]
            - name: frac
              domains: ["frac.test"]
              routes:
              - name: half
                match: { prefix: "/", runtime_fraction: { default_value: { numerator: 50 } } }
                route: { cluster: a }
              - name: other
                match: { prefix: "/" }
                route: { cluster: b }
            - name: www
              domains: ["www.test"]
              routes:
              - match: { prefix: "/", case_sensitive: false }
                route: { cluster: b }
            - name: fallback
              domains: ["*"]
              routes:
              - match: { prefix: "/" }
                direct_response: { status: 404, body: { inline_string: "none" } }` })}
  clusters:${staticCluster('a', [a])}${staticCluster('b', [b])}
`;
}

/** The route test table: [authority, path, headers]. */
const TABLE: [string, string, Record<string, string>][] = [
  ['api.test', '/health', {}],
  ['api.test', '/v2/users', { 'x-beta': '1' }],
  ['api.test', '/v2/users', { 'x-tag': 't1' }],
  ['api.test', '//v2//users', { 'x-beta': '1' }],
  ['api.test', '/items/42', {}],
  ['api.test', '/items/x', {}],
  ['x.api.test', '/search?q=1', {}],
  ['x.api.test', '/search', {}],
  ['api.test', '/old/page?a=b', {}],
  ['www.test', '/ANY', {}],
  ['nothing.test', '/', {}],
  ['api.test:8080', '/health', {}],
];

test('GET /explain and `legate explain` agree with what the running proxy does, request by request', async () => {
  const a = await httpUp();
  const b = await httpUp();
  const l = await legateFor(config(a.port, b.port));
  const port = l.port('proxy');
  for (const [authority, p, headers] of TABLE) {
    const label = `${authority}${p} ${JSON.stringify(headers)}`;
    const seen = { a: a.requests.length, b: b.requests.length };
    const r = await request(`http://127.0.0.1:${port}${p}`, { headers: { host: authority, ...headers }, reset: true });
    await r.body.dump();
    const up = a.requests.length > seen.a ? 'a' : b.requests.length > seen.b ? 'b' : null;
    const upReq = up === 'a' ? a.requests.at(-1)! : up === 'b' ? b.requests.at(-1)! : null;

    const q = new URLSearchParams({ url: `http://127.0.0.1:${port}${p}`, format: 'json' });
    q.append('header', `host: ${authority}`);
    for (const [k, v] of Object.entries(headers)) q.append('header', `${k}: ${v}`);
    const res = await fetch(`${l.admin}/explain?${q}`, { signal: AbortSignal.timeout(10_000) });
    assert.equal(res.status, 200, label);
    const e = await res.json() as Explanation;
    assert.equal(e.stop, '', label);
    const act = e.http!.action;
    if (up === null) {
      // A local answer: a direct response or a redirect, with the proxy's status and Location.
      assert.ok(act !== null && act.kind !== 'cluster', `${label}: explain says ${act?.kind}`);
      assert.equal(act.status, r.statusCode, label);
      assert.equal(act.location ?? undefined, r.headers.location, label);
      continue;
    }
    assert.equal(r.statusCode, 200, label);
    assert.ok(act !== null && act.kind === 'cluster', label);
    assert.equal(act.cluster, up, label);
    assert.equal(act.upstreamRequest!.path, upReq!.url, label);
    // (The upstream's parser drops a value's trailing whitespace, as HTTP says it is not part of it.)
    for (const [k, v] of act.upstreamRequest!.added) assert.equal(upReq!.headers[k], v.trim(), `${label}: ${k}`);
  }
  // The answers above are not all alike: the table reaches every kind.
  assert.ok(a.requests.length >= 3 && b.requests.length >= 4, `a ${a.requests.length}, b ${b.requests.length}`);

  // The command line, on the same config file: the same answer for a rewritten request.
  const { stdout } = await run(path.join(ROOT, 'node_modules/.bin/node'), [path.join(ROOT, 'bin/legate.js'), 'explain',
    '-c', l.configPath, '--listener', 'proxy', '--url', 'http://api.test/v2/users?x=1', '-H', 'x-beta: 1', '--json'],
    { timeout: 30_000 });
  const cli = JSON.parse(stdout) as Explanation;
  assert.equal(cli.http!.route.virtualHost!.name, 'api');
  assert.deepEqual(cli.http!.route.route, { index: 1, name: 'beta' });
  assert.deepEqual(cli.http!.route.skipped, [{ index: 0, name: 'health', reasons: ['path "/v2/users" is not path "/health"'] }]);
  assert.equal(cli.http!.action!.upstreamRequest!.path, '/beta/users?x=1');
  const text = await run(path.join(ROOT, 'node_modules/.bin/node'), [path.join(ROOT, 'bin/legate.js'), 'explain',
    '-c', l.configPath, '--listener', 'proxy', '--url', 'http://www.test/x'], { timeout: 30_000 });
  assert.match(text.stdout, /virtual host {3}"www": host "www.test" matches domain "www.test" \(exact\)/);
  assert.match(text.stdout, /action {9}cluster "b"/);
});

test('GET /explain refuses a request it cannot read, by name', async () => {
  const a = await httpUp();
  const b = await httpUp();
  const l = await legateFor(config(a.port, b.port));
  const none = await fetch(`${l.admin}/explain`, { signal: AbortSignal.timeout(10_000) });
  assert.equal(none.status, 400);
  assert.match(await none.text(), /url parameter is required/);
  const bad = await fetch(`${l.admin}/explain?url=ftp://x/`, { signal: AbortSignal.timeout(10_000) });
  assert.equal(bad.status, 400);
  assert.match(await bad.text(), /expected http:\/\/ or https:\/\//);
  const header = await fetch(`${l.admin}/explain?url=http://x/&header=nocolon`, { signal: AbortSignal.timeout(10_000) });
  assert.equal(header.status, 400);
  const other = await fetch(`${l.admin}/explain?url=http://x:1/`, { signal: AbortSignal.timeout(10_000) });
  assert.match(await other.text(), /stop {11}no listener is bound to port 1/);
  // A runtime_fraction route: the stream's random value decides, and is given back.
  const frac = async (random: number) => {
    const q = new URLSearchParams({ url: `http://127.0.0.1:${l.port('proxy')}/x`, header: 'host: frac.test', random: String(random) });
    const r = await fetch(`${l.admin}/explain?${q}`, { signal: AbortSignal.timeout(10_000) });
    return r.text();
  };
  const inside = await frac(110);
  assert.match(inside, /\(random value 110\)/);
  assert.match(inside, /route {10}#0 "half"/);
  const outside = await frac(170);
  assert.match(outside, /skipped {6}#0 "half": runtime_fraction: not enabled for random value 170 \(default_value 50\/100, no runtime_key\)/);
  assert.match(outside, /route {10}#1 "other"/);
});
