// envoy.filters.network.http_connection_manager: the terminal network filter that speaks HTTP.
// compile() turns its typed_config into HcmSnap (Envoy's defaults filled in, the route table
// flattened, http_filters and access_log compiled by their own modules, http.<stat_prefix>.* stats
// resolved to slots); the worker side builds HcmConfig (config.ts) from it and the network filter
// (filter.ts) from that.
import {
  ExtensionCategory, type CompileContext, type CompiledExtension, type NetworkFilterModule,
} from '../../../types.ts';
import { HCM_COUNTERS, HCM_GAUGES, HCM_HISTOGRAMS, type HcmStats } from '../../../../http/stats.ts';
import type { UpgradeSnap } from '../../../../router/config.ts';
import { ROUTE_FIELDS, compileRouteConfig, upgradeConfigs } from '../../../../router/compile.ts';
import type { RouteConfigSnap } from '../../../../router/config.ts';
import {
  HashMethodKind, setCookieAttributes, wireText, type HashMethodSnap, type HashPolicySnap,
} from '../../../../http/hash-policy.ts';
import { durationMs } from '../../../../config/duration.ts';
import { DEFAULT_BACKOFF_BASE_MS, RetryOn, parseRetryOn, type RetryPolicySnap } from '../../../../http/retry-policy.ts';
import { readDataSource } from '../../../../common/data-source.ts';
import { slots } from '../../../../stats/slots.ts';
import { HcmConfig } from './config.ts';
import { extensionModule, extensionModuleByType } from '../../../registry.ts';
import { EscapedSlashes, StripPort, type PathNormalization } from '../../../../http/path-normalize.ts';
import { createHcmFilterFactory } from './filter.ts';
import { clientCertDetailsOf, forwardClientCertOf } from './xfcc.ts';
import { LOCAL_REPLY_FIELDS, compileLocalReply, type LocalReplySnap } from '../../../../http/local-reply.ts';

type Obj = Record<string, any>;

/** One http_filters entry: the compiled extension, its config name (the key a route's
 *  typed_per_filter_config uses) and HttpFilter.disabled. */
export interface HttpFilterSnap extends CompiledExtension {
  configName: string;
  disabled: boolean;
}

export interface HcmSnap {
  statPrefix: string;
  useRemoteAddress: boolean;
  xffNumTrustedHops: number;
  generateRequestId: boolean;
  serverName: string;
  requestTimeoutMs: number;
  streamIdleTimeoutMs: number;
  idleTimeoutMs: number;
  drainTimeoutMs: number;
  maxRequestHeadersBytes: number;
  maxHeadersCount: number;
  /** forward_client_cert_details (xfcc.ts ForwardClientCert). */
  forwardClientCert: number;
  /** set_current_client_cert_details, in Envoy's order (xfcc.ts ClientCertDetail). */
  clientCertDetails: number[];
  routeConfig: RouteConfigSnap;
  /** In order; each compiled by its module (registry.httpFilterFactory builds it in the worker).
   *  An is_optional filter Legate does not implement is left out. */
  httpFilters: HttpFilterSnap[];
  accessLogs: CompiledExtension[];
  /** upgrade_configs, in order. */
  upgrades: UpgradeSnap[];
  /** normalize_path, merge_slashes, path_with_escaped_slashes_action (http/path-normalize.ts). */
  pathNormalization: PathNormalization;
  /** Whether any of them is on (else only a fragment is looked for). */
  normalizesPath: boolean;
  /** strip_matching_host_port / strip_any_host_port. */
  stripPort: StripPort;
  stripTrailingHostDot: boolean;
  /** local_reply_config (http/local-reply.ts); null: none. */
  localReply: LocalReplySnap | null;
  stats: HcmStats;
}

// Envoy's defaults.
const DEFAULT_STREAM_IDLE_TIMEOUT_MS = 300_000;
const DEFAULT_IDLE_TIMEOUT_MS = 3_600_000;
const DEFAULT_DRAIN_TIMEOUT_MS = 5_000;
const DEFAULT_MAX_REQUEST_HEADERS_KB = 60;
const DEFAULT_MAX_HEADERS_COUNT = 100;

