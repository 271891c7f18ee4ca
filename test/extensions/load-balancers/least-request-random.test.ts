// LEAST_REQUEST (power of choices; EDF over weight / (active + 1)^bias) and RANDOM (weighted when
// the weights differ), on hand-built priority sets; the active requests are the hosts' rq_active
// gauges in the worker's stats block, set directly here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Host, HealthFlag, PrioritySet } from '../../../src/upstream/host.ts';
import { ClusterInfo } from '../../../src/upstream/cluster-info.ts';
import { LeastRequestLoadBalancer } from '../../../src/extensions/load-balancers/least-request/index.ts';
import { RandomLoadBalancer } from '../../../src/extensions/load-balancers/random/index.ts';
import leastRequest from '../../../src/extensions/load-balancers/least-request/index.ts';
import { TestSink, clusterSnap, hostSnap } from '../../upstream/fixtures.ts';
import YAML from 'yaml';
import { ThreadLoader } from '../../../src/runtime/snapshot.ts';
import { createEntry } from '../../../src/runtime/entry.ts';
import { compileConfig, configErrors } from '../../config/fixtures.ts';

const sink = new TestSink();
const info = new ClusterInfo(clusterSnap(sink, []), sink);
let port = 1;
function host(weight = 1, flags = 0): Host {
  return Host.fromSnap(hostSnap(sink, '10.0.0.1', port++, { weight, healthFlags: flags }));
}
function share(picks: (Host | null)[], h: Host): number {
  return picks.filter((p) => p === h).length / picks.length;
}

test('least request, equal weights: of the sampled hosts the one with the fewest active requests wins', () => {
  const idle = host();
  const busy = host();
  sink.v[busy.hs.rq_active] = 5;
  const ps = new PrioritySet();
  ps.updateHosts(0, [idle, busy]);
  // Ten choices of two hosts: the busy one wins only if all ten sample it.
  const lb = new LeastRequestLoadBalancer(ps, info, { choiceCount: 10, activeRequestBias: 1, biasRuntimeKey: null });
  const picks = Array.from({ length: 1000 }, () => lb.chooseHost(null));
  assert.ok(share(picks, idle) > 0.99, `idle share ${share(picks, idle)}`);
  // Two choices: the busy host is picked only when sampled twice (about 1 in 4).
  const two = new LeastRequestLoadBalancer(ps, info, { choiceCount: 2, activeRequestBias: 1, biasRuntimeKey: null });
  const p2 = Array.from({ length: 4000 }, () => two.chooseHost(null));
  assert.ok(Math.abs(share(p2, busy) - 0.25) < 0.04, `busy share ${share(p2, busy)}`);
  sink.v[busy.hs.rq_active] = 0;
});

test('least request, weights differ: EDF over weight / (active + 1)^bias', () => {
  const heavy = host(3);
  const light = host(1);
  const ps = new PrioritySet();
  ps.updateHosts(0, [heavy, light]);
  // bias 0: plain weights, exactly.
  const wrr = new LeastRequestLoadBalancer(ps, info, { choiceCount: 2, activeRequestBias: 0, biasRuntimeKey: null });
  const picks = Array.from({ length: 400 }, () => wrr.chooseHost(null));
  assert.equal(share(picks, heavy), 0.75);
  // bias 1 with the heavy host busy: 3 / (5 + 1) = 0.5 against 1 / 1: the light one gets 2/3.
  sink.v[heavy.hs.rq_active] = 5;
  const lr = new LeastRequestLoadBalancer(ps, info, { choiceCount: 2, activeRequestBias: 1, biasRuntimeKey: null });
  const p2 = Array.from({ length: 600 }, () => lr.chooseHost(null));
  assert.ok(Math.abs(share(p2, light) - 2 / 3) < 0.01, `light share ${share(p2, light)}`);
  // bias 2: 3 / 36 against 1: the light one gets 12/13.
  const b2 = new LeastRequestLoadBalancer(ps, info, { choiceCount: 2, activeRequestBias: 2, biasRuntimeKey: null });
  const p3 = Array.from({ length: 1300 }, () => b2.chooseHost(null));
  assert.ok(Math.abs(share(p3, light) - 12 / 13) < 0.01, `light share ${share(p3, light)}`);
  sink.v[heavy.hs.rq_active] = 0;
});

