// The shape of an extension module. Each extension (HTTP filter, network filter, access logger,
// listener filter, transport socket, cluster type, load balancer) is one folder
// whose index.ts default-exports one of these; src/extensions/index.ts lists them, and the
// registry (registry.ts), the config loader's extension table (config/extensions.ts), its
// supported-field table (config/supported.ts) and its preloaded protos (config/protos.ts) are all
// derived from that list.
//
// Two halves, two threads:
// - `compile(typedConfig, ctx)` runs once per config in the main thread, on the validated
//   typed_config (normalized: snake_case names, only the fields that were set, defaults not
//   filled in): it checks what the protos cannot say (ctx.fail names the field path), fills in
//   Envoy's defaults, resolves the extension's own stat names to slots (ctx.layout) and returns
//   plain structured-cloneable data: the worker's snapshot carries it.
// - `createFilterFactory(compiled, ctx)` runs in each worker when the snapshot arrives and returns
//   the per-stream / per-connection factory. The request path only calls that factory.
//
// This file has no runtime imports, so any module (config/ included) can import it without
// creating an initialisation cycle.
import type { StatsLayout } from '../stats/layout.ts';
import type { StatSink } from '../common/stat-sink.ts';
import type { FilterFactory } from '../http/types.ts';
import type { LogContext } from '../http/access-log.ts';
import type { NetworkFilterFactory } from '../network/filter.ts';
import type { ListenerFilterFactory } from '../listener/listener-filter.ts';
import type { DownstreamTransportSocketFactory, UpstreamTransportSocketFactory } from '../network/transport-socket.ts';
import type { ClusterManager } from '../upstream/cluster-manager.ts';
import type { ClusterTypeFactory } from '../upstream/cluster-manager.ts';
import type { LoadBalancerFactory, RetryPriority } from '../upstream/load-balancer.ts';
import type { DnsResolver } from '../upstream/dns.ts';
import type { HealthCheck } from '../upstream/health-check.ts';
import type { Loader } from '../runtime/types.ts';
import type { ServerState } from '../common/server-state.ts';
import type { CodecFactory } from '../compression/types.ts';

type Obj = Record<string, any>;

/** The slot an extension plugs into; the value is Envoy's name prefix for the category. */
export const ExtensionCategory = {
  NetworkFilter: 'envoy.filters.network',
  HttpFilter: 'envoy.filters.http',
  ListenerFilter: 'envoy.filters.listener',
  AccessLogger: 'envoy.access_loggers',
  TransportSocket: 'envoy.transport_sockets',
  /** Cluster types, chosen by `Cluster.type` (STATIC ...), not by a typed_config. */
  Cluster: 'envoy.clusters',
  /** Load balancers, chosen by `Cluster.lb_policy` (ROUND_ROBIN ...). */
  LoadBalancer: 'envoy.load_balancing_policies',
  /** DNS resolvers (a cluster's `typed_dns_resolver_config`); they run on the main thread. */
  DnsResolver: 'envoy.network.dns_resolver',
  /** Active health checkers, chosen by which HealthCheck field is set (`http_health_check` ...);
   *  they run on the main thread. */
  HealthChecker: 'envoy.health_checkers',
  /** A retry policy's retry_host_predicate entries; the router acts on them. */
  RetryHostPredicate: 'envoy.retry_host_predicates',
  /** A retry policy's retry_priority: the priority load of a request's retries. */
  RetryPriority: 'envoy.retry_priorities',
  /** A cluster's protocol options (`typed_extension_protocol_options`, keyed by the extension's
   *  name): what its upstream connections speak and how long they live. */
  UpstreamOptions: 'envoy.upstream_options',
  /** A RouteMatch's path_match_policy (the uri_template matcher); the route table acts on it. */
  PathMatch: 'envoy.path.match',
  /** Compression libraries of the compressor filter (`compressor_library`). */
  Compressor: 'envoy.compression.compressor',
  /** Decompression libraries of the decompressor filter (`decompressor_library`). */
  Decompressor: 'envoy.compression.decompressor',
} as const;
export type ExtensionCategory = (typeof ExtensionCategory)[keyof typeof ExtensionCategory];

