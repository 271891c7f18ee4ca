// envoy.load_balancing_policies.ring_hash (Cluster.lb_policy RING_HASH, Cluster.ring_hash_lb_config).
// Envoy's RingHashLoadBalancer (source/extensions/load_balancing_policies/ring_hash/ring_hash_lb.cc),
// so that a hash key maps to the host Envoy maps it to: the ketama ring built the same way, entry
// for entry, with xxHash64, and the same lookup. Priorities, panic and the no-hash-key case are the
// thread-aware base's (../common/thread-aware.ts).
//
// The ring: every host gets about `scale * normalized weight` entries, where scale is the smallest
// ring on which the lightest host gets a whole number of entries at minimum_ring_size, capped at
// maximum_ring_size. Fractional shares are settled with running sums over the hosts in order
// (current_hashes / target_hashes), so the total matches the ring size. Entry i of a host is the
// xxHash64 (seed 0) of `<address>:<port>_<i>`. A lookup takes the first entry whose hash is >= the
// request's hash, wrapping to the first entry.
//
// Not supported (refused by the config loader, as they are not listed): MURMUR_HASH_2, and
// common_lb_config.consistent_hashing_lb_config (use_hostname_for_hashing, hash_balance_factor).
import type { Host, PrioritySet } from '../../../upstream/host.ts';
import type { LoadBalancer } from '../../../upstream/load-balancer.ts';
import type { ClusterInfo } from '../../../upstream/cluster-info.ts';
import { xxHash64 } from '../../../common/xxhash64.ts';
import { ExtensionCategory, type CompileContext, type LoadBalancerModule } from '../../types.ts';
import {
  ThreadAwareLoadBalancer, hashKeyOf, type HashingLoadBalancer, type NormalizedHostWeights, type Random64,
} from '../common/thread-aware.ts';

export const NAME = 'envoy.load_balancing_policies.ring_hash';
export const DEFAULT_MIN_RING_SIZE = 1024;
export const DEFAULT_MAX_RING_SIZE = 1024 * 1024 * 8;

/** What compile() returns (ClusterInfo.lbConfig). */
export interface RingHashConfig {
  minimumRingSize: number;
  maximumRingSize: number;
}

/** Which 32-bit word of a little- or big-endian 64-bit element holds the high half. */
const HI = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 1 : 0;
const LO = 1 - HI;
const MASK32 = 0xFFFFFFFFn;

/** One priority's ring (Envoy's RingHashLoadBalancer::Ring): hashes sorted ascending, each with
 *  its host at the same index. */
export class Ring implements HashingLoadBalancer {
  readonly hashes: BigUint64Array;
  readonly hosts: readonly Host[];
  /** Envoy's ring_hash_lb gauges: the ring size it aimed for (ceil(scale)) and the fewest and most
   *  entries a host got. */
  readonly size: number;
  readonly minHashesPerHost: number;
  readonly maxHashesPerHost: number;
  /** `hashes` as 32-bit words, so a lookup compares numbers and allocates nothing. */
  readonly #words: Uint32Array;

