// envoy.load_balancing_policies.maglev (Cluster.lb_policy MAGLEV, Cluster.maglev_lb_config).
// Envoy's MaglevLoadBalancer (source/extensions/load_balancing_policies/maglev/maglev_lb.cc), so
// that a hash key maps to the host Envoy maps it to: the lookup table is filled the same way, slot
// for slot. Priorities, panic and the no-hash-key case are the thread-aware base's
// (../common/thread-aware.ts).
//
// The table (the Maglev paper's listing 1, with Envoy's weighting): hosts sorted by their hash key
// (`<address>:<port>`), each with a permutation of the slots given by offset = xxHash64(key, 0) %
// size and skip = xxHash64(key, 1) % (size - 1) + 1 (size is prime, so every skip visits every
// slot). Rounds over the hosts fill the table: a host takes its next free slot in a round when its
// weight has caught up with its target (a host of the greatest weight every round, one of a third
// of it every third round). A pick is table[hash % size]. Like Envoy's CompactMaglevTable, slots
// hold host indexes, in the narrowest array that fits.
//
// Not supported (refused by the config loader, as they are not listed):
// common_lb_config.consistent_hashing_lb_config (use_hostname_for_hashing, hash_balance_factor).
import type { Host, PrioritySet } from '../../../upstream/host.ts';
import type { LoadBalancer } from '../../../upstream/load-balancer.ts';
import type { ClusterInfo } from '../../../upstream/cluster-info.ts';
import { xxHash64 } from '../../../common/xxhash64.ts';
import { ExtensionCategory, type CompileContext, type LoadBalancerModule } from '../../types.ts';
import {
  ThreadAwareLoadBalancer, hashKeyOf, type HashingLoadBalancer, type NormalizedHostWeights, type Random64,
} from '../common/thread-aware.ts';

export const NAME = 'envoy.load_balancing_policies.maglev';
/** The paper's recommended size (section 5.3), Envoy's default. */
export const DEFAULT_TABLE_SIZE = 65537;

/** What compile() returns (ClusterInfo.lbConfig). */
export interface MaglevConfig {
  tableSize: number;
}

export function isPrime(n: number): boolean {
  if (n < 2) return false;
  if (n % 2 === 0) return n === 2;
  for (let d = 3; d * d <= n; d += 2) if (n % d === 0) return false;
  return true;
}

/** One priority's Maglev table (Envoy's MaglevTable). */
export class MaglevTable implements HashingLoadBalancer {
  readonly tableSize: number;
  /** Hosts in hash-key order; `table` holds indexes into it. */
  readonly hosts: readonly Host[];
  readonly table: Uint8Array | Uint16Array | Uint32Array;
  /** Envoy's maglev_lb gauges: the fewest and most slots a host got. */
  readonly minEntriesPerHost: number;
  readonly maxEntriesPerHost: number;
  readonly #size: bigint;

  constructor(normalized: NormalizedHostWeights, tableSize: number) {
    this.tableSize = tableSize;
    this.#size = BigInt(tableSize);
    const n = normalized.hosts.length;
    if (n === 0) {
      this.hosts = [];
      this.table = new Uint8Array(0);
      this.minEntriesPerHost = 0;
      this.maxEntriesPerHost = 0;
      return;
    }
    // A stable order: the table is filled host by host, so the hosts' order decides who gets a
    // contested slot. Envoy sorts (key, host, weight) tuples; keys are distinct for distinct
    // addresses. Keys are ASCII, so string order is byte order.
    const keys = normalized.hosts.map(hashKeyOf);
    const order = Array.from({ length: n }, (_, i) => i)
      .sort((a, b) => (keys[a] < keys[b] ? -1 : keys[a] > keys[b] ? 1 : 0));
    const hosts = order.map((i) => normalized.hosts[i]);
    const weight = new Float64Array(n);
    const offset = new Float64Array(n);
    const skip = new Float64Array(n);
    for (let j = 0; j < n; j++) {
      const key = keys[order[j]];
      weight[j] = normalized.weights[order[j]];
      offset[j] = Number(xxHash64(key) % this.#size);
      skip[j] = Number(xxHash64(key, 1n) % BigInt(tableSize - 1)) + 1;
    }
    const table = n <= 0x100 ? new Uint8Array(tableSize) : n <= 0x10000 ? new Uint16Array(tableSize) : new Uint32Array(tableSize);
    const occupied = new Uint8Array(tableSize);
    const target = new Float64Array(n);
    // permutation(next) = (offset + skip * next) % size, kept as the current slot and stepped by
    // skip: the same slots, without products (which stay below 2^53 anyway: both < 5000011).
    const slot = Float64Array.from(offset);
    const count = new Float64Array(n);
    const maxWeight = normalized.max;
    let filled = 0;
    for (let iteration = 1; filled < tableSize; iteration++) {
      for (let j = 0; j < n && filled < tableSize; j++) {
        if (iteration * weight[j] < target[j]) continue;
        target[j] += maxWeight;
        let c = slot[j];
        while (occupied[c] !== 0) {
          c += skip[j];
          if (c >= tableSize) c -= tableSize;
        }
        table[c] = j;
        occupied[c] = 1;
        c += skip[j];
        slot[j] = c >= tableSize ? c - tableSize : c;
        count[j]++;
        filled++;
      }
    }
    let min = tableSize;
    let max = 0;
    for (let j = 0; j < n; j++) {
      if (count[j] < min) min = count[j];
      if (count[j] > max) max = count[j];
    }
    this.hosts = hosts;
    this.table = table;
    this.minEntriesPerHost = min;
    this.maxEntriesPerHost = max;
  }

  chooseHost(hash: bigint): Host | null {
    if (this.hosts.length === 0) return null;
    return this.hosts[this.table[Number(hash % this.#size)]];
  }
}

export class MaglevLoadBalancer extends ThreadAwareLoadBalancer {
  /** `random`: what a pick without a hash key uses (tests pass a fixed one). */
  constructor(ps: PrioritySet, info: ClusterInfo, random?: Random64) {
    const tableSize = (info.lbConfig as MaglevConfig | null)?.tableSize ?? DEFAULT_TABLE_SIZE;
    super(ps, info, (normalized) => new MaglevTable(normalized, tableSize), random);
  }
}

type Obj = Record<string, any>;

const maglev: LoadBalancerModule<MaglevConfig> = {
  name: NAME,
  category: ExtensionCategory.LoadBalancer,
  // Selected by lb_policy; its load_balancing_policy typed_config is not supported yet.
  types: [],
  fields: {
    'envoy.config.cluster.v3.Cluster': [['lb_policy', { enumValues: ['MAGLEV'] }], 'maglev_lb_config'],
    'envoy.config.cluster.v3.Cluster.MaglevLbConfig': ['table_size'],
  },
  protos: [],
  configField: 'maglev_lb_config',
  compile(cluster: Obj, ctx: CompileContext): MaglevConfig {
    // (The protos bound it at 5000011.)
    const tableSize: number = cluster.maglev_lb_config?.table_size ?? DEFAULT_TABLE_SIZE;
    if (!isPrime(tableSize)) {
      ctx.fail(`${ctx.path}.maglev_lb_config.table_size`, `The table size of maglev must be prime number, got ${tableSize}`);
    }
    return { tableSize };
  },
  lbPolicy: 'MAGLEV',
  create(prioritySet: PrioritySet, info: ClusterInfo): LoadBalancer {
    return new MaglevLoadBalancer(prioritySet, info);
  },
};
export default maglev;
