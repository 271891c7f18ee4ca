// envoy.filters.network.http_connection_manager: the terminal network filter that speaks HTTP.
// compile() turns its typed_config into HcmSnap (Envoy's defaults filled in, the route table
// flattened, http_filters and access_log compiled by their own modules, http.<stat_prefix>.* stats
// resolved to slots); the worker side builds HcmConfig (config.ts) from it and the network filter
// (filter.ts) from that.
import {
  ExtensionCategory, type CompileContext, type CompiledExtension, type NetworkFilterModule,
} from '../../../types.ts';
import { HCM_COUNTERS, HCM_GAUGES, HCM_HISTOGRAMS, type HcmStats } from '../../../../http/stats.ts';
import type { HeaderMatchSnap, RouteSnap, UpgradeSnap, VirtualHostSnap } from '../../../../http/route-table.ts';
import {
  HashMethodKind, setCookieAttributes, wireText, type HashMethodSnap, type HashPolicySnap,
} from '../../../../http/hash-policy.ts';
import { durationMs } from '../../../../config/duration.ts';
import { DEFAULT_BACKOFF_BASE_MS, RetryOn, parseRetryOn, type RetryPolicySnap } from '../../../../http/retry-policy.ts';
import { readDataSource } from '../../../../common/data-source.ts';
import { slots } from '../../../../stats/slots.ts';
import { HcmConfig } from './config.ts';
import { createHcmFilterFactory } from './filter.ts';
import { clientCertDetailsOf, forwardClientCertOf } from './xfcc.ts';

type Obj = Record<string, any>;

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
  virtualHosts: VirtualHostSnap[];
  /** In order; each compiled by its module (registry.httpFilterFactory builds it in the worker). */
  httpFilters: CompiledExtension[];
  accessLogs: CompiledExtension[];
  /** upgrade_configs, in order. */
  upgrades: UpgradeSnap[];
  stats: HcmStats;
}

// Envoy's defaults.
const DEFAULT_ROUTE_TIMEOUT_MS = 15_000;
const DEFAULT_STREAM_IDLE_TIMEOUT_MS = 300_000;
const DEFAULT_IDLE_TIMEOUT_MS = 3_600_000;
const DEFAULT_DRAIN_TIMEOUT_MS = 5_000;
const DEFAULT_MAX_REQUEST_HEADERS_KB = 60;
const DEFAULT_MAX_HEADERS_COUNT = 100;

const HCM = 'envoy.extensions.filters.network.http_connection_manager.v3.';
const ROUTE = 'envoy.config.route.v3.';

function stringMatch(name: string, sm: Obj, invert: boolean): HeaderMatchSnap {
  const ignoreCase = sm.ignore_case === true;
  for (const kind of ['exact', 'prefix', 'suffix', 'contains'] as const) {
    if (typeof sm[kind] === 'string') {
      return { name, kind, value: ignoreCase ? sm[kind].toLowerCase() : sm[kind], ignoreCase, invert, present: false };
    }
  }
  if (sm.safe_regex) return { name, kind: 'regex', value: sm.safe_regex.regex, ignoreCase, invert, present: false };
  return { name, kind: 'exact', value: '', ignoreCase, invert, present: false };
}

function headerMatcher(h: Obj): HeaderMatchSnap {
  const name = String(h.name).toLowerCase();
  const invert = h.invert_match === true;
  if (h.string_match) return stringMatch(name, h.string_match, invert);
  if (h.present_match !== undefined) {
    return { name, kind: 'present', value: '', ignoreCase: false, invert, present: h.present_match !== false };
  }
  // Envoy: a matcher with no match specifier matches when the header is present.
  return { name, kind: 'present', value: '', ignoreCase: false, invert, present: true };
}

/** A RetryPolicy (http/retry-policy.ts); `path` is its field path. */
function retryPolicy(rp: Obj | undefined, path: string, ctx: CompileContext): RetryPolicySnap | null {
  if (rp === undefined) return null;
  const unknown: string[] = [];
  const retryOn = parseRetryOn(String(rp.retry_on ?? ''), unknown);
  if (unknown.length > 0) {
    ctx.fail(`${path}.retry_on`, `unknown or unsupported retry condition(s) ${unknown.map((u) => `"${u}"`).join(', ')} `
      + `(Legate acts on ${Object.keys(RetryOn).join(', ')})`);
  }
  const base = durationMs(rp.retry_back_off?.base_interval, DEFAULT_BACKOFF_BASE_MS);
  const max = durationMs(rp.retry_back_off?.max_interval, base * 10);
  if (max < base) {
    ctx.fail(`${path}.retry_back_off.max_interval`, 'max_interval must be greater than or equal to the base_interval');
  }
  let previousHosts = false;
  ((rp.retry_host_predicate ?? []) as Obj[]).forEach((pred, i) => {
    // (previous_hosts is the one Legate has: the router acts on it.)
    ctx.compileNested(ExtensionCategory.RetryHostPredicate, pred, `${path}.retry_host_predicate[${i}]`);
    previousHosts = true;
  });
  return {
    retryOn,
    numRetries: rp.num_retries ?? 1,
    perTryTimeoutMs: durationMs(rp.per_try_timeout, 0),
    perTryIdleTimeoutMs: durationMs(rp.per_try_idle_timeout, 0),
    backoffBaseMs: base,
    backoffMaxMs: max,
    retriableStatusCodes: (rp.retriable_status_codes ?? []) as number[],
    retriableHeaders: ((rp.retriable_headers ?? []) as Obj[]).map(headerMatcher),
    previousHosts,
    hostSelectionMaxAttempts: Number(rp.host_selection_retry_max_attempts ?? 1),
  };
}

