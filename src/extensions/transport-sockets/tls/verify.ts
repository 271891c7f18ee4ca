// Verifying a peer certificate against a validation context (Envoy's DefaultCertValidator), after
// the handshake: Node has no verify callback, so OpenSSL checks the chain (trusted_ca, crl) during
// the handshake and records the result, and the rest is checked here once it is done. Envoy's
// order: the chain (fail_verify_error), the SAN matchers (fail_verify_san), then the hash / SPKI
// pins (fail_verify_cert_hash).
import crypto from 'node:crypto';
import { compileRegex, type CompiledRegex } from '../../../common/regex.ts';
import { parseSans, type SanMatchSnap, type StringMatchSnap, type ValidationSnap } from './config.ts';
import type { SslStats } from './stats.ts';

/** Node's subjectAltName type names for SubjectAltNameMatcher.san_type. */
const NODE_SAN_TYPE: Record<SanMatchSnap['type'], string> = {
  DNS: 'DNS', URI: 'URI', EMAIL: 'email', IP_ADDRESS: 'IP Address',
};

class StringMatcher {
  readonly snap: StringMatchSnap;
  readonly re: CompiledRegex | null;
  constructor(snap: StringMatchSnap) {
    this.snap = snap;
    this.re = snap.kind === 'regex' ? compileRegex(snap.value) : null;
  }
  match(s: string): boolean {
    const m = this.snap;
    const v = m.ignoreCase ? s.toLowerCase() : s;
    switch (m.kind) {
      case 'exact': return v === m.value;
      case 'prefix': return v.startsWith(m.value);
      case 'suffix': return v.endsWith(m.value);
      case 'contains': return v.includes(m.value);
      case 'regex': return this.re!.fullMatch(s);
    }
  }
}

/** Envoy's DNS SAN match: a certificate's `*.example.com` stands for one label. */
function dnsNameMatch(name: string, pattern: string): boolean {
  const n = name.toLowerCase();
  const p = pattern.toLowerCase();
  if (n === p) return true;
  if (!p.startsWith('*.')) return false;
  const dot = n.indexOf('.');
  return dot > 0 && n.slice(dot) === p.slice(1);
}

export class PeerValidator {
  readonly snap: ValidationSnap;
  readonly sans: { type: string; dns: boolean; exact: string | null; m: StringMatcher }[];
  readonly hashes: ReadonlySet<string>;
  readonly spki: ReadonlySet<string>;
  readonly s: SslStats;

  constructor(snap: ValidationSnap, s: SslStats) {
    this.snap = snap;
    this.sans = snap.sans.map((x) => ({
      type: NODE_SAN_TYPE[x.type],
      dns: x.type === 'DNS',
      exact: x.match.kind === 'exact' && !x.match.ignoreCase ? x.match.value : null,
      m: new StringMatcher(x.match),
    }));
    this.hashes = new Set(snap.hashes);
    this.spki = new Set(snap.spki);
    this.s = s;
  }

  /** The fail_verify_* slot the certificate fails on (with a reason), or null when it passes.
   *  `chainError` is OpenSSL's verdict on the chain (TLSSocket.authorizationError). */
  verify(x: crypto.X509Certificate, chainError: string | null): { slot: number; reason: string } | null {
    if (this.snap.ca !== null && chainError !== null) return { slot: this.s.fail_verify_error, reason: chainError };
    if (this.sans.length > 0 && !this.#matchSans(x)) {
      return { slot: this.s.fail_verify_san, reason: 'SAN_MISMATCH: no subject alternative name matches' };
    }
    if (this.hashes.size > 0 || this.spki.size > 0) {
      const hash = x.fingerprint256.replace(/:/g, '').toLowerCase();
      if (this.hashes.has(hash)) return null;
      if (this.spki.size > 0) {
        const der = x.publicKey.export({ type: 'spki', format: 'der' });
        if (this.spki.has(crypto.createHash('sha256').update(der).digest('base64'))) return null;
      }
      return { slot: this.s.fail_verify_cert_hash, reason: 'CERT_HASH_MISMATCH: no certificate hash or SPKI pin matches' };
    }
    return null;
  }

  #matchSans(x: crypto.X509Certificate): boolean {
    const sans = parseSans(x.subjectAltName);
    for (const [type, value] of sans) {
      for (const m of this.sans) {
        if (m.type !== type) continue;
        if (m.dns && m.exact !== null ? dnsNameMatch(m.exact, value) : m.m.match(value)) return true;
      }
    }
    return false;
  }
}
