// Upstream TLS (a cluster's UpstreamTlsContext) through a real Legate to real node:https
// upstreams: the upstream certificate verified (trusted_ca and a SAN matcher) with `sni` sent,
// failing closed on a wrong CA (503, UF, the reason in %UPSTREAM_TRANSPORT_FAILURE_REASON%), a
// client certificate to an mTLS upstream, ALPN, and session resumption across connections.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';
import { makeCa } from '../helpers/certs.ts';
import { fileAccessLog, proxyConfig, staticCluster } from '../helpers/legate.ts';
import { pollLog, pollStat, rawRequest } from './fixtures/clients.ts';
import { legateFor, track } from './fixtures/tracked.ts';
import { listen } from './fixtures/upstreams.ts';
import { upstreamTls } from './fixtures/tls.ts';

const ca = makeCa();
const other = makeCa('other');
const server = ca.issue('up.test');
const client = ca.issue('legate.test', { client: true });
const C = 'cluster.upstream.ssl.';

interface Seen { servername: string | false; alpn: string | false; reused: boolean; clientCn: string | undefined }

/** An HTTPS upstream; every response closes its connection, so each request is a new handshake. */
async function httpsUp(opts: https.ServerOptions = {}): Promise<{ port: number; seen: Seen[] }> {
  const seen: Seen[] = [];
  const srv = https.createServer({ cert: server.cert, key: server.key, ...opts }, (req, res) => {
    const s = req.socket as TLSSocket;
    seen.push({
      servername: (s as unknown as { servername: string | false }).servername,
      alpn: s.alpnProtocol ?? false,
      reused: s.isSessionReused(),
      clientCn: (s.getPeerCertificate() as { subject?: { CN?: string } }).subject?.CN,
    });
    res.setHeader('connection', 'close');
    res.end('secure hello');
  });
  const port = await listen(srv);
  track(() => new Promise<void>((r) => { srv.closeAllConnections(); srv.close(() => r()); }));
  return { port, seen };
}

function verifying(caPath: string): string {
  return `
          validation_context:
            trusted_ca: { filename: ${caPath} }
            match_typed_subject_alt_names:
            - san_type: DNS
              matcher: { exact: up.test }`;
}

function get(port: number, p = '/'): ReturnType<typeof rawRequest> {
  return rawRequest(port, `GET ${p} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n`);
}

test('the upstream certificate is verified (trusted_ca, SAN) and sni is sent; sessions resume on the next connection', async () => {
  const up = await httpsUp();
  const tlsYaml = upstreamTls(verifying(ca.certPath), '\n        sni: up.test');
  const l = await legateFor(proxyConfig([], { clusters: staticCluster('upstream', [up.port], tlsYaml) }));
  const r1 = await get(l.port('proxy'));
  assert.equal(r1.status, 200);
  assert.equal(r1.body.toString(), 'secure hello');
  const r2 = await get(l.port('proxy'));
  assert.equal(r2.status, 200);
  assert.equal(up.seen.length, 2);
  assert.equal(up.seen[0].servername, 'up.test');
  assert.equal(up.seen[0].reused, false);
  // The second connection offered the first one's session (Envoy's default max_session_keys 1).
  assert.equal(up.seen[1].reused, true);
  assert.equal(await pollStat(l, `${C}handshake`, (v) => v === 2), 2);
  const st = await l.stats();
  assert.equal(st.get(`${C}session_reused`), 1);
  // Envoy's client default: TLS 1.2 at most.
  assert.equal(st.get(`${C}versions.TLSv1.2`), 2);
  assert.equal(st.get(`${C}versions.TLSv1.3`), undefined);
});

test('a wrong CA fails closed: 503 UF, the reason in the access log, fail_verify_error and upstream_cx_connect_fail', async () => {
  const up = await httpsUp();
  const logPath = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'legate-tls-up-')), 'access.log');
  const hcmExtra = fileAccessLog(logPath, '%RESPONSE_CODE% %RESPONSE_FLAGS% %UPSTREAM_TRANSPORT_FAILURE_REASON%\\n');
  const l = await legateFor(proxyConfig([], {
    hcmExtra, clusters: staticCluster('upstream', [up.port], upstreamTls(verifying(other.certPath))),
  }));
  const r = await get(l.port('proxy'));
  assert.equal(r.status, 503);
  assert.match(r.body.toString(), /^upstream connect error or disconnect\/reset before headers\. reset reason: connection failure, transport failure reason: TLS_error:\|CERTIFICATE_VERIFY_FAILED: /);
  assert.equal(up.seen.length, 0);
  const log = await pollLog(logPath, (t) => t.endsWith('\n'));
  assert.match(log, /^503 UF TLS_error:\|CERTIFICATE_VERIFY_FAILED: [A-Z_]+:TLS_error_end\n$/);
  assert.equal(await pollStat(l, `${C}fail_verify_error`, (v) => v === 1), 1);
  const st = await l.stats();
  assert.equal(st.get(`${C}connection_error`), 1);
  assert.equal(st.get('cluster.upstream.upstream_cx_connect_fail'), 1);
  assert.equal(st.get(`${C}handshake`), 0);
});

test('a SAN that does not match fails closed with fail_verify_san', async () => {
  const up = await httpsUp();
  const l = await legateFor(proxyConfig([], {
    clusters: staticCluster('upstream', [up.port], upstreamTls(verifying(ca.certPath).replace('exact: up.test', 'exact: other.test'))),
  }));
  const r = await get(l.port('proxy'));
  assert.equal(r.status, 503);
  assert.equal(await pollStat(l, `${C}fail_verify_san`, (v) => v === 1), 1);
});

test('a client certificate to an mTLS upstream, and ALPN', async () => {
  const up = await httpsUp({ ca: ca.cert, requestCert: true, rejectUnauthorized: true, ALPNProtocols: ['http/1.1'] });
  const common = `
          tls_certificates:
          - certificate_chain: { filename: ${client.certPath} }
            private_key: { filename: ${client.keyPath} }
          alpn_protocols: [http/1.1]${verifying(ca.certPath)}`;
  const l = await legateFor(proxyConfig([], { clusters: staticCluster('upstream', [up.port], upstreamTls(common)) }));
  const r = await get(l.port('proxy'));
  assert.equal(r.status, 200);
  assert.equal(up.seen[0].clientCn, 'legate.test');
  assert.equal(up.seen[0].alpn, 'http/1.1');
  // Without the client certificate the upstream refuses the handshake: 503 UF.
  const l2 = await legateFor(proxyConfig([], {
    clusters: staticCluster('upstream', [up.port], upstreamTls(verifying(ca.certPath))),
  }));
  const r2 = await get(l2.port('proxy'));
  assert.equal(r2.status, 503);
  assert.equal(up.seen.length, 1);
});
