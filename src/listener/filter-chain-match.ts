// Filter-chain selection (Envoy's FilterChainManagerImpl): a listener's `filter_chains[]` are
// indexed by their `filter_chain_match` once, when the config arrives, into nested lookup tables,
// one level per criterion in Envoy's order:
//   destination_port -> prefix_ranges (destination IP) -> server_names -> transport_protocol ->
//   application_protocols -> source_type -> source_prefix_ranges -> source_ports
// A connection walks the levels; at each one the most specific entry that matches wins (an exact
// port before "any port"; the longest CIDR; an exact server name, then the longest `*.` suffix,
// then the chains without server_names; the first of the client's ALPN protocols any chain names,
// then the chains without application_protocols ...). Like Envoy, there is no backtracking: once a
// level picked its entry, a miss further down is a miss (the default chain, if any, takes it),
// except that a destination port with no match falls to the default chain rather than to the
// chains without a destination_port.
//
// CIDR levels are a list of ranges sorted longest prefix first (Envoy uses an LC trie; listeners
// have few ranges). An IPv4-mapped IPv6 address (`::ffff:10.0.0.1`, what a dual-stack socket
// reports) is matched as the IPv4 address.
import { cidrError, cidrRange, ipBytes, prefixMatches } from '../common/cidr.ts';

/** A chain's filter_chain_match, normalized (the snapshot carries it). */
export interface ChainMatchSnap {
  /** 0: any. */
  destinationPort: number;
  /** `address/len` with the address canonical (the host bits kept as written). */
  prefixRanges: string[];
  /** Lowercase; `*.example.com` kept as written. */
  serverNames: string[];
  transportProtocol: string;
  applicationProtocols: string[];
  /** 0 ANY, 1 SAME_IP_OR_LOOPBACK, 2 EXTERNAL. */
  sourceType: number;
  sourcePrefixRanges: string[];
  sourcePorts: number[];
}

export const SOURCE_TYPES: readonly string[] = ['ANY', 'SAME_IP_OR_LOOPBACK', 'EXTERNAL'];

type Obj = Record<string, any>;

/** The normalized match of a FilterChain's `filter_chain_match` (absent: matches everything). */
export function chainMatchOf(m: Obj | undefined): ChainMatchSnap {
  const cidrs = (v: unknown): string[] => (Array.isArray(v) ? v as Obj[] : [])
    .map((r) => `${String(r.address_prefix ?? '')}/${r.prefix_len ?? 0}`);
  const st = m?.source_type;
  return {
    destinationPort: m?.destination_port ?? 0,
    prefixRanges: cidrs(m?.prefix_ranges),
    serverNames: ((m?.server_names ?? []) as string[]).map((s) => s.toLowerCase()),
    transportProtocol: m?.transport_protocol ?? '',
    applicationProtocols: [...((m?.application_protocols ?? []) as string[])],
    sourceType: typeof st === 'number' ? st : Math.max(0, SOURCE_TYPES.indexOf(String(st ?? 'ANY'))),
    sourcePrefixRanges: cidrs(m?.source_prefix_ranges),
    sourcePorts: [...((m?.source_ports ?? []) as number[])],
  };
}

/** Whether a match has no criterion (the chain takes every connection). */
export function isEmptyMatch(m: ChainMatchSnap): boolean {
  return m.destinationPort === 0 && m.prefixRanges.length === 0 && m.serverNames.length === 0
    && m.transportProtocol === '' && m.applicationProtocols.length === 0 && m.sourceType === 0
    && m.sourcePrefixRanges.length === 0 && m.sourcePorts.length === 0;
}

// ---- addresses (common/cidr.ts) ----------------------------------------------------------

export { cidrError, ipBytes };

interface CidrEntry<V> {
  bytes: Uint8Array;
  /** Prefix length in bits (-1: the catch-all, both families). */
  len: number;
  value: V;
}

/** Longest-prefix lookup over a few CIDR ranges (and a catch-all). */
class CidrTable<V> {
  readonly entries: CidrEntry<V>[];
  constructor(entries: CidrEntry<V>[]) {
    this.entries = entries.sort((a, b) => b.len - a.len);
  }
  lookup(ip: Uint8Array | null): V | undefined {
    const e = this.entries;
    for (let i = 0; i < e.length; i++) {
      const x = e[i];
      if (x.len < 0) return x.value;
      if (ip !== null && ip.length === x.bytes.length && prefixMatches(ip, x.bytes, x.len)) return x.value;
    }
    return undefined;
  }
}

