// envoy.filters.http.ext_authz through a real Legate with real clients (undici), real upstreams
// and real authorization services: a node:http service (http_service) and an @grpc/grpc-js
// server speaking envoy.service.auth.v3.Authorization from Envoy's own proto (grpc_service). The
// request is allowed (with the service's headers upstream and to the client), denied (the
// service's status, headers and body; flag UAEX), and a failing service fails closed
// (status_on_error) or open (failure_mode_allow, x-envoy-auth-failure-mode-allowed) per config.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { Buffer } from 'node:buffer';
import * as grpc from '@grpc/grpc-js';
import { findMessageType, loadProtos } from '../../src/config/protos.ts';
import { request } from 'undici';
import { fileAccessLog, hcmListener, staticCluster, tmpFile } from '../helpers/legate.ts';
import { httpUp, legateFor, track } from './fixtures/tracked.ts';
import { deadPort, listen } from './fixtures/upstreams.ts';
import { pollLog, until } from './fixtures/clients.ts';

const TYPE = 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz';
const PER_ROUTE = 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute';

interface SeenCheck { method: string; url: string; headers: http.IncomingHttpHeaders; body: string }

/** The HTTP authorization service: the client's `authorization` header says what to answer. */
async function httpAuthz(): Promise<{ port: number; seen: SeenCheck[] }> {
  const seen: SeenCheck[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks).toString() });
      const a = req.headers.authorization;
      if (a === 'allow') {
        res.writeHead(200, {
          'x-authz-user': 'alice', 'x-authz-client': 'yes', 'x-authz-other': 'no',
          'x-envoy-auth-headers-to-remove': 'x-remove-me',
        });
        res.end();
      } else if (a === 'slow') {
        setTimeout(() => { res.writeHead(200); res.end(); }, 1500);
      } else if (a === 'crash') {
        res.writeHead(503);
        res.end('down');
      } else {
        res.writeHead(401, { 'www-authenticate': 'Basic realm="x"', 'x-deny-reason': 'nope', 'content-type': 'application/json' });
        res.end('{"denied":true}');
      }
    });
  });
  const port = await listen(server);
  track(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
  return { port, seen };
}

function httpFilter(extra: string): string {
  return `
          - name: envoy.filters.http.ext_authz
            typed_config:
              "@type": ${TYPE}
              http_service:
                server_uri: { uri: "http://authz", cluster: authz, timeout: 0.5s }
                path_prefix: /check
                authorization_request:
                  headers_to_add: [{ key: x-added, value: "from-legate" }]
                authorization_response:
                  allowed_upstream_headers: { patterns: [{ exact: x-authz-user }] }
                  allowed_client_headers: { patterns: [{ exact: x-deny-reason }, { exact: content-type }] }
                  allowed_client_headers_on_success: { patterns: [{ prefix: x-authz-client }] }
              allowed_headers: { patterns: [{ exact: x-allowed }] }${extra}`;
}

const ROUTES = `
              - match: { prefix: "/public" }
                route: { cluster: upstream }
                typed_per_filter_config:
                  envoy.filters.http.ext_authz:
                    "@type": ${PER_ROUTE}
                    disabled: true
              - match: { prefix: "/" }
                route: { cluster: upstream }`;

