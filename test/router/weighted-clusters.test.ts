// weighted_clusters' pick (Envoy's pickWeightedCluster): the random value modulo the sum, the
// clusters walked in order; header_name; runtime_key_prefix weights read per pick, their sum
// recomputed, and no cluster when they sum to 0 or past 2^32 - 1.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pickWeightedCluster, type WeightedClustersSnap } from '../../src/router/weighted-clusters.ts';
import { RequestHeaders } from '../../src/http/types.ts';
import { NULL_LOADER, ThreadLoader } from '../../src/runtime/snapshot.ts';
import { createEntry, type JsonValue } from '../../src/runtime/entry.ts';
import { randomU53 } from '../../src/common/random.ts';

function wc(weights: number[], prefix: string | null = null, headerName: string | null = null): WeightedClustersSnap {
  return {
    clusters: weights.map((weight, i) => ({
      name: `c${i}`, clusterHeader: null, weight, runtimeKey: prefix === null ? null : `${prefix}.c${i}`, hostRewrite: null,
    })),
    totalWeight: weights.reduce((a, b) => a + b, 0), headerName, runtime: prefix !== null,
  };
}
const req = (headers: string[] = []) => new RequestHeaders('GET', '/', 'h', 'http', 'HTTP/1.1', headers);
function loader(v: Record<string, JsonValue>): ThreadLoader {
  return new ThreadLoader(new Map(Object.entries(v).map(([k, x]) => [k, createEntry(x)])));
}

test('configured weights: random % total, in order; header_name when it is one integer', () => {
  const w = wc([20, 30, 50]);
  assert.deepEqual([0, 19, 20, 49, 50, 99, 100, 119].map((r) => pickWeightedCluster(w, req(), r, NULL_LOADER)!.name),
    ['c0', 'c0', 'c1', 'c1', 'c2', 'c2', 'c0', 'c0']);
  const h = wc([20, 30, 50], null, 'x-r');
  assert.equal(pickWeightedCluster(h, req(['x-r', '125']), 0, NULL_LOADER)!.name, 'c1');
  assert.equal(pickWeightedCluster(h, req(['x-r', 'x']), 60, NULL_LOADER)!.name, 'c2');
  assert.equal(pickWeightedCluster(h, req(['x-r', '1', 'x-r', '1']), 60, NULL_LOADER)!.name, 'c2');
});

test('runtime_key_prefix: each weight from <prefix>.<name>, the sum recomputed per pick', () => {
  const w = wc([50, 50], 'split');
  const rt = loader({});
  assert.equal(pickWeightedCluster(w, req(), 49, rt)!.name, 'c0');
  rt.update(new Map([['split.c0', createEntry(0)]]));
  assert.equal(pickWeightedCluster(w, req(), 0, rt)!.name, 'c1');
  // (Sum 150: 60 % 150 = 60 is past c0's 10.)
  rt.update(new Map([['split.c0', createEntry(10)], ['split.c1', createEntry(140)]]));
  assert.equal(pickWeightedCluster(w, req(), 9, rt)!.name, 'c0');
  assert.equal(pickWeightedCluster(w, req(), 160, rt)!.name, 'c1');
  // A header value is reduced modulo the runtime's sum too.
  const h = wc([1, 1], 'split', 'x-r');
  assert.equal(pickWeightedCluster(h, req(['x-r', '159']), 0, rt)!.name, 'c0');
  // Not an integer: the configured weight.
  rt.update(new Map([['split.c0', createEntry('many')], ['split.c1', createEntry(-3)]]));
  assert.equal(pickWeightedCluster(w, req(), 50, rt)!.name, 'c1');
  // No cluster when the weights sum to 0 or overflow a uint32 (Envoy: no route).
  rt.update(new Map([['split.c0', createEntry(0)], ['split.c1', createEntry(0)]]));
  assert.equal(pickWeightedCluster(w, req(), 1, rt), null);
  rt.update(new Map([['split.c0', createEntry(0xffff_ffff)], ['split.c1', createEntry(1)]]));
  assert.equal(pickWeightedCluster(w, req(), 1, rt), null);
});

test('randomU53: odd and even values, within [0, 2^53)', () => {
  let odd = 0;
  for (let i = 0; i < 10_000; i++) {
    const r = randomU53();
    assert.ok(Number.isSafeInteger(r) && r >= 0);
    if (r % 2 === 1) odd++;
  }
  assert.ok(odd > 4_500 && odd < 5_500, `${odd}`);
});
