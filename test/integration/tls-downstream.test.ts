// Downstream TLS (a filter chain's DownstreamTlsContext) through a real Legate, with real clients
// (curl, node:tls): HTTPS to a plain upstream, certificate selection by SNI and by key type,
// client certificates (mTLS) refused by cause with Envoy's stats and accepted with
// x-forwarded-client-cert, hash / SPKI pins, ALPN, the TLS access log commands, session
// resumption across workers, and admin /certs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { makeCa, type Cert } from '../helpers/certs.ts';
import { fileAccessLog, runLegate, tmpFile } from '../helpers/legate.ts';
import { curl, pollLog, pollStat } from './fixtures/clients.ts';
import { httpUp, legateFor } from './fixtures/tracked.ts';
import { downstreamTls, tlsGet, tlsProxyConfig, type TlsResult } from './fixtures/tls.ts';

const ca = makeCa();
const other = makeCa('other');
const a = ca.issue('a.test');
const b = ca.issue('b.test');
const wild = ca.issue('wild', { sans: ['DNS:*.wild.test'] });
const aRsa = ca.issue('a-rsa', { sans: ['DNS:a.test'], keyType: 'rsa' });
const a2 = ca.issue('a2', { sans: ['DNS:a.test'] });
const client = ca.issue('client.test', { client: true, sans: ['DNS:client.test', 'URI:spiffe://legate/client'] });
const wrongSan = ca.issue('wrong.test', { client: true });
const untrusted = other.issue('client.test', { client: true });
const L = 'listener.127.0.0.1_0.ssl.';

function cn(r: TlsResult): string | undefined {
  const c = r.peer?.subject?.CN;
  return Array.isArray(c) ? c[0] : c;
}