// ---- the index ----------------------------------------------------------------------------

/** What a connection is matched on (the socket's facts, as listener filters left them). */
export interface MatchFacts {
  readonly localIp: string;
  readonly localPort: number;
  readonly remoteIp: string;
  readonly remotePort: number;
  readonly requestedServerName: string;
  readonly detectedTransportProtocol: string;
  readonly applicationProtocols: readonly string[];
}

type PortsMap<T> = Map<number, T>;
type SourceTypes<T> = [CidrTable<PortsMap<T>> | null, CidrTable<PortsMap<T>> | null, CidrTable<PortsMap<T>> | null];
type AlpnMap<T> = Map<string, SourceTypes<T>>;
type TransportMap<T> = Map<string, AlpnMap<T>>;
type ServerNameMap<T> = Map<string, TransportMap<T>>;

/** Why building the index failed: chain `index` repeats (`same`) or overlaps (`overlap`) an
 *  earlier one's rules. */
export class ChainMatchConflict extends Error {
  readonly index: number;
  readonly kind: 'same' | 'overlap';
  readonly other: number;
  constructor(index: number, kind: 'same' | 'overlap', other: number) {
    super(kind === 'same' ? 'multiple filter chains with the same matching rules are defined'
      : 'multiple filter chains with overlapping matching rules are defined');
    this.index = index;
    this.kind = kind;
    this.other = other;
  }
}

// While building: plain maps keyed by CIDR strings, turned into CidrTables at the end.
interface Build<T> {
  ports: Map<number, Map<string, ServerNameMap<T>>>;
}

export class FilterChainMatcher<T> {
  readonly #ports: Map<number, CidrTable<ServerNameMap<T>>>;
  /** Whether any level needs the peer's or our own address (a getpeername/getsockname). */
  readonly needsAddresses: boolean;

  /** Index `chains` by `matches` (same order). Throws ChainMatchConflict. */
  constructor(matches: readonly ChainMatchSnap[], chains: readonly T[]) {
    const b: Build<T> = { ports: new Map() };
    const seen = new Map<string, number>();
    let needsAddresses = false;
    // Leaves remember which chain put them there, for the overlap error.
    const owner = new Map<object, Map<number, number>>();
    matches.forEach((m, i) => {
      const key = JSON.stringify(m);
      const same = seen.get(key);
      if (same !== undefined) throw new ChainMatchConflict(i, 'same', same);
      seen.set(key, i);
      if (m.destinationPort !== 0 || m.prefixRanges.length > 0 || m.sourceType !== 0
        || m.sourcePrefixRanges.length > 0 || m.sourcePorts.length > 0) needsAddresses = true;
      let dst = b.ports.get(m.destinationPort);
      if (dst === undefined) b.ports.set(m.destinationPort, dst = new Map());
      for (const d of orAny(m.prefixRanges)) {
        let sni = dst.get(d);
        if (sni === undefined) dst.set(d, sni = new Map());
        for (const sn of orAny(m.serverNames)) {
          const snKey = sn.startsWith('*.') ? sn.slice(1) : sn;
          let tp = sni.get(snKey);
          if (tp === undefined) sni.set(snKey, tp = new Map());
          let alpn = tp.get(m.transportProtocol);
          if (alpn === undefined) tp.set(m.transportProtocol, alpn = new Map());
          for (const ap of orAny(m.applicationProtocols)) {
            let st = alpn.get(ap);
            if (st === undefined) alpn.set(ap, st = [null, null, null]);
            // Built as Map<cidr, PortsMap> first; converted below.
            let src = st[m.sourceType] as unknown as Map<string, PortsMap<T>> | null;
            if (src === null) st[m.sourceType] = (src = new Map()) as never;
            for (const s of orAny(m.sourcePrefixRanges)) {
              let ports = src.get(s);
              if (ports === undefined) src.set(s, ports = new Map());
              let own = owner.get(ports);
              if (own === undefined) owner.set(ports, own = new Map());
              for (const p of m.sourcePorts.length === 0 ? [0] : m.sourcePorts) {
                if (ports.has(p)) throw new ChainMatchConflict(i, 'overlap', own.get(p)!);
                ports.set(p, chains[i]);
                own.set(p, i);
              }
            }
          }
        }
      }
    });
    this.needsAddresses = needsAddresses;
    this.#ports = new Map();
    for (const [port, dsts] of b.ports) {
      for (const sni of dsts.values()) {
        for (const tp of sni.values()) {
          for (const alpn of tp.values()) {
            for (const st of alpn.values()) {
              for (let k = 0; k < 3; k++) {
                const m = st[k] as unknown as Map<string, PortsMap<T>> | null;
                if (m !== null) st[k] = table(m);
              }
            }
          }
        }
      }
      this.#ports.set(port, table(dsts));
    }
  }

