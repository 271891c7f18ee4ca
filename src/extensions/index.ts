// THE list of extensions Legate implements. Each entry is an extension's module (its folder's
// index.ts, shaped as types.ts says); the registry, the config loader's extension table, its
// supported-field table and its preloaded protos are derived from this list. Adding an extension
// is its folder plus one line here.
import type { ExtensionModule } from './types.ts';
import { buildRegistry } from './registry.ts';
import httpConnectionManager from './filters/network/http-connection-manager/index.ts';
import echo from './filters/network/echo/index.ts';
import directResponse from './filters/network/direct-response/index.ts';
import tlsInspector from './filters/listener/tls-inspector/index.ts';
import proxyProtocol from './filters/listener/proxy-protocol/index.ts';
import httpInspector from './filters/listener/http-inspector/index.ts';
import clientSslAuth from './filters/network/client-ssl-auth/index.ts';
import tcpProxy from './filters/network/tcp-proxy/index.ts';
import router from './filters/http/router/index.ts';
import headerMutation from './filters/http/header-mutation/index.ts';
import setMetadata from './filters/http/set-metadata/index.ts';
import buffer from './filters/http/buffer/index.ts';
import healthCheck from './filters/http/health-check/index.ts';
import rbac from './filters/http/rbac/index.ts';
import cors from './filters/http/cors/index.ts';
import compressor from './filters/http/compressor/index.ts';
import decompressor from './filters/http/decompressor/index.ts';
import gzipCompressor from './compression/gzip/compressor/index.ts';
import gzipDecompressor from './compression/gzip/decompressor/index.ts';
import brotliCompressor from './compression/brotli/compressor/index.ts';
import brotliDecompressor from './compression/brotli/decompressor/index.ts';
import zstdCompressor from './compression/zstd/compressor/index.ts';
import zstdDecompressor from './compression/zstd/decompressor/index.ts';
import script from './filters/http/script/index.ts';
import localRateLimit from './filters/http/local-ratelimit/index.ts';
import rateLimit from './filters/http/ratelimit/index.ts';
import fault from './filters/http/fault/index.ts';
import extAuthz from './filters/http/ext-authz/index.ts';
import fileAccessLog from './access-loggers/file/index.ts';
import stdoutAccessLog from './access-loggers/stdout/index.ts';
import stderrAccessLog from './access-loggers/stderr/index.ts';
import staticCluster from './clusters/static/index.ts';
import strictDnsCluster from './clusters/strict-dns/index.ts';
import logicalDnsCluster from './clusters/logical-dns/index.ts';
import caresDnsResolver from './network/dns-resolver/cares/index.ts';
import getaddrinfoDnsResolver from './network/dns-resolver/getaddrinfo/index.ts';
import roundRobin from './load-balancers/round-robin/index.ts';
import leastRequest from './load-balancers/least-request/index.ts';
import randomLb from './load-balancers/random/index.ts';
import ringHash from './load-balancers/ring-hash/index.ts';
import maglev from './load-balancers/maglev/index.ts';
import tlsTransportSocket from './transport-sockets/tls/index.ts';
import httpHealthChecker from './health-checkers/http/index.ts';
import tcpHealthChecker from './health-checkers/tcp/index.ts';
import grpcHealthChecker from './health-checkers/grpc/index.ts';
import previousHostsPredicate from './retry-host-predicates/previous-hosts/index.ts';
import previousPrioritiesRetryPriority from './retry-priorities/previous-priorities/index.ts';
import httpProtocolOptions from './upstreams/http/index.ts';
import uriTemplateMatcher from './path/match/uri-template/index.ts';

let list: readonly ExtensionModule[] | null = null;

/** The list. A function rather than a const: some modules import the registry, which reads this
 *  list, so the list may be imported while one of its modules is still initialising; it is built
 *  on first use, once every module has been. */
export function extensionModules(): readonly ExtensionModule[] {
  return list ??= [
    httpConnectionManager,
    echo,
    directResponse,
    tlsInspector,
    proxyProtocol,
    httpInspector,
    clientSslAuth,
    tcpProxy,
    router,
    headerMutation,
    setMetadata,
    buffer,
    healthCheck,
    rbac,
    cors,
    compressor,
    decompressor,
    gzipCompressor,
    gzipDecompressor,
    brotliCompressor,
    brotliDecompressor,
    zstdCompressor,
    zstdDecompressor,
    script,
    localRateLimit,
    rateLimit,
    fault,
    extAuthz,
    fileAccessLog,
    stdoutAccessLog,
    stderrAccessLog,
    staticCluster,
    strictDnsCluster,
    logicalDnsCluster,
    caresDnsResolver,
    getaddrinfoDnsResolver,
    roundRobin,
    leastRequest,
    randomLb,
    ringHash,
    maglev,
    tlsTransportSocket,
    httpHealthChecker,
    tcpHealthChecker,
    grpcHealthChecker,
    previousHostsPredicate,
    previousPrioritiesRetryPriority,
    httpProtocolOptions,
    uriTemplateMatcher,
  ];
}

/** Builds the registry now (it is otherwise built on first lookup): a duplicate name or type in
 *  the list fails here, at startup. */
export function registerAll(): void {
  buildRegistry();
}
