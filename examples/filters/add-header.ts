// legate.filters.http.script example: add a request header (config: { header, value }) and say so
// on the response. The smallest complete filter is
//   export default (config) => () => ({ decodeHeaders(h) { h.set(config.header, config.value); } });
// this one adds types and a response header. Config: examples/filter-add-header.yaml.
import type { FilterFactory } from 'legate/filter';

interface Config {
  header: string;
  value: string;
}

const factory: FilterFactory<Config> = (config) => {
  // Runs once per worker: check the config here (a throw fails the config at `config`).
  if (typeof config.header !== 'string' || typeof config.value !== 'string') {
    throw new TypeError('config.header and config.value must be strings');
  }
  return () => ({
    decodeHeaders(headers) {
      headers.set(config.header, config.value);
    },
    encodeHeaders(headers) {
      headers.set('x-added-by', 'add-header.ts');
    },
  });
};
export default factory;
