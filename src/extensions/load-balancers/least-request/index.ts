// envoy.load_balancing_policies.least_request (Cluster.lb_policy LEAST_REQUEST, config in
// least_request_lb_config), Envoy's LeastRequestLoadBalancer:
// - equal weights: the power of `choice_count` choices (default 2): that many hosts at random, the
//   one with the fewest active requests wins;
// - weights differ: Envoy's EDF scheduler over dynamic weights
//   `load_balancing_weight / (active_requests + 1) ^ active_request_bias` (bias 1.0 by default; 0
//   is plain weighted round robin): each pick takes the earliest deadline and puts the host back
//   with its weight as it is now.
// Active requests are this worker's to the host (the rq_active gauge of the worker's stats block;
// Envoy's counter is process-wide). Which hosts: the cluster's PriorityLoad, one EDF schedule per
// source. The bias is active_request_bias read from the runtime (`runtime_key`, default_value when
// no layer sets it; 1.0 without active_request_bias), as Envoy's LeastRequestLoadBalancer::refresh
// does: when the balancer is made and again whenever a host set of the cluster changes (hosts,
// health, ejections), not per pick, so a runtime change applies from the next host set update. A
// negative or NaN runtime value is replaced by 1.0 (Envoy also logs a warning).
import type { Host, PrioritySet } from '../../../upstream/host.ts';
import {
  priorityLoadOf, type LoadBalancer, type LoadBalancerContext, type PriorityLoad,
} from '../../../upstream/load-balancer.ts';
import type { ClusterInfo } from '../../../upstream/cluster-info.ts';
import type { StatSink } from '../../../common/stat-sink.ts';
import type { Loader } from '../../../runtime/types.ts';
import { NULL_LOADER } from '../../../runtime/snapshot.ts';
import { ExtensionCategory, type CompileContext, type LoadBalancerModule } from '../../types.ts';

export const NAME = 'envoy.load_balancing_policies.least_request';

export interface LeastRequestSnap {
  choiceCount: number;
  /** active_request_bias.default_value (1 when active_request_bias is not set). */
  activeRequestBias: number;
  /** active_request_bias.runtime_key (null when active_request_bias is not set). */
  biasRuntimeKey: string | null;
}

type Obj = Record<string, any>;

/** An earliest-deadline-first schedule over one source (Envoy's EdfScheduler): a binary heap of
 *  (deadline, order) with the hosts in a parallel array. */
class Edf {
  readonly #deadline: number[];
  readonly #order: number[];
  readonly #host: Host[];
  #now: number;
  #seq: number;

  constructor(hosts: readonly Host[], weight: (h: Host) => number) {
    this.#deadline = [];
    this.#order = [];
    this.#host = [];
    this.#now = 0;
    this.#seq = 0;
    for (const h of hosts) this.#add(h, weight(h));
  }

  /** The host with the earliest deadline, put back with its current weight. */
  pickAndAdd(weight: (h: Host) => number): Host | null {
    if (this.#host.length === 0) return null;
    const h = this.#host[0];
    this.#now = this.#deadline[0];
    this.#pop();
    this.#add(h, weight(h));
    return h;
  }

  #add(h: Host, w: number): void {
    const d = this.#deadline;
    const o = this.#order;
    const hs = this.#host;
    let i = hs.length;
    d.push(this.#now + 1 / Math.max(w, 1e-9));
    o.push(this.#seq++);
    hs.push(h);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#less(i, parent)) break;
      this.#swap(i, parent);
      i = parent;
    }
  }

  #pop(): void {
    const last = this.#host.length - 1;
    this.#swap(0, last);
    this.#deadline.pop();
    this.#order.pop();
    this.#host.pop();
    let i = 0;
    const n = this.#host.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n && this.#less(l, m)) m = l;
      if (r < n && this.#less(r, m)) m = r;
      if (m === i) break;
      this.#swap(i, m);
      i = m;
    }
  }

  #less(a: number, b: number): boolean {
    const d = this.#deadline;
    return d[a] < d[b] || (d[a] === d[b] && this.#order[a] < this.#order[b]);
  }

  #swap(a: number, b: number): void {
    const d = this.#deadline;
    const o = this.#order;
    const h = this.#host;
    const td = d[a]; d[a] = d[b]; d[b] = td;
    const to = o[a]; o[a] = o[b]; o[b] = to;
    const th = h[a]; h[a] = h[b]; h[b] = th;
  }
}

