// The extension registry, keyed by Envoy's names (envoy.filters.http.router ...) and by typed_config
// type, derived from the one list in index.ts. Built on first use: index.ts imports the modules,
// and some modules (the HTTP connection manager's config.ts) import this file back, so nothing here
// may read the list while the modules are still initialising.
import type { FilterFactory } from '../http/types.ts';
import type { NetworkFilterFactory } from '../network/filter.ts';
import {
  ExtensionCategory, type AccessLogInstance, type AccessLoggerModule, type CompiledExtension, type ExtensionModule,
  type HttpFilterModule, type NetworkFilterModule, type WorkerContext, type ClusterTypeModule,
  type LoadBalancerModule, type ListenerFilterModule, type TransportSocketModule, type TransportSocketContext, type CertificateDetails,
  type DnsResolverModule, type HealthCheckerModule, type RetryPriorityModule, type CompressorModule,
  type DecompressorModule,
} from './types.ts';
import type { CodecFactory } from '../compression/types.ts';
import type { DnsResolver } from '../upstream/dns.ts';
import type { ListenerFilterFactory } from '../listener/listener-filter.ts';
import type { DownstreamTransportSocketFactory, UpstreamTransportSocketFactory } from '../network/transport-socket.ts';
import { LegateError } from '../common/errors.ts';
import type { UpstreamFactories } from '../upstream/cluster-manager.ts';
import type { RetryPriority } from '../upstream/load-balancer.ts';
import { extensionModules } from './index.ts';

export type { WorkerContext };

interface Registry {
  byName: Map<string, ExtensionModule>;
  /** Full message name of a typed_config -> its module. */
  byType: Map<string, ExtensionModule>;
  /** Full message name of an HTTP filter's per-route config (typed_per_filter_config) -> its module. */
  byPerRouteType: Map<string, HttpFilterModule>;
  /** Cluster.type -> cluster type; Cluster.lb_policy -> load balancer. */
  clusterTypes: Map<string, ClusterTypeModule>;
  loadBalancers: Map<string, LoadBalancerModule>;
}

let registry: Registry | null = null;

export function buildRegistry(): Registry {
  if (registry !== null) return registry;
  const byName = new Map<string, ExtensionModule>();
  const byType = new Map<string, ExtensionModule>();
  const byPerRouteType = new Map<string, HttpFilterModule>();
  const clusterTypes = new Map<string, ClusterTypeModule>();
  const loadBalancers = new Map<string, LoadBalancerModule>();
  for (const m of extensionModules()) {
    if (byName.has(m.name)) throw new LegateError('LEGATE_ERR_EXTENSION', `extension "${m.name}" is listed twice`);
    byName.set(m.name, m);
    if (m.category === ExtensionCategory.Cluster) clusterTypes.set(m.clusterType, m);
    if (m.category === ExtensionCategory.LoadBalancer) loadBalancers.set(m.lbPolicy, m);
    // A filter's per-route config type (typed_per_filter_config) finds its module too.
    const perRoute = m.category === ExtensionCategory.HttpFilter ? m.perRoute?.types ?? [] : [];
    // (A per-route config may be the filter's own message: envoy.filters.http.fault's HTTPFault.)
    for (const t of new Set([...m.types, ...perRoute])) {
      const other = byType.get(t);
      // (A filter whose per-route config is its own message, as local_ratelimit's, lists it twice.)
      if (other !== undefined && other !== m) {
        throw new LegateError('LEGATE_ERR_EXTENSION', `type ${t} belongs to both "${other.name}" and "${m.name}"`);
      }
      byType.set(t, m);
    }
    if (m.category === ExtensionCategory.HttpFilter) for (const t of m.perRoute?.types ?? []) byPerRouteType.set(t, m);
  }
  registry = { byName, byType, byPerRouteType, clusterTypes, loadBalancers };
  return registry;
}

/** The module of an implemented extension, by Envoy name. */
export function extensionModule(name: string): ExtensionModule | undefined {
  return buildRegistry().byName.get(name);
}

/** The module of an implemented extension, by typed_config type (full message name). */
export function extensionModuleByType(typeName: string): ExtensionModule | undefined {
  return buildRegistry().byType.get(typeName);
}

/** The HTTP filter module whose per-route config (typed_per_filter_config) has this type. */
export function perRouteModuleByType(typeName: string): HttpFilterModule | undefined {
  return buildRegistry().byPerRouteType.get(typeName);
}

function moduleOf<M extends ExtensionModule>(compiled: CompiledExtension, category: ExtensionCategory): M {
  const m = buildRegistry().byName.get(compiled.name);
  if (m === undefined || m.category !== category) {
    // The snapshot is built from the same list; reaching here means the two disagree.
    throw new LegateError('LEGATE_ERR_EXTENSION', `${category} extension "${compiled.name}" is not registered`);
  }
  return m as M;
}

export function httpFilterFactory(compiled: CompiledExtension, ctx: WorkerContext): FilterFactory {
  return moduleOf<HttpFilterModule>(compiled, ExtensionCategory.HttpFilter).createFilterFactory(compiled.config, ctx);
}

