// envoy.transport_sockets.tls: TLS on both sides, told apart by the typed_config's type: a filter
// chain's DownstreamTlsContext (downstream.ts) and a cluster's UpstreamTlsContext (upstream.ts).
// compile (config.ts) runs in main: certificates read and checked, defaults filled in, session
// ticket keys fixed for all workers, stats resolved. Stats: `<scope>ssl.*` (stats.ts).
import { ExtensionCategory, type TransportSocketModule } from '../../types.ts';
import { compileTls, DOWNSTREAM_TYPE, TS, UPSTREAM_TYPE, type TlsSnap } from './config.ts';
import { DownstreamTlsFactory } from './downstream.ts';
import { UpstreamTlsFactory } from './upstream.ts';

const tlsTransportSocket: TransportSocketModule<TlsSnap> = {
  name: 'envoy.transport_sockets.tls',
  category: ExtensionCategory.TransportSocket,
  types: [UPSTREAM_TYPE, DOWNSTREAM_TYPE],
  fields: {
    [DOWNSTREAM_TYPE]: [
      'common_tls_context', 'require_client_certificate', 'session_ticket_keys', 'session_timeout',
      'disable_stateless_session_resumption',
    ],
    [UPSTREAM_TYPE]: ['common_tls_context', 'sni', 'max_session_keys'],
    [`${TS}CommonTlsContext`]: ['tls_params', 'tls_certificates', 'validation_context', 'alpn_protocols'],
    [`${TS}TlsParameters`]: [
      'tls_minimum_protocol_version', 'tls_maximum_protocol_version', 'cipher_suites', 'ecdh_curves',
    ],
    [`${TS}TlsCertificate`]: ['certificate_chain', 'private_key'],
    [`${TS}CertificateValidationContext`]: [
      'trusted_ca', 'crl', 'match_typed_subject_alt_names', 'verify_certificate_spki', 'verify_certificate_hash',
    ],
    [`${TS}SubjectAltNameMatcher`]: [['san_type', { enumValues: ['DNS', 'URI', 'EMAIL', 'IP_ADDRESS'] }], 'matcher'],
    [`${TS}TlsSessionTicketKeys`]: ['keys'],
    'envoy.type.matcher.v3.StringMatcher': ['exact', 'prefix', 'suffix', 'contains', 'safe_regex', 'ignore_case'],
    'envoy.type.matcher.v3.RegexMatcher': ['regex', 'google_re2'],
    'envoy.type.matcher.v3.RegexMatcher.GoogleRE2': [],
    'envoy.config.core.v3.DataSource': ['inline_string', 'inline_bytes', 'filename'],
  },
  protos: ['envoy/extensions/transport_sockets/tls/v3/tls.proto'],

  compile: (c, ctx) => compileTls(c, ctx),
  createDownstreamFactory: (snap, ctx) => (snap.upstream ? null : new DownstreamTlsFactory(snap, ctx.stats)),
  createUpstreamFactory: (snap, ctx) => (snap.upstream ? new UpstreamTlsFactory(snap, ctx.stats) : null),
  certificates: (snap) => ({ caCert: snap.caCert, certChain: snap.certChain }),
};
export default tlsTransportSocket;
