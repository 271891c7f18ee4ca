// Route custom headers, formatters and local replies through a real Legate and a real upstream:
// header values formatted with the same command operators as the access log print the same text;
// request and response headers_to_add / _to_remove at the three levels, in Envoy's order with and
// without most_specific_header_mutations_wins; internal_only_headers by client address;
// local_reply_config mapping a 503 to another status and body, in text and JSON, with the route's
// response headers on local replies.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { request } from 'undici';
import { staticCluster } from '../helpers/legate.ts';
import { pollLog } from './fixtures/clients.ts';
import { deadPort } from './fixtures/upstreams.ts';
import { httpUp, legateFor } from './fixtures/tracked.ts';

const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const ENV_VALUE = 'from-the-environment';

// The same operators in a request header, a response header and the access log.
const REQ_FORMAT = [
  '%REQ(x-in)%', '%REQ(x-absent?X-IN)%', '%PROTOCOL%', '%DOWNSTREAM_REMOTE_ADDRESS%',
  '%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%', '%DOWNSTREAM_LOCAL_ADDRESS%', '%DOWNSTREAM_DIRECT_REMOTE_ADDRESS%',
  '%UPSTREAM_CLUSTER%', '%ROUTE_NAME%', '%START_TIME%', '%START_TIME(%Y/%m/%d %H:%M:%S.%3f %s)%', '%HOSTNAME%',
  '%ENVIRONMENT(LEGATE_HDR_TEST)%', '%REQ_WITHOUT_QUERY(:PATH)%', '%REQ(:METHOD)%', '%REQ(:AUTHORITY):4%', '100%%',
].join('|');
const RESP_FORMAT = [
  '%RESP(x-up)%', '%RESP(:STATUS)%', '%UPSTREAM_HOST%', '%REQ(x-in)%', '%UPSTREAM_CLUSTER%', '%RESPONSE_CODE%',
].join('|');

const q = (s: string): string => JSON.stringify(s);

function opt(key: string, value: string, action = 'OVERWRITE_IF_EXISTS_OR_ADD'): string {
  return `{ header: { key: ${q(key)}, value: ${q(value)} }, append_action: ${action} }`;
}

/** A listener whose route configuration sets x-level / x-append at all three levels. */
function listener(name: string, logPath: string, mostSpecific: boolean): string {
  return `
  - name: ${name}
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": ${HCM}
          stat_prefix: ${name}
          use_remote_address: true
          access_log:
          - name: envoy.access_loggers.file
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
              path: ${logPath}
              log_format:
                text_format_source:
                  inline_string: ${q(`req=${REQ_FORMAT} resp=${RESP_FORMAT}\n`)}
          local_reply_config:
            mappers:
            - filter:
                and_filter:
                  filters:
                  - status_code_filter: { comparison: { op: EQ, value: { default_value: 503, runtime_key: k } } }
                  - header_filter: { header: { name: x-want-json, present_match: true } }
              status_code: 502
              headers_to_add: [${opt('x-mapped', 'json %RESPONSE_FLAGS%')}]
              body_format_override:
                json_format:
                  code: "%RESPONSE_CODE%"
                  message: "%LOCAL_REPLY_BODY%"
                  flags: "%RESPONSE_FLAGS%"
                  path: "%REQ(:PATH)%"
                  fixed: 7
            - filter: { status_code_filter: { comparison: { op: GE, value: { default_value: 500, runtime_key: k2 } } } }
              status_code: 504
              body: { inline_string: "gone" }
            body_format:
              text_format: "<%LOCAL_REPLY_BODY%> %RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS%\\n"
          http_filters:
          - name: envoy.filters.http.router
            typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }
          route_config:
            most_specific_header_mutations_wins: ${mostSpecific}
            internal_only_headers: [X-Internal-Secret]
            request_headers_to_add: [${opt('x-level', 'global')}, ${opt('x-append', 'global', 'APPEND_IF_EXISTS_OR_ADD')}]
            response_headers_to_add: [${opt('x-resp-level', 'global')}]
            virtual_hosts:
            - name: vh
              domains: ["*"]
              request_headers_to_add: [${opt('x-level', 'vhost')}, ${opt('x-append', 'vhost', 'APPEND_IF_EXISTS_OR_ADD')}]
              response_headers_to_add: [${opt('x-resp-level', 'vhost')}]
              routes:
              - name: direct-route
                match: { path: "/direct" }
                direct_response: { status: 200, body: { inline_string: "hello" } }
                response_headers_to_add: [${opt('x-direct', '%REQ(:PATH)%')}]
              - name: dead-route
                match: { path: "/dead" }
                route: { cluster: dead }
                response_headers_to_add: [${opt('x-route', 'dead')}]
              - name: the-route
                match: { prefix: "/" }
                route: { cluster: upstream }
                request_headers_to_add:
                - ${opt('x-level', 'route')}
                - ${opt('x-append', 'route', 'APPEND_IF_EXISTS_OR_ADD')}
                - ${opt('x-fmt', REQ_FORMAT)}
                - { header: { key: x-empty, value: "%REQ(x-nothing)%" } }
                - { header: { key: x-empty-kept, value: "%REQ(x-nothing)%" }, keep_empty_value: true }
                - { header: { key: x-old-append, value: "b" }, append: true }
                - { header: { key: x-old-set, value: "b" }, append: false }
                request_headers_to_remove: [x-drop]
                response_headers_to_add:
                - ${opt('x-resp-level', 'route')}
                - ${opt('x-fmt-resp', RESP_FORMAT)}
                response_headers_to_remove: [x-envoy-upstream-service-time, x-up-drop]`;
}

