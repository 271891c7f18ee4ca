// Envoy's circuit breakers (ResourceManager: connections, pending requests, requests, retries).
// The counts live in an Int32Array slice, four int32 per cluster, in ONE SharedArrayBuffer shared by
// the main thread and every worker (main/server.ts allocates it, resource-slots.ts hands out the
// slices), changed with Atomics: the limits hold for the process, as Envoy's do, whatever
// --concurrency is. As in Envoy, a check and the increment that follows are two steps: workers
// racing for the last slot may pass the limit by one each.

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
