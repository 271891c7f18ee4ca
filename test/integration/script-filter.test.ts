// legate.filters.http.script through a real Legate (--concurrency 2) with real clients and a real
// upstream: a user TypeScript filter adds headers; one that throws, or whose promise rejects, fails
// its own stream only (500, flag SFE, http.<prefix>.script.<name>.error) while the next request on
// the same connection succeeds; a promise holds the stream until it settles; a filter that never
// resumes is ended by stream_idle_timeout; a filter's own local reply; a buffered response body
// replaced with its content-length fixed; the examples (add-header, api-key, json-rewrite) as
// shipped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { request } from 'undici';
import { fileAccessLog, hcmListener, routeAll, staticCluster } from '../helpers/legate.ts';
import { httpUp, legateFor } from './fixtures/tracked.ts';
import { RawClient, pollLog, pollStat } from './fixtures/clients.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const TYPE = 'type.googleapis.com/legate.filters.http.script.v1.Script';
const BEHAVIOURS = path.join(import.meta.dirname, 'fixtures/filters/behaviours.ts');

function scriptFilter(name: string, module: string, config: string): string {
  return `
          - name: ${name}
            typed_config:
              "@type": ${TYPE}
              module: ${module}
              config: ${config}`;
}

const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'legate-script-'));
const accessLog = path.join(logDir, 'access.log');

async function setup() {
  const up = await httpUp();
  const yaml = `
static_resources:
  listeners:${hcmListener('proxy', 'ingress', routeAll('upstream'), {
    hcmExtra: `
          stream_idle_timeout: 1s${fileAccessLog(accessLog, '%REQ(:PATH)% %RESPONSE_CODE% %RESPONSE_FLAGS%\\n')}`,
    httpFilters: scriptFilter('test.filter', BEHAVIOURS, '{ header: x-hello, value: hi }'),
  })}${hcmListener('examples', 'examples', routeAll('upstream'), {
    httpFilters: scriptFilter('api_key', path.join(ROOT, 'examples/filters/api-key.ts'),
      '{ keys: [k-123], public_prefixes: [/public/] }')
      + scriptFilter('json', path.join(ROOT, 'examples/filters/json-rewrite.ts'), '{ set: { source: legate }, remove: [debug] }')
      + scriptFilter('add_header', path.join(ROOT, 'examples/filters/add-header.ts'), '{ header: x-hello, value: hi }'),
  })}
  clusters:${staticCluster('upstream', [up.port])}
`;
  const legate = await legateFor(yaml, { concurrency: 2 });
  return { up, legate, port: legate.port('proxy'), examples: legate.port('examples') };
}

const ctx = setup();

function rawGet(p: string): string {
  return `GET ${p} HTTP/1.1\r\nhost: t\r\n\r\n`;
}

test('a TypeScript filter adds a request header (upstream) and a response header (client)', async () => {
  const { up, port } = await ctx;
  const res = await request(`http://127.0.0.1:${port}/hello`, { headersTimeout: 5000, bodyTimeout: 5000 });
  assert.equal(res.statusCode, 200);
  assert.equal(res.headers['x-filtered'], 'yes');
  await res.body.text();
  const seen = up.requests.at(-1)!;
  assert.equal(seen.url, '/hello');
  assert.equal(seen.headers['x-hello'], 'hi');
  assert.match(String(seen.headers['x-worker']), /^[01]$/);
});

test('a filter that throws gives its stream a 500 (flag SFE, error stat); the next request on the same connection succeeds', async () => {
  const { legate, port } = await ctx;
  const before = (await legate.stats()).get('http.ingress.script.test.filter.error') ?? 0;
  const c = await RawClient.connect(port);
  try {
    // Pipelined: both requests in one write.
    await c.write(rawGet('/throw') + rawGet('/after-throw'));
    const r1 = await c.readResponse();
    assert.equal(r1.status, 500);
    assert.equal(r1.body.toString(), 'Internal Server Error');
    const r2 = await c.readResponse();
    assert.equal(r2.status, 200);
    assert.equal(r2.headers['x-filtered'], 'yes');
    // And a third, after both, on the same keep-alive connection.
    await c.write(rawGet('/after-throw-2'));
    assert.equal((await c.readResponse()).status, 200);
    assert.equal(c.ended, false);
  } finally {
    c.destroy();
  }
  assert.equal(await pollStat(legate, 'http.ingress.script.test.filter.error', (v) => v === before + 1), before + 1);
  const log = await pollLog(accessLog, (t) => t.includes('/throw 500'));
  assert.match(log, /^\/throw 500 SFE$/m);
  assert.match(log, /^\/after-throw 200 -$/m);
  assert.match(legate.stderr(), /script filter "test.filter" failed in decodeHeaders: Error: boom from the test filter/);
});

