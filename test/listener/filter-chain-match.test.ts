// The filter-chain index (filter-chain-match.ts) against Envoy's FilterChainManagerImpl rules: the
// order of the criteria, the most specific entry per level, no backtracking, duplicates and
// overlaps refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ChainMatchConflict, FilterChainMatcher, chainMatchOf, cidrError, ipBytes, type MatchFacts,
} from '../../src/listener/filter-chain-match.ts';

function facts(f: Partial<MatchFacts> = {}): MatchFacts {
  return {
    localIp: '10.0.0.1', localPort: 443, remoteIp: '192.0.2.10', remotePort: 50000,
    requestedServerName: '', detectedTransportProtocol: 'raw_buffer', applicationProtocols: [], ...f,
  };
}

function matcher(matches: Record<string, unknown>[]): FilterChainMatcher<number> {
  return new FilterChainMatcher(matches.map((m) => chainMatchOf(m)), matches.map((_, i) => i));
}

test('ipBytes: IPv4, IPv6 and IPv4-mapped IPv6', () => {
  assert.deepEqual([...ipBytes('10.1.2.3')!], [10, 1, 2, 3]);
  assert.deepEqual([...ipBytes('::ffff:10.1.2.3')!], [10, 1, 2, 3]);
  assert.deepEqual([...ipBytes('2001:db8::1')!], [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
  assert.deepEqual([...ipBytes('::1')!], [...new Array(15).fill(0), 1]);
  assert.equal(ipBytes('nope'), null);
});

test('server_names: exact, then the longest wildcard suffix, then chains without server_names', () => {
  const m = matcher([
    { server_names: ['www.example.com'] },
    { server_names: ['*.example.com'] },
    { server_names: ['*.com'] },
    {},
  ]);
  assert.equal(m.find(facts({ requestedServerName: 'www.example.com' })), 0);
  assert.equal(m.find(facts({ requestedServerName: 'api.example.com' })), 1);
  assert.equal(m.find(facts({ requestedServerName: 'a.b.example.com' })), 1);
  assert.equal(m.find(facts({ requestedServerName: 'example.com' })), 2);
  assert.equal(m.find(facts({ requestedServerName: 'example.org' })), 3);
  assert.equal(m.find(facts()), 3);
});

test('no SNI matches only chains without server_names', () => {
  const m = matcher([{ server_names: ['a.test'] }, { server_names: ['*.test'], transport_protocol: 'tls' }]);
  assert.equal(m.find(facts()), null);
});

test('no backtracking: the most specific server name wins even when a later level then misses', () => {
  const m = matcher([
    { server_names: ['a.test'], transport_protocol: 'tls' },
    { transport_protocol: 'raw_buffer' },
  ]);
  assert.equal(m.find(facts({ requestedServerName: 'a.test', detectedTransportProtocol: 'raw_buffer' })), null);
  assert.equal(m.find(facts({ requestedServerName: 'b.test', detectedTransportProtocol: 'raw_buffer' })), 1);
});

test('destination_port: an exact port before any port; a port sub-tree that misses does not fall to port 0', () => {
  const m = matcher([
    { destination_port: 443, server_names: ['a.test'] },
    { destination_port: 8080 },
    { server_names: ['a.test'] },
    {},
  ]);
  assert.equal(m.find(facts({ localPort: 443, requestedServerName: 'a.test' })), 0);
  assert.equal(m.find(facts({ localPort: 443, requestedServerName: 'b.test' })), null);
  assert.equal(m.find(facts({ localPort: 8080 })), 1);
  assert.equal(m.find(facts({ localPort: 80, requestedServerName: 'a.test' })), 2);
  assert.equal(m.find(facts({ localPort: 80 })), 3);
});

test('prefix ranges: the longest prefix wins; IPv6 and mapped addresses', () => {
  const m = matcher([
    { prefix_ranges: [{ address_prefix: '10.0.0.0', prefix_len: 8 }] },
    { prefix_ranges: [{ address_prefix: '10.0.0.0', prefix_len: 24 }] },
    { prefix_ranges: [{ address_prefix: '2001:db8::', prefix_len: 32 }] },
    {},
  ]);
  assert.equal(m.find(facts({ localIp: '10.0.0.7' })), 1);
  assert.equal(m.find(facts({ localIp: '10.9.0.7' })), 0);
  assert.equal(m.find(facts({ localIp: '::ffff:10.9.0.7' })), 0);
  assert.equal(m.find(facts({ localIp: '2001:db8:1::5' })), 2);
  assert.equal(m.find(facts({ localIp: '192.168.1.1' })), 3);
});

test('application_protocols: the first offered protocol any chain names', () => {
  const m = matcher([{ application_protocols: ['h2'] }, { application_protocols: ['http/1.1'] }, {}]);
  assert.equal(m.find(facts({ applicationProtocols: ['http/1.1', 'h2'] })), 1);
  assert.equal(m.find(facts({ applicationProtocols: ['h2', 'http/1.1'] })), 0);
  assert.equal(m.find(facts({ applicationProtocols: ['spdy/3'] })), 2);
});

test('source_type, source prefixes and source ports', () => {
  const m = matcher([
    { source_type: 'SAME_IP_OR_LOOPBACK' },
    { source_type: 'EXTERNAL', source_prefix_ranges: [{ address_prefix: '192.0.2.0', prefix_len: 24 }], source_ports: [1234] },
    { source_type: 'EXTERNAL', source_prefix_ranges: [{ address_prefix: '192.0.2.0', prefix_len: 24 }] },
  ]);
  assert.equal(m.find(facts({ remoteIp: '127.0.0.1' })), 0);
  assert.equal(m.find(facts({ remoteIp: '10.0.0.1', localIp: '10.0.0.1' })), 0);
  assert.equal(m.find(facts({ remoteIp: '192.0.2.5', remotePort: 1234 })), 1);
  assert.equal(m.find(facts({ remoteIp: '192.0.2.5', remotePort: 999 })), 2);
  assert.equal(m.find(facts({ remoteIp: '198.51.100.1' })), null);
});

test('the same rules twice, and overlapping rules, are refused', () => {
  assert.throws(() => matcher([{ server_names: ['a'] }, { server_names: ['a'] }]),
    (e: unknown) => e instanceof ChainMatchConflict && e.kind === 'same' && e.index === 1 && e.other === 0);
  assert.throws(() => matcher([{ server_names: ['a', 'b'] }, { server_names: ['b', 'c'] }]),
    (e: unknown) => e instanceof ChainMatchConflict && e.kind === 'overlap' && e.index === 1 && e.other === 0);
  assert.throws(() => matcher([{}, {}]), ChainMatchConflict);
});

test('cidrError', () => {
  assert.equal(cidrError('10.0.0.0/8'), null);
  assert.equal(cidrError('10.0.0.0/33'), 'invalid prefix length 33 for 10.0.0.0');
  assert.equal(cidrError('10.0.0/8'), 'malformed IP address: 10.0.0');
});
