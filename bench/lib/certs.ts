// The TLS material every TLS target shares in a run, made with the openssl CLI at bench time (nothing is
// checked in): one self-signed ECDSA P-256 certificate for localhost and 127.0.0.1, and one 80-byte
// session ticket key. Every peer loads the same files, so they differ only in how they use them.

import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface BenchTls {
  readonly certPath: string;
  readonly keyPath: string;
  /** Certificate then key in one file (HAProxy's `crt`). */
  readonly pemPath: string;
  /** 80 random bytes: nginx `ssl_session_ticket_key`, Envoy `session_ticket_keys`. */
  readonly ticketKeyPath: string;
  /** The same key base64-encoded, three times (HAProxy `tls-ticket-keys` wants at least 3 lines). */
  readonly ticketKeyB64Path: string;
}

export function makeBenchTls(dir: string): BenchTls {
  const certPath = join(dir, 'cert.pem');
  const keyPath = join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', keyPath, '-out', certPath, '-days', '7', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { stdio: ['ignore', 'ignore', 'pipe'] });
  const pemPath = join(dir, 'cert-and-key.pem');
  writeFileSync(pemPath, readFileSync(certPath, 'utf8') + readFileSync(keyPath, 'utf8'));
  const key = randomBytes(80);
  const ticketKeyPath = join(dir, 'ticket.key');
  writeFileSync(ticketKeyPath, key);
  const ticketKeyB64Path = join(dir, 'ticket.key.b64');
  writeFileSync(ticketKeyB64Path, `${key.toString('base64')}\n`.repeat(3));
  return { certPath, keyPath, pemPath, ticketKeyPath, ticketKeyB64Path };
}

/**
 * An OpenSSL config that makes an OpenSSL client (wrk) offer only TLS_AES_128_GCM_SHA256 and P-256, via
 * OPENSSL_CONF. Without it wrk offers X25519 first and every target would answer with a
 * HelloRetryRequest for P-256; and the TLS 1.3 suite would be whatever each server prefers.
 */
export function writeClientOpensslConf(dir: string): string {
  const file = join(dir, 'openssl-client.cnf');
  writeFileSync(file, `openssl_conf = bench_conf
[bench_conf]
ssl_conf = bench_ssl
[bench_ssl]
system_default = bench_client
[bench_client]
MinProtocol = TLSv1.3
Ciphersuites = TLS_AES_128_GCM_SHA256
Groups = P-256
`);
  return file;
}