function virtualHosts(rc: Obj | undefined, path: string, ctx: CompileContext): VirtualHostSnap[] {
  const out: VirtualHostSnap[] = [];
  ((rc?.virtual_hosts ?? []) as Obj[]).forEach((vh, v) => {
    const vpath = `${path}.virtual_hosts[${v}]`;
    const vhRetry = retryPolicy(vh.retry_policy, `${vpath}.retry_policy`, ctx);
    const attemptCount = vh.include_request_attempt_count === true;
    const routes: RouteSnap[] = [];
    ((vh.routes ?? []) as Obj[]).forEach((r, i) => {
      const m = r.match ?? {};
      const caseSensitive = m.case_sensitive !== false;
      let match: RouteSnap['match'];
      if (typeof m.path === 'string') match = { kind: 'path', value: m.path, caseSensitive };
      else if (m.safe_regex) match = { kind: 'regex', value: m.safe_regex.regex, caseSensitive };
      else match = { kind: 'prefix', value: m.prefix ?? '', caseSensitive };
      let action: RouteSnap['action'];
      if (r.direct_response) {
        const dr = r.direct_response;
        const body = dr.body === undefined ? null
          : readDataSource(dr.body, `${path}.virtual_hosts[${v}].routes[${i}].direct_response.body`, ctx.fail)
            .toString('utf8');
        action = { kind: 'direct', status: dr.status, body };
      } else {
        const ra = r.route ?? {};
        action = {
          kind: 'cluster',
          cluster: ra.cluster ?? '',
          timeoutMs: durationMs(ra.timeout, DEFAULT_ROUTE_TIMEOUT_MS),
          idleTimeoutMs: durationMs(ra.idle_timeout, 0),
          prefixRewrite: ra.prefix_rewrite ?? null,
          hostRewrite: ra.host_rewrite_literal ?? null,
          upgrades: ra.upgrade_configs === undefined ? null : upgradeConfigs(ra.upgrade_configs),
          hashPolicy: hashPolicy(ra.hash_policy),
          // A route's policy replaces its virtual host's (Envoy's).
          retryPolicy: ra.retry_policy === undefined ? vhRetry
            : retryPolicy(ra.retry_policy, `${vpath}.routes[${i}].route.retry_policy`, ctx),
          includeAttemptCount: attemptCount,
        };
      }
      routes.push({ name: r.name ?? '', match, headers: ((m.headers ?? []) as Obj[]).map(headerMatcher), action });
    });
    out.push({ name: vh.name, domains: (vh.domains ?? []).map((d: string) => d.toLowerCase()), routes });
  });
  return out;
}

/** RouteAction.hash_policy as http/hash-policy.ts evaluates it. The loader has checked the protos'
 *  rules (one specifier each, names not empty) and refused what Legate does not implement
 *  (header.regex_rewrite, filter_state). As Envoy: connection_properties without source_ip adds no
 *  method; the cookie's ttl counts in whole seconds (0: a session cookie, still generated). */
function hashPolicy(list: Obj[] | undefined): HashPolicySnap | null {
  const out: HashMethodSnap[] = [];
  for (const p of list ?? []) {
    const terminal = p.terminal === true;
    const m: HashMethodSnap = { kind: HashMethodKind.Header, terminal, name: '', generate: false, setCookieAttributes: '' };
    if (p.header) {
      // Envoy's LowerCaseString lowers ASCII letters only.
      m.name = wireText(p.header.header_name).replace(/[A-Z]+/g, (u) => u.toLowerCase());
    } else if (p.cookie) {
      const c = p.cookie;
      m.kind = HashMethodKind.Cookie;
      m.name = wireText(c.name);
      if (c.ttl !== undefined) {
        m.generate = true;
        const attributes = ((c.attributes ?? []) as Obj[]).map((a) => ({ name: a.name, value: a.value ?? '' }));
        m.setCookieAttributes = wireText(setCookieAttributes(c.path ?? '', c.ttl.seconds, true, attributes));
      }
    } else if (p.query_parameter) {
      m.kind = HashMethodKind.QueryParameter;
      m.name = wireText(p.query_parameter.name);
    } else if (p.connection_properties?.source_ip === true) {
      m.kind = HashMethodKind.SourceIp;
    } else {
      continue;
    }
    out.push(m);
  }
  return out.length === 0 ? null : out;
}

