// envoy.filters.http.rbac (envoy.extensions.filters.http.rbac.v3.RBAC): allows or denies a request
// by Envoy's RBAC policies (engine.ts) on its headers, path and connection; `shadow_rules` are
// evaluated and counted only. A route's RBACPerRoute (typed_per_filter_config) replaces both rule
// sets for that route; an RBACPerRoute without `rbac.rules` turns enforcement off there.
//
// Refused by name (the field table): the unified matcher API (`matcher`, `shadow_matcher`,
// Permission.matcher), CEL (`Policy.condition`, `checked_condition`), `audit_logging_options`,
// `track_per_rule_stats`, and the matchers on state Legate does not keep (`metadata`,
// `filter_state`) or has no RBAC form for (`uri_template`).
import { Buffer } from 'node:buffer';
import { ExtensionCategory, type CompileContext, type HttpFilterModule } from '../../../types.ts';
import { parseCidr } from '../../../../common/cidr.ts';
import { headerMatcher, stringMatcher } from '../../../../router/compile-match.ts';
import { Engine, RbacAction, type EngineSnap, type PolicySnap, type RuleSnap } from './engine.ts';
import { RbacFilter, metadataKeys, type RbacPerRouteSnap, type RbacShared } from './filter.ts';

type Obj = Record<string, any>;

const PKG = 'envoy.extensions.filters.http.rbac.v3.';
const TYPE = PKG + 'RBAC';
const PER_ROUTE = PKG + 'RBACPerRoute';
const CFG = 'envoy.config.rbac.v3.';

interface RbacSnap extends RbacPerRouteSnap {
  configName: string;
  stats: { allowed: number; denied: number; shadowAllowed: number; shadowDenied: number };
}

/** Envoy's statPrefixJoin: `prefix` and `token` joined by one dot. */
function statJoin(prefix: string, token: string): string {
  if (prefix === '') return token;
  return prefix.endsWith('.') ? prefix + token : `${prefix}.${token}`;
}

const ACTIONS: Readonly<Record<string, RbacAction>> = { ALLOW: RbacAction.Allow, DENY: RbacAction.Deny, LOG: RbacAction.Log };

function cidr(r: Obj, path: string, ctx: CompileContext): { cidr: string } {
  const address = String(r.address_prefix ?? '');
  const len = r.prefix_len ?? 0;
  const c = parseCidr(address, len);
  if (typeof c === 'string') ctx.fail(path, c);
  return { cidr: `${address}/${len}` };
}

/** A Permission (`principal` false) or a Principal; `path` is its field path. */
function rule(r: Obj, path: string, principal: boolean, ctx: CompileContext): RuleSnap {
  // A Permission.Set (`rules`) or Principal.Set (`ids`) under `field`.
  const set = (field: string): RuleSnap[] => {
    const item = principal ? 'ids' : 'rules';
    return ((r[field][item] ?? []) as Obj[]).map((x, i) => rule(x, `${path}.${field}.${item}[${i}]`, principal, ctx));
  };
  if (r.any === true) return { k: 'any' };
  for (const f of principal ? ['and_ids', 'or_ids'] : ['and_rules', 'or_rules']) {
    if (r[f] !== undefined) return { k: f.startsWith('and') ? 'and' : 'or', of: set(f) };
  }
  if (r.not_rule !== undefined) return { k: 'not', of: rule(r.not_rule, `${path}.not_rule`, principal, ctx) };
  if (r.not_id !== undefined) return { k: 'not', of: rule(r.not_id, `${path}.not_id`, principal, ctx) };
  if (r.header !== undefined) return { k: 'header', header: headerMatcher(r.header, `${path}.header`, ctx) };
  if (r.url_path !== undefined) return { k: 'url_path', match: stringMatcher(r.url_path.path ?? {}, `${path}.url_path.path`, ctx) };
  if (r.requested_server_name !== undefined) {
    return { k: 'requested_server_name', match: stringMatcher(r.requested_server_name, `${path}.requested_server_name`, ctx) };
  }
  for (const k of ['destination_ip', 'source_ip', 'direct_remote_ip', 'remote_ip'] as const) {
    if (r[k] !== undefined) return { k, range: cidr(r[k], `${path}.${k}`, ctx) };
  }
  if (r.destination_port !== undefined) return { k: 'destination_port', port: Number(r.destination_port) };
  if (r.destination_port_range !== undefined) {
    // Envoy's PortRangeMatcher checks.
    const start = Number(r.destination_port_range.start ?? 0);
    const end = Number(r.destination_port_range.end ?? 0);
    const p = `${path}.destination_port_range`;
    if (start < 0 || start > 65536) ctx.fail(p, `range start ${start} is out of bounds`);
    if (end < 0 || end > 65536) ctx.fail(p, `range end ${end} is out of bounds`);
    if (start >= end) ctx.fail(p, `range start ${start} cannot be greater or equal than range end ${end}`);
    return { k: 'destination_port_range', start, end };
  }
  if (r.authenticated !== undefined) {
    const pn = r.authenticated.principal_name;
    return { k: 'authenticated', match: pn === undefined ? null : stringMatcher(pn, `${path}.authenticated.principal_name`, ctx) };
  }
  // (The loader refuses an unset oneof, `any: false` and the cases Legate does not list.)
  return ctx.fail(path, `${principal ? 'principal' : 'permission'} has no rule Legate acts on`);
}

