// envoy.filters.http.compressor / decompressor and the compression libraries in the config:
// Envoy's defaults and stat names compiled, the deprecated top-level fields, per-route config,
// and what Legate does not implement refused by name.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StatsLayout } from '../../src/stats/layout.ts';
import { validateBootstrap } from '../../src/config/load.ts';
import { buildSnapshot } from '../../src/config/snapshot.ts';
import { DEFAULT_CONTENT_TYPES } from '../../src/extensions/filters/http/compressor/index.ts';
import { HCM, ROUTER_TYPE, VH0, configErrors, hcmOf, minimal } from './fixtures.ts';

const C = 'type.googleapis.com/envoy.extensions.filters.http.compressor.v3.Compressor';
const D = 'type.googleapis.com/envoy.extensions.filters.http.decompressor.v3.Decompressor';
const LIB = 'type.googleapis.com/envoy.extensions.compression';
const F = `${HCM}.http_filters[0].typed_config`;

function withFilter(name: string, typedConfig: Record<string, unknown>): any {
  const cfg = minimal();
  hcmOf(cfg).http_filters = [
    { name, typed_config: typedConfig },
    { name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER_TYPE } },
  ];
  return cfg;
}

function compile(cfg: unknown): { filter: any; layout: StatsLayout; snap: any } {
  const { bootstrap } = validateBootstrap(cfg);
  const layout = new StatsLayout();
  const snap: any = buildSnapshot(bootstrap, layout, { bufferLimit: 1 << 20, version: 1 });
  return { filter: snap.listeners[0].filterChains[0].filters[0].config.httpFilters[0], layout, snap };
}

/** Every value stat's name in the layout. */
function namesOf(layout: StatsLayout): string[] {
  const out: string[] = [];
  for (let i = 0; i < layout.valueCount; i++) out.push(layout.nameOf(i));
  return out;
}

test('compressor: Envoy defaults, library options and the response stat tree', () => {
  const { filter } = compile(withFilter('gz', {
    '@type': C,
    compressor_library: { name: 'text', typed_config: { '@type': `${LIB}.gzip.compressor.v3.Gzip`, compression_level: 'BEST_SPEED' } },
    response_direction_config: { common_config: { content_type: ['Text/HTML'] }, disable_on_etag_header: true },
  }));
  assert.equal(filter.name, 'envoy.filters.http.compressor');
  const c = filter.config;
  assert.equal(c.configName, 'gz');
  assert.equal(c.contentEncoding, 'gzip');
  assert.deepEqual(c.library, {
    name: 'envoy.compression.gzip.compressor', config: { level: 1, memLevel: 5, windowBits: 12, strategy: 0, chunkSize: 4096 },
  });
  assert.equal(c.response.minContentLength, 30);
  assert.deepEqual(c.response.contentTypes, ['text/html']);
  assert.equal(c.response.disableOnEtag, true);
  assert.equal(c.response.removeAcceptEncoding, false);
  assert.deepEqual(c.response.enabled, { key: null, default: true });
  assert.deepEqual(c.request.contentTypes, DEFAULT_CONTENT_TYPES);
  assert.equal(c.request.set, false);
  assert.equal(c.chooseFirst, false);
});

test('compressor stats: <stat_prefix>compressor.<library name>.<library prefix>, response. only with response_direction_config', () => {
  const names = (tc: Record<string, unknown>): string[] => {
    const { layout } = compile(withFilter('c', { '@type': C, ...tc }));
    return namesOf(layout).filter((n: string) => n.includes('compressor')).sort();
  };
  const br = { name: 'b', typed_config: { '@type': `${LIB}.brotli.compressor.v3.Brotli` } };
  const legacy = names({ compressor_library: br });
  assert.ok(legacy.includes('http.http.compressor.b.brotli.compressed'), legacy.join(' '));
  assert.ok(legacy.includes('http.http.compressor.b.brotli.header_wildcard'));
  assert.ok(legacy.includes('http.http.compressor.b.brotli.request.not_compressed'));
  // Request compression is off without request_direction_config: its other stats would stay 0.
  assert.ok(!legacy.includes('http.http.compressor.b.brotli.request.compressed'));
  const req = names({ compressor_library: br, request_direction_config: {} });
  assert.ok(req.includes('http.http.compressor.b.brotli.request.compressed'));
  assert.ok(req.includes('http.http.compressor.b.brotli.request.total_compressed_bytes'));
  const dir = names({ compressor_library: br, response_direction_config: {} });
  assert.ok(dir.includes('http.http.compressor.b.brotli.response.compressed'), dir.join(' '));
  assert.ok(dir.includes('http.http.compressor.b.brotli.response.content_length_too_small'));
  assert.ok(dir.includes('http.http.compressor.b.brotli.not_compressed_etag'));
  assert.ok(!dir.includes('http.http.compressor.b.brotli.compressed'));
});

