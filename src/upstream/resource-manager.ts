// Envoy's circuit breakers (ResourceManager: connections, pending requests, requests, retries).
// The counts live in an Int32Array slice, four int32 per cluster, in ONE SharedArrayBuffer shared by
// the main thread and every worker (main/server.ts allocates it, resource-slots.ts hands out the
// slices), changed with Atomics: the limits hold for the process, as Envoy's do, whatever
// --concurrency is. As in Envoy, a check and the increment that follows are two steps: workers
// racing for the last slot may pass the limit by one each.
//
// Retries have two limits (Envoy's RetryBudgetImpl): the max_retries breaker, or, when the
// thresholds have a retry_budget, a budget that follows the load: at most budget_percent of the
// active and pending requests (process-wide, the same shared counts), never fewer than
// min_retry_concurrency. The retry count is the same slot either way; max_retries is then ignored
// for the limit (Envoy keeps it nested, and its rq_retry_open gauge still follows it).

/** Index of each resource in a cluster's slice. */
export const RESOURCE_CONNECTIONS = 0;
export const RESOURCE_PENDING_REQUESTS = 1;
export const RESOURCE_REQUESTS = 2;
export const RESOURCE_RETRIES = 3;
/** Int32 slots one ResourceManager uses. */
export const RESOURCE_SLOTS = 4;

/** circuit_breakers.thresholds[].retry_budget, with Envoy's defaults filled in. */
export interface RetryBudgetLimits {
  /** budget_percent.value (20). */
  budgetPercent: number;
  /** min_retry_concurrency (3). */
  minRetryConcurrency: number;
}

export interface ResourceLimits {
  maxConnections: number;
  maxPendingRequests: number;
  maxRequests: number;
  maxRetries: number;
  /** The retry budget, which replaces maxRetries as the retries' limit; null (or absent): none. */
  retryBudget?: RetryBudgetLimits | null;
}

/** What the router and the pools ask of a limit (Envoy's ResourceLimit). */
export interface ResourceLimit {
  /** Whether one more may be created without passing the limit. */
  canCreate(): boolean;
  inc(): void;
  dec(): void;
  readonly count: number;
  /** The limit now (a retry budget's moves with the load). */
  readonly max: number;
}

/** Envoy's RetryBudgetImpl::max(): the budget's share of the requests in flight (truncated, as
 *  Envoy's conversion to an integer), never below min_retry_concurrency. */
export function retryBudgetMax(b: RetryBudgetLimits, activeAndPending: number): number {
  return Math.max(Math.trunc(b.budgetPercent / 100 * activeAndPending), b.minRetryConcurrency);
}

/** One circuit breaker: a count and its limit (Envoy's ResourceLimit). */
export class Resource implements ResourceLimit {
  readonly max: number;
  readonly #counts: Int32Array;
  readonly #i: number;

  constructor(counts: Int32Array, index: number, max: number) {
    this.max = max;
    this.#counts = counts;
    this.#i = index;
  }

  canCreate(): boolean {
    return Atomics.load(this.#counts, this.#i) < this.max;
  }
  inc(): void {
    Atomics.add(this.#counts, this.#i, 1);
  }
  dec(): void {
    Atomics.sub(this.#counts, this.#i, 1);
  }
  get count(): number {
    return Atomics.load(this.#counts, this.#i);
  }
}

/** The retries' limit under a retry budget: the retry count against retryBudgetMax() of the
 *  requests and pending requests counted now. */
export class RetryBudget implements ResourceLimit {
  readonly #budget: RetryBudgetLimits;
  readonly #retries: Resource;
  readonly #requests: Resource;
  readonly #pending: Resource;

  constructor(budget: RetryBudgetLimits, retries: Resource, requests: Resource, pending: Resource) {
    this.#budget = budget;
    this.#retries = retries;
    this.#requests = requests;
    this.#pending = pending;
  }

  canCreate(): boolean {
    return this.#retries.count < this.max;
  }
  inc(): void {
    this.#retries.inc();
  }
  dec(): void {
    this.#retries.dec();
  }
  get count(): number {
    return this.#retries.count;
  }
  get max(): number {
    return retryBudgetMax(this.#budget, this.#requests.count + this.#pending.count);
  }
}

export class ResourceManager {
  readonly connections: Resource;
  readonly pendingRequests: Resource;
  readonly requests: Resource;
  readonly retries: ResourceLimit;

  /** `counts`/`offset`: where the four counts live (a fresh private array by default). */
  constructor(limits: ResourceLimits, counts: Int32Array = new Int32Array(RESOURCE_SLOTS), offset = 0) {
    if (offset < 0 || offset + RESOURCE_SLOTS > counts.length) {
      throw new RangeError(`resource counts: slice [${offset}, ${offset + RESOURCE_SLOTS}) outside ${counts.length}`);
    }
    this.connections = new Resource(counts, offset + RESOURCE_CONNECTIONS, limits.maxConnections);
    this.pendingRequests = new Resource(counts, offset + RESOURCE_PENDING_REQUESTS, limits.maxPendingRequests);
    this.requests = new Resource(counts, offset + RESOURCE_REQUESTS, limits.maxRequests);
    const retries = new Resource(counts, offset + RESOURCE_RETRIES, limits.maxRetries);
    const budget = limits.retryBudget ?? null;
    this.retries = budget === null ? retries : new RetryBudget(budget, retries, this.requests, this.pendingRequests);
  }
}
