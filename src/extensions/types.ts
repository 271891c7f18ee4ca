// The shape of an extension module. Each extension (HTTP filter, network filter, listener filter,
// transport socket, cluster type, load balancer, access logger) is one folder whose index.ts
// exports one of these; src/extensions/index.ts lists them, and the registry, the config loader's
// supported-field table and its preloaded protos are all derived from that list.
//
// Two halves, two threads:
// - `compile(typedConfig, ctx)` runs once per config in the main thread, on the validated
//   typed_config (proto3 JSON names, defaults not filled in): it checks what the protos cannot
//   say, fills in Envoy's defaults, resolves the extension's stat names to slots, and returns
//   plain structured-cloneable data (the worker's snapshot carries it).
// - `createFilterFactory(compiled, ctx)` runs in each worker when the snapshot arrives and returns
//   the per-stream / per-connection factory. The request path only calls that factory.
import type { StatsLayout } from '../stats/layout.ts';
import type { StatSink } from '../common/stat-sink.ts';
import type { SupportedField } from '../config/supported.ts';
import type { ExtensionCategory } from '../config/extensions.ts';
import type { FilterFactory } from '../http/types.ts';
import type { NetworkFilterFactory } from '../network/filter.ts';
import type { ClusterManager } from '../upstream/cluster-manager.ts';

type Obj = Record<string, any>;

/** What compile() gets: where it is in the config, and the means to resolve stats. */
export interface CompileContext {
  layout: StatsLayout;
  /** Field path of this extension's typed_config, for error messages
   *  (`static_resources.listeners[0].filter_chains[0].filters[0].typed_config`). */
  path: string;
  /** --buffer-size: the default per-connection buffer limit. */
  bufferLimit: number;
  /** The clusters the config defines, by name. */
  clusters: ReadonlySet<string>;
  /** Compile a nested extension entry ({ name, typed_config }) of `category`, e.g. the HCM's
   *  http_filters. */
  compileNested(category: ExtensionCategory, entry: Obj, path: string): CompiledExtension;
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
}

interface ExtensionModuleBase<C> {
  /** Envoy's canonical name, e.g. `envoy.filters.http.router`. */
  readonly name: string;
  /** Full proto message names of its typed_config (no type.googleapis.com/ prefix). */
  readonly types: readonly string[];
  /** Must be the last of its chain (Envoy's isTerminalFilter). */
  readonly terminal?: boolean;
  /** message full name -> the fields of it Legate acts on (merged into config/supported.ts). */
  readonly fields: Readonly<Record<string, readonly SupportedField[]>>;
  /** .proto files (relative to Envoy's API root) parsed at startup. */
  readonly protos: readonly string[];
  compile(typedConfig: Obj, ctx: CompileContext): C;
}

export interface HttpFilterModule<C = unknown> extends ExtensionModuleBase<C> {
  readonly category: typeof import('../config/extensions.ts').ExtensionCategory.HttpFilter;
  createFilterFactory(compiled: C, ctx: WorkerContext): FilterFactory;
}

export interface NetworkFilterModule<C = unknown> extends ExtensionModuleBase<C> {
  readonly category: typeof import('../config/extensions.ts').ExtensionCategory.NetworkFilter;
  createFilterFactory(compiled: C, ctx: WorkerContext): NetworkFilterFactory;
}

export type ExtensionModule = HttpFilterModule<any> | NetworkFilterModule<any>;
