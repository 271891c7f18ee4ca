// weighted_clusters: the cluster picked per request as Envoy picks it (pickWeightedCluster): a
// random value (or the request's header_name value when it is one unsigned integer) modulo the
// sum of the weights, then the first cluster whose running total passes it, in config order.
import type { RequestHeaders } from '../http/types.ts';

export interface WeightedClusterSnap {
  name: string;
  /** ClusterWeight.cluster_header, lowercased (null: none): the request names the cluster. */
  clusterHeader: string | null;
  weight: number;
  /** ClusterWeight.host_rewrite_literal (null: none); it wins over the route's host rewrite. */
  hostRewrite: string | null;
}
export interface WeightedClustersSnap {
  clusters: WeightedClusterSnap[];
  /** The sum of the weights (> 0, checked at config time). */
  totalWeight: number;
  /** WeightedCluster.header_name, lowercased (null: a random value). */
  headerName: string | null;
}

const MAX_U64 = (1n << 64n) - 1n;

/** absl::SimpleAtoi into a uint64: optional surrounding whitespace, an optional '+', digits. */
function headerValue(v: string, total: number): number | null {
  const m = /^[ \t\n\v\f\r]*\+?(\d+)[ \t\n\v\f\r]*$/.exec(v);
  if (m === null) return null;
  const n = BigInt(m[1]);
  return n > MAX_U64 ? null : Number(n % BigInt(total));
}

/** A random integer in [0, 2^53): Envoy takes a random uint64 per stream. */
export function randomValue(): number {
  return Math.floor(Math.random() * 9007199254740992);
}

export function pickWeightedCluster(wc: WeightedClustersSnap, h: RequestHeaders, random: number): WeightedClusterSnap {
  let selected = -1;
  if (wc.headerName !== null) {
    // (Envoy takes the header only when it appears once.)
    const all = h.headers;
    let value: string | undefined;
    let count = 0;
    for (let i = 0; i < all.length; i += 2) {
      if (all[i].length === wc.headerName.length && all[i] === wc.headerName) {
        value = all[i + 1];
        count++;
      }
    }
    if (count === 1) selected = headerValue(value!, wc.totalWeight) ?? -1;
  }
  if (selected === -1) selected = random % wc.totalWeight;
  let end = 0;
  const cs = wc.clusters;
  for (let i = 0; i < cs.length; i++) {
    end += cs[i].weight;
    if (selected < end) return cs[i];
  }
  return cs[cs.length - 1];
}
