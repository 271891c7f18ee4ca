// envoy.transport_sockets.tls, the main-thread half: a DownstreamTlsContext or UpstreamTlsContext
// compiled into TlsSnap (plain data the workers build their SecureContexts from). Everything a
// SecureContext would refuse is refused here, naming the field: certificate files that cannot be
// read or parsed, a key that does not match its certificate, two certificates of one key type for
// one name, unknown ciphers and curves, malformed hashes, bad regexes. A last trial SecureContext
// catches what OpenSSL alone knows.
import crypto from 'node:crypto';
import tls from 'node:tls';
import { Buffer } from 'node:buffer';
import { readDataSource } from '../../../common/data-source.ts';
import { compileRegex, RegexError } from '../../../common/regex.ts';
import { durationMs } from '../../../config/duration.ts';
import type { CertificateDetails, CompileContext } from '../../types.ts';
import { SSL_COUNTERS, TLS13_CIPHERS, TLS_VERSIONS, type SslStatName, type SslStats } from './stats.ts';

type Obj = Record<string, any>;

export const TS = 'envoy.extensions.transport_sockets.tls.v3.';
export const DOWNSTREAM_TYPE = `${TS}DownstreamTlsContext`;
export const UPSTREAM_TYPE = `${TS}UpstreamTlsContext`;

/** One tls_certificates entry. */
export interface CertSnap {
  /** PEM, leaf first. */
  chain: string;
  key: string;
  /** The chain's file, or `<inline>` (admin /certs). */
  path: string;
  /** The names it serves for SNI, lowercase: its DNS SANs, else its subject CN (Envoy's rule). */
  names: string[];
  /** `rsa`, `ec`, ... (KeyObject.asymmetricKeyType): for a name, the first of each type serves. */
  keyType: string;
}

export interface StringMatchSnap {
  kind: 'exact' | 'prefix' | 'suffix' | 'contains' | 'regex';
  /** Lowercased when ignoreCase. */
  value: string;
  ignoreCase: boolean;
}

export interface SanMatchSnap {
  /** SubjectAltNameMatcher.san_type. */
  type: 'DNS' | 'URI' | 'EMAIL' | 'IP_ADDRESS';
  match: StringMatchSnap;
}

export interface ValidationSnap {
  /** trusted_ca PEM; null: the chain is not verified (Envoy verifies it only against a CA). */
  ca: string | null;
  crl: string | null;
  sans: SanMatchSnap[];
  /** base64 SHA-256 of the SubjectPublicKeyInfo. */
  spki: string[];
  /** SHA-256 of the DER certificate, lowercase hex without colons. */
  hashes: string[];
}

/** One certificate as admin /certs shows it. */
export type CertDetailSnap = CertificateDetails;

export interface TlsSnap {
  upstream: boolean;
  certs: CertSnap[];
  alpn: string[];
  minVersion: string;
  maxVersion: string;
  /** OpenSSL cipher list (TLS 1.0-1.2 suites). */
  ciphers: string;
  curves: string;
  requireClientCertificate: boolean;
  validation: ValidationSnap | null;
  /** 48 bytes, base64, shared by every worker (Node's ticketKeys); null: stateless resumption off. */
  ticketKeys: string | null;
  /** OpenSSL's session id context, the same in every worker (resumption with a client
   *  certificate requested needs one). */
  sessionIdContext: string;
  /** session_timeout in seconds (0: OpenSSL's default). */
  sessionTimeoutS: number;
  /** UpstreamTlsContext.sni ('' when unset). */
  sni: string;
  /** UpstreamTlsContext.max_session_keys (default 1; 0 disables resumption). */
  maxSessionKeys: number;
  stats: SslStats;
  /** `ssl.versions.<v>` slot by Node's version name, for the versions the context allows. */
  versionSlots: Record<string, number>;
  /** `ssl.ciphers.<name>` slot by cipher name, for every suite the context can negotiate. */
  cipherSlots: Record<string, number>;
  /** For admin /certs and server.days_until_first_cert_expiring. */
  caCert: CertDetailSnap[];
  certChain: CertDetailSnap[];
}

/** Envoy's default cipher list for clients and servers, its equal-preference groups flattened. */
const DEFAULT_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-AES128-GCM-SHA256', 'ECDHE-RSA-CHACHA20-POLY1305',
  'ECDHE-ECDSA-AES256-GCM-SHA384', 'ECDHE-RSA-AES256-GCM-SHA384',
];
const DEFAULT_CURVES = ['X25519', 'P-256'];
const SERVER_EC_CURVES = new Set(['prime256v1', 'secp384r1', 'secp521r1']);