/** An envoy.config.rbac.v3.RBAC; `path` is its field path. */
function engine(rbac: Obj | undefined, path: string, ctx: CompileContext): EngineSnap | null {
  if (rbac === undefined) return null;
  const policies: PolicySnap[] = Object.entries((rbac.policies ?? {}) as Record<string, Obj>)
    // Envoy keeps them in a std::map: the byte order of the names' UTF-8.
    .sort(([a], [b]) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
    .map(([name, p]) => {
      const pp = `${path}.policies["${name}"]`;
      return {
        name,
        permissions: ((p.permissions ?? []) as Obj[]).map((x, i) => rule(x, `${pp}.permissions[${i}]`, false, ctx)),
        principals: ((p.principals ?? []) as Obj[]).map((x, i) => rule(x, `${pp}.principals[${i}]`, true, ctx)),
      };
    });
  return { action: ACTIONS[rbac.action ?? 'ALLOW']!, policies };
}

function engines(tc: Obj, path: string, ctx: CompileContext): RbacPerRouteSnap {
  return {
    enforced: engine(tc.rules, `${path}.rules`, ctx), shadow: engine(tc.shadow_rules, `${path}.shadow_rules`, ctx),
    rulesPrefix: String(tc.rules_stat_prefix ?? ''),
    shadowPrefix: String(tc.shadow_rules_stat_prefix ?? ''),
  };
}

const RULE_FIELDS = [
  'and_rules', 'or_rules', 'any', 'header', 'url_path', 'destination_ip', 'destination_port', 'destination_port_range',
  'not_rule', 'requested_server_name',
];
const ID_FIELDS = [
  'and_ids', 'or_ids', 'any', 'authenticated', 'source_ip', 'direct_remote_ip', 'remote_ip', 'header', 'url_path', 'not_id',
];

const rbac: HttpFilterModule<RbacSnap> = {
  name: 'envoy.filters.http.rbac',
  category: ExtensionCategory.HttpFilter,
  types: [TYPE],
  fields: {
    [TYPE]: ['rules', 'rules_stat_prefix', 'shadow_rules', 'shadow_rules_stat_prefix'],
    [PER_ROUTE]: ['rbac'],
    [CFG + 'RBAC']: ['action', 'policies'],
    [CFG + 'Policy']: ['permissions', 'principals'],
    [CFG + 'Permission']: RULE_FIELDS,
    [CFG + 'Permission.Set']: ['rules'],
    [CFG + 'Principal']: ID_FIELDS,
    [CFG + 'Principal.Set']: ['ids'],
    [CFG + 'Principal.Authenticated']: ['principal_name'],
    'envoy.config.core.v3.CidrRange': ['address_prefix', 'prefix_len'],
    'envoy.type.matcher.v3.PathMatcher': ['path'],
    'envoy.type.v3.Int32Range': ['start', 'end'],
    // (router/compile-match.ts compiles these, as for routes.)
    'envoy.config.route.v3.HeaderMatcher': [
      'name', 'string_match', 'present_match', 'range_match', 'invert_match', 'treat_missing_header_as_empty',
      'exact_match', 'safe_regex_match', 'prefix_match', 'suffix_match', 'contains_match',
    ],
    'envoy.type.v3.Int64Range': ['start', 'end'],
    'envoy.type.matcher.v3.StringMatcher': ['exact', 'prefix', 'suffix', 'contains', 'safe_regex', 'ignore_case'],
    'envoy.type.matcher.v3.RegexMatcher': ['regex', 'google_re2'],
    'envoy.type.matcher.v3.RegexMatcher.GoogleRE2': [],
  },
  protos: ['envoy/extensions/filters/http/rbac/v3/rbac.proto'],
  compile(tc, ctx) {
    const e = engines(tc, ctx.path, ctx);
    // <scope>rbac.<rules_stat_prefix>.allowed (Envoy's generateStats: statPrefixJoin at each step).
    const base = statJoin(ctx.scope, 'rbac.');
    const rulesPrefix = statJoin(base, String(tc.rules_stat_prefix ?? ''));
    const shadowPrefix = statJoin(base, String(tc.shadow_rules_stat_prefix ?? ''));
    const c = (prefix: string, name: string): number => ctx.layout.counter(statJoin(prefix, name));
    return {
      ...e,
      configName: ctx.configName ?? 'envoy.filters.http.rbac',
      stats: {
        allowed: c(rulesPrefix, 'allowed'), denied: c(rulesPrefix, 'denied'),
        shadowAllowed: c(shadowPrefix, 'shadow_allowed'), shadowDenied: c(shadowPrefix, 'shadow_denied'),
      },
    };
  },
  perRoute: {
    types: [PER_ROUTE],
    compile(tc, ctx): RbacPerRouteSnap {
      // A route's rules_stat_prefix / shadow_rules_stat_prefix name only its dynamic metadata keys
      // (the filter's own stats count).
      return engines(tc.rbac ?? {}, `${ctx.path}.rbac`, ctx);
    },
  },
  createFilterFactory(snap, ctx) {
    const shared: RbacShared = {
      enforced: snap.enforced === null ? null : new Engine(snap.enforced),
      shadow: snap.shadow === null ? null : new Engine(snap.shadow),
      keys: metadataKeys(snap.rulesPrefix, snap.shadowPrefix),
      configName: snap.configName,
      stats: ctx.stats,
      ...snap.stats,
    };
    return (cb) => cb.addStreamDecoderFilter(new RbacFilter(shared));
  },
};
export default rbac;
