// GET /certs (source/server/admin/admin.cc handlerCerts): the certificates of every TLS context in
// use, as envoy.admin.v3.Certificates: per context its CA (`ca_cert`) and its own certificates
// (`cert_chain`), each with path, serial number, SANs, days until expiration (a uint64: a JSON
// string) and the validity window.
import { prettyJson } from './format.ts';
import {
  CONTENT_JSON, type AdminHandler, type AdminOptions, type AdminResponse, type CertificateDetail,
  type CertificateStatus,
} from './types.ts';

const DAY_MS = 86_400_000;

/** Envoy's Utility::getDaysUntilExpiration: whole days left, 0 once expired. */
export function daysUntilExpiration(expirationTime: string, now: number): number {
  const left = Date.parse(expirationTime) - now;
  return left <= 0 ? 0 : Math.floor(left / DAY_MS);
}

function details(d: CertificateDetail, now: number): Record<string, unknown> {
  return {
    path: d.path,
    serial_number: d.serialNumber,
    subject_alt_names: d.subjectAltNames,
    days_until_expiration: String(daysUntilExpiration(d.expirationTime, now)),
    valid_from: d.validFrom,
    expiration_time: d.expirationTime,
  };
}

export function renderCerts(certs: readonly CertificateStatus[], now = Date.now()): string {
  return prettyJson({
    certificates: certs.map((c) => ({
      ca_cert: c.caCert.map((d) => details(d, now)),
      cert_chain: c.certChain.map((d) => details(d, now)),
    })),
  });
}

/** server.days_until_first_cert_expiring: the fewest days any certificate in use has left (0
 *  without certificates, as Envoy's value_or(0)). */
export function daysUntilFirstCertExpiring(certs: readonly CertificateStatus[], now = Date.now()): number {
  let min = Infinity;
  for (const c of certs) {
    for (const d of c.caCert) min = Math.min(min, daysUntilExpiration(d.expirationTime, now));
    for (const d of c.certChain) min = Math.min(min, daysUntilExpiration(d.expirationTime, now));
  }
  return min === Infinity ? 0 : min;
}

export const certsHandler: AdminHandler = {
  prefix: '/certs',
  help: 'print certs on machine',
  mutatesState: false,
  handle(_req, opts: AdminOptions): AdminResponse {
    return { status: 200, contentType: CONTENT_JSON, body: renderCerts(opts.certs()) };
  },
};
