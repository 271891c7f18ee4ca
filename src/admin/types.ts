// What the admin server needs from the control plane. The main thread builds these from its current
// config snapshot and cluster manager state; handlers render them as Envoy does.
import type { ExplainRequest, Explanation } from '../main/explain.ts';
import type { StatsStore } from '../stats/store.ts';

/** envoy.admin.v3.ServerInfo.State. */
export type ServerStateName = 'LIVE' | 'DRAINING' | 'PRE_INITIALIZING' | 'INITIALIZING';

/** envoy.admin.v3.CommandLineOptions; missing fields are printed with Envoy's defaults.
 *  Durations are in seconds. */
export interface CommandLineOptions {
  concurrency: number;
  base_id?: number;
  config_path?: string;
  config_yaml?: string;
  admin_address_path?: string;
  local_address_ip_version?: 'v4' | 'v6';
  log_level?: string;
  component_log_level?: string;
  log_format?: string;
  log_path?: string;
  service_cluster?: string;
  service_node?: string;
  service_zone?: string;
  file_flush_interval?: number;
  drain_time?: number;
  drain_strategy?: 'Gradual' | 'Immediate';
  parent_shutdown_time?: number;
  mode?: 'Serve' | 'Validate' | 'InitOnly';
  disable_hot_restart?: boolean;
  restart_epoch?: number;
  [option: string]: unknown;
}

export interface ServerInfo {
  /** Envoy prints `<sha>/<version>/<status>/<build type>/<ssl>`. */
  version: string;
  state: ServerStateName;
  hot_restart_version?: string;
  /** Seconds since this process started. */
  uptime_current_epoch: number;
  /** Seconds since the first process of the hot-restart chain started. */
  uptime_all_epochs: number;
  command_line_options: CommandLineOptions;
  /** envoy.config.core.v3.Node from the bootstrap. */
  node?: Record<string, unknown>;
}

/** One priority's circuit breaker thresholds (envoy.config.cluster.v3.CircuitBreakers). */
export interface CircuitBreakerThresholds {
  max_connections: number;
  max_pending_requests: number;
  max_requests: number;
  max_retries: number;
}

export interface HostStatus {
  address: string;
  port: number;
  hostname?: string;
  /** Envoy's health flag names, lower case without the slash (`failed_active_hc`,
   *  `failed_outlier_check`, `failed_eds_health`, `degraded_active_hc`, `degraded_eds_health`,
   *  `pending_dynamic_removal`, `pending_active_hc`, `excluded_via_immediate_hc_fail`,
   *  `active_hc_timeout`, `eds_status_draining`); empty when healthy. */
  health_flags: readonly string[];
  weight?: number;
  priority?: number;
  /** Where active health checks go when not `port` (Endpoint.health_check_config.port_value);
   *  the EDS dump shows it. */
  health_check_port?: number;
  /** Where active health checks go when not `address` (Endpoint.health_check_config.address). */
  health_check_address?: string;
  /** Endpoint.health_check_config.hostname (the L7 checks' Host); the EDS dump shows it. */
  health_check_hostname?: string;
  region?: string;
  zone?: string;
  sub_zone?: string;
  /** Its locality's load_balancing_weight, when the cluster weighs localities
   *  (locality_weighted_lb_config; 0: the locality has none); the EDS dump shows it. */
  locality_weight?: number;
  canary?: boolean;
  /** -1 when outlier detection has no success rate for the host (Envoy's default). */
  success_rate?: number;
  local_origin_success_rate?: number;
  /** Per-host stat name (cx_total, cx_active, rq_total, ...) -> counter/gauge slot, usually the
   *  hidden slots from upstream/stats.ts HOST_COUNTERS/HOST_GAUGES. */
  stats: Readonly<Record<string, number>>;
}

export interface ClusterStatus {
  name: string;
  observability_name?: string;
  added_via_api?: boolean;
  eds_service_name?: string;
  circuit_breakers: {
    default: CircuitBreakerThresholds;
    /** Envoy's defaults (1024, 1024, 1024, 3) when absent. */
    high?: CircuitBreakerThresholds;
  };
  hosts: HostStatus[];
}

/** A filter chain as /listeners?format=json shows it: Envoy's FilterChain JSON (`name`,
 *  `filter_chain_match` as configured). */
export interface FilterChainStatus {
  name: string;
  /** null when the chain has no filter_chain_match. */
  filterChainMatch: Record<string, unknown> | null;
}