  /** The chain for a connection, or null (the caller falls back to the default chain). Reads
   *  only the facts some chain's rules need (an address costs a getsockname/getpeername). */
  find(f: MatchFacts): T | null {
    const ports = this.#ports;
    if (ports.size === 1) {
      const only = ports.get(0);
      if (only !== undefined) return this.#fromDestination(only, f);
    }
    const specific = ports.get(f.localPort);
    if (specific !== undefined) return this.#fromDestination(specific, f);
    const any = this.#ports.get(0);
    return any === undefined ? null : this.#fromDestination(any, f);
  }

  #fromDestination(t: CidrTable<ServerNameMap<T>>, f: MatchFacts): T | null {
    const sni = t.lookup(t.entries.length === 1 && t.entries[0].len < 0 ? null : ipBytes(f.localIp));
    if (sni === undefined) return null;
    const tp = serverName(sni, f.requestedServerName);
    if (tp === undefined) return null;
    const alpn = tp.get(f.detectedTransportProtocol) ?? tp.get('');
    if (alpn === undefined) return null;
    let st: SourceTypes<T> | undefined;
    const offered = f.applicationProtocols;
    for (let i = 0; i < offered.length && st === undefined; i++) st = alpn.get(offered[i]);
    st ??= alpn.get('');
    if (st === undefined) return null;
    let src: CidrTable<PortsMap<T>> | null = null;
    if (st[1] !== null || st[2] !== null) {
      const local = isSameIpOrLoopback(f);
      src = local ? st[1] : st[2];
    }
    src ??= st[0];
    if (src === null) return null;
    const ports = src.lookup(src.entries.length === 1 && src.entries[0].len < 0 ? null : ipBytes(f.remoteIp));
    if (ports === undefined) return null;
    if (ports.size === 1 && ports.has(0)) return ports.get(0)!;
    return ports.get(f.remotePort) ?? ports.get(0) ?? null;
  }
}

function orAny<V extends string>(list: readonly V[]): readonly V[] {
  return list.length === 0 ? [''] as V[] : list;
}

function table<V>(m: Map<string, V>): CidrTable<V> {
  const entries: CidrEntry<V>[] = [];
  for (const [cidr, value] of m) {
    if (cidr === '') {
      entries.push({ bytes: new Uint8Array(0), len: -1, value });
      continue;
    }
    const { bytes, len } = cidrRange(cidr);
    entries.push({ bytes, len, value });
  }
  return new CidrTable(entries);
}

/** Exact name, then `.suffix` entries longest first, then the chains without server_names. */
function serverName<V>(m: Map<string, V>, name: string): V | undefined {
  if (name !== '') {
    const exact = m.get(name);
    if (exact !== undefined) return exact;
    for (let pos = name.indexOf('.', 1); pos >= 0 && pos < name.length - 1; pos = name.indexOf('.', pos + 1)) {
      const w = m.get(name.slice(pos));
      if (w !== undefined) return w;
    }
  }
  return m.get('');
}

/** Envoy's Network::Utility::isSameIpOrLoopback: the peer is a loopback address or our own. */
function isSameIpOrLoopback(f: MatchFacts): boolean {
  const r = ipBytes(f.remoteIp);
  if (r === null) return false;
  if (r.length === 4 && r[0] === 127) return true;
  if (r.length === 16 && r[15] === 1 && r.every((b, i) => i === 15 || b === 0)) return true;
  const l = ipBytes(f.localIp);
  return l !== null && l.length === r.length && l.every((b, i) => b === r[i]);
}
