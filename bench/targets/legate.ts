// Legate itself, started through its CLI exactly as a user would, with a generated Envoy v3 config:
// one listener -> http_connection_manager -> router -> STATIC cluster "upstream"; in the TLS scenarios the
// filter chain also has a DownstreamTlsContext, in the TCP scenarios its one filter is tcp_proxy to the
// same cluster, and in the gzip scenario the HCM has the compressor filter before the router. The configs
// are what Envoy itself takes: a Legate that refuses one is reported as failed with its error, and the run
// goes on.

import { writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnManaged } from '../lib/procs.ts';
import { isL4, isTls, SCENARIOS } from '../lib/args.ts';
import type { Scenario } from '../lib/args.ts';
import type { BenchTls } from '../lib/certs.ts';
import { waitProcReady } from './common.ts';
import { GZIP } from './payload.ts';
import type { RunningTarget, StartContext, TargetSpec } from './types.ts';

export const REPO_ROOT = dirname(dirname(dirname(fileURLToPath(import.meta.url))));
const LEGATE_BIN = join(REPO_ROOT, 'bin', 'legate.js');

/**
 * TLS 1.3 only, P-256 only, the shared certificate and ticket key. `cipher_suites` is what Envoy takes
 * (BoringSSL names; it governs TLS 1.0-1.2 only): the TLS 1.3 suite cannot be configured in Envoy, so
 * every client offers TLS_AES_128_GCM_SHA256 alone and every peer negotiates it.
 */
function tlsTransportSocket(tls: BenchTls): string {
  return `
      transport_socket:
        name: envoy.transport_sockets.tls
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext
          common_tls_context:
            tls_certificates:
            - certificate_chain: { filename: ${tls.certPath} }
              private_key: { filename: ${tls.keyPath} }
            tls_params:
              tls_minimum_protocol_version: TLSv1_3
              tls_maximum_protocol_version: TLSv1_3
              cipher_suites: [ECDHE-ECDSA-AES128-GCM-SHA256]
              ecdh_curves: [P-256]
          session_ticket_keys:
            keys:
            - filename: ${tls.ticketKeyPath}`;
}

const HCM_FILTER = `
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: bench
          route_config:
            name: bench
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: { prefix: "/" }
                route: { cluster: upstream }
          http_filters:
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router`;

const TCP_PROXY_FILTER = `
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
          stat_prefix: tcp
          cluster: upstream`;

/** The legate-filters target's HTTP filters (issue 12's bench row): local_ratelimit that never
 *  limits (a bucket of 10^9 tokens a second, enabled and enforced), cors with a policy on the
 *  virtual host, and rbac allowing every request, before the router. */
const BENCH_FILTERS = `
          - name: envoy.filters.http.local_ratelimit
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit
              stat_prefix: bench_rl
              token_bucket: { max_tokens: 1000000000, tokens_per_fill: 1000000000, fill_interval: 1s }
              filter_enabled: { default_value: { numerator: 100, denominator: HUNDRED } }
              filter_enforced: { default_value: { numerator: 100, denominator: HUNDRED } }
          - name: envoy.filters.http.cors
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors
          - name: envoy.filters.http.rbac
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC
              rules:
                action: ALLOW
                policies:
                  all: { permissions: [{ any: true }], principals: [{ any: true }] }`;

/** The gzip scenario's compressor: gzip of application/json responses, at nginx's level, window and
 *  memory level (payload.ts GZIP) rather than Envoy's defaults. */
const COMPRESSOR_FILTER = `
          - name: envoy.filters.http.compressor
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.compressor.v3.Compressor
              response_direction_config:
                common_config:
                  content_type: [application/json]
              compressor_library:
                name: envoy.compression.gzip.compressor
                typed_config:
                  "@type": type.googleapis.com/envoy.extensions.compression.gzip.compressor.v3.Gzip
                  compression_level: COMPRESSION_LEVEL_${GZIP.level}
                  window_bits: ${GZIP.windowBits}
                  memory_level: ${GZIP.memLevel}`;

function filtersHcm(): string {
  return HCM_FILTER.replace(`              domains: ["*"]`, `              domains: ["*"]
              typed_per_filter_config:
                envoy.filters.http.cors:
                  "@type": type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy
                  allow_origin_string_match: [{ exact: "https://example.com" }]`)
    .replace(`          http_filters:`, `          http_filters:${BENCH_FILTERS}`);
}

/** The legate-dns target's cluster (issue 10's bench row): STRICT_DNS over three hosts (IP
 *  literals, resolved by the DNS discovery like names; the nginx upstream listens on all three),
 *  an HTTP health check every second and a retry policy on 5xx. */
