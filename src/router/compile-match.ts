// The match half of a RouteConfiguration, compiled in main (router/compile.ts calls it): RouteMatch,
// HeaderMatcher, QueryParameterMatcher, StringMatcher and VirtualHost.domains, checked as Envoy
// checks them when it loads a route table. Every regex is compiled with RE2 here once, so a pattern
// RE2 refuses fails the config with its field path; workers compile them again from the snapshot
// (router/matchers.ts).
import { compileRegex, RegexError } from '../common/regex.ts';
import { ExtensionCategory, type CompileContext, type SupportedField } from '../extensions/types.ts';
import type { UriTemplateSnap } from '../extensions/path/match/uri-template/index.ts';
import type {
  HeaderMatchSnap, QueryParamMatchSnap, RouteMatchSnap, RuntimeFractionSnap, StringMatchSnap,
} from './config.ts';
import type { DenominatorType } from '../runtime/types.ts';
import { asciiLower } from './matchers.ts';

type Obj = Record<string, any>;

const ROUTE = 'envoy.config.route.v3.';

/** The match messages' fields Legate acts on. Refused (by the loader, by name): RouteMatch's
 *  dynamic_metadata, filter_state, connect_matcher; StringMatcher.custom. */
export const MATCH_FIELDS: Record<string, readonly SupportedField[]> = {
  [ROUTE + 'RouteMatch']: [
    'prefix', 'path', 'safe_regex', 'path_separated_prefix', 'path_match_policy', 'case_sensitive', 'headers',
    'query_parameters', 'grpc', 'tls_context', 'runtime_fraction',
  ],
  // (RouteMatch.runtime_fraction, RequestMirrorPolicy.runtime_fraction.)
  'envoy.config.core.v3.RuntimeFractionalPercent': ['default_value', 'runtime_key'],
  'envoy.type.v3.FractionalPercent': ['numerator', 'denominator'],
  [ROUTE + 'RouteMatch.GrpcRouteMatchOptions']: [],
  [ROUTE + 'RouteMatch.TlsContextMatchOptions']: ['presented', 'validated'],
  'envoy.config.core.v3.TypedExtensionConfig': ['name', 'typed_config'],
  'envoy.type.matcher.v3.RegexMatcher': ['regex', 'google_re2'],
  'envoy.type.matcher.v3.RegexMatcher.GoogleRE2': [],
  // (exact_match ... contains_match and safe_regex_match are deprecated in v3; Envoy still acts on
  // them, and so does Legate.)
  [ROUTE + 'HeaderMatcher']: [
    'name', 'string_match', 'present_match', 'range_match', 'invert_match', 'treat_missing_header_as_empty',
    'exact_match', 'safe_regex_match', 'prefix_match', 'suffix_match', 'contains_match',
  ],
  'envoy.type.v3.Int64Range': ['start', 'end'],
  [ROUTE + 'QueryParameterMatcher']: ['name', 'string_match', 'present_match'],
  'envoy.type.matcher.v3.StringMatcher': ['exact', 'prefix', 'suffix', 'contains', 'safe_regex', 'ignore_case'],
};

/** What the matcher compilers need of a CompileContext (an access log filter has only this). */
type FailContext = Pick<CompileContext, 'fail'>;

/** An RE2 pattern checked now; `path` is the RegexMatcher's. */
function regex(rm: Obj, path: string, ctx: FailContext): string {
  const pattern = String(rm.regex ?? '');
  try {
    compileRegex(pattern);
  } catch (e) {
    if (e instanceof RegexError) ctx.fail(`${path}.regex`, e.message);
    throw e;
  }
  return pattern;
}

/** A StringMatcher; `path` is its field path. */
export function stringMatcher(sm: Obj, path: string, ctx: FailContext): StringMatchSnap {
  const ignoreCase = sm.ignore_case === true;
  for (const kind of ['exact', 'prefix', 'suffix', 'contains'] as const) {
    if (typeof sm[kind] === 'string') return { kind, value: ignoreCase ? asciiLower(sm[kind]) : sm[kind], ignoreCase };
  }
  if (sm.safe_regex !== undefined) {
    if (ignoreCase) ctx.fail(`${path}.ignore_case`, 'ignore_case has no effect for safe_regex.');
    return { kind: 'regex', value: regex(sm.safe_regex, `${path}.safe_regex`, ctx), ignoreCase: false };
  }
  // (The loader refuses a StringMatcher with no pattern, as its proto requires one.)
  return { kind: 'exact', value: '', ignoreCase };
}