test('least request: active_request_bias from the runtime, read when made and at each host set update (Envoy\'s refresh)', () => {
  const heavy = host(3);
  const light = host(1);
  const ps = new PrioritySet();
  ps.updateHosts(0, [heavy, light]);
  const runtime = new ThreadLoader(new Map([['lb.bias', createEntry(0)]]));
  const lb = new LeastRequestLoadBalancer(ps, info, { choiceCount: 2, activeRequestBias: 1, biasRuntimeKey: 'lb.bias' }, runtime);
  assert.equal(lb.activeRequestBias, 0);
  sink.v[heavy.hs.rq_active] = 5;
  // bias 0: plain weights whatever the load.
  let picks = Array.from({ length: 400 }, () => lb.chooseHost(null));
  assert.equal(share(picks, heavy), 0.75);
  // A runtime change alone leaves the cached bias (Envoy reads it in refresh(), not per pick)...
  runtime.update(new Map([['lb.bias', createEntry(2)]]));
  assert.equal(lb.activeRequestBias, 0);
  // ... a host set update reads it: 3 / 36 against 1, the light host gets 12/13.
  ps.updateHosts(0, [heavy, light]);
  assert.equal(lb.activeRequestBias, 2);
  picks = Array.from({ length: 1300 }, () => lb.chooseHost(null));
  assert.ok(Math.abs(share(picks, light) - 12 / 13) < 0.01, `light share ${share(picks, light)}`);
  // Without the key: default_value; a negative or NaN value: 1.0 (Envoy's fallback).
  runtime.update(new Map());
  ps.updateHosts(0, [heavy, light]);
  assert.equal(lb.activeRequestBias, 1);
  for (const bad of [createEntry(-1), createEntry('nan')]) {
    runtime.update(new Map([['lb.bias', bad]]));
    ps.updateHosts(0, [heavy, light]);
    assert.equal(lb.activeRequestBias, 1);
  }
  // Without active_request_bias the runtime is not read: 1.0.
  runtime.update(new Map([['lb.bias', createEntry(0)]]));
  const plain = new LeastRequestLoadBalancer(ps, info, { choiceCount: 2, activeRequestBias: 1, biasRuntimeKey: null }, runtime);
  assert.equal(plain.activeRequestBias, 1);
  sink.v[heavy.hs.rq_active] = 0;
});

test('least request and random skip unhealthy hosts, and give null for an empty cluster', () => {
  const ok = host();
  const bad = host(1, HealthFlag.FAILED_ACTIVE_HC);
  const ps = new PrioritySet();
  ps.updateHosts(0, [ok, bad, host(), host()]);
  const lr = new LeastRequestLoadBalancer(ps, info, { choiceCount: 2, activeRequestBias: 1, biasRuntimeKey: null });
  const rnd = new RandomLoadBalancer(ps, info);
  for (let i = 0; i < 200; i++) {
    assert.notEqual(lr.chooseHost(null), bad);
    assert.notEqual(rnd.chooseHost(null), bad);
  }
  const empty = new PrioritySet();
  assert.equal(new LeastRequestLoadBalancer(empty, info, { choiceCount: 2, activeRequestBias: 1, biasRuntimeKey: null }).chooseHost(null), null);
  assert.equal(new RandomLoadBalancer(empty, info).chooseHost(null), null);
});

test('random: uniform with equal weights, by weight otherwise', () => {
  const a = host(1);
  const b = host(1);
  const ps = new PrioritySet();
  ps.updateHosts(0, [a, b]);
  const lb = new RandomLoadBalancer(ps, info);
  const picks = Array.from({ length: 10000 }, () => lb.chooseHost(null));
  assert.ok(Math.abs(share(picks, a) - 0.5) < 0.03, `a ${share(picks, a)}`);
  const c = host(3);
  ps.updateHosts(0, [a, c]);
  const p2 = Array.from({ length: 10000 }, () => lb.chooseHost(null));
  assert.ok(Math.abs(share(p2, c) - 0.75) < 0.03, `c ${share(p2, c)}`);
});

test('least_request_lb_config: defaults, values, and a negative bias refused by path', () => {
  const cluster = (extra: string): string => `
static_resources:
  clusters:
  - name: c
    lb_policy: LEAST_REQUEST${extra}
    load_assignment:
      cluster_name: c
      endpoints:
      - lb_endpoints:
        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 1 } } }
`;
  assert.equal(leastRequest.lbPolicy, 'LEAST_REQUEST');
  assert.deepEqual(compileConfig(YAML.parse(cluster(''))).clusters[0].lbConfig, { choiceCount: 2, activeRequestBias: 1, biasRuntimeKey: null });
  assert.deepEqual(compileConfig(YAML.parse(cluster(`
    least_request_lb_config:
      choice_count: 3
      active_request_bias: { default_value: 0.5, runtime_key: lb.bias }`))).clusters[0].lbConfig,
  { choiceCount: 3, activeRequestBias: 0.5, biasRuntimeKey: 'lb.bias' });
  assert.match(configErrors(() => compileConfig(YAML.parse(cluster(`
    least_request_lb_config:
      active_request_bias: { default_value: -1, runtime_key: lb.bias }`)))).join('\n'),
  /static_resources\.clusters\[0\]\.least_request_lb_config\.active_request_bias\.default_value: must be >= 0, got -1/);
  assert.match(configErrors(() => compileConfig(YAML.parse(cluster(`
    least_request_lb_config:
      choice_count: 1`)))).join('\n'), /least_request_lb_config\.choice_count/);
  assert.match(configErrors(() => compileConfig(YAML.parse(cluster(`
    least_request_lb_config:
      slow_start_config: { slow_start_window: 1s }`)))).join('\n'), /slow_start_config: field is not supported by Legate/);
});