export interface ListenerStatus {
  name: string;
  /** The bound address (after port 0 was resolved). */
  address: string;
  port: number;
  filterChains?: FilterChainStatus[];
  defaultFilterChain?: FilterChainStatus | null;
}

/** One certificate in use (Envoy's admin.v3.CertificateDetails, less the day count). */
export interface CertificateDetail {
  /** The file, or `<inline>`. */
  path: string;
  serialNumber: string;
  /** `{ dns }`, `{ uri }` or `{ ip_address }` each. */
  subjectAltNames: Record<string, string>[];
  /** ISO 8601. */
  validFrom: string;
  expirationTime: string;
}

/** One TLS context's certificates (Envoy's admin.v3.Certificate). */
export interface CertificateStatus {
  caCert: CertificateDetail[];
  certChain: CertificateDetail[];
}

/** One entry of /config_dump, as Envoy's ConfigTracker holds them: its key (`bootstrap`,
 *  `clusters`; the dump lists entries sorted by key) and its message (an envoy.admin.v3
 *  `*ConfigDump`) in proto3 JSON, `@type` first as in an Any. */
export interface ConfigDumpEntry {
  key: string;
  message: { '@type': string; [field: string]: unknown };
}

export interface AdminOptions {
  host: string;
  port: number;
  stats: StatsStore;
  serverInfo(): ServerInfo;
  clusters(): ClusterStatus[];
  listeners(): ListenerStatus[];
  /** The certificates of every TLS context of the running config (GET /certs). */
  certs(): CertificateStatus[];
  /** The config dump's entries but the endpoints (which /config_dump?include_eds builds from
   *  clusters()), each holding only the resources whose name `nameMatch` accepts (?name_regex). */
  configDump(nameMatch: (name: string) => boolean): ConfigDumpEntry[];
  /** POST /quitquitquit, called after the "OK" response went out. */
  onQuit(): void;
  /** POST /reload: re-read the config and apply it; resolves once every worker has it. */
  onReload(): Promise<ReloadResult>;
  isReady(): boolean;
  /** POST /healthcheck/fail (true) and /healthcheck/ok (false). */
  onHealthCheck(fail: boolean): void;
  /** GET /runtime: the runtime's loaded layers, in order. */
  runtimeLayers(): readonly RuntimeLayerStatus[];
  /** POST /runtime_modify: set these keys in the admin layer ('' removes one); null when done,
   *  else why the runtime refused (nothing changed). */
  onRuntimeModify(values: ReadonlyMap<string, string>): string | null;
  /** GET /explain: where a request would go on the running config (main/explain.ts). */
  explain(req: ExplainRequest): Explanation;
  /** A handler threw (a bug): it was answered 500; log and count it. */
  onHandlerError?(err: unknown, target: string): void;
}

export interface AdminServer {
  readonly address: { address: string; port: number };
  close(): Promise<void>;
}

/** A parsed admin request; handlers never see the socket. */
export interface AdminRequest {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  /** The content-type header (undefined when absent). */
  readonly contentType?: string;
  /** A POST's form body (read for content-type application/x-www-form-urlencoded only). */
  readonly body?: string;
}

/** One runtime layer as GET /runtime lists it: its name and each key's raw value. */
export interface RuntimeLayerStatus {
  readonly name: string;
  readonly values: ReadonlyMap<string, { readonly raw: string }>;
}

/** A reload's outcome: applied; refused (the running config kept); or applied in main but not
 *  confirmed by every worker in time (`applied`). */
export type ReloadResult = { ok: true; version: number } | { ok: false; errors: string[]; applied?: boolean };

export interface AdminResponse {
  status: number;
  body: string;
  /** text/plain; charset=UTF-8 unless set. */
  contentType?: string;
  /** Runs once the response has been written (quitquitquit). */
  after?: () => void;
}

export interface AdminHandler {
  /** Exact path, as Envoy matches it (query string excluded). */
  readonly prefix: string;
  readonly help: string;
  /** Envoy's mutates_server_state: anything but POST gets 405. */
  readonly mutatesState: boolean;
  /** A handler that waits for something (a config reload reaching every worker) returns a
   *  promise. */
  handle(req: AdminRequest, opts: AdminOptions): AdminResponse | Promise<AdminResponse>;
}

export const CONTENT_TEXT = 'text/plain; charset=UTF-8';
export const CONTENT_JSON = 'application/json';
