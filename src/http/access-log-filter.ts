// Access log filters (envoy.config.accesslog.v3.AccessLogFilter), the ones that cost nothing to
// evaluate: status_code_filter, duration_filter, not_health_check_filter, header_filter,
// response_flag_filter, and_filter, or_filter. Compiled in main to plain data, evaluated on the
// worker. The others are refused by the field tables (ACCESS_LOG_FILTER_FIELDS). Used by the local
// reply mappers (http/local-reply.ts).
import type { CompileContext, SupportedField } from '../extensions/types.ts';
import { headerMatcher } from '../router/compile-match.ts';
import type { HeaderMatchSnap } from '../router/config.ts';
import { HeaderMatcher } from '../router/matchers.ts';
import type { RequestHeaders, StreamInfo } from './types.ts';

type Obj = Record<string, any>;

const LOG = 'envoy.config.accesslog.v3.';

export const ACCESS_LOG_FILTER_FIELDS: Readonly<Record<string, readonly SupportedField[]>> = {
  [LOG + 'AccessLogFilter']: [
    'status_code_filter', 'duration_filter', 'not_health_check_filter', 'header_filter', 'response_flag_filter',
    'and_filter', 'or_filter',
  ],
  [LOG + 'StatusCodeFilter']: ['comparison'],
  [LOG + 'DurationFilter']: ['comparison'],
  [LOG + 'ComparisonFilter']: ['op', 'value'],
  // (Legate has no runtime layer: runtime_key is accepted and default_value applies, as in an
  // Envoy without the key.)
  'envoy.config.core.v3.RuntimeUInt32': ['default_value', 'runtime_key'],
  [LOG + 'NotHealthCheckFilter']: [],
  [LOG + 'HeaderFilter']: ['header'],
  [LOG + 'ResponseFlagFilter']: ['flags'],
  [LOG + 'AndFilter']: ['filters'],
  [LOG + 'OrFilter']: ['filters'],
};

const Op = { EQ: 0, GE: 1, LE: 2, NE: 3 } as const;

export type AccessLogFilterSnap =
  | { kind: 'status' | 'duration'; op: number; value: number }
  | { kind: 'notHealthCheck' }
  | { kind: 'header'; match: HeaderMatchSnap }
  | { kind: 'flags'; flags: string[] }
  | { kind: 'and' | 'or'; filters: AccessLogFilterSnap[] };

function comparison(c: Obj | undefined): { op: number; value: number } {
  return { op: Op[(c?.op ?? 'EQ') as keyof typeof Op] ?? Op.EQ, value: Number(c?.value?.default_value ?? 0) };
}

export function compileAccessLogFilter(f: Obj, path: string, ctx: Pick<CompileContext, 'fail'>): AccessLogFilterSnap {
  if (f.status_code_filter) return { kind: 'status', ...comparison(f.status_code_filter.comparison) };
  if (f.duration_filter) return { kind: 'duration', ...comparison(f.duration_filter.comparison) };
  if (f.not_health_check_filter) return { kind: 'notHealthCheck' };
  if (f.header_filter) {
    return { kind: 'header', match: headerMatcher(f.header_filter.header ?? {}, `${path}.header_filter.header`, ctx) };
  }
  if (f.response_flag_filter) return { kind: 'flags', flags: (f.response_flag_filter.flags ?? []) as string[] };
  for (const kind of ['and', 'or'] as const) {
    const list = f[`${kind}_filter`]?.filters as Obj[] | undefined;
    if (list !== undefined) {
      return {
        kind, filters: list.map((x, i) => compileAccessLogFilter(x, `${path}.${kind}_filter.filters[${i}]`, ctx)),
      };
    }
  }
  return ctx.fail(path, 'an access log filter needs one of its filter_specifier fields');
}

/** What a filter is evaluated against. */
export interface FilterInput {
  info: StreamInfo;
  req: RequestHeaders | null;
  durationMs: number;
}

type Evaluator = (i: FilterInput) => boolean;

function compare(op: number, lhs: number, value: number): boolean {
  switch (op) {
    case Op.GE: return lhs >= value;
    case Op.LE: return lhs <= value;
    case Op.NE: return lhs !== value;
    default: return lhs === value;
  }
}

/** The worker-side evaluator of a compiled filter. */
export function accessLogFilter(s: AccessLogFilterSnap): Evaluator {
  switch (s.kind) {
    case 'status': return (i) => compare(s.op, i.info.responseCode, s.value);
    case 'duration': return (i) => compare(s.op, Math.floor(i.durationMs), s.value);
    // (The health_check filter marks the streams it recognises: StreamInfo.healthCheck.)
    case 'notHealthCheck': return (i) => !i.info.healthCheck;
    case 'header': {
      // (The route matcher: RE2, every HeaderMatcher rule, pseudo-headers from their fields.)
      const m = new HeaderMatcher(s.match);
      return (i) => (i.req === null ? m.matchesValue(undefined) : m.match(i.req));
    }
    case 'flags': {
      const flags = s.flags;
      // No flags listed: any flag set matches.
      if (flags.length === 0) return (i) => i.info.responseFlags !== '';
      return (i) => {
        const have = i.info.responseFlags;
        return have !== '' && have.split(',').some((f) => flags.includes(f));
      };
    }
    case 'and': {
      const all = s.filters.map(accessLogFilter);
      return (i) => all.every((f) => f(i));
    }
    case 'or': {
      const any = s.filters.map(accessLogFilter);
      return (i) => any.some((f) => f(i));
    }
  }
}

