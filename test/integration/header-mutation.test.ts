// envoy.filters.http.header_mutation through a real Legate and a real upstream: every
// append_action and remove, on the request (what the upstream receives) and on the response (what
// the client receives), with the header present and absent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { Buffer } from 'node:buffer';
import { proxyConfig } from '../helpers/legate.ts';
import { httpUp, legateFor } from './fixtures/tracked.ts';

const TYPE = 'type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutation';

/** The same mutations for a side, on headers named `${p}-...`. */
function mutations(p: string): string {
  return `
                - append: { header: { key: ${p}-Append, value: "mut  1" } }
                - append: { header: { key: ${p}-append-new, value: "mut  1" }, append_action: APPEND_IF_EXISTS_OR_ADD }
                - append: { header: { key: ${p}-absent, value: mut2 }, append_action: ADD_IF_ABSENT }
                - append: { header: { key: ${p}-absent-new, value: mut2 }, append_action: ADD_IF_ABSENT }
                - append: { header: { key: ${p}-over, value: mut3 }, append_action: OVERWRITE_IF_EXISTS_OR_ADD }
                - append: { header: { key: ${p}-over-new, value: mut3 }, append_action: OVERWRITE_IF_EXISTS_OR_ADD }
                - append: { header: { key: ${p}-only, value: mut4 }, append_action: OVERWRITE_IF_EXISTS }
                - append: { header: { key: ${p}-only-new, value: mut4 }, append_action: OVERWRITE_IF_EXISTS }
                - remove: ${p}-Gone
                - append: { header: { key: ${p}-empty, value: "" } }
                - append: { header: { key: ${p}-empty-kept, value: "" }, keep_empty_value: true }`;
}

function config(upstreamPort: number): string {
  return proxyConfig([upstreamPort], {
    httpFilters: `
          - name: mutate
            typed_config:
              "@type": ${TYPE}
              mutations:
                request_mutations:${mutations('x-mq')}
                response_mutations:${mutations('x-mr')}`,
  });
}

/** Headers each side starts with: present for the mutations that act on an existing header. */
function existing(p: string): [string, string][] {
  return [[`${p}-append`, 'orig'], [`${p}-absent`, 'orig'], [`${p}-over`, 'orig'], [`${p}-over`, 'orig2'],
    [`${p}-only`, 'orig'], [`${p}-gone`, 'orig'], [`${p}-Gone`, 'orig2']];
}

/** name -> every value, in order (names lowercased). */
function grouped(pairs: [string, string][], prefix: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [k, v] of pairs) {
    const n = k.toLowerCase();
    if (n.startsWith(prefix)) (out[n] ??= []).push(v);
  }
  return out;
}

function expected(p: string): Record<string, string[]> {
  return {
    [`${p}-append`]: ['orig', 'mut  1'],
    [`${p}-append-new`]: ['mut  1'],
    [`${p}-absent`]: ['orig'],
    [`${p}-absent-new`]: ['mut2'],
    [`${p}-over`]: ['mut3'],
    [`${p}-over-new`]: ['mut3'],
    [`${p}-only`]: ['mut4'],
    [`${p}-empty-kept`]: [''],
  };
}

/** One request on a fresh connection; the response head's header lines as [name, value]. */
async function request(port: number, headers: [string, string][]): Promise<[string, string][]> {
  const s = net.connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  s.on('data', (d: Buffer) => chunks.push(d));
  const ended = new Promise<void>((resolve, reject) => { s.on('end', resolve); s.on('error', reject); });
  s.write(`GET /m HTTP/1.1\r\nhost: x\r\nconnection: close\r\n${headers.map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`);
  await ended;
  s.destroy();
  const text = Buffer.concat(chunks).toString('latin1');
  const head = text.slice(0, text.indexOf('\r\n\r\n'));
  assert.match(head, /^HTTP\/1\.1 200 /);
  return head.split('\r\n').slice(1).map((l) => {
    const i = l.indexOf(':');
    // The value as sent, less the one SP after the colon.
    return [l.slice(0, i), l.slice(i + 1).replace(/^ /, '')];
  });
}

test('request and response mutations: each append_action and remove, header present and absent', async () => {
  const up = await httpUp((_req, res) => {
    const raw: string[] = [];
    for (const [k, v] of existing('x-mr')) raw.push(k, v);
    res.writeHead(200, raw);
    res.end('ok');
  });
  const legate = await legateFor(config(up.port));
  const seen = up.nextRequest();
  const response = await request(legate.port('proxy'), existing('x-mq'));

  const req = await seen;
  const reqPairs: [string, string][] = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) reqPairs.push([req.rawHeaders[i]!, req.rawHeaders[i + 1]!]);
  assert.deepEqual(grouped(reqPairs, 'x-mq'), expected('x-mq'));
  assert.deepEqual(grouped(response, 'x-mr'), expected('x-mr'));
  // Each side's mutations stay on their side.
  assert.deepEqual(grouped(reqPairs, 'x-mr'), {});
  assert.deepEqual(grouped(response, 'x-mq'), {});
});

test('values are substitution formats: request and response heads, the stream, in mutation order', async () => {
  const up = await httpUp((req, res) => {
    res.writeHead(200, { 'x-up': 'from-upstream', 'x-echo-who': String(req.headers['x-who']) });
    res.end('ok');
  });
  const legate = await legateFor(proxyConfig([up.port], {
    httpFilters: `
          - name: mutate
            typed_config:
              "@type": ${TYPE}
              mutations:
                request_mutations:
                - append: { header: { key: x-who, value: "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT% via %REQ(x-via)%" } }
                - remove: x-via
                - append: { header: { key: x-after, value: "[%REQ(x-via)%]" }, keep_empty_value: true }
                - append: { header: { key: x-none, value: "%REQ(x-missing)%" } }
                response_mutations:
                - append: { header: { key: x-status, value: "%RESPONSE_CODE% %RESP(x-up)% %REQ(:path)%" } }`,
  }));
  const seen = up.nextRequest();
  const response = await request(legate.port('proxy'), [['x-via', 'curl']]);
  const req = await seen;
  // Each mutation sees the ones before it: x-via is gone when x-after is formatted (in a header
  // value an absent header formats to '', as Envoy's omit_empty_values); a value that formats to ''
  // is not added.
  assert.equal(req.headers['x-who'], '127.0.0.1 via curl');
  assert.equal(req.headers['x-via'], undefined);
  assert.equal(req.headers['x-after'], '[]');
  assert.equal(req.headers['x-none'], undefined);
  const head = Object.fromEntries(response.map(([k, v]) => [k.toLowerCase(), v]));
  assert.equal(head['x-echo-who'], '127.0.0.1 via curl');
  assert.equal(head['x-status'], '200 from-upstream /m');
});
