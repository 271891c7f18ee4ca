// envoy.transport_sockets.tls config: what `--mode validate` refuses, naming the field path
// (certificate files that are missing or unparsable, a key that does not match its certificate,
// the wrong context type for the side, unknown ciphers, two certificates of one type for a name,
// Envoy's fields Legate does not act on), and what it accepts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { makeCa } from '../helpers/certs.ts';
import { proxyConfig, runLegate, staticCluster, tmpFile } from '../helpers/legate.ts';
import { downstreamTls, tlsProxyConfig, upstreamTls } from '../integration/fixtures/tls.ts';

const ca = makeCa();
const a = ca.issue('a.test');
const b = ca.issue('b.test');
const a2 = ca.issue('a2', { sans: ['DNS:a.test'] });
const CTX = 'static_resources.listeners[0].filter_chains[0].transport_socket.typed_config';

async function validate(yaml: string): Promise<{ code: number | null; out: string }> {
  const r = await runLegate(['--mode', 'validate', '-c', tmpFile('config.yaml', yaml)]);
  return { code: r.code, out: r.stdout + r.stderr };
}

test('a valid downstream and upstream TLS config validates', async () => {
  const yaml = tlsProxyConfig(downstreamTls([a, b], `
            alpn_protocols: [h2, http/1.1]
            tls_params:
              tls_minimum_protocol_version: TLSv1_2
              cipher_suites: ["[ECDHE-ECDSA-AES128-GCM-SHA256|ECDHE-ECDSA-CHACHA20-POLY1305]", ECDHE-RSA-AES256-GCM-SHA384]
              ecdh_curves: [X25519, P-256]
            validation_context:
              trusted_ca: { filename: ${ca.certPath} }
              verify_certificate_hash: ["${a.sha256}"]
              match_typed_subject_alt_names:
              - san_type: URI
                matcher: { safe_regex: { regex: "spiffe://legate/.*" } }`, `
          require_client_certificate: true
          session_timeout: 300s`), [], { clusters: staticCluster('upstream', [1], upstreamTls('', '\n        sni: up.test')) });
  const r = await validate(yaml);
  assert.equal(r.code, 0, r.out);
});

test('a certificate file that does not exist: the field path', async () => {
  const missing = { ...a, certPath: path.join(ca.dir, 'nope.pem') };
  const r = await validate(tlsProxyConfig(downstreamTls([missing]), [1]));
  assert.notEqual(r.code, 0);
  assert.ok(r.out.includes(`${CTX}.common_tls_context.tls_certificates[0].certificate_chain.filename: unable to read file: ${missing.certPath} (ENOENT)`), r.out);
});

test('a file that holds no certificate, and a key that does not parse', async () => {
  const junk = tmpFile('junk.pem', 'not a certificate\n');
  let r = await validate(tlsProxyConfig(downstreamTls([{ ...a, certPath: junk }]), [1]));
  assert.ok(r.out.includes(`${CTX}.common_tls_context.tls_certificates[0].certificate_chain.filename: Failed to load certificate chain from ${junk}`), r.out);
  r = await validate(tlsProxyConfig(downstreamTls([{ ...a, keyPath: junk }]), [1]));
  assert.ok(r.out.includes(`${CTX}.common_tls_context.tls_certificates[0].private_key.filename: Failed to load private key from ${junk}`), r.out);
});

test('a key that does not match its certificate', async () => {
  const r = await validate(tlsProxyConfig(downstreamTls([{ ...a, keyPath: b.keyPath }]), [1]));
  assert.notEqual(r.code, 0);
  assert.ok(r.out.includes(`${CTX}.common_tls_context.tls_certificates[0].private_key.filename: Failed to load private key from ${b.keyPath}: it does not match the certificate in ${a.certPath}`), r.out);
});

test('a server ECDSA certificate on a curve other than P-256, P-384, P-521; two of one type for a name are fine', async () => {
  const k1 = ca.issue('k1.test', { curve: 'secp256k1' });
  const r = await validate(tlsProxyConfig(downstreamTls([a, k1]), [1]));
  assert.ok(r.out.includes(`${CTX}.common_tls_context.tls_certificates[1].certificate_chain: Failed to load certificate chain from ${k1.certPath}, only P-256, P-384 or P-521 ECDSA certificates are supported (secp256k1)`), r.out);
  // (Envoy uses the first of them for the name.)
  assert.equal((await validate(tlsProxyConfig(downstreamTls([a, a2]), [1]))).code, 0);
});

test('an unknown cipher, a malformed hash, a bad regex', async () => {
  let r = await validate(tlsProxyConfig(downstreamTls([a], `
            tls_params: { cipher_suites: [ECDHE-RSA-AES128-GCM-SHA256, NOT-A-CIPHER] }`), [1]));
  assert.ok(r.out.includes(`${CTX}.common_tls_context.tls_params.cipher_suites: Failed to initialize cipher suites ECDHE-RSA-AES128-GCM-SHA256:NOT-A-CIPHER. The following ciphers were rejected when tried individually: NOT-A-CIPHER`), r.out);
  r = await validate(tlsProxyConfig(downstreamTls([a], `
            validation_context: { verify_certificate_hash: ["${'zz'.repeat(32)}"] }`), [1]));
  assert.ok(r.out.includes(`${CTX}.common_tls_context.validation_context.verify_certificate_hash[0]: Invalid hex-encoded SHA-256`), r.out);
  r = await validate(tlsProxyConfig(downstreamTls([a], `
            validation_context:
              match_typed_subject_alt_names:
              - san_type: DNS
                matcher: { safe_regex: { regex: "(a" } }`), [1]));
  assert.ok(r.out.includes(`${CTX}.common_tls_context.validation_context.match_typed_subject_alt_names[0].matcher.safe_regex.regex: invalid regex`), r.out);
});

test('the wrong context for the side, a server context without certificates', async () => {
  let r = await validate(tlsProxyConfig(downstreamTls([a]).replace('DownstreamTlsContext', 'UpstreamTlsContext'), [1]));
  assert.ok(r.out.includes(`${CTX}.@type: a filter chain's transport socket takes a DownstreamTlsContext`), r.out);
  r = await validate(proxyConfig([], {
    clusters: staticCluster('upstream', [1], upstreamTls().replace('UpstreamTlsContext', 'DownstreamTlsContext')),
  }));
  assert.ok(r.out.includes('static_resources.clusters[0].transport_socket.typed_config.@type: a cluster\'s transport socket takes an UpstreamTlsContext'), r.out);
  r = await validate(tlsProxyConfig(downstreamTls([]).replace('tls_certificates:', 'alpn_protocols: [http/1.1]'), [1]));
  assert.ok(r.out.includes(`${CTX}.common_tls_context.tls_certificates: No TLS certificates found for server context`), r.out);
});

test('fields Legate does not act on are refused by name', async () => {
  const r = await validate(tlsProxyConfig(downstreamTls([a], `
            tls_params: { signature_algorithms: [ecdsa_secp256r1_sha256] }`, `
          require_sni: true`), [1]));
  assert.notEqual(r.code, 0);
  assert.match(r.out, /require_sni/);
  assert.match(r.out, /signature_algorithms/);
});
