// legate.filters.http.script example: reject requests without a known API key with 401 (config:
// { header, keys }), and strip the key before the request goes upstream. Requests under one of
// `public_prefixes` skip the filter: the per-stream function returns nothing, so those streams
// carry no filter at all. Config: examples/filter-api-key.yaml.
import type { FilterFactory } from 'legate/filter';

interface Config {
  header?: string;
  keys: string[];
  public_prefixes?: string[];
}

const factory: FilterFactory<Config> = (config) => {
  if (!Array.isArray(config.keys) || config.keys.length === 0) throw new TypeError('config.keys: at least one key');
  const header = config.header ?? 'x-api-key';
  const keys = new Set(config.keys);
  const open = config.public_prefixes ?? [];
  return (callbacks) => {
    const path = callbacks.requestHeaders.path;
    if (open.some((p) => path.startsWith(p))) return null;
    return {
      decodeHeaders(headers) {
        const key = headers.get(header);
        if (key === undefined || !keys.has(key)) {
          callbacks.sendLocalReply(401, 'missing or unknown API key\n', {
            headers: { 'www-authenticate': 'ApiKey' },
            details: 'api_key_rejected',
          });
          return;
        }
        headers.remove(header);
      },
    };
  };
};
export default factory;