function dnsCluster(upstreamPort: number): string {
  const eps = ['127.0.0.1', '127.0.0.2', '127.0.0.3'].map((a) => `
        - endpoint: { address: { socket_address: { address: ${a}, port_value: ${upstreamPort} } } }`).join('');
  return `
  - name: upstream
    type: STRICT_DNS
    lb_policy: ROUND_ROBIN
    connect_timeout: 1s
    dns_lookup_family: V4_ONLY
    health_checks:
    - timeout: 1s
      interval: 1s
      no_traffic_interval: 1s
      unhealthy_threshold: 3
      healthy_threshold: 2
      http_health_check: { path: /100b.txt }
    load_assignment:
      cluster_name: upstream
      endpoints:
      - lb_endpoints:${eps}
`;
}

/** A Legate row's shape: the plain proxy, or one of the issues' rows. */
export type Variant = 'plain' | 'dns' | 'filters';

export function legateConfig(listenPort: number, upstreamPort: number, scenario: Scenario = 'http',
    tls: BenchTls | null = null, variant: Variant = 'plain'): string {
  const transportSocket = tls === null ? '' : tlsTransportSocket(tls);
  const filters = isL4(scenario) ? TCP_PROXY_FILTER
    : variant === 'filters' ? filtersHcm()
    : variant === 'dns' ? HCM_FILTER.replace('route: { cluster: upstream }', `route:
                  cluster: upstream
                  retry_policy: { retry_on: 5xx, num_retries: 2 }`)
    : scenario === 'gzip' ? HCM_FILTER.replace(`          http_filters:`, `          http_filters:${COMPRESSOR_FILTER}`)
    : HCM_FILTER;
  return `# Generated by bench/targets/legate.ts${scenario === 'http' ? '' : ` (scenario ${scenario})`}
admin:
  address:
    socket_address: { address: 127.0.0.1, port_value: 0 }
static_resources:
  listeners:
  - name: bench
    address:
      socket_address: { address: 127.0.0.1, port_value: ${listenPort} }
    filter_chains:
    - filters:${filters}${transportSocket}
  clusters:${variant === 'dns' ? dnsCluster(upstreamPort) : `
  - name: upstream
    type: STATIC
    lb_policy: ROUND_ROBIN
    connect_timeout: 1s
    load_assignment:
      cluster_name: upstream
      endpoints:
      - lb_endpoints:
        - endpoint:
            address:
              socket_address: { address: 127.0.0.1, port_value: ${upstreamPort} }
`}`;
}

/** The argv (after the node binary) that starts Legate on a config in `dir`. */
export function legateArgs(dir: string, concurrency: number, nodeFlags: readonly string[],
    extraArgs: readonly string[], bin = LEGATE_BIN): string[] {
  return [...nodeFlags, bin,
    '-c', join(dir, 'legate.yaml'),
    '--concurrency', String(concurrency),
    '--log-level', 'error',
    '--admin-address-path', join(dir, 'admin-address'),
    ...extraArgs];
}

/** Legate with `concurrency` workers; `root` is another checkout of it (--against), named `prefix`. */
export function legate(concurrency: number, prefix = 'legate', root = REPO_ROOT, label = '',
    variant: Variant = 'plain'): TargetSpec {
  return {
    name: `${prefix}-c${concurrency}`,
    // The dns and filters variants are HTTP rows (the dns upstream listens on three addresses).
    scenarios: variant !== 'plain' ? ['http'] : SCENARIOS,
    describe: (scenario) => `Legate --concurrency ${concurrency}${label}` +
      (variant === 'dns' ? ', STRICT_DNS x3 + HTTP health checks (1 s) + retry policy' : '') +
      (variant === 'filters' ? ', local_ratelimit (never limiting) + cors + rbac (allow)' : '') +
      (isTls(scenario) ? ', DownstreamTlsContext' : isL4(scenario) ? ', tcp_proxy' : '') +
      (scenario === 'gzip' ? `, compressor (gzip COMPRESSION_LEVEL_${GZIP.level})` : ''),
    async start(ctx: StartContext): Promise<RunningTarget> {
      writeFileSync(join(ctx.dir, 'legate.yaml'), legateConfig(ctx.port, ctx.upstream.port, ctx.scenario, ctx.tls, variant));
      const proc = spawnManaged(`${prefix}-c${concurrency}`, ctx.nodeBin,
        legateArgs(ctx.dir, concurrency, ctx.legateNodeFlags, ctx.legateExtraArgs, join(root, 'bin', 'legate.js')),
        { cwd: root, logFile: join(ctx.dir, 'legate.log') });
      await waitProcReady(proc, ctx.port, ctx.tls !== null);
      return { port: ctx.port, proc, version: null };
    },
  };
}
