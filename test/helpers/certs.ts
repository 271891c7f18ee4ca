// Certificates made at test time with the openssl CLI: a CA, server and client certificates signed
// by it (ECDSA P-256 unless asked otherwise), a second CA nobody trusts, and expired ones. Each
// call makes a fresh directory; files are PEM. Nothing is checked in.
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface Cert {
  certPath: string;
  keyPath: string;
  cert: string;
  key: string;
  /** SHA-256 of the DER certificate, lowercase hex without colons (Envoy's
   *  verify_certificate_hash form, and client_ssl_auth's fingerprint). */
  sha256: string;
  /** base64 SHA-256 of the SubjectPublicKeyInfo (Envoy's verify_certificate_spki form). */
  spki: string;
}

export interface Ca extends Cert {
  dir: string;
  /** Issue a certificate signed by this CA. */
  issue(name: string, opts?: IssueOptions): Cert;
}

export interface IssueOptions {
  /** Subject CN (default: `name`). */
  cn?: string;
  /** subjectAltName entries, e.g. ['DNS:a.test', 'URI:spiffe://x/y'] (default: [`DNS:${name}`]). */
  sans?: string[];
  /** Validity in days; negative makes an expired certificate (default 30). */
  days?: number;
  /** 'ec' (P-256, default) or 'rsa' (2048). */
  keyType?: 'ec' | 'rsa';
  /** The curve of an 'ec' key (default P-256). */
  curve?: string;
  /** clientAuth instead of serverAuth extended key usage. */
  client?: boolean;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

function keyArgs(keyType: 'ec' | 'rsa', curve = 'P-256'): string[] {
  return keyType === 'rsa' ? ['-newkey', 'rsa:2048'] : ['-newkey', 'ec', '-pkeyopt', `ec_paramgen_curve:${curve}`];
}

function load(dir: string, name: string): Cert {
  const certPath = path.join(dir, `${name}.pem`);
  const keyPath = path.join(dir, `${name}.key`);
  const cert = fs.readFileSync(certPath, 'utf8');
  const key = fs.readFileSync(keyPath, 'utf8');
  const x = new crypto.X509Certificate(cert);
  const sha256 = crypto.createHash('sha256').update(x.raw).digest('hex');
  const spkiDer = x.publicKey.export({ type: 'spki', format: 'der' });
  const spki = crypto.createHash('sha256').update(spkiDer).digest('base64');
  return { certPath, keyPath, cert, key, sha256, spki };
}

/** A new CA (self-signed, 30 days) in a fresh temporary directory. */
export function makeCa(name = 'ca', keyType: 'ec' | 'rsa' = 'ec'): Ca {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'legate-certs-'));
  openssl(['req', '-x509', ...keyArgs(keyType), '-nodes', '-keyout', `${name}.key`, '-out', `${name}.pem`,
    '-days', '30', '-subj', `/CN=Legate Test ${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  const ca = load(dir, name);
  let serial = 1;
  return {
    ...ca,
    dir,
    issue(certName: string, opts: IssueOptions = {}): Cert {
      const sans = opts.sans ?? [`DNS:${certName}`];
      const ext = path.join(dir, `${certName}.ext`);
      fs.writeFileSync(ext, [
        'basicConstraints=CA:FALSE',
        `extendedKeyUsage=${opts.client === true ? 'clientAuth' : 'serverAuth'}`,
        ...(sans.length > 0 ? [`subjectAltName=${sans.join(',')}`] : []),
      ].join('\n') + '\n');
      openssl(['req', '-new', ...keyArgs(opts.keyType ?? 'ec', opts.curve), '-nodes', '-keyout', `${certName}.key`,
        '-out', `${certName}.csr`, '-subj', `/CN=${opts.cn ?? certName}`], dir);
      openssl(['x509', '-req', '-in', `${certName}.csr`, '-CA', `${name}.pem`, '-CAkey', `${name}.key`,
        '-set_serial', String(++serial), '-days', String(opts.days ?? 30), '-extfile', ext,
        '-out', `${certName}.pem`], dir);
      return load(dir, certName);
    },
  };
}