test('HTTP service: allows with its headers, denies with its status, headers and body, fails closed and open', async () => {
  const authz = await httpAuthz();
  const up = await httpUp();
  const log = tmpFile('access.log', '');
  const legate = await legateFor(`
static_resources:
  listeners:${hcmListener('closed', 'closed', ROUTES, {
    httpFilters: httpFilter(''),
    hcmExtra: fileAccessLog(log, '%REQ(:PATH)% %RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS%\\n'),
  })}${hcmListener('open', 'open', ROUTES, {
    httpFilters: httpFilter(`
              failure_mode_allow: true
              failure_mode_allow_header_add: true`),
  })}
  clusters:${staticCluster('upstream', [up.port])}${staticCluster('authz', [authz.port])}
`);
  const closed = `http://127.0.0.1:${legate.port('closed')}`;
  const open = `http://127.0.0.1:${legate.port('open')}`;

  // Allowed: the service saw the allowed headers only, behind path_prefix; the upstream gets the
  // service's allowed header and not the removed one; the client gets the on-success header.
  const seenUp = up.nextRequest();
  let r = await request(`${closed}/a/b?q=1`, {
    method: 'POST', body: 'payload',
    headers: { authorization: 'allow', 'x-allowed': '1', 'x-not-allowed': '1', 'x-remove-me': '1', 'x-authz-user': 'forged' },
  });
  assert.equal(r.statusCode, 200);
  assert.equal(r.headers['x-authz-client'], 'yes');
  assert.equal(r.headers['x-authz-other'], undefined);
  await r.body.text();
  const check = authz.seen.at(-1)!;
  assert.equal(check.method, 'POST');
  assert.equal(check.url, '/check/a/b?q=1');
  assert.equal(check.headers.authorization, 'allow');
  assert.equal(check.headers['x-allowed'], '1');
  assert.equal(check.headers['x-not-allowed'], undefined);
  assert.equal(check.headers['x-added'], 'from-legate');
  assert.equal(check.headers['content-length'], '0');
  const got = await seenUp;
  assert.equal(got.headers['x-authz-user'], 'alice');
  assert.equal(got.headers['x-remove-me'], undefined);
  assert.equal(got.headers['x-not-allowed'], '1');
  assert.equal(got.body.toString(), 'payload');

  // Denied: the service's status, allowed headers (www-authenticate always) and body.
  r = await request(`${closed}/secret`, { headers: { authorization: 'nope' } });
  assert.equal(r.statusCode, 401);
  assert.equal(r.headers['x-deny-reason'], 'nope');
  assert.equal(r.headers['www-authenticate'], 'Basic realm="x"');
  assert.equal(r.headers['content-type'], 'application/json');
  assert.equal(await r.body.text(), '{"denied":true}');

  // The service fails (a 5xx, too slow): closed answers 403, open lets the request through.
  r = await request(`${closed}/e`, { headers: { authorization: 'crash' } });
  assert.equal(r.statusCode, 403);
  await r.body.text();
  r = await request(`${closed}/e`, { headers: { authorization: 'slow' } });
  assert.equal(r.statusCode, 403);
  await r.body.text();
  const openUp = up.nextRequest();
  r = await request(`${open}/e`, { headers: { authorization: 'crash' } });
  assert.equal(r.statusCode, 200);
  await r.body.text();
  assert.equal((await openUp).headers['x-envoy-auth-failure-mode-allowed'], 'true');

  // A route with the filter disabled is not checked.
  const before = authz.seen.length;
  r = await request(`${closed}/public/x`, { headers: { authorization: 'nope' } });
  assert.equal(r.statusCode, 200);
  await r.body.text();
  assert.equal(authz.seen.length, before);

  const text = await pollLog(log, (t) => t.split('\n').filter((l) => l !== '').length >= 5);
  assert.match(text, /^\/secret 401 UAEX ext_authz_denied$/m);
  assert.match(text, /^\/e 403 UAEX ext_authz_error$/m);
  await until('stats', async () => (await legate.stats()).get('http.open.ext_authz.failure_mode_allowed') === 1);
  const stats = await legate.stats();
  assert.equal(stats.get('http.closed.ext_authz.ok'), 1);
  assert.equal(stats.get('http.closed.ext_authz.denied'), 1);
  assert.equal(stats.get('http.closed.ext_authz.error'), 2);
  assert.equal(stats.get('http.open.ext_authz.error'), 1);
  // (Envoy's cluster.<route cluster>.ext_authz.* are not kept: declared for every cluster they
  // would read 0 for all the clusters no ext_authz route reaches.)
  assert.equal(stats.get('cluster.upstream.ext_authz.denied'), undefined);
});

