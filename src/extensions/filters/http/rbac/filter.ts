// envoy.filters.http.rbac's per-stream filter (Envoy's RoleBasedAccessControlFilter::decodeHeaders):
// the shadow engine is evaluated and counted first, then the enforced one; a denied request gets a
// 403 `RBAC: access denied` local reply with the details `rbac_access_denied_matched_policy[<name>]`.
// The engines are the route's RBACPerRoute ones when it has one (Envoy's most specific
// per-filter config), else the filter's own; no enforced engine allows.
//
// Dynamic metadata, as Envoy's: the shadow engine's result under `envoy.filters.http.rbac`
// (`<shadow_rules_stat_prefix>shadow_engine_result`: allowed / denied, and
// `<shadow_rules_stat_prefix>shadow_effective_policy_id` when a policy matched); an engine with the
// LOG action sets `envoy.common` `access_log_hint` (whether a policy matched).
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
  /** shadow_rules_stat_prefix: what the shadow metadata keys start with. */
  shadowPrefix: string;
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
      shadowPrefix: s.shadowPrefix,
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
    if (engines.shadow !== null) {
      const e = engines.shadow;
      const policy = e.matchedPolicy(input);
      const allowed = e.allowed(policy);
      if (allowed) v[s.shadowAllowed]++;
      else v[s.shadowDenied]++;
      const md = metadataOf(cb, RBAC_NAMESPACE);
      const prefix = engines.shadowPrefix;
      if (policy !== null) md[`${prefix}shadow_effective_policy_id`] = policy;
      md[`${prefix}shadow_engine_result`] = allowed ? 'allowed' : 'denied';
      if (e.action === RbacAction.Log) metadataOf(cb, COMMON_NAMESPACE).access_log_hint = policy !== null;
    }
    const e = engines.enforced;
    if (e === null) return FilterHeadersStatus.Continue;
    const policy = e.matchedPolicy(input);
    if (e.action === RbacAction.Log) metadataOf(cb, COMMON_NAMESPACE).access_log_hint = policy !== null;
    if (e.allowed(policy)) {
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
