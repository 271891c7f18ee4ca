// weighted_clusters: the cluster picked per request as Envoy picks it (WeightedClusterSpecifierPlugin::
// pickWeightedCluster): the stream's random value (or the request's header_name value when it is
// one unsigned integer) modulo the sum of the weights, then the first cluster whose running total
// passes it, in config order. With runtime_key_prefix each weight is the runtime's
// `<prefix>.<cluster name>` (an integer; the configured weight when unset), read per request, and
// the sum is that of those weights.
import type { RequestHeaders } from '../http/types.ts';
import type { Loader } from '../runtime/types.ts';
import type { HeaderParserSnap } from './header-parser.ts';

export interface WeightedClusterSnap {
  name: string;
  /** ClusterWeight.cluster_header, lowercased (null: none): the request names the cluster. */
  clusterHeader: string | null;
  weight: number;
  /** `<runtime_key_prefix>.<name>` (null: no runtime_key_prefix). */
  runtimeKey: string | null;
  /** ClusterWeight.host_rewrite_literal (null: none); it wins over the route's host rewrite. */
  hostRewrite: string | null;
  /** The request / response custom headers of a stream that picked this cluster: its own
   *  parser in front of the route's chain (router/header-parser.ts), or the route's chain itself
   *  when it has none (router/compile-headers.ts fills them; null: none anywhere). */
  requestHeaderParsers?: HeaderParserSnap[] | null;
  responseHeaderParsers?: HeaderParserSnap[] | null;
}
export interface WeightedClustersSnap {
  clusters: WeightedClusterSnap[];
  /** The sum of the configured weights (> 0, checked at config time). */
  totalWeight: number;
  /** WeightedCluster.header_name, lowercased (null: a random value). */
  headerName: string | null;
  /** Whether runtime_key_prefix is set (the weights are then read from the runtime). */
  runtime: boolean;
}

/** Envoy keeps the sum of the weights in a uint32. */
const MAX_TOTAL = 0xffff_ffff;
const MAX_U64 = (1n << 64n) - 1n;

/** absl::SimpleAtoi into a uint64: optional surrounding whitespace, an optional '+', digits;
 *  reduced modulo `total` (null: not one). */
function headerValue(v: string, total: number): number | null {
  const m = /^[ \t\n\v\f\r]*\+?(\d+)[ \t\n\v\f\r]*$/.exec(v);
  if (m === null) return null;
  const n = BigInt(m[1]);
  return n > MAX_U64 ? null : Number(n % BigInt(total));
}

/** The cluster for this request, or null when the runtime's weights sum to 0 or past 2^32 - 1
 *  (Envoy's route lookup then finds no route). `random` is the stream's random value. */
export function pickWeightedCluster(wc: WeightedClustersSnap, h: RequestHeaders, random: number,
  runtime: Loader): WeightedClusterSnap | null {
  const cs = wc.clusters;
  // (One snapshot for the whole pick: the weights summed are the weights walked.)
  const snap = wc.runtime ? runtime.snapshot() : null;
  let total = wc.totalWeight;
  if (snap !== null) {
    total = 0;
    for (let i = 0; i < cs.length; i++) total += snap.getInteger(cs[i].runtimeKey!, cs[i].weight);
    if (total === 0 || total > MAX_TOTAL) return null;
  }
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
    if (count === 1) selected = headerValue(value!, total) ?? -1;
  }
  if (selected === -1) selected = random % total;
  let end = 0;
  for (let i = 0; i < cs.length; i++) {
    end += snap === null ? cs[i].weight : snap.getInteger(cs[i].runtimeKey!, cs[i].weight);
    if (selected < end) return cs[i];
  }
  return cs[cs.length - 1];
}