test('HTTP service unreachable: fails closed with status_on_error; with_request_body sends the body', async () => {
  const dead = await deadPort();
  const authz = await httpAuthz();
  const up = await httpUp();
  const legate = await legateFor(`
static_resources:
  listeners:${hcmListener('dead', 'dead', ROUTES, {
    httpFilters: `
          - name: envoy.filters.http.ext_authz
            typed_config:
              "@type": ${TYPE}
              http_service: { server_uri: { uri: "http://authz", cluster: nowhere, timeout: 0.5s } }
              status_on_error: { code: ServiceUnavailable }`,
  })}${hcmListener('body', 'body', ROUTES, {
    httpFilters: `
          - name: envoy.filters.http.ext_authz
            typed_config:
              "@type": ${TYPE}
              http_service: { server_uri: { uri: "http://authz", cluster: authz, timeout: 0.5s } }
              with_request_body: { max_request_bytes: 1024 }`,
  })}
  clusters:${staticCluster('upstream', [up.port])}${staticCluster('nowhere', [dead])}${staticCluster('authz', [authz.port])}
`);
  let r = await request(`http://127.0.0.1:${legate.port('dead')}/x`);
  assert.equal(r.statusCode, 503);
  await r.body.text();

  r = await request(`http://127.0.0.1:${legate.port('body')}/x`, { method: 'POST', body: 'the body', headers: { authorization: 'allow' } });
  assert.equal(r.statusCode, 200);
  await r.body.text();
  assert.equal(authz.seen.at(-1)!.body, 'the body');
  // Past max_request_bytes without allow_partial_message: 413.
  r = await request(`http://127.0.0.1:${legate.port('body')}/x`, { method: 'POST', body: Buffer.alloc(4096, 'x'), headers: { authorization: 'allow' } });
  assert.equal(r.statusCode, 413);
  await r.body.text();
});

// ---- gRPC ------------------------------------------------------------------------------------

interface SeenGrpc { headers: Record<string, string>; path: string; method: string; contextExtensions: Record<string, string>; source: string }

/** The Authorization service from Envoy's proto (external_auth.proto, through protobufjs, which
 *  Legate validates its config with), served by @grpc/grpc-js. */
async function grpcAuthz(): Promise<{ port: number; seen: SeenGrpc[] }> {
  loadProtos();
  const Req = findMessageType('envoy.service.auth.v3.CheckRequest')!;
  const Res = findMessageType('envoy.service.auth.v3.CheckResponse')!;
  const service: grpc.ServiceDefinition = {
    Check: {
      path: '/envoy.service.auth.v3.Authorization/Check', requestStream: false, responseStream: false,
      requestSerialize: (m: object) => Buffer.from(Req.encode(Req.fromObject(m)).finish()),
      requestDeserialize: (b: Buffer) => Req.toObject(Req.decode(b), { longs: String, enums: String }),
      responseSerialize: (m: object) => Buffer.from(Res.encode(Res.fromObject(m)).finish()),
      responseDeserialize: (b: Buffer) => Res.toObject(Res.decode(b), { longs: String, enums: String }),
    },
  };
  const seen: SeenGrpc[] = [];
  const server = new grpc.Server();
  server.addService(service, {
    Check(call: any, cb: any) {
      const a = call.request.attributes;
      const h = a.request.http;
      seen.push({
        headers: h.headers, path: h.path, method: h.method, contextExtensions: a.context_extensions ?? {},
        source: `${a.source.address.socket_address.address}`,
      });
      const auth = h.headers.authorization;
      if (auth === 'allow') {
        cb(null, {
          status: { code: 0 },
          ok_response: {
            headers: [{ header: { key: 'x-authz-user', value: 'bob' } }],
            headers_to_remove: ['x-remove-me'],
            response_headers_to_add: [{ header: { key: 'x-resp', value: 'r' } }],
          },
        });
      } else if (auth === 'error') {
        cb({ code: grpc.status.UNAVAILABLE, details: 'no' });
      } else {
        cb(null, {
          status: { code: 7 },
          denied_response: {
            status: { code: 'Unauthorized' },
            headers: [{ header: { key: 'x-deny', value: 'why' } }],
            body: 'go away',
          },
        });
      }
    },
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p)));
  });
  track(() => new Promise<void>((r) => server.tryShutdown(() => r())));
  return { port, seen };
}