const VERSION_OF: Record<string, string> = {
  TLSv1_0: 'TLSv1', TLSv1_1: 'TLSv1.1', TLSv1_2: 'TLSv1.2', TLSv1_3: 'TLSv1.3',
};

/** Session ticket keys Legate makes when none are configured derive from this, so they stay the
 *  same across config reloads of this process (a changed key would make the listener's chain
 *  look changed) while differing per context. */
const PROCESS_SECRET = crypto.randomBytes(32);

/** The DataSource field that is set (for messages naming it). */
function dsField(ds: Obj | undefined): string {
  if (ds === undefined) return '';
  for (const f of ['filename', 'inline_string', 'inline_bytes']) if (ds[f] !== undefined) return f;
  return '';
}

function dsPath(ds: Obj | undefined): string {
  return typeof ds?.filename === 'string' ? ds.filename : '<inline>';
}

/** Node's subjectAltName text (`DNS:a, URI:b, IP Address:1.2.3.4`; values with a comma or a
 *  quote are JSON-quoted) as [type, value] pairs. */
export function parseSans(text: string | undefined): [string, string][] {
  const out: [string, string][] = [];
  if (text === undefined || text === '') return out;
  let i = 0;
  while (i < text.length) {
    const colon = text.indexOf(':', i);
    if (colon < 0) break;
    const type = text.slice(i, colon);
    let value: string;
    let next: number;
    if (text[colon + 1] === '"') {
      // A JSON string: find its end.
      let j = colon + 2;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      value = JSON.parse(text.slice(colon + 1, j + 1)) as string;
      next = text.indexOf(', ', j + 1);
    } else {
      next = text.indexOf(', ', colon + 1);
      value = text.slice(colon + 1, next < 0 ? text.length : next);
    }
    out.push([type, value]);
    if (next < 0) break;
    i = next + 2;
  }
  return out;
}

function detail(x: crypto.X509Certificate, path: string): CertDetailSnap {
  const sans: Record<string, string>[] = [];
  for (const [type, value] of parseSans(x.subjectAltName)) {
    if (type === 'DNS') sans.push({ dns: value });
    else if (type === 'URI') sans.push({ uri: value });
    else if (type === 'IP Address') sans.push({ ip_address: value });
  }
  return {
    path,
    serialNumber: x.serialNumber.toLowerCase(),
    subjectAltNames: sans,
    validFrom: new Date(x.validFrom).toISOString().replace('.000Z', 'Z'),
    expirationTime: new Date(x.validTo).toISOString().replace('.000Z', 'Z'),
  };
}

