// envoy.filters.http.set_metadata's per-stream part (Envoy's SetMetadataFilter::decodeHeaders):
// each configured entry goes into the stream's dynamic metadata under its namespace; a namespace
// already there is merged into (StructUtil::update) when the entry allows overwriting, else left
// as it is and counted (overwrite_denied).
import { FilterHeadersStatus, type StreamDecoderFilter, type StreamDecoderFilterCallbacks } from '../../../../http/filter.ts';
import type { RequestHeaders } from '../../../../http/types.ts';
import type { StatSink } from '../../../../common/stat-sink.ts';
import { PassThroughFilter } from '../../../../http/pass-through-filter.ts';

type Struct = Record<string, unknown>;

export interface MetadataEntrySnap {
  namespace: string;
  allowOverwrite: boolean;
  /** A google.protobuf.Struct as plain JSON. */
  value: Struct;
}

export interface SetMetadataSnap {
  entries: MetadataEntrySnap[];
  /** http.<stat_prefix>.set_metadata.overwrite_denied; -1 when no entry can be denied (the stat is
   *  then not declared). */
  overwriteDenied: number;
}

const isStruct = (v: unknown): v is Struct => v !== null && typeof v === 'object' && !Array.isArray(v);

/** A deep copy of Struct / list values (the stream's metadata is merged into in place later). */
function copy(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(copy);
  if (isStruct(v)) {
    const o: Struct = {};
    for (const k of Object.keys(v)) o[k] = copy(v[k]);
    return o;
  }
  return v;
}

/** Envoy's StructUtil::update: a key of `from` not in `into`, or of another kind there, replaces;
 *  lists are appended to; structs are merged recursively; scalars replace. */
export function updateStruct(into: Struct, from: Struct): void {
  for (const k of Object.keys(from)) {
    const v = from[k];
    const old = into[k];
    if (Array.isArray(v) && Array.isArray(old)) {
      for (const item of v) old.push(copy(item));
    } else if (isStruct(v) && isStruct(old)) {
      updateStruct(old, v);
    } else {
      into[k] = copy(v);
    }
  }
}

/** Sets the configured metadata on the request's stream (per stream: it reaches the stream info). */
export class SetMetadataFilter extends PassThroughFilter implements StreamDecoderFilter {
  readonly #snap: SetMetadataSnap;
  readonly #stats: StatSink;
  #cb: StreamDecoderFilterCallbacks | null;

  constructor(snap: SetMetadataSnap, stats: StatSink) {
    super();
    this.#snap = snap;
    this.#stats = stats;
    this.#cb = null;
  }

  setDecoderFilterCallbacks(cb: StreamDecoderFilterCallbacks): void {
    this.#cb = cb;
  }

  decodeHeaders(_headers: RequestHeaders, _endStream: boolean): FilterHeadersStatus {
    const info = this.#cb!.streamInfo;
    const md = (info.dynamicMetadata ??= {});
    const entries = this.#snap.entries;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      const existing = md[e.namespace];
      if (existing === undefined) {
        md[e.namespace] = copy(e.value) as Struct;
      } else if (e.allowOverwrite) {
        updateStruct(existing, e.value);
      } else {
        this.#stats.v[this.#snap.overwriteDenied]++;
      }
    }
    return FilterHeadersStatus.Continue;
  }

  onDestroy(): void {
    this.#cb = null;
  }
}