/** upgrade_configs (the HCM's or a route's): Envoy matches the type case-insensitively, and an
 *  entry is enabled unless `enabled` says otherwise. */
function upgradeConfigs(list: Obj[]): UpgradeSnap[] {
  return list.map((u) => ({ type: String(u.upgrade_type).toLowerCase(), enabled: u.enabled !== false }));
}

type HcmModule = NetworkFilterModule<HcmSnap>;

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
      'forward_client_cert_details', 'set_current_client_cert_details',
    ],
    [HCM + 'HttpConnectionManager.SetCurrentClientCertDetails']: ['subject', 'cert', 'chain', 'dns', 'uri'],
    [HCM + 'HttpConnectionManager.UpgradeConfig']: ['upgrade_type', 'enabled'],
    [ROUTE + 'RouteAction.UpgradeConfig']: ['upgrade_type', 'enabled'],
    'envoy.config.core.v3.HttpProtocolOptions': ['idle_timeout', 'max_headers_count'],
    [HCM + 'HttpFilter']: ['name', 'typed_config'],
    'envoy.config.accesslog.v3.AccessLog': ['name', 'typed_config'],
    // Routes.
    [ROUTE + 'RouteConfiguration']: ['name', 'virtual_hosts'],
    [ROUTE + 'VirtualHost']: ['name', 'domains', 'routes', 'retry_policy', 'include_request_attempt_count'],
    [ROUTE + 'RetryPolicy']: [
      'retry_on', 'num_retries', 'per_try_timeout', 'per_try_idle_timeout', 'retry_back_off', 'retriable_status_codes', 'retriable_headers',
      'retry_host_predicate', 'host_selection_retry_max_attempts',
    ],
    [ROUTE + 'RetryPolicy.RetryBackOff']: ['base_interval', 'max_interval'],
    [ROUTE + 'RetryPolicy.RetryHostPredicate']: ['name', 'typed_config'],
    [ROUTE + 'Route']: ['name', 'match', 'route', 'direct_response'],
    [ROUTE + 'RouteMatch']: ['prefix', 'path', 'safe_regex', 'headers', 'case_sensitive'],
    'envoy.type.matcher.v3.RegexMatcher': ['regex', 'google_re2'],
    'envoy.type.matcher.v3.RegexMatcher.GoogleRE2': [],
    [ROUTE + 'HeaderMatcher']: ['name', 'string_match', 'present_match', 'invert_match'],
    'envoy.type.matcher.v3.StringMatcher': ['exact', 'prefix', 'suffix', 'contains', 'safe_regex', 'ignore_case'],
    [ROUTE + 'RouteAction']: [
      'cluster', 'timeout', 'prefix_rewrite', 'host_rewrite_literal', 'idle_timeout', 'upgrade_configs',
      'hash_policy', 'retry_policy',
    ],
    // (http/hash-policy.ts. Refused: filter_state, which needs filters that store hashable state;
    // header.regex_rewrite, which needs RE2's GlobalReplace with its \N rewrite syntax and
    // empty-match rules, the piece RouteAction.regex_rewrite needs too.)
    [ROUTE + 'RouteAction.HashPolicy']: ['header', 'cookie', 'connection_properties', 'query_parameter', 'terminal'],
    [ROUTE + 'RouteAction.HashPolicy.Header']: ['header_name'],
    [ROUTE + 'RouteAction.HashPolicy.Cookie']: ['name', 'ttl', 'path', 'attributes'],
    [ROUTE + 'RouteAction.HashPolicy.CookieAttribute']: ['name', 'value'],
    [ROUTE + 'RouteAction.HashPolicy.ConnectionProperties']: ['source_ip'],
    [ROUTE + 'RouteAction.HashPolicy.QueryParameter']: ['name'],
    [ROUTE + 'DirectResponseAction']: ['status', 'body'],
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
    const httpFilters = ((h.http_filters ?? []) as Obj[])
      .map((f, i) => ctx.compileNested(ExtensionCategory.HttpFilter, f, `${ctx.path}.http_filters[${i}]`));
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
      virtualHosts: virtualHosts(h.route_config, `${ctx.path}.route_config`, ctx),
      httpFilters,
      upgrades: upgradeConfigs(h.upgrade_configs ?? []),
      accessLogs: ((h.access_log ?? []) as Obj[])
        .map((a, i) => ctx.compileNested(ExtensionCategory.AccessLogger, a, `${ctx.path}.access_log[${i}]`)),
      stats: slots(ctx.layout, `http.${statPrefix}.`, HCM_COUNTERS, HCM_GAUGES, HCM_HISTOGRAMS),
    };
  },

  createFilterFactory: (snap, ctx) => createHcmFilterFactory(new HcmConfig(snap, ctx)),
};
export default httpConnectionManager;
