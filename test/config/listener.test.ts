// Listener config: filter_chain_match, default_filter_chain and listener filters are accepted
// where Legate acts on them, refused with Envoy's messages and field paths where Envoy refuses
// them, and the fields Legate does not implement are refused by name.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, validateBootstrap } from '../../src/config/load.ts';
import { buildSnapshot } from '../../src/config/snapshot.ts';
import { StatsLayout } from '../../src/stats/layout.ts';
import { runLegate, tmpFile } from '../helpers/legate.ts';
import YAML from 'yaml';
import { L0, minimal } from './fixtures.ts';

function errorsOf(obj: unknown): string[] {
  try {
    validateBootstrap(obj);
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    return e.errors;
  }
  assert.fail('config was accepted');
}

const LIS = 'type.googleapis.com/envoy.extensions.filters.listener.';

/** minimal() with a second filter chain (a copy of the first) and `edit` applied. */
function twoChains(edit: (l: any) => void): any {
  const cfg = minimal();
  const l = cfg.static_resources.listeners[0];
  l.filter_chains.push(structuredClone(l.filter_chains[0]));
  edit(l);
  return cfg;
}

test('filter_chain_match, names, default_filter_chain and listener filters are accepted and compiled', () => {
  const cfg = twoChains((l) => {
    l.filter_chains[0].name = 'a';
    l.filter_chains[0].filter_chain_match = {
      destination_port: 443, server_names: ['a.test', '*.b.test'], transport_protocol: 'tls',
      application_protocols: ['h2'], source_type: 'EXTERNAL',
      prefix_ranges: [{ address_prefix: '10.0.0.0', prefix_len: 8 }],
      source_prefix_ranges: [{ address_prefix: '2001:db8::', prefix_len: 32 }], source_ports: [1234],
    };
    l.default_filter_chain = structuredClone(l.filter_chains[1]);
    l.listener_filters = [
      { name: 'tls', typed_config: { '@type': `${LIS}tls_inspector.v3.TlsInspector` } },
      { name: 'pp', typed_config: { '@type': `${LIS}proxy_protocol.v3.ProxyProtocol`, allow_requests_without_proxy_protocol: true } },
      { name: 'http', typed_config: { '@type': `${LIS}http_inspector.v3.HttpInspector` } },
    ];
    l.listener_filters_timeout = '0.5s';
    l.continue_on_listener_filters_timeout = true;
  });
  const { bootstrap } = validateBootstrap(cfg);
  const snap = buildSnapshot(bootstrap as any, new StatsLayout(), { bufferLimit: 1 << 20, version: 1 });
  const l = snap.listeners[0];
  assert.equal(l.filterChains[0].name, 'a');
  assert.equal(l.filterChains[0].match.destinationPort, 443);
  assert.equal(l.filterChains[0].match.sourceType, 2);
  assert.deepEqual(l.filterChains[0].match.prefixRanges, ['10.0.0.0/8']);
  assert.equal(l.matchChains, true);
  assert.notEqual(l.defaultFilterChain, null);
  assert.deepEqual(l.listenerFilters.map((f) => f.name), [
    'envoy.filters.listener.tls_inspector', 'envoy.filters.listener.proxy_protocol', 'envoy.filters.listener.http_inspector',
  ]);
  assert.equal(l.listenerFiltersTimeoutMs, 500);
  assert.equal(l.continueOnListenerFiltersTimeout, true);
  // A default chain: no connection misses, so no no_filter_chain_match; listener filters: the
  // pre-connection stats exist.
  assert.equal(l.optStats.no_filter_chain_match, -1);
  assert.ok(l.optStats.downstream_pre_cx_timeout >= 0);
});

test('listener_filters_timeout defaults to 15 s; 0 disables it', () => {
  const cfg = minimal();
  const build = (c: any) => buildSnapshot(validateBootstrap(c).bootstrap as any, new StatsLayout(), { bufferLimit: 1, version: 1 }).listeners[0];
  assert.equal(build(cfg).listenerFiltersTimeoutMs, 15_000);
  assert.equal(build(cfg).optStats.downstream_pre_cx_active, -1);
  assert.equal(build(cfg).optStats.no_filter_chain_match, -1);
  assert.equal(build(cfg).matchChains, false);
  cfg.static_resources.listeners[0].listener_filters_timeout = '0s';
  assert.equal(build(cfg).listenerFiltersTimeoutMs, 0);
});