test('compressor: the deprecated top-level fields act when response_direction_config is absent', () => {
  const { filter } = compile(withFilter('c', {
    '@type': C,
    compressor_library: { name: 'z', typed_config: { '@type': `${LIB}.zstd.compressor.v3.Zstd`, compression_level: 7, enable_checksum: true } },
    content_length: 100, content_type: ['application/json'], disable_on_etag_header: true,
    remove_accept_encoding_header: true, runtime_enabled: { default_value: false, runtime_key: 'comp.on' },
  }));
  const c = filter.config;
  assert.equal(c.response.minContentLength, 100);
  assert.deepEqual(c.response.contentTypes, ['application/json']);
  assert.equal(c.response.disableOnEtag, true);
  assert.equal(c.response.removeAcceptEncoding, true);
  assert.deepEqual(c.response.enabled, { key: 'comp.on', default: false });
  assert.deepEqual(c.library.config, { level: 7, checksum: true, strategy: 0, chunkSize: 4096 });
});

test('CompressorPerRoute compiles on a route under the filter name; disabled / overrides', () => {
  const cfg = withFilter('comp', {
    '@type': C, compressor_library: { name: 'g', typed_config: { '@type': `${LIB}.gzip.compressor.v3.Gzip` } },
  });
  const PR = 'type.googleapis.com/envoy.extensions.filters.http.compressor.v3.CompressorPerRoute';
  hcmOf(cfg).route_config.virtual_hosts[0].routes = [
    { match: { prefix: '/a' }, route: { cluster: 'c0' }, typed_per_filter_config: { comp: { '@type': PR, disabled: true } } },
    { match: { prefix: '/b' }, route: { cluster: 'c0' },
      typed_per_filter_config: { comp: { '@type': PR, overrides: { response_direction_config: { remove_accept_encoding_header: true } } } } },
    { match: { prefix: '/c' }, route: { cluster: 'c0' },
      typed_per_filter_config: { comp: { '@type': PR, overrides: {} } } },
  ];
  const { snap } = compile(cfg);
  const routes = snap.listeners[0].filterChains[0].filters[0].config.routeConfig.virtualHosts[0].routes;
  assert.deepEqual(routes.map((r: any) => r.perFilterConfig.comp), [
    { responseEnabled: false, removeAcceptEncoding: null },
    { responseEnabled: true, removeAcceptEncoding: true },
    { responseEnabled: null, removeAcceptEncoding: null },
  ]);
  // `disabled: false` breaks the proto's const rule, as in Envoy.
  routes.length = 0;
  hcmOf(cfg).route_config.virtual_hosts[0].routes = [
    { match: { prefix: '/' }, route: { cluster: 'c0' }, typed_per_filter_config: { comp: { '@type': PR, disabled: false } } },
  ];
  const [e] = configErrors(() => compile(cfg));
  assert.match(e!, /typed_per_filter_config\["comp"\]/);
});

test('decompressor: defaults, advertise_accept_encoding, stats and the library error stats', () => {
  const { filter, layout } = compile(withFilter('d', {
    '@type': D,
    decompressor_library: { name: 'up', typed_config: { '@type': `${LIB}.gzip.decompressor.v3.Gzip`, max_inflate_ratio: 20 } },
    request_direction_config: { advertise_accept_encoding: false },
  }));
  const c = filter.config;
  assert.equal(c.contentEncoding, 'gzip');
  assert.deepEqual(c.library.config, { windowBits: 15, chunkSize: 4096, maxInflateRatio: 20 });
  assert.equal(c.request.advertise, false);
  const names = namesOf(layout).filter((n: string) => n.includes('decompressor')).sort();
  for (const n of ['request.decompressed', 'request.not_decompressed', 'response.total_uncompressed_bytes',
    'response.total_compressed_bytes', 'decompressor_library.zlib_data_error']) {
    assert.ok(names.includes(`http.http.decompressor.up.gzip.${n}`), `${n} in ${names.join(' ')}`);
  }
});

test('what Legate does not implement is refused by name', () => {
  const errs = configErrors(() => compile(withFilter('c', {
    '@type': C,
    compressor_library: { name: 'z', typed_config: { '@type': `${LIB}.zstd.compressor.v3.Zstd`, dictionary: { inline_string: 'x' } } },
  })));
  assert.ok(errs.some((e) => e.startsWith(`${F}.compressor_library.typed_config.dictionary: field is not supported by Legate`)), errs.join('\n'));
  // A decompressor library where a compressor goes.
  const wrong = configErrors(() => compile(withFilter('c', {
    '@type': C, compressor_library: { name: 'g', typed_config: { '@type': `${LIB}.gzip.decompressor.v3.Gzip` } },
  })));
  assert.match(wrong.join('\n'), /envoy\.compression\.gzip\.decompressor.*cannot be used as a envoy\.compression\.compressor extension/);
  // The library is required.
  const none = configErrors(() => compile(withFilter('c', { '@type': C })));
  assert.match(none.join('\n'), /compressor_library: value is required/);
  void VH0;
});