test('a rejected promise gives its stream a 500; the connection and the next request go on', async () => {
  const { legate, port } = await ctx;
  const before = (await legate.stats()).get('http.ingress.script.test.filter.error') ?? 0;
  const c = await RawClient.connect(port);
  try {
    await c.write(rawGet('/reject'));
    const r1 = await c.readResponse();
    assert.equal(r1.status, 500);
    await c.write(rawGet('/after-reject'));
    const r2 = await c.readResponse();
    assert.equal(r2.status, 200);
    assert.equal(r2.headers['x-filtered'], 'yes');
  } finally {
    c.destroy();
  }
  assert.equal(await pollStat(legate, 'http.ingress.script.test.filter.error', (v) => v === before + 1), before + 1);
  assert.match(await pollLog(accessLog, (t) => t.includes('/reject 500')), /^\/reject 500 SFE$/m);
});

test('a promise holds the stream until it settles, then the stream continues', async () => {
  const { up, port } = await ctx;
  const res = await request(`http://127.0.0.1:${port}/async`, { method: 'POST', body: 'payload', headersTimeout: 5000 });
  assert.equal(res.statusCode, 200);
  assert.equal(await res.body.text(), 'payload');
  const seen = up.requests.find((r) => r.url === '/async')!;
  assert.equal(seen.headers['x-async'], 'done');
  assert.equal(seen.body.toString(), 'payload');
});

test('a filter that never resumes is ended by stream_idle_timeout (408, SI)', async () => {
  const { port } = await ctx;
  const t0 = Date.now();
  const c = await RawClient.connect(port);
  try {
    await c.write(rawGet('/hang'));
    const r = await c.readResponse({ timeoutMs: 5000 });
    assert.equal(r.status, 408);
    assert.ok(Date.now() - t0 >= 900, `answered after ${Date.now() - t0} ms`);
  } finally {
    c.destroy();
  }
  assert.match(await pollLog(accessLog, (t) => t.includes('/hang 408')), /^\/hang 408 SI$/m);
});

test('a filter answers by itself (sendLocalReply with a header); the upstream never sees it', async () => {
  const { up, port } = await ctx;
  const res = await request(`http://127.0.0.1:${port}/reply`, { headersTimeout: 5000 });
  assert.equal(res.statusCode, 403);
  assert.equal(res.headers['x-why'], 'test');
  assert.equal(await res.body.text(), 'no\n');
  assert.equal(up.requests.some((r) => r.url === '/reply'), false);
});

test('a buffered response body is replaced and its content-length follows', async () => {
  const { port } = await ctx;
  const res = await request(`http://127.0.0.1:${port}/resp-rewrite`, { method: 'POST', body: 'abc', headersTimeout: 5000 });
  assert.equal(res.statusCode, 200);
  const text = await res.body.text();
  assert.equal(text, 'rewritten: ABC');
  assert.equal(res.headers['content-length'], String(text.length));
});

test('an exception after the response head went resets that stream only', async () => {
  const { legate, port } = await ctx;
  const before = (await legate.stats()).get('http.ingress.script.test.filter.error') ?? 0;
  await assert.rejects(request(`http://127.0.0.1:${port}/late-throw`, { headersTimeout: 5000, bodyTimeout: 5000 })
    .then((r) => r.body.text()));
  assert.equal(await pollStat(legate, 'http.ingress.script.test.filter.error', (v) => v === before + 1), before + 1);
  const res = await request(`http://127.0.0.1:${port}/after-late`, { headersTimeout: 5000 });
  assert.equal(res.statusCode, 200);
  await res.body.text();
});

test('examples/filters/api-key.ts: 401 without a known key, 200 (key stripped) with one, /public/ open', async () => {
  const { up, examples } = await ctx;
  const no = await request(`http://127.0.0.1:${examples}/x`, { headersTimeout: 5000 });
  assert.equal(no.statusCode, 401);
  assert.equal(no.headers['www-authenticate'], 'ApiKey');
  await no.body.text();
  const bad = await request(`http://127.0.0.1:${examples}/x`, { headers: { 'x-api-key': 'nope' }, headersTimeout: 5000 });
  assert.equal(bad.statusCode, 401);
  await bad.body.text();
  const ok = await request(`http://127.0.0.1:${examples}/keyed`, { headers: { 'X-Api-Key': 'k-123' }, headersTimeout: 5000 });
  assert.equal(ok.statusCode, 200);
  await ok.body.text();
  const seen = up.requests.find((r) => r.url === '/keyed')!;
  assert.equal(seen.headers['x-api-key'], undefined);
  assert.equal(seen.headers['x-hello'], 'hi');
  const open = await request(`http://127.0.0.1:${examples}/public/doc`, { headersTimeout: 5000 });
  assert.equal(open.statusCode, 200);
  await open.body.text();
});