/** How Legate supports one field of a message (config/supported.ts). */
export interface FieldSupport {
  /** Only these enum values are implemented (by name). */
  enumValues?: readonly string[];
}

/** A field name, or [field name, restrictions]. */
export type SupportedField = string | readonly [string, FieldSupport];

/** What compile() gets: where it is in the config, and the means to resolve stats. */
export interface CompileContext {
  layout: StatsLayout;
  /** Field path of this extension's typed_config, for error messages
   *  (`static_resources.listeners[0].filter_chains[0].filters[0].typed_config`). */
  path: string;
  /** The entry's `name` for a nested extension (an HTTP filter's http_filters[i].name: the key a
   *  route's typed_per_filter_config uses for it); '' otherwise. */
  configName?: string;
  /** --buffer-size: the default per-connection buffer limit. */
  bufferLimit: number;
  /** The stat scope of what the extension sits on: `listener.<address>.` for a listener's filters
   *  and transport sockets (`listener.<address>.ssl.handshake`), `cluster.<name>.` for a
   *  cluster's transport socket, `http.<stat_prefix>.` for an HTTP connection manager's HTTP
   *  filters (Envoy's stats_prefix of a filter factory); '' elsewhere. */
  scope: string;
  /** The config file's directory (absolute), which relative paths an extension loads resolve
   *  against (legate.filters.http.script's `module`); absent: the current directory (an inline
   *  config). */
  configDir?: string;
  /** The names of the clusters the config defines (routes and tcp_proxy name them). */
  clusters: ReadonlySet<string>;
  /** Those of them with a transport_socket (TLS). */
  clustersWithTransportSocket: ReadonlySet<string>;
  /** The local service cluster (the bootstrap's node.cluster, Envoy's LocalInfo clusterName():
   *  the health check filter's header, the source_cluster rate limit action); '' when none. */
  serviceCluster?: string;
  /** Have every worker import this ES module (a file: URL) before it builds from the config
   *  (Snapshot.modules); the worker side takes it from common/preload.ts preloadedModule(url).
   *  Absent where no snapshot is being built. */
  preloadModule?(url: string): void;
  /** A slice of `size` int32s of the process's shared memory (upstream/resource-slots.ts), the
   *  same for the same `key` across configs, zero when new; `align`: the offset is a multiple of
   *  it. Returns its offset in int32s in WorkerContext.sharedMemory, or -1 when the process has
   *  none (tests, --mode validate): the worker side then keeps the state to itself. */
  sharedSlots?(key: string, size: number, align: number): number;
  /** Refuse the config: throws a ConfigError whose line starts with `path` (a full field path,
   *  usually `${ctx.path}.some_field`). */
  fail(path: string, message: string): never;
  /** Compile a nested extension entry ({ name, typed_config }) of `category` at `path` (the
   *  entry's own path), e.g. the HCM's http_filters[i] or access_log[i]; `scope` is its stat
   *  scope (CompileContext.scope, '' when not given). */
  compileNested(category: ExtensionCategory, entry: Obj, path: string, scope?: string): CompiledExtension;
}

/** A compiled extension as the snapshot carries it. */
export interface CompiledExtension {
  /** Envoy's extension name (the registry key), not the user's filter name. */
  name: string;
  config: unknown;
}

/** What the worker side gets. */
export interface WorkerContext {
  stats: StatSink;
  clusterManager: ClusterManager;
  workerId: number;
  /** The latest value a main-thread service published under `key` (undefined until it has): the
   *  same object for a key for the worker's whole life, its `value` replaced in place. */
  shared(key: string): SharedValue;
  /** The runtime (src/runtime/types.ts): `runtime.snapshot()` when a value is needed. */
  runtime: Loader;
  /** Server-wide state main sets (common/server-state.ts): healthCheckFailed(). */
  serverState: ServerState;
  /** The process's shared memory (upstream/resource-slots.ts), where CompileContext.sharedSlots
   *  offsets point; growable, so take length-tracking views. Absent or null: none (tests). */
  sharedMemory?: SharedArrayBuffer | null;
}