test('gRPC service (envoy.service.auth.v3.Authorization/Check): allow, deny, context_extensions merged over the virtual host and route, fail open and closed', async () => {
  const authz = await grpcAuthz();
  const up = await httpUp();
  const filter = (extra: string): string => `
          - name: envoy.filters.http.ext_authz
            typed_config:
              "@type": ${TYPE}
              transport_api_version: V3
              grpc_service: { envoy_grpc: { cluster_name: authz }, timeout: 1s }
              allowed_headers: { patterns: [{ exact: authorization }, { prefix: x-oth }] }${extra}`;
  // context_extensions merge over the virtual host and the route (the route wins a key).
  const virtualHosts = `
            - name: all
              domains: ["*"]
              typed_per_filter_config:
                envoy.filters.http.ext_authz:
                  "@type": ${PER_ROUTE}
                  check_settings: { context_extensions: { tenant: acme, region: eu } }
              routes:
              - match: { prefix: "/" }
                route: { cluster: upstream }
                typed_per_filter_config:
                  envoy.filters.http.ext_authz:
                    "@type": ${PER_ROUTE}
                    check_settings: { context_extensions: { tenant: beta } }`;
  const legate = await legateFor(`
static_resources:
  listeners:${hcmListener('closed', 'closed', '', { httpFilters: filter(''), virtualHosts })}${hcmListener('open', 'open', '', {
    virtualHosts,
    httpFilters: filter(`
              failure_mode_allow: true`),
  })}
  clusters:${staticCluster('upstream', [up.port])}${staticCluster('authz', [authz.port])}
`, { concurrency: 2 });
  const closed = `http://127.0.0.1:${legate.port('closed')}`;
  const open = `http://127.0.0.1:${legate.port('open')}`;

  const seenUp = up.nextRequest();
  let r = await request(`${closed}/g?x=1`, { headers: { authorization: 'allow', 'x-remove-me': '1', 'x-other': 'o' } });
  assert.equal(r.statusCode, 200);
  assert.equal(r.headers['x-resp'], 'r');
  await r.body.text();
  const got = await seenUp;
  assert.equal(got.headers['x-authz-user'], 'bob');
  assert.equal(got.headers['x-remove-me'], undefined);
  const c = authz.seen.at(-1)!;
  assert.equal(c.path, '/g?x=1');
  assert.equal(c.method, 'GET');
  assert.equal(c.headers['x-other'], 'o');
  assert.equal(c.headers[':method'], 'GET');
  // allowed_headers: the others stay out of the check.
  assert.equal(c.headers['x-remove-me'], undefined);
  assert.deepEqual(c.contextExtensions, { tenant: 'beta', region: 'eu' });
  assert.equal(c.source, '127.0.0.1');

  r = await request(`${closed}/g`, { headers: { authorization: 'no' } });
  assert.equal(r.statusCode, 401);
  assert.equal(r.headers['x-deny'], 'why');
  assert.equal(await r.body.text(), 'go away');

  r = await request(`${closed}/g`, { headers: { authorization: 'error' } });
  assert.equal(r.statusCode, 403);
  await r.body.text();
  r = await request(`${open}/g`, { headers: { authorization: 'error' } });
  assert.equal(r.statusCode, 200);
  await r.body.text();

  await until('stats', async () => (await legate.stats()).get('http.open.ext_authz.failure_mode_allowed') === 1);
  const stats = await legate.stats();
  assert.equal(stats.get('http.closed.ext_authz.ok'), 1);
  assert.equal(stats.get('http.closed.ext_authz.denied'), 1);
  assert.equal(stats.get('http.closed.ext_authz.error'), 1);
});
