// envoy.load_balancing_policies.least_request (Cluster.lb_policy LEAST_REQUEST, config in
// least_request_lb_config), Envoy's LeastRequestLoadBalancer:
// - equal weights: the power of `choice_count` choices (default 2): that many hosts at random, the
//   one with the fewest active requests wins;
// - weights differ: Envoy's EDF scheduler over dynamic weights
//   `load_balancing_weight / (active_requests + 1) ^ active_request_bias` (bias 1.0 by default; 0
//   is plain weighted round robin): each pick takes the earliest deadline and puts the host back
//   with its weight as it is now (upstream/edf-scheduler.ts).
// Active requests are this worker's to the host (the rq_active gauge of the worker's stats block;
// Envoy's counter is process-wide). Which hosts: the cluster's PriorityLoad (with
// locality_weighted_lb_config, a locality chosen first), one EDF schedule per source. The bias is
// active_request_bias read from the runtime (`runtime_key`, default_value when no layer sets it;
// 1.0 without active_request_bias), as Envoy's LeastRequestLoadBalancer::refresh
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
import { EdfScheduler } from '../../../upstream/edf-scheduler.ts';
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

export class LeastRequestLoadBalancer implements LoadBalancer {
  readonly #load: PriorityLoad;
  readonly #stats: StatSink;
  readonly #choices: number;
  readonly #runtime: Loader;
  readonly #config: LeastRequestSnap;
  /** The bias as read at the last host set update. */
  #bias: number;
  /** EDF schedules of weighted sources, for the PriorityLoad version they were made in. */
  #edf: Map<readonly Host[], EdfScheduler<Host>>;
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

  chooseHost(context: LoadBalancerContext | null): Host | null {
    const load = this.#load;
    const hosts = load.chooseRandom(context);
    const n = hosts.length;
    if (n === 0) return null;
    if (!weighted(hosts)) return this.#pickOfChoices(hosts);
    if (load.version !== this.#version) {
      this.#version = load.version;
      this.#edf = new Map();
    }
    let edf = this.#edf.get(hosts);
    if (edf === undefined) this.#edf.set(hosts, edf = new EdfScheduler(hosts, this.#weight));
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