test('HTTPS through Legate: curl --cacert --resolve, x-forwarded-proto https, x-forwarded-for, the handshake stats', async () => {
  const up = await httpUp();
  const l = await legateFor(tlsProxyConfig(downstreamTls([a]), [up.port],
    { hcmExtra: '\n          use_remote_address: true' }));
  const port = l.port('proxy');
  const r = await curl(['--cacert', ca.certPath, '--resolve', `a.test:${port}:127.0.0.1`, `https://a.test:${port}/hello`]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(up.requests.at(-1)!.url, '/hello');
  assert.equal(up.requests.at(-1)!.headers['x-forwarded-proto'], 'https');
  // The peer's address through the TLS socket.
  assert.equal(up.requests.at(-1)!.headers['x-forwarded-for'], '127.0.0.1');
  assert.equal(await pollStat(l, `${L}handshake`, (v) => v === 1), 1);
  const st = await l.stats();
  assert.equal(st.get(`${L}versions.TLSv1.3`), 1);
  assert.equal(st.get(`${L}no_certificate`), 1);
  assert.equal(st.get(`${L}connection_error`), 0);
  // One of the TLS 1.3 suites was counted.
  const suites = ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256'];
  assert.equal(suites.reduce((n, s) => n + (st.get(`${L}ciphers.${s}`) ?? 0), 0), 1);
  // A client that does not speak TLS is a connection error, and the listener keeps serving.
  const plain = await curl([`http://127.0.0.1:${port}/`]);
  assert.notEqual(plain.code, 0);
  assert.equal(await pollStat(l, `${L}connection_error`, (v) => v === 1), 1);
  const again = await tlsGet(port, { ca: ca.cert, servername: 'a.test' });
  assert.equal(again.status, 200);
});

test('SNI picks the certificate: exact names, a wildcard, and the first one for an unknown or no SNI', async () => {
  const up = await httpUp();
  // (a2 also names a.test, after a: the first of a key type serves a name.)
  const l = await legateFor(tlsProxyConfig(downstreamTls([a, b, wild, a2]), [up.port]));
  const port = l.port('proxy');
  const cases: [string | undefined, string][] = [
    ['a.test', 'a.test'], ['b.test', 'b.test'], ['x.wild.test', 'wild'], ['B.TEST', 'b.test'],
    ['unknown.test', 'a.test'], ['x.y.wild.test', 'a.test'], [undefined, 'a.test'],
  ];
  for (const [sni, want] of cases) {
    const r = await tlsGet(port, { ca: ca.cert, servername: sni, checkServerIdentity: () => undefined });
    assert.equal(r.status, 200, `${sni}: ${r.error}`);
    assert.equal(cn(r), want, `SNI ${sni}`);
  }
});

test('an RSA and an ECDSA certificate for one name: the client\'s signature algorithms choose', async () => {
  const up = await httpUp();
  const l = await legateFor(tlsProxyConfig(downstreamTls([a, aRsa]), [up.port]));
  const port = l.port('proxy');
  const ec = await tlsGet(port, { ca: ca.cert, servername: 'a.test', sigalgs: 'ecdsa_secp256r1_sha256' });
  assert.equal(ec.status, 200, ec.error ?? '');
  assert.equal(cn(ec), 'a.test');
  assert.equal((ec.peer as unknown as { asn1Curve?: string }).asn1Curve, 'prime256v1');
  const rsa = await tlsGet(port, { ca: ca.cert, servername: 'a.test', sigalgs: 'rsa_pss_rsae_sha256:rsa_pkcs1_sha256' });
  assert.equal(rsa.status, 200, rsa.error ?? '');
  assert.equal(cn(rsa), 'a-rsa');
  assert.equal((rsa.peer as unknown as { bits?: number }).bits, 2048);
});

test('no SNI scans every certificate by key type; an SNI that names none gets the first certificate', async () => {
  const up = await httpUp();
  const l = await legateFor(tlsProxyConfig(downstreamTls([aRsa, b]), [up.port]));
  const port = l.port('proxy');
  const any = { ca: ca.cert, checkServerIdentity: () => undefined };
  const noSni = await tlsGet(port, { ...any, sigalgs: 'ecdsa_secp256r1_sha256:rsa_pss_rsae_sha256' });
  assert.equal(cn(noSni), 'b.test');
  const rsaOnly = await tlsGet(port, { ...any, sigalgs: 'rsa_pss_rsae_sha256' });
  assert.equal(cn(rsaOnly), 'a-rsa');
  const unknown = await tlsGet(port, { ...any, servername: 'unknown.test' });
  assert.equal(cn(unknown), 'a-rsa');
});

function mtlsContext(extraValidation = '', certs: Cert[] = [a]): string {
  return downstreamTls(certs, `
            validation_context:
              trusted_ca: { filename: ${ca.certPath} }${extraValidation}`, `
          require_client_certificate: true`);
}

test('mTLS: a missing, an untrusted and a wrong-SAN client certificate are refused, each counted; a good one reaches the upstream with x-forwarded-client-cert', async () => {
  const up = await httpUp();
  const logPath = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'legate-tls-')), 'access.log');
  const hcmExtra = `
          forward_client_cert_details: SANITIZE_SET
          set_current_client_cert_details: { subject: true, cert: true, uri: true, dns: true }`
    + fileAccessLog(logPath, '%DOWNSTREAM_TLS_VERSION% %DOWNSTREAM_PEER_FINGERPRINT_256% %REQUESTED_SERVER_NAME%\\n');
  const l = await legateFor(tlsProxyConfig(mtlsContext(`
              match_typed_subject_alt_names:
              - san_type: DNS
                matcher: { exact: client.test }`), [up.port], { hcmExtra }));
  const port = l.port('proxy');
  const base = { ca: ca.cert, servername: 'a.test' };
  const refused: [string, Cert | null, string][] = [
    ['missing', null, 'fail_verify_no_cert'],
    ['untrusted', untrusted, 'fail_verify_error'],
    ['wrong SAN', wrongSan, 'fail_verify_san'],
  ];
  for (const [what, cert, stat] of refused) {
    const r = await tlsGet(port, cert === null ? base : { ...base, cert: cert.cert, key: cert.key });
    // The handshake completes on the client's side (TLS 1.3), then the connection is closed.
    assert.equal(r.status, 0, `${what}: ${r.head}`);
    assert.equal(await pollStat(l, `${L}${stat}`, (v) => v === 1), 1, what);
  }
  assert.equal(up.requests.length, 0);
  const st = await l.stats();
  assert.equal(st.get(`${L}connection_error`), 3);
  assert.equal(st.get(`${L}handshake`), 0);

  // A client's own x-forwarded-client-cert is replaced (SANITIZE_SET).
  const ok = await tlsGet(port, { ...base, cert: client.cert, key: client.key }, '/', 'x-forwarded-client-cert: By=forged\r\n');
  assert.equal(ok.status, 200, ok.error ?? ok.head);
  const xfcc = up.requests.at(-1)!.headers['x-forwarded-client-cert'];
  assert.equal(xfcc, `Hash=${client.sha256};Cert="${encodeURIComponent(client.cert)}";Subject="CN=client.test";`
    + 'URI=spiffe://legate/client;DNS=client.test');
  assert.equal(await pollStat(l, `${L}handshake`, (v) => v === 1), 1);
  const log = await pollLog(logPath, (t) => t.endsWith('\n'));
  assert.equal(log, `TLSv1.3 ${client.sha256} a.test\n`);

  // A resumed session is verified again, with the certificate that comes with it.
  assert.ok(ok.session !== null);
  const again = await tlsGet(port, { ...base, cert: client.cert, key: client.key, session: ok.session! });
  assert.equal(again.status, 200);
  assert.equal(again.reused, true);
  assert.equal(up.requests.at(-1)!.headers['x-forwarded-client-cert'], xfcc);
  assert.equal(await pollStat(l, `${L}session_reused`, (v) => v === 1), 1);
});

