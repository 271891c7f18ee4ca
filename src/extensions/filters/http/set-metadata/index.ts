// envoy.filters.http.set_metadata (envoy.extensions.filters.http.set_metadata.v3.Config): adds or
// merges static values into the stream's dynamic metadata (filter.ts), which
// %DYNAMIC_METADATA(namespace:key)% prints in access logs, custom headers and header_mutation
// values. `metadata[]` entries with an untyped `value`, and the deprecated `metadata_namespace` +
// `value` pair (always merged, as Envoy); `typed_value` is refused by the field table (nothing in
// Legate reads typed metadata). Stat: http.<stat_prefix>.set_metadata.overwrite_denied.
import { ExtensionCategory, type HttpFilterModule } from '../../../types.ts';
import { SetMetadataFilter, type MetadataEntrySnap, type SetMetadataSnap } from './filter.ts';

type Obj = Record<string, any>;

const TYPE = 'envoy.extensions.filters.http.set_metadata.v3.Config';
const METADATA = 'envoy.extensions.filters.http.set_metadata.v3.Metadata';

const setMetadata: HttpFilterModule<SetMetadataSnap> = {
  name: 'envoy.filters.http.set_metadata',
  category: ExtensionCategory.HttpFilter,
  types: [TYPE],
  fields: {
    [TYPE]: ['metadata_namespace', 'value', 'metadata'],
    [METADATA]: ['metadata_namespace', 'allow_overwrite', 'value'],
  },
  protos: ['envoy/extensions/filters/http/set_metadata/v3/set_metadata.proto'],
  compile(tc, ctx) {
    const entries: MetadataEntrySnap[] = [];
    // Envoy: the deprecated pair counts when `value` is set and the namespace is not empty.
    if (tc.value !== undefined && typeof tc.metadata_namespace === 'string' && tc.metadata_namespace !== '') {
      entries.push({ namespace: tc.metadata_namespace, allowOverwrite: true, value: tc.value as Obj });
    } else if (tc.value !== undefined) {
      ctx.fail(`${ctx.path}.metadata_namespace`, 'the deprecated value needs a metadata_namespace');
    } else if (tc.metadata_namespace !== undefined && tc.metadata_namespace !== '') {
      ctx.fail(`${ctx.path}.value`, 'the deprecated metadata_namespace needs a value');
    }
    (tc.metadata as Obj[] | undefined ?? []).forEach((m, i) => {
      if (m.value === undefined) {
        // (Envoy skips such an entry with a warning.)
        ctx.fail(`${ctx.path}.metadata[${i}]`, 'has no value (typed_value is not supported by Legate)');
      }
      entries.push({ namespace: String(m.metadata_namespace), allowOverwrite: m.allow_overwrite === true, value: m.value as Obj });
    });
    // Counted only when an entry can be denied.
    const overwriteDenied = entries.some((e) => !e.allowOverwrite)
      ? ctx.layout.counter(`${ctx.scope}set_metadata.overwrite_denied`) : -1;
    return { entries, overwriteDenied };
  },
  createFilterFactory(snap, ctx) {
    if (snap.entries.length === 0) return () => {};
    return (cb) => cb.addStreamDecoderFilter(new SetMetadataFilter(snap, ctx.stats));
  },
};
export default setMetadata;
