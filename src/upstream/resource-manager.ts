// Envoy's circuit breakers (ResourceManager: connections, pending requests, requests, retries).
// The counts live in an Int32Array slice, four int32 per cluster and priority, so that backing it
// with a SharedArrayBuffer (and Atomics) can make the limits process-wide without changing the
// callers. Today each worker passes its own array: the limits hold per worker (docs/differences.md).

/** Index of each resource in a cluster's slice. */
export const RESOURCE_CONNECTIONS = 0;
export const RESOURCE_PENDING_REQUESTS = 1;
export const RESOURCE_REQUESTS = 2;
export const RESOURCE_RETRIES = 3;
/** Int32 slots one ResourceManager uses. */
export const RESOURCE_SLOTS = 4;

export interface ResourceLimits {
  maxConnections: number;
  maxPendingRequests: number;
  maxRequests: number;
  maxRetries: number;
}

/** One circuit breaker: a count and its limit (Envoy's ResourceLimit). */
export class Resource {
  readonly max: number;
  readonly #counts: Int32Array;
  readonly #i: number;

  constructor(counts: Int32Array, index: number, max: number) {
    this.max = max;
    this.#counts = counts;
    this.#i = index;
  }

  /** Whether one more may be created without passing the limit. */
  canCreate(): boolean {
    return this.#counts[this.#i] < this.max;
  }
  inc(): void {
    this.#counts[this.#i]++;
  }
  dec(): void {
    this.#counts[this.#i]--;
  }
  get count(): number {
    return this.#counts[this.#i];
  }
}

export class ResourceManager {
  readonly connections: Resource;
  readonly pendingRequests: Resource;
  readonly requests: Resource;
  readonly retries: Resource;

  /** `counts`/`offset`: where the four counts live (a fresh private array by default). */
  constructor(limits: ResourceLimits, counts: Int32Array = new Int32Array(RESOURCE_SLOTS), offset = 0) {
    if (offset < 0 || offset + RESOURCE_SLOTS > counts.length) {
      throw new RangeError(`resource counts: slice [${offset}, ${offset + RESOURCE_SLOTS}) outside ${counts.length}`);
    }
    this.connections = new Resource(counts, offset + RESOURCE_CONNECTIONS, limits.maxConnections);
    this.pendingRequests = new Resource(counts, offset + RESOURCE_PENDING_REQUESTS, limits.maxPendingRequests);
    this.requests = new Resource(counts, offset + RESOURCE_REQUESTS, limits.maxRequests);
    this.retries = new Resource(counts, offset + RESOURCE_RETRIES, limits.maxRetries);
  }
}