const HCM = 'envoy.extensions.filters.network.http_connection_manager.v3.';

type HcmModule = NetworkFilterModule<HcmSnap>;

const ESCAPED_SLASHES: Record<string, EscapedSlashes> = {
  IMPLEMENTATION_SPECIFIC_DEFAULT: EscapedSlashes.KeepUnchanged,
  KEEP_UNCHANGED: EscapedSlashes.KeepUnchanged,
  REJECT_REQUEST: EscapedSlashes.RejectRequest,
  UNESCAPE_AND_REDIRECT: EscapedSlashes.UnescapeAndRedirect,
  UNESCAPE_AND_FORWARD: EscapedSlashes.UnescapeAndForward,
};

/** The path and host normalization fields, with Envoy's defaults (its runtime defaults: no
 *  normalization, escaped slashes kept). */
function pathAndHost(h: Obj, ctx: Parameters<HcmModule['compile']>[1]): Pick<HcmSnap,
  'pathNormalization' | 'normalizesPath' | 'stripPort' | 'stripTrailingHostDot'> {
  if (h.strip_matching_host_port === true && h.strip_any_host_port === true) {
    ctx.fail(`${ctx.path}.strip_any_host_port`, 'Only one of strip_matching_host_port or strip_any_host_port can be set.');
  }
  const pathNormalization: PathNormalization = {
    normalizePath: h.normalize_path === true,
    mergeSlashes: h.merge_slashes === true,
    escapedSlashes: ESCAPED_SLASHES[String(h.path_with_escaped_slashes_action ?? 'KEEP_UNCHANGED')] ?? EscapedSlashes.KeepUnchanged,
  };
  return {
    pathNormalization,
    normalizesPath: pathNormalization.normalizePath || pathNormalization.mergeSlashes
      || pathNormalization.escapedSlashes !== EscapedSlashes.KeepUnchanged,
    stripPort: h.strip_any_host_port === true ? StripPort.Any : h.strip_matching_host_port === true ? StripPort.MatchingHost : StripPort.None,
    stripTrailingHostDot: h.strip_trailing_host_dot === true,
  };
}

/** http_filters (Envoy's FilterChainHelper::processFilter): an is_optional filter Legate does not
 *  implement is skipped (the loader warned), the terminal filter cannot be disabled by default. */
function compileHttpFilters(list: Obj[], scope: string, ctx: CompileContext): HttpFilterSnap[] {
  const out: HttpFilterSnap[] = [];
  list.forEach((f, i) => {
    const path = `${ctx.path}.http_filters[${i}]`;
    const type: unknown = f.typed_config?.['@type'];
    const m = typeof type === 'string' ? extensionModuleByType(typeNameOf(type)) : extensionModule(String(f.name ?? ''));
    if (f.is_optional === true && (m === undefined || m.category !== ExtensionCategory.HttpFilter)) return;
    const configName = String(f.name ?? '');
    if (f.disabled === true && i === list.length - 1) {
      ctx.fail(`${path}.disabled`,
        `Error: the last (terminal) filter (${configName}) in the http filter chain cannot be disabled by default.`);
    }
    out.push({ ...ctx.compileNested(ExtensionCategory.HttpFilter, f, path, scope), configName, disabled: f.disabled === true });
  });
  return out;
}

function typeNameOf(url: string): string {
  return url.slice(url.lastIndexOf('/') + 1);
}