/** What a transport socket gets in the worker: no cluster manager (clusters make their transport
 *  sockets while it is being built). */
export type TransportSocketContext = Pick<WorkerContext, 'stats' | 'workerId'>;

export interface SharedValue {
  value: unknown;
}

/** What an extension's main-thread service gets (src/main/services.ts). */
export interface MainServiceContext {
  /** Main's own stats block: main is the one writer of what its services count. */
  stats: StatSink;
  /** The stat names of the running config: a service that finds new things (a DNS answer's
   *  hosts) resolves their stats here; the blocks grow before this returns. */
  layout: StatsLayout;
  /** A cluster's hosts by cluster name (undefined: no such cluster in the running config). */
  clusterHosts(name: string): readonly { address: string; port: number }[] | undefined;
  /** Hand `value` (structured-cloneable) to every worker (WorkerContext.shared(key)). */
  publish(value: unknown): void;
  /** A DNS resolver from its compiled extension (a cluster's typed_dns_resolver_config). */
  dnsResolver(compiled: CompiledExtension): DnsResolver;
  warn(message: string, detail: Record<string, unknown>): void;
}

export interface MainService {
  stop(): void;
  /** Settles once the service has what workers need to start serving (a DNS cluster's first
   *  resolution, Envoy's cluster warming); a config waits for it before it reaches the workers.
   *  Absent: at once. */
  readonly ready?: Promise<void>;
}

/** Work an extension does on the main thread for all workers (Envoy runs such work, a REST
 *  fetcher or a health checker, on its main dispatcher and shares the result with the workers
 *  through thread-local slots). One service runs per distinct `key` across the config: a config
 *  update that keeps a key with the same compiled config keeps its service running. */
export interface MainServiceSpec<C> {
  key(compiled: C): string;
  start(compiled: C, ctx: MainServiceContext): MainService;
}

interface ExtensionModuleBase<C> {
  /** Envoy's canonical name, e.g. `envoy.filters.http.router`. */
  readonly name: string;
  /** Full proto message names of its typed_config (no type.googleapis.com/ prefix). */
  readonly types: readonly string[];
  /** Must be the last of its chain (Envoy's isTerminalFilter). */
  readonly terminal?: boolean;
  /** message full name -> the fields of it Legate acts on. Merged into config/supported.ts; a
   *  message several extensions list (DataSource, HeaderValueOption) gets the union, so each of
   *  them must act on all of its listed fields. A message left out has no supported field. */
  readonly fields: Readonly<Record<string, readonly SupportedField[]>>;
  /** .proto files (relative to Envoy's API root) parsed at startup: those of `types`. */
  readonly protos: readonly string[];
  compile(typedConfig: Obj, ctx: CompileContext): C;
}

export interface HttpFilterModule<C = unknown> extends ExtensionModuleBase<C> {
  readonly category: typeof ExtensionCategory.HttpFilter;
  /** Its per-route config (a Route's typed_per_filter_config entry), when it has one: the
   *  message types it takes and their compile(), run in main; the worker's filter reads the
   *  result through its callbacks (perFilterConfig(name)). Absent: such entries are refused. */
  readonly perRoute?: {
    readonly types: readonly string[];
    compile(typedConfig: Obj, ctx: CompileContext): object;
    /** A route sees one entry per filter name: its own, else its virtual host's, else the route
     *  configuration's (Envoy's mostSpecificPerFilterConfig). A filter that reads every level
     *  (Envoy's getAllPerFilterConfig: CORS) combines them here instead, once at config time:
     *  `outer` is the less specific level's compiled entry, `inner` the more specific one's. */
    merge?(outer: object, inner: object): object;
  };
  createFilterFactory(compiled: C, ctx: WorkerContext): FilterFactory;
}

export interface NetworkFilterModule<C = unknown> extends ExtensionModuleBase<C> {
  readonly category: typeof ExtensionCategory.NetworkFilter;
  createFilterFactory(compiled: C, ctx: WorkerContext): NetworkFilterFactory;
  readonly mainService?: MainServiceSpec<C>;
}