export function networkFilterFactory(compiled: CompiledExtension, ctx: WorkerContext): NetworkFilterFactory {
  return moduleOf<NetworkFilterModule>(compiled, ExtensionCategory.NetworkFilter)
    .createFilterFactory(compiled.config, ctx);
}

export function accessLogger(compiled: CompiledExtension, ctx: WorkerContext): AccessLogInstance {
  return moduleOf<AccessLoggerModule>(compiled, ExtensionCategory.AccessLogger)
    .createAccessLogger(compiled.config, ctx);
}

export function listenerFilterFactory(compiled: CompiledExtension, ctx: WorkerContext): ListenerFilterFactory {
  return moduleOf<ListenerFilterModule>(compiled, ExtensionCategory.ListenerFilter)
    .createListenerFilterFactory(compiled.config, ctx);
}

function transportSocketModule(compiled: CompiledExtension): TransportSocketModule {
  return moduleOf<TransportSocketModule>(compiled, ExtensionCategory.TransportSocket);
}

export function downstreamTransportSocketFactory(compiled: CompiledExtension, ctx: TransportSocketContext): DownstreamTransportSocketFactory {
  const f = transportSocketModule(compiled).createDownstreamFactory(compiled.config, ctx);
  if (f === null) throw new LegateError('LEGATE_ERR_EXTENSION', `transport socket "${compiled.name}" is not a downstream one`);
  return f;
}

export function upstreamTransportSocketFactory(compiled: CompiledExtension, ctx: TransportSocketContext): UpstreamTransportSocketFactory {
  const f = transportSocketModule(compiled).createUpstreamFactory(compiled.config, ctx);
  if (f === null) throw new LegateError('LEGATE_ERR_EXTENSION', `transport socket "${compiled.name}" is not an upstream one`);
  return f;
}

/** The certificates of a compiled transport socket (main thread: admin /certs); null for one
 *  without certificates. */
export function transportSocketCertificates(compiled: CompiledExtension):
  { caCert: CertificateDetails[]; certChain: CertificateDetails[] } | null {
  const m = transportSocketModule(compiled);
  return m.certificates === undefined ? null : m.certificates(compiled.config);
}

/** Cluster types and load balancers for the cluster manager (upstream/ does not import extensions). */
export const upstreamFactories: UpstreamFactories = {
  clusterType: (type) => buildRegistry().clusterTypes.get(type),
  loadBalancer: (lbPolicy) => buildRegistry().loadBalancers.get(lbPolicy),
  transportSocket: (compiled, stats, workerId) => upstreamTransportSocketFactory(compiled, { stats, workerId }),
};

/** A request's retry priority from its route's compiled retry_priority (the router, per request
 *  of a route that has one). */
export function retryPriority(compiled: CompiledExtension): RetryPriority {
  return moduleOf<RetryPriorityModule>(compiled, ExtensionCategory.RetryPriority).createRetryPriority(compiled.config);
}

/** A DNS resolver from its compiled extension (main thread: the DNS clusters' discovery). */
export function dnsResolver(compiled: CompiledExtension): DnsResolver {
  return moduleOf<DnsResolverModule>(compiled, ExtensionCategory.DnsResolver).createResolver(compiled.config);
}

/** The cluster type a Cluster.type value selects. */
export function clusterTypeModule(type: string): ClusterTypeModule | undefined {
  return buildRegistry().clusterTypes.get(type);
}

/** The load balancer a Cluster.lb_policy value selects. */
export function loadBalancerModule(lbPolicy: string): LoadBalancerModule | undefined {
  return buildRegistry().loadBalancers.get(lbPolicy);
}

/** Every load balancer. */
export function loadBalancerModules(): IterableIterator<LoadBalancerModule> {
  return buildRegistry().loadBalancers.values();
}

/** The health checker a HealthCheck oneof field (`http_health_check` ...) selects. */
export function healthCheckerModule(field: string): HealthCheckerModule | undefined {
  for (const m of extensionModules()) {
    if (m.category === ExtensionCategory.HealthChecker && m.field === field) return m;
  }
  return undefined;
}

/** A compressor filter's library, by its compiled entry (main: its content-coding and stats
 *  prefix; the worker: createCodecFactory). */
export function compressorModule(compiled: CompiledExtension): CompressorModule {
  return moduleOf<CompressorModule>(compiled, ExtensionCategory.Compressor);
}

export function decompressorModule(compiled: CompiledExtension): DecompressorModule {
  return moduleOf<DecompressorModule>(compiled, ExtensionCategory.Decompressor);
}

/** The worker's coding streams of a compiled compressor or decompressor library. */
export function codecFactory(compiled: CompiledExtension, category: typeof ExtensionCategory.Compressor
  | typeof ExtensionCategory.Decompressor): CodecFactory {
  return moduleOf<CompressorModule | DecompressorModule>(compiled, category).createCodecFactory(compiled.config);
}
