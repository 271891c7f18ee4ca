// envoy.filters.network.client_ssl_auth through a real Legate: TLS listeners (mTLS, certificates
// made here), a real auth API (node:http) serving /v1/certs/list/approved, node:tls clients. The
// echo filter behind it shows whether a connection got through.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { makeCa, type Ca, type Cert } from '../../../helpers/certs.ts';
import { runLegate, startLegate, staticCluster, tmpFile, type Legate } from '../../../helpers/legate.ts';

let ca: Ca;
let server: Cert;
let alice: Cert;
let bob: Cert;
let approved: string[] = [];
let failing = false;
let auth: http.Server;
let authRequests: { path: string; host: string }[] = [];
let legate: Legate;

function tlsContext(): string {
  return `
      transport_socket:
        name: envoy.transport_sockets.tls
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext
          require_client_certificate: true
          common_tls_context:
            tls_certificates:
            - certificate_chain: { filename: ${server.certPath} }
              private_key: { filename: ${server.keyPath} }
            validation_context:
              trusted_ca: { filename: ${ca.certPath} }`;
}

function listener(name: string, statPrefix: string, allow: string, tlsOn: boolean): string {
  return `
  - name: ${name}
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.client_ssl_auth
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.client_ssl_auth.v3.ClientSSLAuth
          auth_api_cluster: auth
          stat_prefix: ${statPrefix}
          refresh_delay: 0.2s${allow}
      - name: envoy.filters.network.echo
        typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.network.echo.v3.Echo }${tlsOn ? tlsContext() : ''}`;
}

function config(authPort: number): string {
  return `
static_resources:
  listeners:${listener('mtls', 'edge', '', true)}${listener('allowlisted', 'lan', `
          ip_white_list: [{ address_prefix: 127.0.0.0, prefix_len: 8 }]`, true)}${listener('plain', 'plain', '', false)}
  clusters:${staticCluster('auth', [authPort])}
`;
}

before(async () => {
  ca = makeCa();
  server = ca.issue('a.test');
  alice = ca.issue('alice', { client: true });
  bob = ca.issue('bob', { client: true });
  approved = [alice.sha256];
  auth = http.createServer((req, res) => {
    authRequests.push({ path: req.url ?? '', host: req.headers.host ?? '' });
    if (failing) {
      res.writeHead(503).end('down');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ certificates: approved.map((fingerprint_sha256) => ({ fingerprint_sha256 })) }));
  });
  await new Promise<void>((r) => auth.listen(0, '127.0.0.1', r));
  legate = await startLegate(config((auth.address() as AddressInfo).port), { concurrency: 2 });
});

after(async () => {
  await legate?.stop();
  auth?.close();
});

/** Connect with `cert` (none: no client certificate), send `ping`: what came back, '' when the
 *  connection was closed without an answer. */
function ping(port: number, cert: Cert | null): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({
      host: '127.0.0.1', port, servername: 'a.test', ca: ca.cert,
      ...(cert === null ? {} : { cert: cert.cert, key: cert.key }),
    });
    let got = '';
    const timer = setTimeout(() => { s.destroy(); reject(new Error('no answer nor close in 5 s')); }, 5000);
    s.on('secureConnect', () => s.write('ping'));
    s.on('data', (d) => {
      got += d;
      if (got === 'ping') s.end();
    });
    s.on('error', () => {});
    s.on('close', () => {
      clearTimeout(timer);
      resolve(got);
    });
  });
}

async function waitFor(ok: (s: Map<string, number>) => boolean, what: string, ms = 10_000): Promise<Map<string, number>> {
  const deadline = Date.now() + ms;
  for (;;) {
    const s = await legate.stats();
    if (ok(s)) return s;
    if (Date.now() > deadline) throw new Error(`stats never showed ${what}`);
    await sleep(50);
  }
}

test('the approved list is fetched from the auth cluster on the main thread, once per refresh', async () => {
  const s = await waitFor((m) => (m.get('auth.clientssl.edge.update_success') ?? 0) >= 1, 'update_success');
  // Main counts it (not one per worker): the gauge is the list's size with --concurrency 2.
  assert.equal(s.get('auth.clientssl.edge.total_principals'), 1);
  assert.ok(authRequests.length >= 1);
  assert.deepEqual(authRequests[0], { path: '/v1/certs/list/approved', host: 'auth' });
});

