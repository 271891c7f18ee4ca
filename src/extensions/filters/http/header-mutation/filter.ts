// envoy.filters.http.header_mutation: applies the compiled request mutations to the request head
// and the response mutations to the response head, in order (Envoy's Http::HeaderMutations).
import type { HeaderMap, RequestHeaders, ResponseHeaders } from '../../../../http/types.ts';
import {
  FilterDataStatus, FilterHeadersStatus, FilterTrailersStatus, type StreamDecoderFilter, type StreamEncoderFilter,
} from '../../../../http/filter.ts';

/** What a mutation does (HeaderValueOption.HeaderAppendAction, plus remove). */
export const MutationOp = {
  Remove: 0,
  AppendIfExistsOrAdd: 1,
  AddIfAbsent: 2,
  OverwriteIfExistsOrAdd: 3,
  OverwriteIfExists: 4,
} as const;
export type MutationOp = (typeof MutationOp)[keyof typeof MutationOp];

/** One mutation: `name` is lowercase; `value` is used as configured (never trimmed). */
export interface Mutation {
  op: MutationOp;
  name: string;
  value: string;
}

export function applyMutations(h: HeaderMap, mutations: readonly Mutation[]): void {
  for (let i = 0; i < mutations.length; i++) {
    const m = mutations[i];
    switch (m.op) {
      case MutationOp.Remove:
        h.remove(m.name);
        break;
      case MutationOp.AppendIfExistsOrAdd:
        // Another line with the same name; the map keeps what was added after a raw block in `list`.
        h.list.push(m.name, m.value);
        break;
      case MutationOp.AddIfAbsent:
        if (h.get(m.name) === undefined) h.list.push(m.name, m.value);
        break;
      case MutationOp.OverwriteIfExistsOrAdd:
        h.set(m.name, m.value);
        break;
      case MutationOp.OverwriteIfExists:
        if (h.get(m.name) !== undefined) h.set(m.name, m.value);
        break;
    }
  }
}

/** Holds no per-stream state and never uses its callbacks, so one instance serves every stream of
 *  its filter chain. */
export class HeaderMutationFilter implements StreamDecoderFilter, StreamEncoderFilter {
  readonly #request: readonly Mutation[];
  readonly #response: readonly Mutation[];

  constructor(request: readonly Mutation[], response: readonly Mutation[]) {
    this.#request = request;
    this.#response = response;
  }

  setDecoderFilterCallbacks(): void {}
  setEncoderFilterCallbacks(): void {}

  decodeHeaders(headers: RequestHeaders, _endStream: boolean): FilterHeadersStatus {
    applyMutations(headers, this.#request);
    return FilterHeadersStatus.Continue;
  }

  decodeData(): FilterDataStatus {
    return FilterDataStatus.Continue;
  }

  decodeTrailers(_trailers: HeaderMap): FilterTrailersStatus {
    return FilterTrailersStatus.Continue;
  }

  encodeHeaders(headers: ResponseHeaders, _endStream: boolean): FilterHeadersStatus {
    applyMutations(headers, this.#response);
    return FilterHeadersStatus.Continue;
  }

  encodeData(): FilterDataStatus {
    return FilterDataStatus.Continue;
  }

  encodeTrailers(_trailers: HeaderMap): FilterTrailersStatus {
    return FilterTrailersStatus.Continue;
  }

  onDestroy(): void {}
}
