// A handler that throws is a bug in Legate, not a reason to lose the main thread: the admin server
// answers 500, reports the error once (main logs it and counts server.envoy_bug_failures), and
// keeps serving. Also the request-target parsing every admin request goes through.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseTarget, startAdmin, type AdminServer } from '../../src/admin/index.ts';
import { StatsLayout } from '../../src/stats/layout.ts';
import { StatsStore } from '../../src/stats/store.ts';

const store = new StatsStore(new StatsLayout());
const errors: { err: unknown; target: string }[] = [];
let admin: AdminServer;
let base: string;

before(async () => {
  admin = await startAdmin({
    host: '127.0.0.1',
    port: 0,
    stats: store,
    certs: () => [],
    serverInfo: () => { throw new TypeError('server info exploded'); },
    clusters: () => { throw new Error('clusters exploded'); },
    listeners: () => [],
    configDump: () => [],
    onQuit: () => {},
    onReload: async () => { throw new Error('reload exploded'); },
    isReady: () => true,
    onHealthCheck: () => {},
    runtimeLayers: () => [],
    onRuntimeModify: () => null,
    explain: () => { throw new Error('explain exploded'); },
    onHandlerError: (err, target) => { errors.push({ err, target }); },
  });
  base = `http://127.0.0.1:${admin.address.port}`;
});

after(async () => {
  await admin.close();
  store.close();
});

async function get(path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(base + path, { signal: AbortSignal.timeout(5000) });
  return { status: res.status, body: await res.text() };
}

test('a handler that throws: 500, reported once with its error and target, and the server keeps serving', async () => {
  const r = await get('/clusters?format=json');
  assert.equal(r.status, 500);
  assert.equal(r.body, 'admin handler failed\n');
  assert.equal(errors.length, 1);
  assert.equal((errors[0].err as Error).message, 'clusters exploded');
  assert.equal(errors[0].target, '/clusters?format=json');
  assert.equal((await get('/server_info')).status, 500);
  assert.equal(errors.length, 2);
  assert.equal((await get('/ready')).status, 200);
});

test('parseTarget: origin-form and absolute-form give path and query; anything else is null, never a throw', () => {
  assert.deepEqual(pq(parseTarget('/stats?filter=a&usedonly')), ['/stats', [['filter', 'a'], ['usedonly', '']]]);
  assert.deepEqual(pq(parseTarget('//')), ['//', []]);
  assert.deepEqual(pq(parseTarget('/stats#x?y')), ['/stats', []]);
  assert.deepEqual(pq(parseTarget('/stats?format=json#frag')), ['/stats', [['format', 'json']]]);
  assert.deepEqual(pq(parseTarget('/stats?%=%&%ZZ')), ['/stats', [['%', '%'], ['%ZZ', '']]]);
  assert.deepEqual(pq(parseTarget('http://admin:9901/ready?x=1')), ['/ready', [['x', '1']]]);
  for (const t of ['http://[', 'https://', '*', '', '?a', '%zz', 'ftp://x/']) assert.equal(parseTarget(t), null, t);
});

function pq(t: ReturnType<typeof parseTarget>): [string, string[][]] | null {
  return t === null ? null : [t.path, [...t.query]];
}

test('an asynchronous handler that fails: 500, reported with its error and target', async () => {
  const before = errors.length;
  const res = await fetch(`${base}/reload`, { method: 'POST', signal: AbortSignal.timeout(5000) });
  assert.equal(res.status, 500);
  assert.equal(await res.text(), 'admin handler failed\n');
  assert.equal(errors.length, before + 1);
  assert.equal((errors.at(-1)!.err as Error).message, 'reload exploded');
  assert.equal(errors.at(-1)!.target, '/reload');
});