export interface ListenerFilterModule<C = unknown> extends ExtensionModuleBase<C> {
  readonly category: typeof ExtensionCategory.ListenerFilter;
  createListenerFilterFactory(compiled: C, ctx: WorkerContext): ListenerFilterFactory;
}

/** One certificate a transport socket uses, as admin /certs shows it (Envoy's
 *  admin.v3.CertificateDetails less the day count, which depends on when it is asked). */
export interface CertificateDetails {
  /** The file, or `<inline>`. */
  path: string;
  /** Lowercase hex. */
  serialNumber: string;
  /** `{ dns }`, `{ uri }` or `{ ip_address }` each. */
  subjectAltNames: Record<string, string>[];
  /** ISO 8601 (a protobuf Timestamp's JSON). */
  validFrom: string;
  expirationTime: string;
}

/** A transport socket (`transport_socket`): a filter chain's (downstream) or a cluster's
 *  (upstream). One module may serve both sides (TLS: DownstreamTlsContext / UpstreamTlsContext),
 *  told apart by the typed_config's type in compile(). */
export interface TransportSocketModule<C = unknown> extends ExtensionModuleBase<C> {
  readonly category: typeof ExtensionCategory.TransportSocket;
  /** The certificates a compiled config uses (admin /certs, server.days_until_first_cert_expiring;
   *  main thread); absent for a transport without certificates. */
  certificates?(compiled: C): { caCert: CertificateDetails[]; certChain: CertificateDetails[] };
  /** null when the compiled config is not a downstream one. */
  createDownstreamFactory(compiled: C, ctx: TransportSocketContext): DownstreamTransportSocketFactory | null;
  /** null when the compiled config is not an upstream one. */
  createUpstreamFactory(compiled: C, ctx: TransportSocketContext): UpstreamTransportSocketFactory | null;
}

/** One access log instance (Envoy's AccessLog::Instance): called once per finished stream. */
export interface AccessLogInstance {
  log(c: LogContext): void;
}

export interface AccessLoggerModule<C = unknown> extends ExtensionModuleBase<C> {
  readonly category: typeof ExtensionCategory.AccessLogger;
  createAccessLogger(compiled: C, ctx: WorkerContext): AccessLogInstance;
}

/** A cluster type (Envoy's ClusterFactory), selected by the Cluster.type enum value `clusterType`:
 *  fills a worker's PrioritySet from the snapshot and keeps it up to date. Its `fields` name the
 *  Cluster fields it acts on (its `type` enum value included); it has no typed_config (`types` is
 *  empty): `compile` gets the whole Cluster (ctx.path is the cluster's) and returns what the
 *  snapshot's ClusterSnap.discovery carries. A type whose hosts are found at run time (DNS) has
 *  a main-thread service that publishes them (a ClusterHostsUpdate under ClusterSnap.discovery's
 *  key), which the worker side watches (ClusterEnv). */
export interface ClusterTypeModule<C = unknown> extends ExtensionModuleBase<C>, ClusterTypeFactory {
  readonly category: typeof ExtensionCategory.Cluster;
  readonly mainService?: MainServiceSpec<ClusterServiceConfig<C>>;
}

/** What a cluster type's main-thread service is started with. */
export interface ClusterServiceConfig<C> {
  /** The cluster's name and stats (main writes its membership and update_* stats). */
  cluster: string;
  clusterStats: Record<string, number>;
  discovery: C;
}

/** A DNS resolver (Envoy's DnsResolverFactory), used on the main thread by the clusters that
 *  name it (typed_dns_resolver_config). */
export interface DnsResolverModule<C = unknown> extends ExtensionModuleBase<C> {
  readonly category: typeof ExtensionCategory.DnsResolver;
  createResolver(compiled: C): DnsResolver;
}

/** A load balancer, selected by the Cluster.lb_policy enum value `lbPolicy`: a per-worker
 *  LoadBalancer over the cluster's PrioritySet. Like a cluster type, its `compile` gets the whole
 *  Cluster (its own config message is a Cluster field, e.g. ring_hash_lb_config): what it returns
 *  is ClusterInfo.lbConfig in the worker. */
