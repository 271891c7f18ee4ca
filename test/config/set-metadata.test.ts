// envoy.filters.http.set_metadata in the config: entries compiled in order (the deprecated pair
// first, always merging), the overwrite_denied stat declared only when an entry can be denied, and
// what Legate does not act on refused by name.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateBootstrap } from '../../src/config/load.ts';
import { HCM, ROUTER_TYPE, compileConfig, configErrors, hcmOf, minimal } from './fixtures.ts';

const TYPE = 'type.googleapis.com/envoy.extensions.filters.http.set_metadata.v3.Config';
const SM = `${HCM}.http_filters[0].typed_config`;

function withConfig(config: Record<string, unknown>): any {
  const cfg = minimal();
  hcmOf(cfg).http_filters = [
    { name: 'sm', typed_config: { '@type': TYPE, ...config } },
    { name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER_TYPE } },
  ];
  return cfg;
}

const filterConfig = (cfg: unknown): any =>
  (compileConfig(cfg) as any).listeners[0].filterChains[0].filters[0].config.httpFilters[0].config;

test('entries compile in order, the deprecated pair first and always merging', () => {
  const c = filterConfig(withConfig({
    metadata_namespace: 'old', value: { a: 1 },
    metadata: [
      { metadata_namespace: 'ns', value: { k: ['v'] } },
      { metadata_namespace: 'ns', allow_overwrite: true, value: { k: ['w'] } },
    ],
  }));
  assert.deepEqual(c.entries, [
    { namespace: 'old', allowOverwrite: true, value: { a: 1 } },
    { namespace: 'ns', allowOverwrite: false, value: { k: ['v'] } },
    { namespace: 'ns', allowOverwrite: true, value: { k: ['w'] } },
  ]);
  assert.ok(c.overwriteDenied >= 0);
  assert.equal(filterConfig(withConfig({ metadata: [{ metadata_namespace: 'ns', allow_overwrite: true, value: {} }] }))
    .overwriteDenied, -1);
});

test('what Legate does not act on is refused by name', () => {
  assert.deepEqual(configErrors(() => validateBootstrap(withConfig({
    metadata: [{ metadata_namespace: 'ns', typed_value: { '@type': 'type.googleapis.com/google.protobuf.StringValue', value: 'x' } }],
  }))), [
    '1 field(s) set that Legate does not act on yet; remove them, or set allowUnsupportedFields '
      + '(they are then ignored with a warning):',
    `${SM}.metadata[0].typed_value: field is not supported by Legate`,
  ]);
  assert.deepEqual(configErrors(() => compileConfig(withConfig({ metadata: [{ metadata_namespace: 'ns' }] }))),
    [`${SM}.metadata[0]: has no value (typed_value is not supported by Legate)`]);
  assert.deepEqual(configErrors(() => compileConfig(withConfig({ value: { a: 1 } }))),
    [`${SM}.metadata_namespace: the deprecated value needs a metadata_namespace`]);
});
