// Hosts and the host sets a cluster's load balancer picks from (Envoy's Host, HostSet and
// PrioritySet). A worker builds its own Host objects from the config snapshot; a cluster type
// (extensions/clusters/*) fills the PrioritySet and may change it at run time (updateHosts), and
// whoever keeps derived state (load balancers, pools of removed hosts) subscribes to updates.
// Members are compared by identity: an updated host is a new Host object.
import type { HostSnap } from '../config/snapshot.ts';
import type { ClusterStats, HostStats } from './stats.ts';
import type { HttpConnPool } from './conn-pool.ts';

/** Envoy's Host::HealthFlag bits. */
export const HealthFlag = {
  FAILED_ACTIVE_HC: 1 << 0,
  FAILED_OUTLIER_CHECK: 1 << 1,
  FAILED_EDS_HEALTH: 1 << 2,
  DEGRADED_ACTIVE_HC: 1 << 3,
  DEGRADED_EDS_HEALTH: 1 << 4,
  PENDING_DYNAMIC_REMOVAL: 1 << 5,
  PENDING_ACTIVE_HC: 1 << 6,
  EXCLUDED_VIA_IMMEDIATE_HC_FAIL: 1 << 7,
  ACTIVE_HC_TIMEOUT: 1 << 8,
  EDS_STATUS_DRAINING: 1 << 9,
} as const;

/** Names as /clusters prints them, in HostUtility::healthFlagsToString()'s order. */
const FLAG_NAMES: readonly [bit: number, name: string][] = [
  [HealthFlag.FAILED_ACTIVE_HC, 'failed_active_hc'],
  [HealthFlag.FAILED_OUTLIER_CHECK, 'failed_outlier_check'],
  [HealthFlag.FAILED_EDS_HEALTH, 'failed_eds_health'],
  [HealthFlag.DEGRADED_ACTIVE_HC, 'degraded_active_hc'],
  [HealthFlag.DEGRADED_EDS_HEALTH, 'degraded_eds_health'],
  [HealthFlag.PENDING_DYNAMIC_REMOVAL, 'pending_dynamic_removal'],
  [HealthFlag.PENDING_ACTIVE_HC, 'pending_active_hc'],
  [HealthFlag.EXCLUDED_VIA_IMMEDIATE_HC_FAIL, 'excluded_via_immediate_hc_fail'],
  [HealthFlag.ACTIVE_HC_TIMEOUT, 'active_hc_timeout'],
  [HealthFlag.EDS_STATUS_DRAINING, 'eds_status_draining'],
];

const UNHEALTHY = HealthFlag.FAILED_ACTIVE_HC | HealthFlag.FAILED_OUTLIER_CHECK | HealthFlag.FAILED_EDS_HEALTH;
const DEGRADED = HealthFlag.DEGRADED_ACTIVE_HC | HealthFlag.DEGRADED_EDS_HEALTH;
/** Envoy's excluded hosts: in the set, never picked. */
const EXCLUDED = HealthFlag.PENDING_DYNAMIC_REMOVAL | HealthFlag.PENDING_ACTIVE_HC | HealthFlag.EDS_STATUS_DRAINING
  | HealthFlag.EXCLUDED_VIA_IMMEDIATE_HC_FAIL;

/** The flags active health checking owns on a Host (upstream/health-check.ts); a host list from
 *  the config or a discovery says nothing about them. */
export const ACTIVE_HC_FLAGS = HealthFlag.FAILED_ACTIVE_HC | HealthFlag.DEGRADED_ACTIVE_HC | HealthFlag.PENDING_ACTIVE_HC
  | HealthFlag.EXCLUDED_VIA_IMMEDIATE_HC_FAIL;

/** Flag names of a bit set (`[]` when healthy), as admin's HostStatus.health_flags takes them. */
export function healthFlagNames(flags: number): string[] {
  const out: string[] = [];
  for (const [bit, name] of FLAG_NAMES) if ((flags & bit) !== 0) out.push(name);
  return out;
}

/** The bits of flag names (unknown names are ignored). */
export function healthFlagBits(names: readonly string[]): number {
  let flags = 0;
  for (const [bit, name] of FLAG_NAMES) if (names.includes(name)) flags |= bit;
  return flags;
}

/** LbEndpoint.health_status -> HealthFlag bits (Envoy: FAILED_EDS_HEALTH for UNHEALTHY and
 *  TIMEOUT, DEGRADED_EDS_HEALTH, EDS_STATUS_DRAINING; none for HEALTHY or UNKNOWN). */
export function edsHealthFlags(status: unknown): number {
  switch (status) {
    case 'UNHEALTHY': case 'TIMEOUT': return HealthFlag.FAILED_EDS_HEALTH;
    case 'DEGRADED': return HealthFlag.DEGRADED_EDS_HEALTH;
    case 'DRAINING': return HealthFlag.EDS_STATUS_DRAINING;
    default: return 0;
  }
}

