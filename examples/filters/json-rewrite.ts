// legate.filters.http.script example: rewrite a JSON request body. Sets `config.set` fields on the
// top-level object and removes those in `config.remove`, then sends the new body upstream with its
// new content-length (config: { set: {...}, remove: [...] }). Config: examples/filter-json-rewrite.yaml.
//
// The buffering contract (Envoy's): hold the headers (StopIteration) so their content-length can
// still change, return StopIterationAndBuffer for each chunk until the last, then take the last
// chunk into the buffer (addDecodedData(data)), which is then the whole body, and replace it.
// Legate fixes the held content-length when the headers go on. Bodies past the buffer limit
// (per_connection_buffer_limit_bytes) get a 413 before they reach the filter.
import { Buffer } from 'node:buffer';
import { FilterDataStatus, FilterHeadersStatus, type FilterFactory } from 'legate/filter';

interface Config {
  set?: Record<string, unknown>;
  remove?: string[];
}

const factory: FilterFactory<Config> = (config) => {
  const set = config.set ?? {};
  const remove = config.remove ?? [];
  return (callbacks) => {
    const type = callbacks.requestHeaders.get('content-type') ?? '';
    // Not JSON: no filter for this stream.
    if (!/^application\/(?:[\w.+-]+\+)?json\b/i.test(type)) return null;
    return {
      decodeHeaders(_headers, endStream) {
        if (endStream) return; // no body
        return FilterHeadersStatus.StopIteration;
      },
      decodeData(data, endStream) {
        if (!endStream) return FilterDataStatus.StopIterationAndBuffer;
        callbacks.addDecodedData(data);
        const body = callbacks.decodingBuffer()!;
        let doc: unknown;
        try {
          doc = JSON.parse(body.text());
        } catch {
          callbacks.sendLocalReply(400, 'the body is not valid JSON\n', { details: 'json_rewrite_bad_json' });
          return;
        }
        if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return; // left as it is
        const obj = doc as Record<string, unknown>;
        for (const k of remove) delete obj[k];
        Object.assign(obj, set);
        body.replace(Buffer.from(JSON.stringify(obj)));
      },
    };
  };
};
export default factory;