export class LeastRequestLoadBalancer implements LoadBalancer {
  readonly #load: PriorityLoad;
  readonly #stats: StatSink;
  readonly #choices: number;
  readonly #runtime: Loader;
  readonly #config: LeastRequestSnap;
  /** The bias as read at the last host set update. */
  #bias: number;
  /** EDF schedules of weighted sources, for the PriorityLoad version they were made in. */
  #edf: Map<readonly Host[], Edf>;
  #version: number;
  readonly #weight: (h: Host) => number;

  constructor(ps: PrioritySet, info: ClusterInfo, config: LeastRequestSnap, runtime: Loader = NULL_LOADER) {
    this.#load = priorityLoadOf(ps, info);
    this.#stats = info.stats;
    this.#choices = config.choiceCount;
    this.#runtime = runtime;
    this.#config = config;
    this.#bias = 1;
    this.#edf = new Map();
    this.#version = -1;
    this.#weight = (h) => this.#hostWeight(h);
    this.#refreshBias();
    // (Registered after the priority load's: the schedules rebuilt for its new version use it.)
    ps.addPriorityUpdateCb(() => this.#refreshBias());
  }

  /** The bias in use now (tests). */
  get activeRequestBias(): number {
    return this.#bias;
  }

  #refreshBias(): void {
    const c = this.#config;
    const b = c.biasRuntimeKey === null ? c.activeRequestBias
      : this.#runtime.snapshot().getDouble(c.biasRuntimeKey, c.activeRequestBias);
    this.#bias = b < 0 || Number.isNaN(b) ? 1 : b;
  }

  chooseHost(_context: LoadBalancerContext | null): Host | null {
    const load = this.#load;
    const hosts = load.choose(load.onlySource !== null ? 0 : Math.floor(Math.random() * 100));
    const n = hosts.length;
    if (n === 0) return null;
    if (!weighted(hosts)) return this.#pickOfChoices(hosts);
    if (load.version !== this.#version) {
      this.#version = load.version;
      this.#edf = new Map();
    }
    let edf = this.#edf.get(hosts);
    if (edf === undefined) this.#edf.set(hosts, edf = new Edf(hosts, this.#weight));
    return edf.pickAndAdd(this.#weight);
  }

  /** Envoy's unweightedHostPick: `choice_count` random hosts, the least busy of them. */
  #pickOfChoices(hosts: readonly Host[]): Host {
    const v = this.#stats.v;
    let best = hosts[Math.floor(Math.random() * hosts.length)];
    let bestActive = v[best.hs.rq_active];
    for (let i = 1; i < this.#choices; i++) {
      const h = hosts[Math.floor(Math.random() * hosts.length)];
      const a = v[h.hs.rq_active];
      if (a < bestActive) {
        best = h;
        bestActive = a;
      }
    }
    return best;
  }

  #hostWeight(h: Host): number {
    const bias = this.#bias;
    if (bias === 0) return h.weight;
    const active = this.#stats.v[h.hs.rq_active] + 1;
    return bias === 1 ? h.weight / active : h.weight / Math.pow(active, bias);
  }
}

function weighted(hosts: readonly Host[]): boolean {
  const w = hosts[0].weight;
  for (let i = 1; i < hosts.length; i++) if (hosts[i].weight !== w) return true;
  return false;
}

const leastRequest: LoadBalancerModule<LeastRequestSnap> = {
  name: NAME,
  category: ExtensionCategory.LoadBalancer,
  types: [],
  fields: {
    'envoy.config.cluster.v3.Cluster': [['lb_policy', { enumValues: ['LEAST_REQUEST'] }], 'least_request_lb_config'],
    'envoy.config.cluster.v3.Cluster.LeastRequestLbConfig': ['choice_count', 'active_request_bias'],
    'envoy.config.core.v3.RuntimeDouble': ['default_value', 'runtime_key'],
  },
  protos: [],
  configField: 'least_request_lb_config',
  compile(cluster: Obj, ctx: CompileContext): LeastRequestSnap {
    const c = cluster.least_request_lb_config ?? {};
    const bias = c.active_request_bias?.default_value ?? 1;
    if (bias < 0) {
      ctx.fail(`${ctx.path}.least_request_lb_config.active_request_bias.default_value`,
        `must be >= 0, got ${bias}`);
    }
    return { choiceCount: c.choice_count ?? 2, activeRequestBias: bias, biasRuntimeKey: c.active_request_bias?.runtime_key ?? null };
  },
  lbPolicy: 'LEAST_REQUEST',
  create(ps: PrioritySet, info: ClusterInfo, _workerId: number, runtime: Loader): LoadBalancer {
    return new LeastRequestLoadBalancer(ps, info, info.lbConfig as LeastRequestSnap, runtime);
  },
};
export default leastRequest;
