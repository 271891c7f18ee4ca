// x-forwarded-client-cert (Envoy's ConnectionManagerUtility::mutateXfccRequestHeader):
// forward_client_cert_details decides what happens to the header a client sent, and with
// APPEND_FORWARD / SANITIZE_SET the client certificate of a mutual TLS connection is described as
// `By=<local URI SAN>;Hash=<sha256>;Cert="<url-encoded PEM>";Chain="...";Subject="...";URI=...;DNS=...`
// (the elements set_current_client_cert_details asks for, in Envoy's order), elements joined by
// ';', appended to an existing header after ','.
import type { RequestHeaders } from '../../../../http/types.ts';
import type { SslConnectionInfo } from '../../../../network/transport-socket.ts';

/** HttpConnectionManager.ForwardClientCertDetails. */
export const ForwardClientCert = {
  Sanitize: 0, ForwardOnly: 1, AppendForward: 2, SanitizeSet: 3, AlwaysForwardOnly: 4,
} as const;

const BY_NAME: Record<string, number> = {
  SANITIZE: ForwardClientCert.Sanitize,
  FORWARD_ONLY: ForwardClientCert.ForwardOnly,
  APPEND_FORWARD: ForwardClientCert.AppendForward,
  SANITIZE_SET: ForwardClientCert.SanitizeSet,
  ALWAYS_FORWARD_ONLY: ForwardClientCert.AlwaysForwardOnly,
};

/** Envoy's ClientCertDetailsType. */
export const ClientCertDetail = { Cert: 0, Chain: 1, Subject: 2, URI: 3, DNS: 4 } as const;

const XFCC = 'x-forwarded-client-cert';

export function forwardClientCertOf(v: unknown): number {
  return typeof v === 'string' ? (BY_NAME[v] ?? ForwardClientCert.Sanitize) : ForwardClientCert.Sanitize;
}

/** The elements set_current_client_cert_details asks for, in the order Envoy writes them. */
export function clientCertDetailsOf(d: Record<string, unknown> | undefined): number[] {
  const out: number[] = [];
  if (d === undefined) return out;
  if (d.cert === true) out.push(ClientCertDetail.Cert);
  if (d.chain === true) out.push(ClientCertDetail.Chain);
  if (d.subject === true) out.push(ClientCertDetail.Subject);
  if (d.uri === true) out.push(ClientCertDetail.URI);
  if (d.dns === true) out.push(ClientCertDetail.DNS);
  return out;
}

/** Apply forward_client_cert_details to a request (ALWAYS_FORWARD_ONLY never gets here). */
export function mutateXfcc(h: RequestHeaders, snap: { forwardClientCert: number; clientCertDetails: number[] },
  ssl: SslConnectionInfo | null): void {
  const mode = snap.forwardClientCert;
  if (mode === ForwardClientCert.Sanitize || ssl === null || !ssl.peerCertificatePresented) {
    h.remove(XFCC);
    return;
  }
  if (mode === ForwardClientCert.ForwardOnly) return;
  const parts: string[] = [];
  for (const uri of ssl.uriSanLocalCertificate()) parts.push(`By=${uri}`);
  const hash = ssl.sha256PeerCertificateDigest();
  if (hash !== '') parts.push(`Hash=${hash}`);
  for (const d of snap.clientCertDetails) {
    switch (d) {
      case ClientCertDetail.Cert: {
        const pem = ssl.urlEncodedPemEncodedPeerCertificate();
        if (pem !== '') parts.push(`Cert="${pem}"`);
        break;
      }
      case ClientCertDetail.Chain: {
        const chain = ssl.urlEncodedPemEncodedPeerCertificateChain();
        if (chain !== '') parts.push(`Chain="${chain}"`);
        break;
      }
      case ClientCertDetail.Subject:
        // The key is there even when the subject is empty.
        parts.push(`Subject="${ssl.subjectPeerCertificate()}"`);
        break;
      case ClientCertDetail.URI: {
        const uris = ssl.uriSanPeerCertificate();
        if (uris.length === 0) parts.push('URI=');
        for (const u of uris) parts.push(`URI=${u}`);
        break;
      }
      case ClientCertDetail.DNS:
        for (const n of ssl.dnsSansPeerCertificate()) parts.push(`DNS=${n}`);
        break;
    }
  }
  const value = parts.join(';');
  const had = mode === ForwardClientCert.AppendForward ? h.get(XFCC) : undefined;
  h.set(XFCC, had === undefined || had === '' ? value : `${had},${value}`);
}