test('only listed fingerprints get through; a change in the auth API is picked up', async () => {
  await waitFor((m) => (m.get('auth.clientssl.edge.update_success') ?? 0) >= 1, 'update_success');
  const port = legate.port('mtls');
  const before = await legate.stats();
  assert.equal(await ping(port, alice), 'ping');
  assert.equal(await ping(port, bob), '');
  let s = await legate.stats();
  assert.equal((s.get('auth.clientssl.edge.auth_digest_match') ?? 0) - (before.get('auth.clientssl.edge.auth_digest_match') ?? 0), 1);
  assert.equal((s.get('auth.clientssl.edge.auth_digest_no_match') ?? 0) - (before.get('auth.clientssl.edge.auth_digest_no_match') ?? 0), 1);

  approved = [bob.sha256, 'ff'.repeat(32)];
  const was = s.get('auth.clientssl.edge.update_success') ?? 0;
  s = await waitFor((m) => (m.get('auth.clientssl.edge.update_success') ?? 0) > was + 1, 'a new update');
  assert.equal(s.get('auth.clientssl.edge.total_principals'), 2);
  // Every worker has the new list: several connections each way.
  for (let i = 0; i < 4; i++) {
    assert.equal(await ping(port, bob), 'ping');
    assert.equal(await ping(port, alice), '');
  }
  approved = [alice.sha256];
});

test('a failing auth API counts update_failure and keeps the last list', async () => {
  approved = [alice.sha256];
  const was = (await legate.stats()).get('auth.clientssl.edge.update_success') ?? 0;
  await waitFor((m) => (m.get('auth.clientssl.edge.update_success') ?? 0) > was + 1, 'a new update');
  failing = true;
  const failures = (await legate.stats()).get('auth.clientssl.edge.update_failure') ?? 0;
  await waitFor((m) => (m.get('auth.clientssl.edge.update_failure') ?? 0) > failures, 'update_failure');
  assert.equal(await ping(legate.port('mtls'), alice), 'ping');
  assert.equal(await ping(legate.port('mtls'), bob), '');
  failing = false;
});

test('ip_white_list lets an unlisted certificate through by its peer address', async () => {
  const before = (await legate.stats()).get('auth.clientssl.lan.auth_ip_allowlist') ?? 0;
  assert.equal(await ping(legate.port('allowlisted'), bob), 'ping');
  const s = await legate.stats();
  assert.equal((s.get('auth.clientssl.lan.auth_ip_allowlist') ?? 0) - before, 1);
  assert.equal(s.get('auth.clientssl.lan.auth_digest_no_match') ?? 0, 0);
});

test('a plain TCP connection is let through and counted auth_no_ssl', async () => {
  const got = await new Promise<string>((resolve, reject) => {
    const s = net.connect(legate.port('plain'), '127.0.0.1', () => s.write('hi'));
    const timer = setTimeout(() => { s.destroy(); reject(new Error('no echo')); }, 5000);
    s.on('data', (d) => {
      clearTimeout(timer);
      s.destroy();
      resolve(String(d));
    });
    s.on('error', reject);
  });
  assert.equal(got, 'hi');
  const s = await legate.stats();
  assert.ok((s.get('auth.clientssl.plain.auth_no_ssl') ?? 0) >= 1);
});

test('config errors name the field', async () => {
  const bad = (authCluster: string, allow: string): string => `
static_resources:
  listeners:
  - address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.client_ssl_auth
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.client_ssl_auth.v3.ClientSSLAuth
          auth_api_cluster: ${authCluster}
          stat_prefix: x
          ip_white_list: [${allow}]
      - name: envoy.filters.network.echo
        typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.network.echo.v3.Echo }
  clusters:${staticCluster('auth', [1])}
`;
  let r = await runLegate(['-c', tmpFile('c.yaml', bad('nope', '')), '--mode', 'validate']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /filters\[0\]\.typed_config\.auth_api_cluster: unknown cluster 'nope' in client ssl auth config/);
  r = await runLegate(['-c', tmpFile('c.yaml', bad('auth', '{ address_prefix: 10.0.0.0, prefix_len: 33 }')), '--mode', 'validate']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /typed_config\.ip_white_list\[0\]: invalid prefix length 33/);
  r = await runLegate(['-c', tmpFile('c.yaml', bad('auth', '{ address_prefix: not-an-ip, prefix_len: 8 }')), '--mode', 'validate']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /typed_config\.ip_white_list\[0\]: malformed IP address: not-an-ip/);
  const tlsAuth = `${bad('auth', '')}    transport_socket:
      name: envoy.transport_sockets.tls
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext
`;
  r = await runLegate(['-c', tmpFile('c.yaml', tlsAuth), '--mode', 'validate']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /typed_config\.auth_api_cluster: cluster 'auth' has a transport_socket: Legate fetches the approved list over plain HTTP only/);
});
