// DNS resolution for the clusters that name their hosts (STRICT_DNS, LOGICAL_DNS): the resolver
// interface (Envoy's Network::DnsResolver) the resolver extensions implement
// (extensions/network/dns-resolver/*), and the hosts file, which Envoy's default resolver (c-ares'
// getaddrinfo) answers from before it asks DNS. Main thread only.
import fs from 'node:fs';
import net from 'node:net';

/** Cluster.dns_lookup_family. AUTO: IPv6, else IPv4; V4_PREFERRED: IPv4, else IPv6; ALL: both. */
export type DnsLookupFamily = 'AUTO' | 'V4_ONLY' | 'V6_ONLY' | 'V4_PREFERRED' | 'ALL';

export interface DnsAddress {
  address: string;
  /** Seconds; 0 when the answer has none (the hosts file, getaddrinfo). */
  ttlS: number;
}

/** A resolution: `ok` with at least one address, or failed (no such name, no address of the
 *  family, SERVFAIL, timeout: Envoy's ResolutionStatus::Failure for all of them). */
export type DnsResult = { ok: true; addresses: DnsAddress[] } | { ok: false; reason: string };

export interface DnsResolver {
  resolve(name: string, family: DnsLookupFamily): Promise<DnsResult>;
  /** Cancel what is in flight (their promises settle as failures). */
  stop(): void;
}

/** The families to ask, in order; `both`: ask every one and join the answers (ALL), else the
 *  first that answers wins. */
export function familyOrder(family: DnsLookupFamily): { order: (4 | 6)[]; both: boolean } {
  switch (family) {
    case 'V4_ONLY': return { order: [4], both: false };
    case 'V6_ONLY': return { order: [6], both: false };
    case 'V4_PREFERRED': return { order: [4, 6], both: false };
    case 'ALL': return { order: [4, 6], both: true };
    default: return { order: [6, 4], both: false };
  }
}

/** Ask `lookup` for each family `family` names, in order (ALL: every one, answers joined; else
 *  the first with an address wins): Envoy's dual lookups. A failure of each is the last error. */
export async function resolveByFamily(family: DnsLookupFamily, lookup: (fam: 4 | 6) => Promise<DnsAddress[]>): Promise<DnsResult> {
  const { order, both } = familyOrder(family);
  const out: DnsAddress[] = [];
  let reason = '';
  for (const fam of order) {
    try {
      for (const a of await lookup(fam)) out.push(a);
    } catch (err) {
      reason = (err as { code?: string }).code ?? String(err);
    }
    if (out.length > 0 && !both) break;
  }
  return out.length > 0 ? { ok: true, addresses: out } : { ok: false, reason: reason || 'no address' };
}

/** A name that is an IP address answers itself (of its own family only). */
export function literalAnswer(name: string, family: DnsLookupFamily): DnsResult | null {
  const v = net.isIP(name);
  if (v === 0) return null;
  if (!familyOrder(family).order.includes(v as 4 | 6)) return { ok: false, reason: `${name} is not of family ${family}` };
  return { ok: true, addresses: [{ address: name, ttlS: 0 }] };
}

const HOSTS_PATH = '/etc/hosts';

interface HostsFile {
  path: string;
  mtimeMs: number;
  size: number;
  /** lower-case name -> addresses of each family, in file order. */
  names: Map<string, { v4: string[]; v6: string[] }>;
}

let hostsFile: HostsFile | null = null;

/** The hosts file's answer for `name`, or null when it has none of the family (re-read when the
 *  file changes). */
export function hostsFileAnswer(name: string, family: DnsLookupFamily, path = HOSTS_PATH): DnsResult | null {
  const f = readHostsFile(path);
  const e = f?.names.get(name.toLowerCase());
  if (e === undefined) return null;
  const { order, both } = familyOrder(family);
  const out: DnsAddress[] = [];
  for (const fam of order) {
    const list = fam === 4 ? e.v4 : e.v6;
    for (const address of list) out.push({ address, ttlS: 0 });
    if (out.length > 0 && !both) break;
  }
  return out.length === 0 ? null : { ok: true, addresses: out };
}

function readHostsFile(path: string): HostsFile | null {
  let st: fs.Stats;
  try {
    st = fs.statSync(path);
  } catch {
    return null;
  }
  if (hostsFile !== null && hostsFile.path === path && hostsFile.mtimeMs === st.mtimeMs && hostsFile.size === st.size) {
    return hostsFile;
  }
  const names = new Map<string, { v4: string[]; v6: string[] }>();
  let text = '';
  try {
    text = fs.readFileSync(path, 'latin1');
  } catch {
    return null;
  }
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (line === '') continue;
    const [ip, ...aliases] = line.split(/\s+/);
    const v = net.isIP(ip);
    if (v === 0) continue;
    for (const a of aliases) {
      const key = a.toLowerCase();
      let e = names.get(key);
      if (e === undefined) names.set(key, e = { v4: [], v6: [] });
      (v === 4 ? e.v4 : e.v6).push(ip);
    }
  }
  hostsFile = { path, mtimeMs: st.mtimeMs, size: st.size, names };
  return hostsFile;
}