test('curl with a client certificate (--cert --key) through mTLS', async () => {
  const up = await httpUp();
  const l = await legateFor(tlsProxyConfig(mtlsContext(), [up.port],
    { hcmExtra: '\n          forward_client_cert_details: SANITIZE_SET' }));
  const port = l.port('proxy');
  const base = ['--cacert', ca.certPath, '--resolve', `a.test:${port}:127.0.0.1`];
  const ok = await curl([...base, '--cert', client.certPath, '--key', client.keyPath, `https://a.test:${port}/m`]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(up.requests.at(-1)!.headers['x-forwarded-client-cert'], `Hash=${client.sha256}`);
  const none = await curl([...base, `https://a.test:${port}/m`]);
  assert.notEqual(none.code, 0);
  assert.equal(up.requests.length, 1);
  assert.equal(await pollStat(l, `${L}fail_verify_no_cert`, (v) => v === 1), 1);
});

test('a client that resets mid-handshake, or sends garbage, loses nothing else', async () => {
  const up = await httpUp();
  const l = await legateFor(tlsProxyConfig(downstreamTls([a]), [up.port]), { concurrency: 1 });
  const port = l.port('proxy');
  for (const bytes of [Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00]), Buffer.alloc(4096, 0x41)]) {
    await new Promise<void>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.write(bytes, () => setTimeout(() => { s.resetAndDestroy(); resolve(); }, 50));
      });
      s.on('error', () => {});
    });
  }
  const r = await tlsGet(port, { ca: ca.cert, servername: 'a.test' });
  assert.equal(r.status, 200);
  assert.ok(l.proc.exitCode === null);
  assert.equal((await l.stats()).get('server.legate.worker_restarts'), 0);
  assert.equal(await pollStat(l, `${L}connection_error`, (v) => v === 1), 1);
});

test('forward_client_cert_details: SANITIZE (the default) drops the header, APPEND_FORWARD appends, FORWARD_ONLY keeps it', async () => {
  const up = await httpUp();
  const modes: [string, (v: string | undefined) => void][] = [
    ['', (v) => assert.equal(v, undefined)],
    ['APPEND_FORWARD', (v) => assert.equal(v, `By=up,Hash=${client.sha256}`)],
    ['FORWARD_ONLY', (v) => assert.equal(v, 'By=up')],
  ];
  for (const [mode, check] of modes) {
    const hcmExtra = mode === '' ? '' : `\n          forward_client_cert_details: ${mode}`;
    const l = await legateFor(tlsProxyConfig(mtlsContext(), [up.port], { hcmExtra }));
    const r = await tlsGet(l.port('proxy'), { ca: ca.cert, servername: 'a.test', cert: client.cert, key: client.key },
      '/', 'x-forwarded-client-cert: By=up\r\n');
    assert.equal(r.status, 200, r.error ?? r.head);
    check(up.requests.at(-1)!.headers['x-forwarded-client-cert'] as string | undefined);
  }
});

/** A CRL from `ca` revoking `revoked` (the openssl CLI's `ca` command over a scratch database). */
function crlRevoking(revoked: Cert): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'legate-crl-'));
  fs.writeFileSync(path.join(dir, 'index.txt'), '');
  fs.writeFileSync(path.join(dir, 'crlnumber'), '01\n');
  fs.writeFileSync(path.join(dir, 'ca.cnf'), `[ca]\ndefault_ca = d\n[d]\ndatabase = ${dir}/index.txt\n`
    + `crlnumber = ${dir}/crlnumber\ndefault_md = sha256\ndefault_crl_days = 30\n`);
  const run = (args: string[]): void => {
    execFileSync('openssl', ['ca', '-config', path.join(dir, 'ca.cnf'), '-keyfile', ca.keyPath, '-cert', ca.certPath, ...args],
      { stdio: ['ignore', 'ignore', 'pipe'] });
  };
  run(['-revoke', revoked.certPath]);
  const out = path.join(dir, 'crl.pem');
  run(['-gencrl', '-out', out]);
  return out;
}

