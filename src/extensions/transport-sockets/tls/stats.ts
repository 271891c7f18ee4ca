// Envoy's TLS context stats (source/common/tls/stats.h ALL_SSL_STATS, plus the per-handshake
// `versions.<v>` and `ciphers.<name>` counters of ContextImpl::logHandshake), under the scope of
// what the context sits on + `ssl.`: `listener.<address>.ssl.handshake`,
// `cluster.<name>.ssl.handshake`. Resolved at config time, each where the context can count it
// (config.ts sslStats: fail_verify_san only with SAN matchers ...; -1 is absent): the version and
// cipher counters for every version the context allows and every cipher it can negotiate.
import type { TLSSocket } from 'node:tls';

export const SSL_COUNTERS = [
  'connection_error', 'handshake', 'session_reused', 'no_certificate', 'fail_verify_no_cert',
  'fail_verify_error', 'fail_verify_san', 'fail_verify_cert_hash',
] as const;
export type SslStatName = (typeof SSL_COUNTERS)[number];

/** Envoy's ContextImpl::logHandshake: a completed (and verified) handshake, both sides. */
export function countHandshake(v: Float64Array, snap: { stats: SslStats; versionSlots: Record<string, number>;
  cipherSlots: Record<string, number> }, s: TLSSocket, peerPresented: boolean): void {
  const st = snap.stats;
  v[st.handshake]++;
  if (!peerPresented) v[st.no_certificate]++;
  if (s.isSessionReused()) v[st.session_reused]++;
  const vs = snap.versionSlots[s.getProtocol() ?? ''];
  if (vs !== undefined) v[vs]++;
  const cs = snap.cipherSlots[s.getCipher()?.name ?? ''];
  if (cs !== undefined) v[cs]++;
}
export type SslStats = Record<SslStatName, number>;

/** Node's names for the versions (TLSSocket.getProtocol()), the same as BoringSSL's. */
export const TLS_VERSIONS = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'] as const;
/** The TLS 1.3 suites (not configurable through cipher_suites, as in Envoy). */
export const TLS13_CIPHERS = ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256'] as const;
