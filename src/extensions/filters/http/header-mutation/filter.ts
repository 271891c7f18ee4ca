// envoy.filters.http.header_mutation: applies the compiled request mutations to the request head
// and the response mutations to the response head, one after the other, each seeing what the ones
// before it did (Envoy's Http::HeaderMutations). A value is a substitution format string, formatted
// as the router's custom headers are (router/header-parser.ts): against the request head, the
// response head on the response side, and the stream.
import type { FormatPiece } from '../../../../formatter/substitution-formatter.ts';
import {
  withDownstreamAddresses, type HeaderMap, type RequestHeaders, type ResponseHeaders,
} from '../../../../http/types.ts';
import {
  FilterHeadersStatus, type StreamDecoderFilter,
  type StreamDecoderFilterCallbacks, type StreamEncoderFilter, type StreamFilterCallbacks,
} from '../../../../http/filter.ts';
import { formatContext, headerValue, type HeaderValue } from '../../../../router/header-parser.ts';
import { PassThroughFilter } from '../../../../http/pass-through-filter.ts';

/** What a mutation does (HeaderValueOption.HeaderAppendAction, plus remove). */
export const MutationOp = {
  Remove: 0,
  AppendIfExistsOrAdd: 1,
  AddIfAbsent: 2,
  OverwriteIfExistsOrAdd: 3,
  OverwriteIfExists: 4,
} as const;
export type MutationOp = (typeof MutationOp)[keyof typeof MutationOp];

/** One mutation as compiled in main: `name` is lowercase; `value` the parsed format (empty for a
 *  removal); `keepEmpty`: a value that formats to '' is still set. */
export interface Mutation {
  op: MutationOp;
  name: string;
  value: FormatPiece[];
  keepEmpty: boolean;
}

/** A mutation as a worker applies it. */
interface CompiledMutation extends HeaderValue {
  op: MutationOp;
  name: string;
  keepEmpty: boolean;
}

/** One side's mutations on a worker; `formats`: whether any value needs the stream. */
export class Mutations {
  readonly list: readonly CompiledMutation[];
  readonly formats: boolean;
  constructor(snaps: readonly Mutation[]) {
    this.list = snaps.map((m) => ({ ...headerValue(m.value), op: m.op, name: m.name, keepEmpty: m.keepEmpty }));
    this.formats = this.list.some((m) => m.formatter !== null);
  }

  /** Apply to `h`; `cb`: the stream, needed only when a value formats. */
  apply(h: HeaderMap, cb: StreamFilterCallbacks | null, resp: ResponseHeaders | null): void {
    const list = this.list;
    const c = this.formats ? formatContext(cb!.requestHeaders, resp, withDownstreamAddresses(cb!.streamInfo)) : null;
    for (let i = 0; i < list.length; i++) {
      const m = list[i];
      if (m.op === MutationOp.Remove) {
        h.remove(m.name);
        continue;
      }
      const value = m.literal ?? m.formatter!.format(c!);
      if (value === '' && !m.keepEmpty) continue;
      switch (m.op) {
        case MutationOp.AppendIfExistsOrAdd:
          // Another line with the same name; the map keeps what was added after a raw block in `list`.
          h.list.push(m.name, value);
          break;
        case MutationOp.AddIfAbsent:
          if (h.get(m.name) === undefined) h.list.push(m.name, value);
          break;
        case MutationOp.OverwriteIfExistsOrAdd:
          h.set(m.name, value);
          break;
        case MutationOp.OverwriteIfExists:
          if (h.get(m.name) !== undefined) h.set(m.name, value);
          break;
      }
    }
  }
}

/** Without a formatted value the filter keeps nothing per stream and never uses its callbacks, so
 *  one instance serves every stream of its chain (`perStream` false); with one it is made per
 *  stream to reach the stream's heads and info. */
export class HeaderMutationFilter extends PassThroughFilter implements StreamDecoderFilter, StreamEncoderFilter {
  readonly #request: Mutations;
  readonly #response: Mutations;
  #cb: StreamFilterCallbacks | null;

  constructor(request: Mutations, response: Mutations) {
    super();
    this.#request = request;
    this.#response = response;
    this.#cb = null;
  }

  setDecoderFilterCallbacks(cb: StreamDecoderFilterCallbacks): void {
    if (this.#request.formats || this.#response.formats) this.#cb = cb;
  }

  setEncoderFilterCallbacks(cb: StreamFilterCallbacks): void {
    if (this.#request.formats || this.#response.formats) this.#cb = cb;
  }

  decodeHeaders(headers: RequestHeaders, _endStream: boolean): FilterHeadersStatus {
    this.#request.apply(headers, this.#cb, null);
    return FilterHeadersStatus.Continue;
  }

  encodeHeaders(headers: ResponseHeaders, _endStream: boolean): FilterHeadersStatus {
    // %RESPONSE_CODE% is this head's status (the connection manager records it again later).
    if (this.#response.formats) this.#cb!.streamInfo.responseCode = headers.status;
    this.#response.apply(headers, this.#cb, headers);
    return FilterHeadersStatus.Continue;
  }

  onDestroy(): void {
    this.#cb = null;
  }
}