interface Setup { port(name: string): number; log(name: string): string }

let setupOnce: Promise<Setup> | null = null;
function setup(): Promise<Setup> {
  setupOnce ??= (async () => {
    // Answers with the request's header lines (name, value, ...) as JSON.
    const up = await httpUp((req, res) => {
      const body = JSON.stringify(req.rawHeaders);
      res.writeHead(200, {
        'x-up': 'up-value', 'x-up-drop': 'x', 'content-type': 'application/json', 'content-length': Buffer.byteLength(body),
      });
      res.end(body);
    });
    const dead = await deadPort();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'legate-route-headers-'));
    const logs = { least: path.join(dir, 'least.log'), most: path.join(dir, 'most.log') };
    const l = await legateFor(`
static_resources:
  listeners:${listener('least', logs.least, false)}${listener('most', logs.most, true)}
  clusters:${staticCluster('upstream', [up.port])}${staticCluster('dead', [dead])}
`, { env: { LEGATE_HDR_TEST: ENV_VALUE } });
    return { port: (n) => l.port(n), log: (n) => logs[n as 'least' | 'most'] };
  })();
  return setupOnce;
}

async function get(port: number, p: string, headers: Record<string, string> = {}) {
  const r = await request(`http://127.0.0.1:${port}${p}`, { headers, reset: true });
  const body = await r.body.text();
  return { status: r.statusCode, headers: r.headers, body };
}

/** The upstream's view of a request: name (lowercase) -> its values, in order. */
function upstreamHeaders(body: string): Record<string, string[]> {
  const raw = JSON.parse(body) as string[];
  const out: Record<string, string[]> = {};
  for (let i = 0; i < raw.length; i += 2) (out[raw[i].toLowerCase()] ??= []).push(raw[i + 1]);
  return out;
}