/** Envoy's Host::Health (coarseHealth()). */
export const Health = { Unhealthy: 0, Degraded: 1, Healthy: 2 } as const;
export type Health = (typeof Health)[keyof typeof Health];

export interface Locality {
  region: string;
  zone: string;
  subZone: string;
}

export class Host {
  /** Where new connections go (a LOGICAL_DNS host moves: moveTo). */
  address: string;
  readonly port: number;
  /** "ip:port", as access logs and /clusters name the host. */
  hostString: string;
  /** Its stat slots (hidden; /clusters shows them). */
  readonly hs: HostStats;
  /** load_balancing_weight (1 when unset). */
  readonly weight: number;
  readonly priority: number;
  readonly locality: Locality;
  /** HealthFlag bits. */
  healthFlags: number;
  /** This worker's connection pools to the host, by Protocol (created on first use by the
   *  thread-local cluster). */
  readonly httpPools: (HttpConnPool | null)[];
  /** Envoy's Host::hostname() (HostSnap.hostname): '' for none. */
  readonly hostname: string;

  constructor(address: string, port: number, hs: HostStats, weight = 1, priority = 0,
    locality: Locality = { region: '', zone: '', subZone: '' }, healthFlags = 0, hostname = '') {
    this.address = address;
    this.port = port;
    this.hostString = `${address}:${port}`;
    this.hs = hs;
    this.weight = weight;
    this.priority = priority;
    this.locality = locality;
    this.healthFlags = healthFlags;
    this.httpPools = [null, null, null, null];
    this.hostname = hostname;
  }

  static fromSnap(h: HostSnap): Host {
    return new Host(h.address, h.port, h.stats, h.weight, h.priority,
      { region: h.region, zone: h.zone, subZone: h.subZone }, h.healthFlags, h.hostname);
  }

  /** A LOGICAL_DNS host's name resolves elsewhere now: new connections go to `address`; open
   *  ones stay where they are (Envoy's LogicalHost::setNewAddresses). */
  moveTo(address: string): void {
    this.address = address;
    this.hostString = `${address}:${this.port}`;
  }

  health(): Health {
    const f = this.healthFlags;
    if ((f & UNHEALTHY) !== 0) return Health.Unhealthy;
    if ((f & DEGRADED) !== 0) return Health.Degraded;
    return Health.Healthy;
  }

  /** The /clusters rendering: `healthy` or `/failed_active_hc/...`. */
  healthFlagsString(): string {
    const names = healthFlagNames(this.healthFlags);
    return names.length === 0 ? 'healthy' : names.map((n) => `/${n}`).join('');
  }
}

/** The hosts of one priority, with the lists a load balancer picks from. */
export class HostSet {
  readonly priority: number;
  hosts: readonly Host[];
  healthyHosts: readonly Host[];
  degradedHosts: readonly Host[];
  excludedHosts: readonly Host[];
  /** Every host has the same weight (a load balancer may skip weighing). */
  equalWeights: boolean;

  constructor(priority: number) {
    this.priority = priority;
    this.hosts = [];
    this.healthyHosts = [];
    this.degradedHosts = [];
    this.excludedHosts = [];
    this.equalWeights = true;
  }

  /** Recompute the derived lists (PrioritySet.updateHosts calls this). */
  setHosts(hosts: readonly Host[]): void {
    const healthy: Host[] = [];
    const degraded: Host[] = [];
    const excluded: Host[] = [];
    let equal = true;
    for (const h of hosts) {
      if (h.weight !== hosts[0].weight) equal = false;
      if ((h.healthFlags & EXCLUDED) !== 0) {
        excluded.push(h);
        continue;
      }
      const health = h.health();
      if (health === Health.Healthy) healthy.push(h);
      else if (health === Health.Degraded) degraded.push(h);
    }
    this.hosts = hosts.slice();
    this.healthyHosts = healthy;
    this.degradedHosts = degraded;
    this.excludedHosts = excluded;
    this.equalWeights = equal;
  }
}

/** Replace a priority set's hosts with a discovery's answer (`snaps`). A host that stays (same
 *  address, port, priority, weight, locality and health flags) keeps its Host object, pools and
 *  all; only the priorities whose lists changed are updated. */
export function updateHostsFromSnaps(ps: PrioritySet, snaps: readonly HostSnap[]): void {
  const have = new Map<string, Host>();
  for (const h of ps.allHosts()) {
    // (The main thread's verdicts, health checks' and outlier detection's, are not the config's.)
    const flags = h.healthFlags & ~(ACTIVE_HC_FLAGS | HealthFlag.FAILED_OUTLIER_CHECK);
    have.set(snapKey(h.address, h.port, h.priority, h.weight, flags, h.locality), h);
  }
  const byPriority: Host[][] = [];
  for (const s of snaps) {
    const loc = { region: s.region, zone: s.zone, subZone: s.subZone };
    const h = have.get(snapKey(s.address, s.port, s.priority, s.weight, s.healthFlags, loc)) ?? Host.fromSnap(s);
    (byPriority[s.priority] ??= []).push(h);
  }
  const n = Math.max(byPriority.length, ps.hostSetsPerPriority.length);
  for (let p = 0; p < n; p++) {
    const next = byPriority[p] ?? [];
    const cur = p < ps.hostSetsPerPriority.length ? ps.hostSetsPerPriority[p].hosts : [];
    if (next.length === cur.length && next.every((h, i) => h === cur[i])) continue;
    ps.updateHosts(p, next);
  }
}