export interface LoadBalancerModule<C = unknown> extends ExtensionModuleBase<C>, LoadBalancerFactory {
  readonly category: typeof ExtensionCategory.LoadBalancer;
}

/** An active health checker (Envoy's core HTTP, TCP and gRPC checkers), selected by the HealthCheck
 *  oneof field it names (`field`); `compile` gets that field's message. Main thread: one check per
 *  attempt (upstream/health-check.ts runs the sessions). */
export interface HealthCheckerModule<C = unknown> extends ExtensionModuleBase<C> {
  readonly category: typeof ExtensionCategory.HealthChecker;
  readonly field: string;
  /** `cluster`: the cluster's name (the default Host / :authority); `reuseConnection`: keep a
   *  host's connection between checks (HealthCheck.reuse_connection, default true). */
  createCheck(compiled: C, opts: { cluster: string; reuseConnection: boolean }): HealthCheck;
}

/** A retry host predicate (a RetryPolicy's retry_host_predicate): compiled for validation; the
 *  router implements what it names. */
export interface RetryHostPredicateModule<C = unknown> extends ExtensionModuleBase<C> {
  readonly category: typeof ExtensionCategory.RetryHostPredicate;
}

/** A retry priority (a RetryPolicy's retry_priority, Envoy's RetryPriorityFactory): the router
 *  makes one per request whose route has it (createRetryPriority), tells it each host the request
 *  is sent to, and the load balancers ask it for the priority load of each pick. */
export interface RetryPriorityModule<C = unknown> extends ExtensionModuleBase<C> {
  readonly category: typeof ExtensionCategory.RetryPriority;
  createRetryPriority(compiled: C): RetryPriority;
}

/** Protocol options a cluster names in `typed_extension_protocol_options` (Envoy's
 *  ProtocolOptionsFactory): `compile` gets the entry's typed_config; what it returns is for
 *  snapshot.ts to fold into the ClusterSnap (no worker side of its own). */
export interface UpstreamOptionsModule<C = unknown> extends ExtensionModuleBase<C> {
  readonly category: typeof ExtensionCategory.UpstreamOptions;
  /** The typed_extension_protocol_options keys that name it: Envoy's factory name (`name`) and
   *  the alias Envoy registers it under too. */
  readonly keys: readonly string[];
}

/** A route's path_match_policy: `compile` checks the typed_config and gives what the route table
 *  matches with (router/route-table.ts); no worker side of its own. */
export interface PathMatchModule<C = unknown> extends ExtensionModuleBase<C> {
  readonly category: typeof ExtensionCategory.PathMatch;
}

/** A compression library (Envoy's CompressorFactory): the compressor filter's
 *  `compressor_library`. */
export interface CompressorModule<C = unknown> extends ExtensionModuleBase<C> {
  readonly category: typeof ExtensionCategory.Compressor;
  /** The content-coding it produces (`gzip`, `br`, `zstd`). */
  readonly contentEncoding: string;
  /** Envoy's statsPrefix() (`gzip.`): the filter's stats are under `compressor.<name>.<this>`. */
  readonly statsPrefix: string;
  createCodecFactory(compiled: C): CodecFactory;
}

/** A decompression library (Envoy's DecompressorFactory): the decompressor filter's
 *  `decompressor_library`. */
export interface DecompressorModule<C = unknown> extends ExtensionModuleBase<C> {
  readonly category: typeof ExtensionCategory.Decompressor;
  readonly contentEncoding: string;
  readonly statsPrefix: string;
  createCodecFactory(compiled: C): CodecFactory;
}

export type ExtensionModule = HttpFilterModule<any> | NetworkFilterModule<any> | AccessLoggerModule<any>
  | ListenerFilterModule<any> | TransportSocketModule<any> | ClusterTypeModule<any> | LoadBalancerModule<any>
  | DnsResolverModule<any> | HealthCheckerModule<any> | RetryHostPredicateModule<any> | RetryPriorityModule<any>
  | UpstreamOptionsModule<any> | PathMatchModule<any> | CompressorModule<any> | DecompressorModule<any>;