const httpConnectionManager: HcmModule = {
  name: 'envoy.filters.network.http_connection_manager',
  category: ExtensionCategory.NetworkFilter,
  types: [HCM + 'HttpConnectionManager'],
  terminal: true,
  fields: {
    [HCM + 'HttpConnectionManager']: [
      'stat_prefix', ['codec_type', { enumValues: ['AUTO', 'HTTP1'] }], 'route_config', 'http_filters', 'access_log',
      'use_remote_address', 'xff_num_trusted_hops', 'generate_request_id', 'stream_idle_timeout', 'request_timeout',
      'common_http_protocol_options', 'max_request_headers_kb', 'server_name', 'drain_timeout', 'upgrade_configs',
      'forward_client_cert_details', 'set_current_client_cert_details', 'local_reply_config',
      'normalize_path', 'merge_slashes', 'path_with_escaped_slashes_action', 'strip_matching_host_port',
      'strip_any_host_port', 'strip_trailing_host_dot',
    ],
    [HCM + 'HttpConnectionManager.SetCurrentClientCertDetails']: ['subject', 'cert', 'chain', 'dns', 'uri'],
    [HCM + 'HttpConnectionManager.UpgradeConfig']: ['upgrade_type', 'enabled'],
    'envoy.config.core.v3.HttpProtocolOptions': ['idle_timeout', 'max_headers_count'],
    [HCM + 'HttpFilter']: ['name', 'typed_config', 'is_optional', 'disabled'],
    'envoy.config.accesslog.v3.AccessLog': ['name', 'typed_config'],
    ...ROUTE_FIELDS,
    ...LOCAL_REPLY_FIELDS,
    'envoy.config.core.v3.DataSource': ['inline_string', 'inline_bytes', 'filename'],
  },
  protos: ['envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto'],

  compile(h, ctx) {
    const statPrefix: string = h.stat_prefix ?? '';
    const hpo = h.common_http_protocol_options ?? {};
    // (The message is shared with a cluster's HttpProtocolOptions, where the pool acts on these.)
    for (const f of ['max_connection_duration', 'max_requests_per_connection']) {
      if (hpo[f] !== undefined) {
        ctx.fail(`${ctx.path}.common_http_protocol_options.${f}`,
          'Legate acts on it for upstream connections only (a cluster\'s HttpProtocolOptions), not on downstream ones');
      }
    }
    const httpFilters = compileHttpFilters((h.http_filters ?? []) as Obj[], `http.${statPrefix}.`, ctx);
    // (An empty http_filters is refused by the loader, config/checks.ts, as Envoy refuses it.)
    return {
      statPrefix,
      useRemoteAddress: h.use_remote_address === true,
      xffNumTrustedHops: h.xff_num_trusted_hops ?? 0,
      generateRequestId: h.generate_request_id !== false,
      serverName: h.server_name ?? 'legate',
      requestTimeoutMs: durationMs(h.request_timeout, 0),
      streamIdleTimeoutMs: durationMs(h.stream_idle_timeout, DEFAULT_STREAM_IDLE_TIMEOUT_MS),
      idleTimeoutMs: durationMs(hpo.idle_timeout, DEFAULT_IDLE_TIMEOUT_MS),
      drainTimeoutMs: durationMs(h.drain_timeout, DEFAULT_DRAIN_TIMEOUT_MS),
      maxRequestHeadersBytes: (h.max_request_headers_kb ?? DEFAULT_MAX_REQUEST_HEADERS_KB) * 1024,
      maxHeadersCount: hpo.max_headers_count ?? DEFAULT_MAX_HEADERS_COUNT,
      forwardClientCert: forwardClientCertOf(h.forward_client_cert_details),
      clientCertDetails: clientCertDetailsOf(h.set_current_client_cert_details),
      routeConfig: compileRouteConfig(h.route_config, `${ctx.path}.route_config`, ctx),
      httpFilters,
      upgrades: upgradeConfigs(h.upgrade_configs ?? []),
      localReply: compileLocalReply(h.local_reply_config, `${ctx.path}.local_reply_config`, ctx),
      accessLogs: ((h.access_log ?? []) as Obj[])
        .map((a, i) => ctx.compileNested(ExtensionCategory.AccessLogger, a, `${ctx.path}.access_log[${i}]`)),
      stats: slots(ctx.layout, `http.${statPrefix}.`, HCM_COUNTERS, HCM_GAUGES, HCM_HISTOGRAMS),
      ...pathAndHost(h, ctx),
    };
  },

  createFilterFactory: (snap, ctx) => createHcmFilterFactory(new HcmConfig(snap, ctx)),
};
export default httpConnectionManager;