test('examples/filters/json-rewrite.ts rewrites a JSON body (one chunk and many) with the right content-length', async () => {
  const { up, examples } = await ctx;
  const headers = { 'x-api-key': 'k-123', 'content-type': 'application/json' };
  const res = await request(`http://127.0.0.1:${examples}/json`, {
    method: 'POST', headers, body: JSON.stringify({ a: 1, debug: true }), headersTimeout: 5000,
  });
  assert.equal(res.statusCode, 200);
  assert.deepEqual(JSON.parse(await res.body.text()), { a: 1, source: 'legate' });
  const seen = up.requests.find((r) => r.url === '/json')!;
  assert.equal(seen.headers['content-length'], String(seen.body.length));
  assert.deepEqual(JSON.parse(seen.body.toString()), { a: 1, source: 'legate' });

  // A body in many writes (content-length framed, so the filter sees several chunks).
  const big = { items: Array.from({ length: 3000 }, (_, i) => ({ i, name: `item-${i}` })), debug: 'x' };
  const text = JSON.stringify(big);
  const c = await RawClient.connect(examples);
  try {
    await c.write(`POST /json-big HTTP/1.1\r\nhost: t\r\nx-api-key: k-123\r\ncontent-type: application/json\r\ncontent-length: ${text.length}\r\n\r\n`);
    for (let i = 0; i < text.length; i += 16384) {
      await c.write(text.slice(i, i + 16384));
      await new Promise((r) => setTimeout(r, 5));
    }
    const r = await c.readResponse({ timeoutMs: 5000 });
    assert.equal(r.status, 200);
    const got = JSON.parse(r.body.toString());
    assert.equal(got.source, 'legate');
    assert.equal(got.debug, undefined);
    assert.equal(got.items.length, 3000);
  } finally {
    c.destroy();
  }
  const seenBig = up.requests.find((r) => r.url === '/json-big')!;
  assert.equal(seenBig.headers['content-length'], String(seenBig.body.length));

  // Not JSON: no filter for that stream, the body goes as it is.
  const plain = await request(`http://127.0.0.1:${examples}/plain`, {
    method: 'POST', headers: { 'x-api-key': 'k-123', 'content-type': 'text/plain' }, body: '{"debug":true}', headersTimeout: 5000,
  });
  assert.equal(await plain.body.text(), '{"debug":true}');
});

test('a reload after the module was edited loads the new code in every worker (and a new listener\'s filter too)', async () => {
  const { up } = await ctx;
  const mdir = fs.mkdtempSync(path.join(os.tmpdir(), 'legate-script-reload-'));
  const mod = path.join(mdir, 'tag.js');
  const write = (v: string): void => fs.writeFileSync(mod, `export default () => () => ({ decodeHeaders(h) { h.set('x-version', '${v}'); } });\n`);
  write('v1');
  const yaml = (extra: string): string => `
static_resources:
  listeners:${hcmListener('a', 'a', routeAll('upstream'), { httpFilters: scriptFilter('tag', mod, '{}') })}${extra}
  clusters:${staticCluster('upstream', [up.port])}
`;
  const l = await legateFor(yaml(''), { concurrency: 2 });
  const versionSeen = async (port: number, p: string): Promise<string> => {
    const res = await request(`http://127.0.0.1:${port}${p}`, { headersTimeout: 5000, reset: true });
    await res.body.text();
    return String(up.requests.find((r) => r.url === p)?.headers['x-version']);
  };
  assert.equal(await versionSeen(l.port('a'), '/reload-1'), 'v1');
  write('v2');
  fs.writeFileSync(l.configPath, yaml(hcmListener('b', 'b', routeAll('upstream'), { httpFilters: scriptFilter('tag', mod, '{}') })));
  const r = await fetch(`${l.admin}/reload`, { method: 'POST', signal: AbortSignal.timeout(20_000) });
  assert.equal(r.status, 200, await r.text());
  await l.refreshPorts();
  // New connections, several, so both workers answer.
  for (let i = 0; i < 6; i++) assert.equal(await versionSeen(l.port('a'), `/reload-2-${i}`), 'v2');
  assert.equal(await versionSeen(l.port('b'), '/reload-b'), 'v2');
});