function snapKey(address: string, port: number, priority: number, weight: number, flags: number, l: Locality): string {
  return `${address}|${port}|${priority}|${weight}|${flags}|${l.region}|${l.zone}|${l.subZone}`;
}

export type MemberUpdateCb = (added: readonly Host[], removed: readonly Host[]) => void;
export type PriorityUpdateCb = (priority: number, added: readonly Host[], removed: readonly Host[]) => void;

export interface CallbackHandle {
  remove(): void;
}

/** A cluster's host sets by priority (0 is the highest). */
export class PrioritySet {
  readonly hostSetsPerPriority: HostSet[];
  readonly #memberCbs: MemberUpdateCb[];
  readonly #priorityCbs: PriorityUpdateCb[];

  constructor() {
    this.hostSetsPerPriority = [];
    this.#memberCbs = [];
    this.#priorityCbs = [];
  }

  /** The host set of a priority, created (empty) when missing, with every lower one. */
  getOrCreateHostSet(priority: number): HostSet {
    const sets = this.hostSetsPerPriority;
    while (sets.length <= priority) sets.push(new HostSet(sets.length));
    return sets[priority];
  }

  /** Every host of every priority. */
  allHosts(): Host[] {
    const out: Host[] = [];
    for (const s of this.hostSetsPerPriority) for (const h of s.hosts) out.push(h);
    return out;
  }

  /** Replace a priority's hosts. `added`/`removed` default to the difference with the current
   *  list (by identity). Priority-update callbacks run on every call (a health change alone is an
   *  update); member-update callbacks only when hosts came or went. */
  updateHosts(priority: number, hosts: readonly Host[], added?: readonly Host[], removed?: readonly Host[]): void {
    const set = this.getOrCreateHostSet(priority);
    if (added === undefined || removed === undefined) {
      const before = new Set(set.hosts);
      const after = new Set(hosts);
      added ??= hosts.filter((h) => !before.has(h));
      removed ??= set.hosts.filter((h) => !after.has(h));
    }
    set.setHosts(hosts);
    for (const cb of this.#priorityCbs.slice()) cb(priority, added, removed);
    if (added.length > 0 || removed.length > 0) {
      for (const cb of this.#memberCbs.slice()) cb(added, removed);
    }
  }

  addMemberUpdateCb(cb: MemberUpdateCb): CallbackHandle {
    return addCb(this.#memberCbs, cb);
  }
  addPriorityUpdateCb(cb: PriorityUpdateCb): CallbackHandle {
    return addCb(this.#priorityCbs, cb);
  }
}

function addCb<T>(list: T[], cb: T): CallbackHandle {
  list.push(cb);
  return {
    remove(): void {
      const i = list.indexOf(cb);
      if (i !== -1) list.splice(i, 1);
    },
  };
}

/** What the membership stats look at: a Host or the snapshot's HostSnap. */
export interface MemberFacts {
  weight: number;
  healthFlags: number;
}

/** Envoy's cluster membership stats (membership_total/healthy/degraded, max_host_weight gauges,
 *  the membership_change counter) for a cluster's current hosts. They describe the process, not a
 *  worker, so ONE thread writes them into its own block (main, which builds the snapshot the
 *  workers' host sets come from): a gauge set by every worker would be summed N times.
 *  `changed`: hosts came or went since the last call (the first, non-empty set counts, as
 *  Envoy's initial updateHosts does). */
export function recordMembership(
  v: Float64Array, s: Pick<ClusterStats, MembershipStat>, hosts: readonly MemberFacts[], changed: boolean,
): void {
  let healthy = 0;
  let degraded = 0;
  let maxWeight = 0;
  for (const h of hosts) {
    if (h.weight > maxWeight) maxWeight = h.weight;
    if ((h.healthFlags & EXCLUDED) !== 0) continue;
    if ((h.healthFlags & UNHEALTHY) !== 0) continue;
    if ((h.healthFlags & DEGRADED) !== 0) degraded++;
    else healthy++;
  }
  v[s.membership_total] = hosts.length;
  v[s.membership_healthy] = healthy;
  v[s.membership_degraded] = degraded;
  v[s.max_host_weight] = maxWeight;
  if (changed) v[s.membership_change]++;
}

type MembershipStat = 'membership_total' | 'membership_healthy' | 'membership_degraded'
  | 'max_host_weight' | 'membership_change';
