// envoy.filters.http.rbac's per-stream filter (Envoy's RoleBasedAccessControlFilter::decodeHeaders):
// the shadow engine is evaluated and counted first, then the enforced one; a denied request gets a
// 403 `RBAC: access denied` local reply with the details `rbac_access_denied_matched_policy[<name>]`.
// The engines are the route's RBACPerRoute ones when it has one (Envoy's most specific
// per-filter config), else the filter's own; no enforced engine allows.
//
// Dynamic metadata, as Envoy's: each engine's result under `envoy.filters.http.rbac`
// (`<shadow_rules_stat_prefix>shadow_engine_result` / `<rules_stat_prefix>enforced_engine_result`:
// allowed / denied, and `..._effective_policy_id` when a policy matched; the prefixes are the
// route's when its RBACPerRoute gives the engines); an engine with the LOG action sets
// `envoy.common` `access_log_hint` (whether a policy matched).
import type { StatSink } from '../../../../common/stat-sink.ts';
import type { RequestHeaders } from '../../../../http/types.ts';
import {
  FilterHeadersStatus, type StreamDecoderFilter, type StreamDecoderFilterCallbacks,
} from '../../../../http/filter.ts';
import { Engine, RbacAction, RbacInput, type EngineSnap } from './engine.ts';
import { PassThroughFilter } from '../../../../http/pass-through-filter.ts';

/** The engines of one RBAC message pair (the filter's rules / shadow_rules, or a route's). */
export interface Engines {
  enforced: Engine | null;
  shadow: Engine | null;
  /** The engines' dynamic metadata keys (rules_stat_prefix / shadow_rules_stat_prefix + the name). */
  keys: MetadataKeys;
}

export interface MetadataKeys {
  enforcedResult: string;
  enforcedPolicy: string;
  shadowResult: string;
  shadowPolicy: string;
}

/** The metadata keys of one RBAC message's prefixes (made once per config, not per request). */
export function metadataKeys(rulesPrefix: string, shadowPrefix: string): MetadataKeys {
  return {
    enforcedResult: `${rulesPrefix}enforced_engine_result`, enforcedPolicy: `${rulesPrefix}enforced_effective_policy_id`,
    shadowResult: `${shadowPrefix}shadow_engine_result`, shadowPolicy: `${shadowPrefix}shadow_effective_policy_id`,
  };
}

/** Compiled engines and what the filter counts (stat slots, -1: not counted). */
export interface RbacShared extends Engines {
  /** The typed_per_filter_config key of this filter (its http_filters name). */
  configName: string;
  stats: StatSink;
  allowed: number;
  denied: number;
  shadowAllowed: number;
  shadowDenied: number;
}

/** The engines of an RBACPerRoute, as compiled (RBACPerRoute.rbac's rules / shadow_rules). */
export interface RbacPerRouteSnap {
  enforced: EngineSnap | null;
  shadow: EngineSnap | null;
  rulesPrefix: string;
  shadowPrefix: string;
}

// A route's engines, built on first use in this worker and kept with its snapshot (which lives as
// long as its config).
const perRoute = new WeakMap<object, Engines>();

function routeEngines(s: RbacPerRouteSnap): Engines {
  let e = perRoute.get(s);
  if (e === undefined) {
    e = {
      enforced: s.enforced === null ? null : new Engine(s.enforced), shadow: s.shadow === null ? null : new Engine(s.shadow),
      keys: metadataKeys(s.rulesPrefix, s.shadowPrefix),
    };
    perRoute.set(s, e);
  }
  return e;
}

const RBAC_NAMESPACE = 'envoy.filters.http.rbac';
const COMMON_NAMESPACE = 'envoy.common';

/** The stream's dynamic metadata namespace `ns`, made when absent (Envoy's setDynamicMetadata
 *  merges into it). */
function metadataOf(cb: StreamDecoderFilterCallbacks, ns: string): Record<string, unknown> {
  const md = (cb.streamInfo.dynamicMetadata ??= {});
  return (md[ns] ??= {});
}

/** An engine's result in the stream's dynamic metadata (and a LOG engine's access log hint). */
function record(cb: StreamDecoderFilterCallbacks, e: Engine, policy: string | null, allowed: boolean,
  resultKey: string, policyKey: string): void {
  const md = metadataOf(cb, RBAC_NAMESPACE);
  if (policy !== null) md[policyKey] = policy;
  md[resultKey] = allowed ? 'allowed' : 'denied';
  if (e.action === RbacAction.Log) metadataOf(cb, COMMON_NAMESPACE).access_log_hint = policy !== null;
}

/** Envoy's Filters::Common::RBAC::responseDetail: whitespace in the policy name becomes '_'. */
function deniedDetails(policy: string | null): string {
  return `rbac_access_denied_matched_policy[${policy === null ? 'none' : policy.replace(/\s/g, '_')}]`;
}

export class RbacFilter extends PassThroughFilter implements StreamDecoderFilter {
  readonly #shared: RbacShared;
  #cb: StreamDecoderFilterCallbacks | null;

  constructor(shared: RbacShared) {
    super();
    this.#shared = shared;
    this.#cb = null;
  }

  setDecoderFilterCallbacks(cb: StreamDecoderFilterCallbacks): void {
    this.#cb = cb;
  }

  decodeHeaders(headers: RequestHeaders, _endStream: boolean): FilterHeadersStatus {
    const s = this.#shared;
    const cb = this.#cb!;
    const route = cb.perFilterConfig(s.configName) as RbacPerRouteSnap | null;
    const engines: Engines = route === null ? s : routeEngines(route);
    if (engines.shadow === null && engines.enforced === null) return FilterHeadersStatus.Continue;
    const input = new RbacInput(headers, cb);
    const v = s.stats.v;
    const keys = engines.keys;
    if (engines.shadow !== null) {
      const e = engines.shadow;
      const policy = e.matchedPolicy(input);
      const allowed = e.allowed(policy);
      if (allowed) v[s.shadowAllowed]++;
      else v[s.shadowDenied]++;
      record(cb, e, policy, allowed, keys.shadowResult, keys.shadowPolicy);
    }
    const e = engines.enforced;
    if (e === null) return FilterHeadersStatus.Continue;
    const policy = e.matchedPolicy(input);
    const allowed = e.allowed(policy);
    record(cb, e, policy, allowed, keys.enforcedResult, keys.enforcedPolicy);
    if (allowed) {
      v[s.allowed]++;
      return FilterHeadersStatus.Continue;
    }
    v[s.denied]++;
    cb.sendLocalReply(403, 'RBAC: access denied', '', deniedDetails(policy));
    return FilterHeadersStatus.StopIteration;
  }

  onDestroy(): void {
    this.#cb = null;
  }
}