test('header values and the access log print the same for the same operators', async () => {
  const s = await setup();
  const port = s.port('least');
  const r = await get(port, '/fmt?q=1', { 'x-in': 'in-value', host: 'example.test' });
  assert.equal(r.status, 200);
  const seen = upstreamHeaders(r.body);
  const text = await pollLog(s.log('least'), (t) => t.includes('/fmt|'));
  const line = text.split('\n').find((l) => l.includes('/fmt|'))!;
  const m = /^req=(.*) resp=(.*)$/.exec(line);
  assert.ok(m, line);
  assert.deepEqual(seen['x-fmt'], [m[1]]);
  assert.equal(r.headers['x-fmt-resp'], m[2]);
  const parts = m[1].split('|');
  assert.deepEqual(parts.slice(0, 3), ['in-value', 'in-value', 'HTTP/1.1']);
  assert.match(parts[3], /^127\.0\.0\.1:\d+$/);
  assert.equal(parts[4], '127.0.0.1');
  assert.equal(parts[5], `127.0.0.1:${port}`);
  assert.equal(parts[6], parts[3]);
  assert.deepEqual(parts.slice(7, 9), ['upstream', 'the-route']);
  assert.match(parts[9], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.match(parts[10], /^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d\.\d{3} \d{10}$/);
  assert.deepEqual(parts.slice(11), [os.hostname(), ENV_VALUE, '/fmt', 'GET', 'exam', '100%']);
  const resp = m[2].split('|');
  assert.deepEqual([resp[0], resp[1], resp[3], resp[4], resp[5]], ['up-value', '200', 'in-value', 'upstream', '200']);
  assert.match(resp[2], /^127\.0\.0\.1:\d+$/);
});

test('custom headers: levels in Envoy order, removals, empty values, the deprecated append', async () => {
  const s = await setup();
  const headers = { 'x-level': 'client', 'x-append': 'client', 'x-drop': 'gone', 'x-old-append': 'a', 'x-old-set': 'a' };
  const least = await get(s.port('least'), '/levels', headers);
  const a = upstreamHeaders(least.body);
  // Route first, then virtual host, then route configuration: the least specific wins.
  assert.deepEqual(a['x-level'], ['global']);
  assert.deepEqual(a['x-append'], ['client', 'route', 'vhost', 'global']);
  assert.equal(a['x-drop'], undefined);
  assert.equal(a['x-empty'], undefined);
  assert.deepEqual(a['x-empty-kept'], ['']);
  assert.deepEqual(a['x-old-append'], ['a', 'b']);
  assert.deepEqual(a['x-old-set'], ['b']);
  assert.equal(least.headers['x-resp-level'], 'global');
  assert.equal(least.headers['x-envoy-upstream-service-time'], undefined);
  assert.equal(least.headers['x-up-drop'], undefined);
  assert.equal(least.headers['x-up'], 'up-value');

  const most = await get(s.port('most'), '/levels', headers);
  const b = upstreamHeaders(most.body);
  assert.deepEqual(b['x-level'], ['route']);
  assert.deepEqual(b['x-append'], ['client', 'global', 'vhost', 'route']);
  assert.equal(most.headers['x-resp-level'], 'route');
});

test('internal_only_headers are removed from requests of external clients only', async () => {
  const s = await setup();
  // use_remote_address: a loopback peer with no x-forwarded-for is internal.
  const internal = upstreamHeaders((await get(s.port('least'), '/internal', { 'x-internal-secret': 's' })).body);
  assert.deepEqual(internal['x-internal-secret'], ['s']);
  const external = upstreamHeaders((await get(s.port('least'), '/internal', {
    'x-internal-secret': 's', 'x-forwarded-for': '203.0.113.9',
  })).body);
  assert.equal(external['x-internal-secret'], undefined);
});

test('local_reply_config maps a 503 to another status and body, text and JSON; route headers on local replies', async () => {
  const s = await setup();
  const port = s.port('least');
  const text = await get(port, '/dead');
  assert.equal(text.status, 504);
  assert.equal(text.body, '<gone> 504 UF connection_failure\n');
  assert.equal(text.headers['content-type'], 'text/plain');
  assert.equal(text.headers['x-route'], 'dead');
  assert.equal(text.headers['x-resp-level'], 'global');
  assert.equal(text.headers['x-mapped'], undefined);

  const json = await get(port, '/dead', { 'x-want-json': '1' });
  assert.equal(json.status, 502);
  assert.equal(json.headers['content-type'], 'application/json');
  assert.equal(json.headers['x-mapped'], 'json UF');
  assert.equal(json.body, JSON.stringify({
    code: 502, message: 'upstream connect error or disconnect/reset before headers. reset reason: connection failure',
    flags: 'UF', path: '/dead', fixed: 7,
  }) + '\n');

  // body_format applies to every local reply, a direct response's too; and its route's headers.
  const direct = await get(port, '/direct');
  assert.equal(direct.status, 200);
  assert.equal(direct.body, '<hello> 200 - direct_response\n');
  assert.equal(direct.headers['x-direct'], '/direct');
  assert.equal(direct.headers['x-resp-level'], 'global');
  const logged = await pollLog(s.log('least'), (t) => t.includes('/dead|'));
  assert.match(logged, /req=-\|-\|HTTP\/1\.1\|.*\/dead\|.* resp=-\|504\|/);
});