/** A HeaderMatcher (route headers, retriable_headers); `path` is its field path. */
export function headerMatcher(h: Obj, path: string, ctx: FailContext): HeaderMatchSnap {
  const out: HeaderMatchSnap = {
    name: asciiLower(String(h.name)), kind: 'present', value: '', ignoreCase: false, invert: h.invert_match === true,
    present: true, rangeStart: '', rangeEnd: '', treatMissingAsEmpty: h.treat_missing_header_as_empty === true,
  };
  const deprecated: [string, StringMatchSnap['kind']][] = [
    ['exact_match', 'exact'], ['prefix_match', 'prefix'], ['suffix_match', 'suffix'], ['contains_match', 'contains'],
  ];
  let sm: StringMatchSnap | null = null;
  if (h.string_match !== undefined) sm = stringMatcher(h.string_match, `${path}.string_match`, ctx);
  else if (h.safe_regex_match !== undefined) {
    sm = { kind: 'regex', value: regex(h.safe_regex_match, `${path}.safe_regex_match`, ctx), ignoreCase: false };
  } else {
    for (const [field, kind] of deprecated) if (typeof h[field] === 'string') sm = { kind, value: h[field], ignoreCase: false };
  }
  if (sm !== null) {
    out.present = false;
    out.kind = sm.kind;
    out.value = sm.value;
    out.ignoreCase = sm.ignoreCase;
  } else if (h.range_match !== undefined) {
    out.kind = 'range';
    out.present = false;
    out.rangeStart = String(BigInt(h.range_match.start ?? 0));
    out.rangeEnd = String(BigInt(h.range_match.end ?? 0));
  } else if (h.present_match !== undefined) {
    out.present = h.present_match === true;
  }
  // (No specifier: Envoy matches when the header is present.)
  return out;
}

function queryParameter(p: Obj, path: string, ctx: FailContext): QueryParamMatchSnap {
  return {
    name: String(p.name),
    match: p.string_match === undefined ? null : stringMatcher(p.string_match, `${path}.string_match`, ctx),
    present: p.present_match === undefined ? null : p.present_match === true,
  };
}

/** A RouteMatch but its headers; `path` is its field path. */
export function compileRouteMatch(m: Obj, path: string, ctx: CompileContext): RouteMatchSnap {
  const caseSensitive = m.case_sensitive !== false;
  let out: RouteMatchSnap;
  if (typeof m.path === 'string') out = { kind: 'path', value: m.path, caseSensitive };
  else if (m.safe_regex !== undefined) out = { kind: 'regex', value: regex(m.safe_regex, `${path}.safe_regex`, ctx), caseSensitive };
  else if (typeof m.path_separated_prefix === 'string') out = { kind: 'separated', value: m.path_separated_prefix, caseSensitive };
  else if (m.path_match_policy !== undefined) out = pathMatchPolicy(m.path_match_policy, `${path}.path_match_policy`, ctx, caseSensitive);
  else out = { kind: 'prefix', value: m.prefix ?? '', caseSensitive };
  out.queryParameters = ((m.query_parameters ?? []) as Obj[])
    .map((p, j) => queryParameter(p, `${path}.query_parameters[${j}]`, ctx));
  out.grpc = m.grpc !== undefined;
  out.tlsPresented = m.tls_context?.presented ?? null;
  out.tlsValidated = m.tls_context?.validated ?? null;
  out.runtimeFraction = m.runtime_fraction === undefined ? null : runtimeFraction(m.runtime_fraction);
  return out;
}

/** A RuntimeFractionalPercent (its default_value is required: the loader has checked that, and
 *  the denominator's enum name). */
export function runtimeFraction(rf: Obj): RuntimeFractionSnap {
  const d = rf.default_value ?? {};
  return {
    runtimeKey: String(rf.runtime_key ?? ''),
    defaultValue: { numerator: Number(d.numerator ?? 0), denominator: (d.denominator ?? 'HUNDRED') as DenominatorType },
  };
}

function pathMatchPolicy(p: Obj, path: string, ctx: CompileContext, caseSensitive: boolean): RouteMatchSnap {
  // (The loader has refused any other extension here; the module checks the template.)
  const c = ctx.compileNested(ExtensionCategory.PathMatch, p, path).config as UriTemplateSnap;
  return { kind: 'template', value: c.template, regex: c.regex, caseSensitive };
}

/** VirtualHost.domains across the route table, as Envoy's RouteMatcher refuses them: one `*` in
 *  all, and no domain twice (compared lowercase). */
export function checkDomains(rc: Obj | undefined, path: string, ctx: CompileContext): void {
  const seen = new Set<string>();
  let star = false;
  const name = rc?.name ?? '';
  ((rc?.virtual_hosts ?? []) as Obj[]).forEach((vh, v) => {
    ((vh.domains ?? []) as string[]).forEach((d, j) => {
      const domain = asciiLower(d);
      const at = `${path}.virtual_hosts[${v}].domains[${j}]`;
      if (domain === '*') {
        if (star) ctx.fail(at, `Only a single wildcard domain is permitted in route ${name}`);
        star = true;
        return;
      }
      // (Exact, suffix and prefix domains live in separate tables: `*.a` and `*.a` collide, `a*`
      // and `*a` do not.)
      const key = domain.startsWith('*') ? `s${domain}` : domain.endsWith('*') ? `p${domain}` : `e${domain}`;
      if (seen.has(key)) {
        ctx.fail(at, `Only unique values for domains are permitted. Duplicate entry of domain ${domain} in route ${name}`);
      }
      seen.add(key);
    });
  });
}