  constructor(normalized: NormalizedHostWeights, minRingSize: number, maxRingSize: number) {
    const { hosts, weights } = normalized;
    if (hosts.length === 0) {
      this.hashes = new BigUint64Array(0);
      this.hosts = [];
      this.size = 0;
      this.minHashesPerHost = 0;
      this.maxHashesPerHost = 0;
      this.#words = new Uint32Array(0);
      return;
    }
    const minWeight = normalized.min;
    const scale = Math.min(Math.ceil(minWeight * minRingSize) / minWeight, maxRingSize);
    const ringSize = Math.ceil(scale);
    const entryHashes: bigint[] = [];
    const entryHosts: Host[] = [];
    let currentHashes = 0;
    let targetHashes = 0;
    let minPerHost = ringSize;
    let maxPerHost = 0;
    for (let h = 0; h < hosts.length; h++) {
      const host = hosts[h];
      const prefix = `${hashKeyOf(host)}_`;
      targetHashes += scale * weights[h];
      let i = 0;
      while (currentHashes < targetHashes) {
        entryHashes.push(xxHash64(prefix + i));
        entryHosts.push(host);
        i++;
        currentHashes++;
      }
      if (i < minPerHost) minPerHost = i;
      if (i > maxPerHost) maxPerHost = i;
    }
    const n = entryHashes.length;
    const order = new Uint32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    order.sort((a, b) => (entryHashes[a] < entryHashes[b] ? -1 : entryHashes[a] > entryHashes[b] ? 1 : 0));
    const sorted = new BigUint64Array(n);
    const sortedHosts = new Array<Host>(n);
    for (let i = 0; i < n; i++) {
      sorted[i] = entryHashes[order[i]];
      sortedHosts[i] = entryHosts[order[i]];
    }
    this.hashes = sorted;
    this.hosts = sortedHosts;
    this.size = ringSize;
    this.minHashesPerHost = minPerHost;
    this.maxHashesPerHost = maxPerHost;
    this.#words = new Uint32Array(sorted.buffer, sorted.byteOffset, n * 2);
  }

  /** The first entry whose hash is >= `hash`, else the first entry (Envoy's ketama search has
   *  this result). */
  chooseHost(hash: bigint): Host | null {
    const hosts = this.hosts;
    const n = hosts.length;
    if (n === 0) return null;
    const hi = Number(hash >> 32n);
    const lo = Number(hash & MASK32);
    const w = this.#words;
    let low = 0;
    let high = n;
    while (low < high) {
      const mid = (low + high) >>> 1;
      const mh = w[2 * mid + HI];
      if (mh < hi || (mh === hi && w[2 * mid + LO] < lo)) low = mid + 1;
      else high = mid;
    }
    return hosts[low === n ? 0 : low];
  }
}

export class RingHashLoadBalancer extends ThreadAwareLoadBalancer {
  /** `random`: what a pick without a hash key uses (tests pass a fixed one). */
  constructor(ps: PrioritySet, info: ClusterInfo, random?: Random64) {
    const c = (info.lbConfig as RingHashConfig | null)
      ?? { minimumRingSize: DEFAULT_MIN_RING_SIZE, maximumRingSize: DEFAULT_MAX_RING_SIZE };
    super(ps, info, (normalized) => new Ring(normalized, c.minimumRingSize, c.maximumRingSize), random);
  }
}

type Obj = Record<string, any>;

const ringHash: LoadBalancerModule<RingHashConfig> = {
  name: NAME,
  category: ExtensionCategory.LoadBalancer,
  // Selected by lb_policy; its load_balancing_policy typed_config is not supported yet.
  types: [],
  fields: {
    'envoy.config.cluster.v3.Cluster': [['lb_policy', { enumValues: ['RING_HASH'] }], 'ring_hash_lb_config'],
    'envoy.config.cluster.v3.Cluster.RingHashLbConfig': [
      'minimum_ring_size', 'maximum_ring_size', ['hash_function', { enumValues: ['XX_HASH'] }],
    ],
  },
  protos: [],
  configField: 'ring_hash_lb_config',
  compile(cluster: Obj, ctx: CompileContext): RingHashConfig {
    const c: Obj = cluster.ring_hash_lb_config ?? {};
    const minimumRingSize: number = c.minimum_ring_size ?? DEFAULT_MIN_RING_SIZE;
    const maximumRingSize: number = c.maximum_ring_size ?? DEFAULT_MAX_RING_SIZE;
    // (The protos bound both at 8M entries.)
    if (minimumRingSize > maximumRingSize) {
      ctx.fail(`${ctx.path}.ring_hash_lb_config.minimum_ring_size`,
        `ring hash: minimum_ring_size (${minimumRingSize}) > maximum_ring_size (${maximumRingSize})`);
    }
    return { minimumRingSize, maximumRingSize };
  },
  lbPolicy: 'RING_HASH',
  create(prioritySet: PrioritySet, info: ClusterInfo): LoadBalancer {
    return new RingHashLoadBalancer(prioritySet, info);
  },
};
export default ringHash;
