// Shared by the consistent-hashing load balancer tests (ring hash, Maglev): hosts, a ClusterInfo
// with a compiled lbConfig, request contexts with a fixed hash key, and test keys.
import { Host, HealthFlag, PrioritySet } from '../../../src/upstream/host.ts';
import type { LoadBalancer, LoadBalancerContext } from '../../../src/upstream/load-balancer.ts';
import { ClusterInfo } from '../../../src/upstream/cluster-info.ts';
import type { LocalityWeightSnap } from '../../../src/upstream/locality.ts';
import { xxHash64 } from '../../../src/common/xxhash64.ts';
import { TestSink, clusterSnap, hostSnap } from '../../upstream/fixtures.ts';

export const MAX_U64 = (1n << 64n) - 1n;
export const BAD = HealthFlag.FAILED_ACTIVE_HC;
export const DEGRADED = HealthFlag.DEGRADED_ACTIVE_HC;

/** A fresh stats sink with hosts and cluster infos writing into it. */
export class Env {
  readonly sink = new TestSink();

  /** `localityWeights`: locality_weighted_lb_config with these weights (null: not set). */
  info(lbConfig: unknown, panicThreshold = 50, localityWeights: LocalityWeightSnap[] | null = null): ClusterInfo {
    return new ClusterInfo(clusterSnap(this.sink, [], { lbConfig, panicThreshold, localityWeights }), this.sink);
  }

  /** `127.0.0.1:<port>` unless `address` says otherwise (Envoy's tests use tcp://127.0.0.1:9x). */
  host(port: number, o: { weight?: number; healthFlags?: number; priority?: number; address?: string; zone?: string } = {}): Host {
    return Host.fromSnap(hostSnap(this.sink, o.address ?? '127.0.0.1', port, {
      weight: o.weight ?? 1, healthFlags: o.healthFlags ?? 0, priority: o.priority ?? 0, zone: o.zone ?? '',
    }));
  }

  hosts(ports: readonly number[], o: { weight?: number; healthFlags?: number; priority?: number } = {}): Host[] {
    return ports.map((p) => this.host(p, o));
  }

  panics(info: ClusterInfo): number {
    return this.sink.v[info.s.lb_healthy_panic];
  }
}

/** Locality weights for zones `z0`, `z1`, ... in order (Envoy's tests' makeLocalityWeights; put
 *  host i's group in zone `z<i>` with `host(.., { zone })`). */
export function zoneWeights(weights: readonly number[], priority = 0): LocalityWeightSnap[] {
  return weights.map((weight, i) => ({ priority, region: '', zone: `z${i}`, subZone: '', weight }));
}

/** A priority set with `hosts` at `priority` (lower priorities created empty). */
export function setWith(hosts: readonly Host[], priority = 0): PrioritySet {
  const ps = new PrioritySet();
  ps.updateHosts(priority, hosts);
  return ps;
}

/** Envoy's TestLoadBalancerContext: a request whose hash key is `key`. */
export function keyed(key: bigint): LoadBalancerContext {
  return { downstreamHeaders: () => null, computeHashKey: () => key };
}

/** A request without a hash key. */
export const unkeyed: LoadBalancerContext = { downstreamHeaders: () => null, computeHashKey: () => null };

/** `n` well-spread 64-bit keys. */
export function testKeys(n: number): bigint[] {
  return Array.from({ length: n }, (_, i) => xxHash64(`key-${i}`));
}

/** The port each key maps to. */
export function portsFor(lb: LoadBalancer, keys: readonly bigint[]): number[] {
  return keys.map((k) => lb.chooseHost(keyed(k))!.port);
}

/** How many of `keys` land on each port. */
export function countByPort(lb: LoadBalancer, keys: readonly bigint[]): Map<number, number> {
  const counts = new Map<number, number>();
  for (const p of portsFor(lb, keys)) counts.set(p, (counts.get(p) ?? 0) + 1);
  return counts;
}

/** Envoy's distribution tests' keys: i * (UINT64_MAX / n) for i < n. */
export function evenKeys(n: number): bigint[] {
  const step = MAX_U64 / BigInt(n);
  return Array.from({ length: n }, (_, i) => BigInt(i) * step);
}

/** Remove `victim` from a 10-host set and report, over 10k keys, how many keys not on the victim
 *  stayed on their host, out of how many. */
export function keysKeptAfterRemoval(env: Env, make: (ps: PrioritySet) => LoadBalancer): { kept: number; of: number; total: number } {
  const hosts = Array.from({ length: 10 }, (_, i) => env.host(80, { address: `10.0.0.${i + 1}` }));
  const ps = setWith(hosts);
  const lb = make(ps);
  const keys = testKeys(10_000);
  const before = keys.map((k) => lb.chooseHost(keyed(k))!);
  const victim = hosts[3];
  ps.updateHosts(0, hosts.filter((h) => h !== victim));
  let kept = 0;
  let of = 0;
  keys.forEach((k, i) => {
    if (before[i] === victim) return;
    of++;
    if (lb.chooseHost(keyed(k)) === before[i]) kept++;
  });
  return { kept, of, total: keys.length };
}
