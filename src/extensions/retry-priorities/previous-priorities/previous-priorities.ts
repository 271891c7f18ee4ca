// Envoy's PreviousPrioritiesRetryPriority
// (source/extensions/retry/priority/previous_priorities/previous_priorities.cc): one per request.
// Every `update_frequency` attempted hosts, the priorities of the hosts attempted so far are
// excluded: the priority load of the next picks is the cluster's availability per priority with
// the excluded priorities' (healthy and degraded) set to 0, spread as Envoy spreads it. When that
// leaves no availability, the exclusions and the attempted hosts are cleared and the load is
// spread over every priority again; when even that has none, the cluster's own load is used.
// Between updates the last computed load is kept. Before `update_frequency` hosts are attempted,
// and so on every first attempt, the cluster's load is used.
import type { Host } from '../../../upstream/host.ts';
import type { HealthyAndDegradedLoad, PriorityLoad, RetryPriority } from '../../../upstream/load-balancer.ts';

export class PreviousPrioritiesRetryPriority implements RetryPriority {
  readonly #updateFrequency: number;
  /** The priorities of the hosts attempted (Envoy keeps the hosts and maps each to its priority
   *  with the default mapping, host->priority()). */
  readonly #attempted: number[];
  readonly #excluded: boolean[];
  /** The load last computed (Envoy's per_priority_load_); null: none yet. */
  #load: HealthyAndDegradedLoad | null;

  constructor(updateFrequency: number) {
    this.#updateFrequency = updateFrequency;
    this.#attempted = [];
    this.#excluded = [];
    this.#load = null;
  }

  onHostAttempted(host: Host): void {
    this.#attempted.push(host.priority);
  }

  determinePriorityLoad(original: PriorityLoad): HealthyAndDegradedLoad | null {
    const n = this.#attempted.length;
    if (n < this.#updateFrequency) return null;
    if (n % this.#updateFrequency === 0) {
      const excluded = this.#excluded;
      while (excluded.length < original.perPriorityHealth.length) excluded.push(false);
      for (const p of this.#attempted) excluded[p] = true;
      if (!this.#adjustForAttemptedPriorities(original)) return null;
    }
    return this.#load;
  }

  /** Envoy's adjustForAttemptedPriorities: false when no priority has any availability. */
  #adjustForAttemptedPriorities(original: PriorityLoad): boolean {
    const count = original.perPriorityHealth.length;
    const health = new Array<number>(count).fill(0);
    const degraded = new Array<number>(count).fill(0);
    let total = this.#adjustedAvailability(original, health, degraded);
    // Nothing left: start over with every priority rather than fail the request.
    if (total === 0) {
      this.#excluded.fill(false);
      this.#attempted.length = 0;
      total = this.#adjustedAvailability(original, health, degraded);
    }
    if (total === 0) return false;
    const healthyLoad = new Array<number>(count).fill(0);
    const degradedLoad = new Array<number>(count).fill(0);
    // As much load to each priority, in order, as its availability takes; rounds until all 100
    // are given (what integer division leaves goes to the first available priorities).
    let left = 100;
    while (left !== 0) {
      for (let i = 0; i < count; i++) {
        const d = Math.min(left, Math.floor((health[i] * 100) / total));
        healthyLoad[i] += d;
        left -= d;
      }
      for (let i = 0; i < count; i++) {
        const d = Math.min(left, Math.floor((degraded[i] * 100) / total));
        degradedLoad[i] += d;
        left -= d;
      }
    }
    this.#load = { healthy: healthyLoad, degraded: degradedLoad };
    return true;
  }

  /** Envoy's adjustedAvailability: each priority's availability, 0 for an excluded one; returns
   *  their sum, capped at 100. */
  #adjustedAvailability(original: PriorityLoad, health: number[], degraded: number[]): number {
    let total = 0;
    for (let i = 0; i < health.length; i++) {
      if (this.#excluded[i] === true) {
        health[i] = 0;
        degraded[i] = 0;
      } else {
        health[i] = original.perPriorityHealth[i];
        degraded[i] = original.perPriorityDegraded[i];
        total += health[i] + degraded[i];
      }
    }
    return Math.min(total, 100);
  }
}