test('duplicate and overlapping matching rules are refused, naming the chain', () => {
  assert.deepEqual(errorsOf(twoChains((l) => {
    l.filter_chains[0].filter_chain_match = { server_names: ['a.test'] };
    l.filter_chains[1].filter_chain_match = { server_names: ['a.test'] };
  })), [`${L0}.filter_chains[1]: error adding listener 'l0': multiple filter chains with the same matching rules are defined (as ${L0}.filter_chains[0])`]);
  assert.deepEqual(errorsOf(twoChains((l) => {
    l.filter_chains[0].filter_chain_match = { server_names: ['a.test', 'b.test'] };
    l.filter_chains[1].filter_chain_match = { server_names: ['b.test', 'c.test'] };
  })), [`${L0}.filter_chains[1]: error adding listener 'l0': multiple filter chains with overlapping matching rules are defined (as ${L0}.filter_chains[0])`]);
});

test('a partial wildcard in server_names and a bad CIDR range are refused with their paths', () => {
  assert.deepEqual(errorsOf(twoChains((l) => {
    l.filter_chains[0].filter_chain_match = { server_names: ['ok.test', 'w*.test'] };
    l.filter_chains[1].filter_chain_match = {
      prefix_ranges: [{ address_prefix: '10.0.0', prefix_len: 8 }],
      source_prefix_ranges: [{ address_prefix: '10.0.0.0', prefix_len: 40 }],
    };
  })), [
    `${L0}.filter_chains[0].filter_chain_match.server_names[1]: error adding listener 'l0': partial wildcards are not supported in "server_names"`,
    `${L0}.filter_chains[1].filter_chain_match.prefix_ranges[0]: malformed IP address: 10.0.0`,
    `${L0}.filter_chains[1].filter_chain_match.source_prefix_ranges[0]: invalid prefix length 40 for 10.0.0.0`,
  ]);
});

test('what Legate does not implement is refused by name', () => {
  const cfg = twoChains((l) => {
    l.filter_chains[0].filter_chain_match = {
      direct_source_prefix_ranges: [{ address_prefix: '10.0.0.0', prefix_len: 8 }],
    };
    l.listener_filters = [
      { name: 'tls', typed_config: { '@type': `${LIS}tls_inspector.v3.TlsInspector`, enable_ja3_fingerprinting: true } },
      { name: 'pp', typed_config: { '@type': `${LIS}proxy_protocol.v3.ProxyProtocol`, rules: [{ tlv_type: 1, on_tlv_present: { key: 'k' } }] } },
      { name: 'od', typed_config: { '@type': `${LIS}original_dst.v3.OriginalDst` } },
      { name: 'http', typed_config: { '@type': `${LIS}http_inspector.v3.HttpInspector` }, filter_disabled: { destination_port_range: { start: 1, end: 2 } } },
    ];
  });
  const errors = errorsOf(cfg);
  const has = (s: string): void => assert.ok(errors.some((e) => e.startsWith(s)), `${s}\nin:\n${errors.join('\n')}`);
  has(`${L0}.filter_chains[0].filter_chain_match.direct_source_prefix_ranges: field is not supported by Legate`);
  has(`${L0}.listener_filters[0].typed_config.enable_ja3_fingerprinting: field is not supported by Legate`);
  has(`${L0}.listener_filters[1].typed_config.rules: field is not supported by Legate`);
  has(`${L0}.listener_filters[2]: extension "envoy.filters.listener.original_dst"`);
  has(`${L0}.listener_filters[3].filter_disabled: field is not supported by Legate`);
});

test('--mode validate reports a filter_chain_match error with its path', async () => {
  const cfg = twoChains((l) => { l.filter_chains[1].filter_chain_match = { server_names: ['*x.test'] }; });
  const r = await runLegate(['-c', tmpFile('bad.yaml', YAML.stringify(cfg)), '--mode', 'validate']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /static_resources\.listeners\[0\]\.filter_chains\[1\]\.filter_chain_match\.server_names\[0\]: error adding listener 'l0': partial wildcards/);
});