/** Every PEM certificate in `pem`, in order. */
function pemCertificates(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

function stringMatch(sm: Obj, path: string, ctx: CompileContext): StringMatchSnap {
  const ignoreCase = sm.ignore_case === true;
  for (const kind of ['exact', 'prefix', 'suffix', 'contains'] as const) {
    if (typeof sm[kind] === 'string') {
      return { kind, value: ignoreCase ? sm[kind].toLowerCase() : sm[kind], ignoreCase };
    }
  }
  if (sm.safe_regex !== undefined) {
    const pattern = String(sm.safe_regex.regex ?? '');
    try {
      compileRegex(pattern);
    } catch (e) {
      if (e instanceof RegexError) ctx.fail(`${path}.safe_regex.regex`, e.message);
      throw e;
    }
    return { kind: 'regex', value: pattern, ignoreCase };
  }
  return { kind: 'exact', value: '', ignoreCase };
}

function certificate(tc: Obj, path: string, ctx: CompileContext): { snap: CertSnap; x: crypto.X509Certificate } {
  const chainDs = tc.certificate_chain;
  const keyDs = tc.private_key;
  const chainPath = `${path}.certificate_chain`;
  const keyPath = `${path}.private_key`;
  if (dsField(chainDs) === '') ctx.fail(chainPath, 'a certificate chain is required');
  if (dsField(keyDs) === '') ctx.fail(keyPath, 'a private key is required');
  const chain = readDataSource(chainDs, chainPath, ctx.fail).toString('utf8');
  const key = readDataSource(keyDs, keyPath, ctx.fail).toString('utf8');
  const certs = pemCertificates(chain);
  let x: crypto.X509Certificate;
  try {
    if (certs.length === 0) throw new Error('no PEM certificate found');
    x = new crypto.X509Certificate(certs[0]);
  } catch (e) {
    ctx.fail(`${chainPath}.${dsField(chainDs)}`, `Failed to load certificate chain from ${dsPath(chainDs)}: ${(e as Error).message}`);
  }
  let k: crypto.KeyObject;
  try {
    k = crypto.createPrivateKey(key);
  } catch (e) {
    ctx.fail(`${keyPath}.${dsField(keyDs)}`, `Failed to load private key from ${dsPath(keyDs)}: ${(e as Error).message}`);
  }
  if (!x.checkPrivateKey(k)) {
    ctx.fail(`${keyPath}.${dsField(keyDs)}`,
      `Failed to load private key from ${dsPath(keyDs)}: it does not match the certificate in ${dsPath(chainDs)} (KEY_VALUES_MISMATCH)`);
  }
  const dns = parseSans(x.subjectAltName).filter(([t]) => t === 'DNS').map(([, v]) => v.toLowerCase());
  let names = dns;
  if (names.length === 0) {
    const cn = /^CN=(.*)$/m.exec(x.subject);
    names = cn === null ? [] : [cn[1].toLowerCase()];
  }
  return {
    snap: { chain, key, path: dsPath(chainDs), names, keyType: k.asymmetricKeyType ?? 'unknown' },
    x,
  };
}

function validationContext(vc: Obj, path: string, ctx: CompileContext): { snap: ValidationSnap; ca: CertDetailSnap[] } {
  let ca: string | null = null;
  const caDetails: CertDetailSnap[] = [];
  if (dsField(vc.trusted_ca) !== '') {
    ca = readDataSource(vc.trusted_ca, `${path}.trusted_ca`, ctx.fail).toString('utf8');
    const certs = pemCertificates(ca);
    try {
      if (certs.length === 0) throw new Error('no PEM certificate found');
      for (const c of certs) new crypto.X509Certificate(c);
    } catch (e) {
      ctx.fail(`${path}.trusted_ca.${dsField(vc.trusted_ca)}`,
        `Failed to load trusted CA certificates from ${dsPath(vc.trusted_ca)}: ${(e as Error).message}`);
    }
    caDetails.push(detail(new crypto.X509Certificate(certs[0]), dsPath(vc.trusted_ca)));
  }
  let crl: string | null = null;
  if (dsField(vc.crl) !== '') {
    crl = readDataSource(vc.crl, `${path}.crl`, ctx.fail).toString('utf8');
    if (!crl.includes('-----BEGIN X509 CRL-----')) {
      ctx.fail(`${path}.crl.${dsField(vc.crl)}`, `Failed to load CRL from ${dsPath(vc.crl)}`);
    }
  }
  const sans = ((vc.match_typed_subject_alt_names ?? []) as Obj[]).map((m, i): SanMatchSnap => ({
    type: m.san_type,
    match: stringMatch(m.matcher ?? {}, `${path}.match_typed_subject_alt_names[${i}].matcher`, ctx),
  }));
  const spki = ((vc.verify_certificate_spki ?? []) as string[]).map((s, i) => {
    if (Buffer.from(s, 'base64').length !== 32) {
      ctx.fail(`${path}.verify_certificate_spki[${i}]`, `Invalid base64-encoded SHA-256 ${s}`);
    }
    return s;
  });
  const hashes = ((vc.verify_certificate_hash ?? []) as string[]).map((h, i) => {
    const hex = h.replace(/:/g, '').toLowerCase();
    if (!/^[0-9a-f]{64}$/.test(hex)) ctx.fail(`${path}.verify_certificate_hash[${i}]`, `Invalid hex-encoded SHA-256 ${h}`);
    return hex;
  });
  return { snap: { ca, crl, sans, spki, hashes }, ca: caDetails };
}

/** cipher_suites entries (`[A|B]` equal-preference groups flattened) checked against OpenSSL's
 *  names, as Envoy tries each one. */
function cipherList(list: string[] | undefined, path: string, ctx: CompileContext): string[] {
  if (list === undefined || list.length === 0) return DEFAULT_CIPHERS;
  const known = new Set(tls.getCiphers().map((c) => c.toUpperCase()));
  const out: string[] = [];
  const bad: string[] = [];
  for (const entry of list) {
    for (const name of entry.replace(/^\[|\]$/g, '').split('|')) {
      if (known.has(name.toUpperCase()) && !name.toUpperCase().startsWith('TLS_')) out.push(name.toUpperCase());
      else bad.push(name);
    }
  }
  if (bad.length > 0) {
    ctx.fail(path, `Failed to initialize cipher suites ${list.join(':')}. The following ciphers were rejected when tried individually: ${bad.join(', ')}`);
  }
  return out;
}

/** Node's session ticket keys (48 bytes: name, HMAC secret, AES key, 16 bytes each) from one of
 *  Envoy's 80-byte keys (name 16, HMAC secret 32, AES key 32): the name, and the first half of
 *  each secret. */
function ticketKeysFrom(key: Buffer): Buffer {
  return Buffer.concat([key.subarray(0, 16), key.subarray(16, 32), key.subarray(48, 64)]);
}

export function compileTls(c: Obj, ctx: CompileContext): TlsSnap {
  const type = String(c['@type'] ?? '');
  const upstream = type.endsWith('.UpstreamTlsContext');
  const path = ctx.path;
  const wantUpstream = ctx.scope.startsWith('cluster.');
  if (upstream !== wantUpstream) {
    ctx.fail(`${path}.@type`, wantUpstream
      ? 'a cluster\'s transport socket takes an UpstreamTlsContext'
      : 'a filter chain\'s transport socket takes a DownstreamTlsContext');
  }
  const common: Obj = c.common_tls_context ?? {};
  const cpath = `${path}.common_tls_context`;
  const tp: Obj = common.tls_params ?? {};
  const tpath = `${cpath}.tls_params`;

  // Certificates (Envoy's loading rules: a server ECDSA key must be on P-256, P-384 or P-521).
  const certs: CertSnap[] = [];
  const certChain: CertDetailSnap[] = [];
  ((common.tls_certificates ?? []) as Obj[]).forEach((t, i) => {
    const p = `${cpath}.tls_certificates[${i}]`;
    const { snap, x } = certificate(t, p, ctx);
    const curve = x.publicKey.asymmetricKeyDetails?.namedCurve;
    if (!upstream && snap.keyType === 'ec' && !SERVER_EC_CURVES.has(curve ?? '')) {
      ctx.fail(`${p}.certificate_chain`, `Failed to load certificate chain from ${snap.path}, only P-256, P-384 or `
        + `P-521 ECDSA certificates are supported (${curve})`);
    }
    certs.push(snap);
    certChain.push(detail(x, snap.path));
  });
  if (!upstream && certs.length === 0) {
    ctx.fail(`${cpath}.tls_certificates`, 'No TLS certificates found for server context');
  }
  if (upstream && certs.length > 1) {
    ctx.fail(`${cpath}.tls_certificates`, 'Multiple TLS certificates are not supported for client contexts');
  }

  const vcObj: Obj | undefined = common.validation_context;
  const vc = vcObj === undefined ? null : validationContext(vcObj, `${cpath}.validation_context`, ctx);

  const minVersion = VERSION_OF[tp.tls_minimum_protocol_version] ?? 'TLSv1.2';
  const maxVersion = VERSION_OF[tp.tls_maximum_protocol_version] ?? (upstream ? 'TLSv1.2' : 'TLSv1.3');
  if (TLS_VERSIONS.indexOf(minVersion as never) > TLS_VERSIONS.indexOf(maxVersion as never)) {
    ctx.fail(`${tpath}.tls_minimum_protocol_version`,
      `the minimum protocol version ${minVersion} is above the maximum ${maxVersion}`);
  }
  const ciphers = cipherList(tp.cipher_suites, `${tpath}.cipher_suites`, ctx);
  const curves: string[] = tp.ecdh_curves?.length > 0 ? tp.ecdh_curves : DEFAULT_CURVES;

  // Session resumption (downstream): the keys every worker shares.
  let ticketKeys: string | null = null;
  if (!upstream && c.disable_stateless_session_resumption !== true) {
    const keys = (c.session_ticket_keys?.keys ?? []) as Obj[];
    if (keys.length > 0) {
      const kpath = `${path}.session_ticket_keys.keys[0]`;
      const key = readDataSource(keys[0], kpath, ctx.fail);
      keys.forEach((k, i) => {
        const b = i === 0 ? key : readDataSource(k, `${path}.session_ticket_keys.keys[${i}]`, ctx.fail);
        if (b.length !== 80) {
          ctx.fail(`${path}.session_ticket_keys.keys[${i}]`,
            `Incorrect TLS session ticket key length. Length ${b.length}, expected length 80.`);
        }
      });
      ticketKeys = ticketKeysFrom(key).toString('base64');
    } else {
      ticketKeys = Buffer.from(crypto.hkdfSync('sha256', PROCESS_SECRET, Buffer.alloc(0), path, 48)).toString('base64');
    }
  }

  const snap: TlsSnap = {
    upstream,
    certs,
    alpn: (common.alpn_protocols ?? []) as string[],
    minVersion,
    maxVersion,
    ciphers: ciphers.join(':'),
    curves: curves.join(':'),
    requireClientCertificate: c.require_client_certificate === true,
    validation: vc === null ? null : vc.snap,
    ticketKeys,
    sessionIdContext: crypto.createHash('sha256').update(path).digest('hex').slice(0, 32),
    sessionTimeoutS: Math.floor(durationMs(c.session_timeout, 0) / 1000),
    sni: upstream ? String(c.sni ?? '') : '',
    maxSessionKeys: upstream ? (c.max_session_keys ?? 1) : 0,
    stats: sslStats(ctx, upstream, c.require_client_certificate === true, vc?.snap ?? null, ticketKeys !== null,
      upstream && (c.max_session_keys ?? 1) > 0),
    versionSlots: {},
    cipherSlots: {},
    caCert: vc === null ? [] : vc.ca,
    certChain,
  };

  // What OpenSSL alone can say (an unknown curve, a CRL it cannot parse ...), one certificate at a
  // time (several of one key type cannot share a context).
  try {
    if (certs.length === 0) tls.createSecureContext(secureContextOptions(snap));
    for (const cert of certs) tls.createSecureContext(secureContextOptions(snap, [cert]));
  } catch (e) {
    const msg = (e as Error).message;
    if (/curve|group/i.test(msg)) ctx.fail(`${tpath}.ecdh_curves`, `Failed to initialize ECDH curves ${snap.curves}: ${msg}`);
    if (/crl/i.test(msg)) ctx.fail(`${cpath}.validation_context.crl`, msg);
    ctx.fail(path, msg);
  }

  // Stats of the versions it allows and the suites it can negotiate.
  const lo = TLS_VERSIONS.indexOf(minVersion as never);
  const hi = TLS_VERSIONS.indexOf(maxVersion as never);
  for (let i = lo; i <= hi; i++) {
    const v = TLS_VERSIONS[i];
    snap.versionSlots[v] = ctx.layout.counter(`${ctx.scope}ssl.versions.${v}`);
  }
  if (lo <= 2) for (const name of ciphers) snap.cipherSlots[name] = ctx.layout.counter(`${ctx.scope}ssl.ciphers.${name}`);
  if (hi === 3) for (const name of TLS13_CIPHERS) snap.cipherSlots[name] = ctx.layout.counter(`${ctx.scope}ssl.ciphers.${name}`);
  return snap;
}

/** The context's ssl.* counters: those its configuration can count (the fail_verify_* ones only
 *  with what they check, session_reused only with resumption on); the others are -1, absent. */
function sslStats(ctx: CompileContext, upstream: boolean, requireCert: boolean, v: ValidationSnap | null,
  tickets: boolean, upstreamResume: boolean): SslStats {
  const can: Record<SslStatName, boolean> = {
    connection_error: true,
    handshake: true,
    no_certificate: true,
    session_reused: upstream ? upstreamResume : tickets,
    fail_verify_no_cert: upstream ? v !== null : requireCert,
    fail_verify_error: v !== null && v.ca !== null,
    fail_verify_san: v !== null && v.sans.length > 0,
    fail_verify_cert_hash: v !== null && (v.hashes.length > 0 || v.spki.length > 0),
  };
  const out = {} as SslStats;
  for (const n of SSL_COUNTERS) out[n] = can[n] ? ctx.layout.counter(`${ctx.scope}ssl.${n}`) : -1;
  return out;
}

/** The SecureContext options of a context, minus its certificates' SNI grouping (the worker adds
 *  `cert`/`key` per group). */
export function secureContextOptions(s: TlsSnap, certs: readonly CertSnap[] = s.certs): tls.SecureContextOptions {
  const o: tls.SecureContextOptions = {
    minVersion: s.minVersion as tls.SecureVersion,
    maxVersion: s.maxVersion as tls.SecureVersion,
    ciphers: s.ciphers,
    ecdhCurve: s.curves,
  };
  if (certs.length > 0) {
    o.cert = certs.map((c) => c.chain);
    o.key = certs.map((c) => c.key);
  }
  const v = s.validation;
  if (v !== null && v.ca !== null) o.ca = v.ca;
  if (v !== null && v.crl !== null) o.crl = v.crl;
  if (!s.upstream) {
    if (s.ticketKeys !== null) o.ticketKeys = Buffer.from(s.ticketKeys, 'base64');
    else o.secureOptions = crypto.constants.SSL_OP_NO_TICKET;
    if (s.sessionTimeoutS > 0) o.sessionTimeout = s.sessionTimeoutS;
  }
  return o;
}