test('crl: a revoked client certificate is refused (fail_verify_error), another from the CA accepted', async () => {
  const up = await httpUp();
  const crl = crlRevoking(wrongSan);
  const l = await legateFor(tlsProxyConfig(mtlsContext(`
              crl: { filename: ${crl} }`), [up.port]));
  const port = l.port('proxy');
  const revoked = await tlsGet(port, { ca: ca.cert, servername: 'a.test', cert: wrongSan.cert, key: wrongSan.key });
  assert.equal(revoked.status, 0);
  assert.equal(await pollStat(l, `${L}fail_verify_error`, (v) => v === 1), 1);
  const ok = await tlsGet(port, { ca: ca.cert, servername: 'a.test', cert: client.cert, key: client.key });
  assert.equal(ok.status, 200, ok.error ?? '');
});

test('verify_certificate_hash and verify_certificate_spki pin client certificates', async () => {
  const up = await httpUp();
  const colons = client.sha256.toUpperCase().match(/../g)!.join(':');
  for (const pin of [`\n              verify_certificate_hash: ["${colons}"]`, `\n              verify_certificate_spki: ["${client.spki}"]`]) {
    const l = await legateFor(tlsProxyConfig(downstreamTls([a], `
            validation_context:${pin}`), [up.port]));
    const port = l.port('proxy');
    const good = await tlsGet(port, { ca: ca.cert, servername: 'a.test', cert: client.cert, key: client.key });
    assert.equal(good.status, 200, `${pin}: ${good.error}`);
    // Another certificate, even from the same CA, is refused (no trusted_ca: only the pin counts).
    const bad = await tlsGet(port, { ca: ca.cert, servername: 'a.test', cert: wrongSan.cert, key: wrongSan.key });
    assert.equal(bad.status, 0);
    assert.equal(await pollStat(l, `${L}fail_verify_cert_hash`, (v) => v === 1), 1, pin);
    // Without trusted_ca the chain is not checked (the test CA is not configured anywhere), so
    // the counter of chain failures does not exist; nor does the SAN one, with no SAN matcher.
    const s = await l.stats();
    assert.equal(s.get(`${L}fail_verify_error`), undefined);
    assert.equal(s.get(`${L}fail_verify_san`), undefined);
  }
});

test('alpn_protocols: the server picks from its list', async () => {
  const up = await httpUp();
  const l = await legateFor(tlsProxyConfig(downstreamTls([a], `
            alpn_protocols: [http/1.1]`), [up.port]));
  const r = await tlsGet(l.port('proxy'), { ca: ca.cert, servername: 'a.test', ALPNProtocols: ['h2', 'http/1.1'] });
  assert.equal(r.status, 200);
  assert.equal(r.alpn, 'http/1.1');
});

test('a session resumes on later connections whichever worker takes them (--concurrency 2)', async () => {
  const up = await httpUp();
  const l = await legateFor(tlsProxyConfig(downstreamTls([a]), [up.port]), { concurrency: 2 });
  const port = l.port('proxy');
  const first = await tlsGet(port, { ca: ca.cert, servername: 'a.test' });
  assert.equal(first.status, 200);
  assert.ok(first.session !== null, 'a session ticket arrived');
  assert.equal(first.reused, false);
  // Reuse-port spreads connections over both workers by their ports: 20 connections all landing
  // on one worker has odds of 2^-19. Every one resumes with the first worker's ticket.
  const N = 20;
  let reused = 0;
  for (let i = 0; i < N; i++) {
    const r = await tlsGet(port, { ca: ca.cert, servername: 'a.test', session: first.session! });
    assert.equal(r.status, 200);
    if (r.reused) reused++;
  }
  assert.equal(reused, N);
  assert.equal(await pollStat(l, `${L}session_reused`, (v) => v === N), N);
  assert.equal((await l.stats()).get(`${L}handshake`), N + 1);
  // TLS 1.2 tickets too.
  const v12 = { ca: ca.cert, servername: 'a.test', maxVersion: 'TLSv1.2' as const };
  const first12 = await tlsGet(port, v12);
  assert.equal(first12.protocol, 'TLSv1.2');
  for (let i = 0; i < 4; i++) {
    const r = await tlsGet(port, { ...v12, session: first12.session! });
    assert.equal(r.reused, true);
  }
  assert.equal(await pollStat(l, `${L}session_reused`, (v) => v === N + 4), N + 4);
  assert.equal((await l.stats()).get(`${L}versions.TLSv1.2`), 5);
});

