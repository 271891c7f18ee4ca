// envoy.filters.http.header_mutation (envoy.extensions.filters.http.header_mutation.v3.HeaderMutation):
// adds, overwrites and removes request and response headers (filter.ts). Legate implements
// `mutations.request_mutations` / `response_mutations` with `append` (a HeaderValueOption: key,
// value, append_action, keep_empty_value) and `remove`; the field table refuses the rest by name.
// Values are substitution format strings (%REQ(...)%, %DOWNSTREAM_REMOTE_ADDRESS%, ...), parsed
// here and formatted per stream as the route's custom headers are.
import { parseFormat } from '../../../../formatter/substitution-formatter.ts';
import { ExtensionCategory, type CompileContext, type HttpFilterModule } from '../../../types.ts';
import { HeaderMutationFilter, MutationOp, Mutations, type Mutation } from './filter.ts';

type Obj = Record<string, any>;

const TYPE = 'envoy.extensions.filters.http.header_mutation.v3.HeaderMutation';

interface HeaderMutationSnap {
  request: Mutation[];
  response: Mutation[];
}

const ACTIONS: Readonly<Record<string, MutationOp>> = {
  APPEND_IF_EXISTS_OR_ADD: MutationOp.AppendIfExistsOrAdd,
  ADD_IF_ABSENT: MutationOp.AddIfAbsent,
  OVERWRITE_IF_EXISTS_OR_ADD: MutationOp.OverwriteIfExistsOrAdd,
  OVERWRITE_IF_EXISTS: MutationOp.OverwriteIfExists,
};

// RFC 9110 5.1: a field name is a token.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;
// Names the codec and the connection manager own: pseudo-headers live outside the header list
// (:authority is also Host), and framing / connection-management headers are derived per hop.
const RESERVED = new Set(['host', 'content-length', 'transfer-encoding', 'connection', 'upgrade', 'keep-alive', 'te']);

function headerName(raw: string, path: string, ctx: CompileContext): string {
  const name = raw.toLowerCase();
  if (name.startsWith(':') || RESERVED.has(name)) {
    ctx.fail(path, `header "${raw}" cannot be mutated by Legate's header_mutation (pseudo-headers, host and `
      + 'framing headers are set by the connection manager and the codec)');
  }
  if (!TOKEN.test(name)) ctx.fail(path, `"${raw}" is not a valid HTTP header name`);
  return name;
}

function compileList(list: Obj[] | undefined, path: string, ctx: CompileContext): Mutation[] {
  const out: Mutation[] = [];
  (list ?? []).forEach((m, i) => {
    const p = `${path}[${i}]`;
    if (typeof m.remove === 'string') {
      out.push({ op: MutationOp.Remove, name: headerName(m.remove, `${p}.remove`, ctx), value: [], keepEmpty: false });
      return;
    }
    const a: Obj = m.append ?? {};
    const name = headerName(a.header?.key ?? '', `${p}.append.header.key`, ctx);
    const value = parseFormat(String(a.header?.value ?? ''), `${p}.append.header.value`, ctx.fail);
    const keepEmpty = a.keep_empty_value === true;
    // Envoy: a value that is (or formats to) '' is skipped unless keep_empty_value.
    if (value.length === 0 && !keepEmpty) return;
    // The deprecated `append` (HeaderValueOption is shared with the route's custom headers, whose
    // field table accepts it): true appends, false overwrites, never with append_action.
    let op = ACTIONS[a.append_action ?? 'APPEND_IF_EXISTS_OR_ADD']!;
    if (a.append !== undefined && a.append !== null) {
      if (op !== MutationOp.AppendIfExistsOrAdd) ctx.fail(`${p}.append`, "Both append and append_action are set and it's not allowed");
      op = a.append === false ? MutationOp.OverwriteIfExistsOrAdd : MutationOp.AppendIfExistsOrAdd;
    }
    out.push({ op, name, value, keepEmpty });
  });
  return out;
}

const headerMutation: HttpFilterModule<HeaderMutationSnap> = {
  name: 'envoy.filters.http.header_mutation',
  category: ExtensionCategory.HttpFilter,
  types: [TYPE],
  fields: {
    [TYPE]: ['mutations'],
    'envoy.extensions.filters.http.header_mutation.v3.Mutations': ['request_mutations', 'response_mutations'],
    'envoy.config.common.mutation_rules.v3.HeaderMutation': ['remove', 'append'],
    'envoy.config.core.v3.HeaderValueOption': ['header', 'append_action', 'keep_empty_value'],
    'envoy.config.core.v3.HeaderValue': ['key', 'value'],
  },
  protos: ['envoy/extensions/filters/http/header_mutation/v3/header_mutation.proto'],
  compile(tc, ctx) {
    const m: Obj = tc.mutations ?? {};
    return {
      request: compileList(m.request_mutations, `${ctx.path}.mutations.request_mutations`, ctx),
      response: compileList(m.response_mutations, `${ctx.path}.mutations.response_mutations`, ctx),
    };
  },
  createFilterFactory(snap) {
    const request = new Mutations(snap.request);
    const response = new Mutations(snap.response);
    // One instance for every stream unless a value formats (see HeaderMutationFilter).
    const shared = request.formats || response.formats ? null : new HeaderMutationFilter(request, response);
    const make = (): HeaderMutationFilter => shared ?? new HeaderMutationFilter(request, response);
    // A side with no mutation is not added: it costs the stream nothing.
    if (snap.request.length > 0 && snap.response.length > 0) return (cb) => cb.addStreamFilter(make());
    if (snap.request.length > 0) return (cb) => cb.addStreamDecoderFilter(make());
    if (snap.response.length > 0) return (cb) => cb.addStreamEncoderFilter(make());
    return () => {};
  },
};
export default headerMutation;
