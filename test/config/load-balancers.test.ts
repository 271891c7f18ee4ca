// The consistent-hashing load balancers in the config: lb_policy RING_HASH with ring_hash_lb_config
// and MAGLEV with maglev_lb_config, compiled with Envoy's defaults; what Envoy refuses and what
// Legate does not implement refused with the field path.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { C0, compileConfig, configErrors, minimal } from './fixtures.ts';

function withCluster(fields: Record<string, unknown>): any {
  const cfg = minimal();
  Object.assign(cfg.static_resources.clusters[0], fields);
  return cfg;
}
const lbConfigOf = (fields: Record<string, unknown>): unknown => compileConfig(withCluster(fields)).clusters[0].lbConfig;
const errorsOf = (fields: Record<string, unknown>): string[] => configErrors(() => compileConfig(withCluster(fields)));
const unsupported = (line: string): string[] => [
  '1 field(s) set that Legate does not act on yet; remove them, or set allowUnsupportedFields (they are then ignored '
    + 'with a warning):',
  line,
];

test('ring hash: Envoy\'s defaults (1024 .. 8M entries), or the configured sizes', () => {
  assert.deepEqual(lbConfigOf({ lb_policy: 'RING_HASH' }), { minimumRingSize: 1024, maximumRingSize: 8388608 });
  assert.deepEqual(lbConfigOf({ lb_policy: 'RING_HASH', ring_hash_lb_config: {} }),
    { minimumRingSize: 1024, maximumRingSize: 8388608 });
  assert.deepEqual(lbConfigOf({
    lb_policy: 'RING_HASH', ring_hash_lb_config: { minimum_ring_size: '12', maximum_ring_size: 4096, hash_function: 'XX_HASH' },
  }), { minimumRingSize: 12, maximumRingSize: 4096 });
});

test('ring hash: Envoy\'s checks (Envoy: BadRingSizeBounds) and the protos\' bounds', () => {
  assert.deepEqual(errorsOf({ lb_policy: 'RING_HASH', ring_hash_lb_config: { minimum_ring_size: 20, maximum_ring_size: 10 } }), [
    `${C0}.ring_hash_lb_config.minimum_ring_size: ring hash: minimum_ring_size (20) > maximum_ring_size (10)`,
  ]);
  assert.deepEqual(errorsOf({ lb_policy: 'RING_HASH', ring_hash_lb_config: { maximum_ring_size: 8388609 } }), [
    `${C0}.ring_hash_lb_config.maximum_ring_size: value must be less than or equal to 8388608, got 8388609`,
  ]);
});

test('ring hash: MURMUR_HASH_2 and the consistent-hashing options are refused by name', () => {
  assert.deepEqual(errorsOf({ lb_policy: 'RING_HASH', ring_hash_lb_config: { hash_function: 'MURMUR_HASH_2' } }), unsupported(
    `${C0}.ring_hash_lb_config.hash_function: value "MURMUR_HASH_2" is not supported by Legate (supported: XX_HASH)`,
  ));
  // use_hostname_for_hashing and hash_balance_factor (bounded loads) live here.
  for (const chc of [{ use_hostname_for_hashing: true }, { hash_balance_factor: 150 }]) {
    assert.deepEqual(errorsOf({ lb_policy: 'RING_HASH', common_lb_config: { consistent_hashing_lb_config: chc } }),
      unsupported(`${C0}.common_lb_config.consistent_hashing_lb_config: field is not supported by Legate`));
  }
  assert.deepEqual(errorsOf({ lb_policy: 'RING_HASH', maglev_lb_config: { table_size: 7 } }), [
    `${C0}.maglev_lb_config: applies to lb_policy MAGLEV only (this cluster's is RING_HASH)`,
  ]);
});

test('maglev: table size 65537 by default, or the configured prime', () => {
  assert.deepEqual(lbConfigOf({ lb_policy: 'MAGLEV' }), { tableSize: 65537 });
  assert.deepEqual(lbConfigOf({ lb_policy: 'MAGLEV', maglev_lb_config: {} }), { tableSize: 65537 });
  assert.deepEqual(lbConfigOf({ lb_policy: 'MAGLEV', maglev_lb_config: { table_size: '251' } }), { tableSize: 251 });
  assert.deepEqual(lbConfigOf({ lb_policy: 'MAGLEV', maglev_lb_config: { table_size: 5000011 } }), { tableSize: 5000011 });
});

test('maglev: a table size that is not prime fails with its path (Envoy: NoPrimeNumber)', () => {
  for (const size of [8, 0, 1, 65536]) {
    assert.deepEqual(errorsOf({ lb_policy: 'MAGLEV', maglev_lb_config: { table_size: size } }), [
      `${C0}.maglev_lb_config.table_size: The table size of maglev must be prime number, got ${size}`,
    ]);
  }
  assert.deepEqual(errorsOf({ lb_policy: 'MAGLEV', maglev_lb_config: { table_size: 5000012 } }), [
    `${C0}.maglev_lb_config.table_size: value must be less than or equal to 5000011, got 5000012`,
  ]);
});