test('a resumed TLS 1.3 connection gets a fresh ticket: a client that uses each ticket once resumes every time', async () => {
  const up = await httpUp();
  const l = await legateFor(tlsProxyConfig(downstreamTls([a]), [up.port]), { concurrency: 2 });
  const port = l.port('proxy');
  let r = await tlsGet(port, { ca: ca.cert, servername: 'a.test' });
  assert.equal(r.protocol, 'TLSv1.3');
  for (let i = 0; i < 6; i++) {
    assert.ok(r.session !== null, `connection ${i} got a ticket`);
    // Only the ticket the previous connection received (RFC 8446 C.4: single use).
    r = await tlsGet(port, { ca: ca.cert, servername: 'a.test', session: r.session });
    assert.equal(r.status, 200);
    assert.equal(r.reused, true, `connection ${i + 1} resumed`);
  }
  assert.equal(await pollStat(l, `${L}session_reused`, (v) => v === 6), 6);
});

test('session_ticket_keys: a ticket from one Legate resumes on another with the same key; a key that is not 80 bytes is refused', async () => {
  const up = await httpUp();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'legate-tls-keys-'));
  const keyPath = path.join(dir, 'ticket.key');
  fs.writeFileSync(keyPath, crypto.randomBytes(80));
  const cfg = tlsProxyConfig(downstreamTls([a], '', `
          session_ticket_keys:
            keys: [{ filename: ${keyPath} }]`), [up.port]);
  const l1 = await legateFor(cfg);
  const l2 = await legateFor(cfg);
  const first = await tlsGet(l1.port('proxy'), { ca: ca.cert, servername: 'a.test' });
  assert.ok(first.session !== null);
  const r = await tlsGet(l2.port('proxy'), { ca: ca.cert, servername: 'a.test', session: first.session! });
  assert.equal(r.status, 200);
  assert.equal(r.reused, true);
  assert.equal(await pollStat(l2, `${L}session_reused`, (v) => v === 1), 1);

  // A ticket from other keys (a Legate with its own): a full handshake, and the process lives on.
  const l3 = await legateFor(tlsProxyConfig(downstreamTls([a]), [up.port]));
  for (let i = 0; i < 2; i++) {
    const foreign = await tlsGet(l3.port('proxy'), { ca: ca.cert, servername: 'a.test', session: first.session! });
    assert.equal(foreign.status, 200);
    assert.equal(foreign.reused, false);
  }
  assert.equal((await l3.stats()).get(`${L}session_reused`) ?? 0, 0);

  fs.writeFileSync(keyPath, Buffer.alloc(48));
  const v = await runLegate(['--mode', 'validate', '-c', tmpFile('bad.yaml', cfg)]);
  assert.notEqual(v.code, 0);
  assert.match(v.stderr + v.stdout, /static_resources\.listeners\[0\]\.filter_chains\[0\]\.transport_socket\.typed_config\.session_ticket_keys\.keys\[0\]: Incorrect TLS session ticket key length\. Length 48, expected length 80\./);
});

test('admin /certs lists the certificates in use with days until expiry; server.days_until_first_cert_expiring follows the soonest', async () => {
  const up = await httpUp();
  const soon = ca.issue('soon.test', { days: 3 });
  const l = await legateFor(tlsProxyConfig(mtlsContext('', [soon, a]), [up.port]));
  const res = await fetch(`${l.admin}/certs`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /application\/json/);
  const j = await res.json() as { certificates: { ca_cert: Record<string, unknown>[]; cert_chain: Record<string, unknown>[] }[] };
  assert.equal(j.certificates.length, 1);
  const [c] = j.certificates;
  assert.equal(c.ca_cert.length, 1);
  assert.equal(c.ca_cert[0].path, ca.certPath);
  assert.deepEqual(c.cert_chain.map((d) => d.path), [soon.certPath, a.certPath]);
  const leaf = c.cert_chain[1];
  assert.equal(leaf.serial_number, new crypto.X509Certificate(a.cert).serialNumber.toLowerCase());
  assert.deepEqual(leaf.subject_alt_names, [{ dns: 'a.test' }]);
  assert.equal(leaf.days_until_expiration, '29');
  assert.equal(c.cert_chain[0].days_until_expiration, '2');
  assert.match(String(leaf.valid_from), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.match(String(leaf.expiration_time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.equal(await pollStat(l, 'server.days_until_first_cert_expiring', (v) => v === 2, 10_000), 2);
});