test('maglev: the consistent-hashing options and ring_hash_lb_config are refused', () => {
  assert.deepEqual(errorsOf({ lb_policy: 'MAGLEV', common_lb_config: { consistent_hashing_lb_config: { hash_balance_factor: 150 } } }),
    unsupported(`${C0}.common_lb_config.consistent_hashing_lb_config: field is not supported by Legate`));
  assert.deepEqual(errorsOf({ lb_policy: 'MAGLEV', ring_hash_lb_config: { minimum_ring_size: 16 } }), [
    `${C0}.ring_hash_lb_config: applies to lb_policy RING_HASH only (this cluster's is MAGLEV)`,
  ]);
});

test('lb_policy lists the policies Legate has; another policy\'s config is refused', () => {
  const errors = errorsOf({ lb_policy: 'CLUSTER_PROVIDED' });
  assert.match(errors[1]!,
    /lb_policy: value "CLUSTER_PROVIDED" is not supported by Legate \(supported: ROUND_ROBIN, LEAST_REQUEST, RANDOM, RING_HASH, MAGLEV\)$/);
  assert.deepEqual(errorsOf({ ring_hash_lb_config: { minimum_ring_size: 16 } }), [
    `${C0}.ring_hash_lb_config: applies to lb_policy RING_HASH only (this cluster's is ROUND_ROBIN)`,
  ]);
  assert.deepEqual(errorsOf({ lb_policy: 'RANDOM', least_request_lb_config: { choice_count: 3 } }), [
    `${C0}.least_request_lb_config: applies to lb_policy LEAST_REQUEST only (this cluster's is RANDOM)`,
  ]);
});

/** Two localities, weighted 1 and 3 (each as `lw` says), one endpoint each. */
function localityEndpoints(lw: [unknown, unknown] = [1, 3], loc: [unknown, unknown] = [{ zone: 'a' }, { zone: 'b' }]): unknown {
  const ep = (port: number): unknown => ({ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } } });
  const le = (i: number): Record<string, unknown> => {
    const o: Record<string, unknown> = { lb_endpoints: [ep(8080 + i)] };
    if (loc[i] !== undefined) o.locality = loc[i];
    if (lw[i] !== undefined) o.load_balancing_weight = lw[i];
    return o;
  };
  return { cluster_name: 'c0', endpoints: [le(0), le(1)] };
}

test('locality_weighted_lb_config: the localities\' weights reach the snapshot, for every lb_policy', () => {
  for (const lb_policy of ['ROUND_ROBIN', 'LEAST_REQUEST', 'RANDOM', 'RING_HASH', 'MAGLEV']) {
    const snap = compileConfig(withCluster({
      lb_policy, common_lb_config: { locality_weighted_lb_config: {} }, load_assignment: localityEndpoints(),
    }));
    assert.deepEqual(snap.clusters[0].localityWeights, [
      { priority: 0, region: '', zone: 'a', subZone: '', weight: 1 },
      { priority: 0, region: '', zone: 'b', subZone: '', weight: 3 },
    ], lb_policy);
  }
  // Without it: none (and no locality weight may be set).
  assert.equal(compileConfig(minimal()).clusters[0].localityWeights, null);
  // A locality without a weight gets none (Envoy: no load).
  const one = compileConfig(withCluster({
    common_lb_config: { locality_weighted_lb_config: {} }, load_assignment: localityEndpoints([1, undefined]),
  }));
  assert.deepEqual(one.clusters[0].localityWeights, [{ priority: 0, region: '', zone: 'a', subZone: '', weight: 1 }]);
});

test('locality weights: refused by path without locality_weighted_lb_config or without a locality; 0 is Envoy\'s error', () => {
  assert.deepEqual(errorsOf({ load_assignment: localityEndpoints() }), [
    `${C0}.load_assignment.endpoints[0].load_balancing_weight: a locality weight is acted on only with `
      + 'common_lb_config.locality_weighted_lb_config (Envoy ignores it without)',
  ]);
  assert.deepEqual(errorsOf({
    common_lb_config: { locality_weighted_lb_config: {} }, load_assignment: localityEndpoints([1, 3], [{ zone: 'a' }, undefined]),
  }), [
    `${C0}.load_assignment.endpoints[1].load_balancing_weight: a locality weight needs the LocalityLbEndpoints' `
      + 'locality (Envoy ignores it without one, and the hosts get no load)',
  ]);
  const zero = errorsOf({ common_lb_config: { locality_weighted_lb_config: {} }, load_assignment: localityEndpoints([0, 3]) });
  assert.equal(zero.length, 1);
  assert.match(zero[0], /endpoints\[0\]\.load_balancing_weight: value must be greater than or equal to 1, got 0/);
});

test('zone-aware routing stays refused by name', () => {
  assert.deepEqual(errorsOf({ common_lb_config: { zone_aware_lb_config: { min_cluster_size: 3 } } }),
    unsupported(`${C0}.common_lb_config.zone_aware_lb_config: field is not supported by Legate`));
});
