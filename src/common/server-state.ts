// Server-wide state the main thread sets and every worker reads at once (Envoy keeps these as
// atomics on its Server::Instance, read by workers without a message): one Int32 per flag in a
// SharedArrayBuffer main creates and hands each worker in its init data.
//
// - health check failed (admin POST /healthcheck/fail, /healthcheck/ok): the health_check filter
//   answers health checks 503 and marks other responses, and connection managers drain-close
//   (Envoy's DrainManagerImpl::drainClose while healthCheckFailed()).

const HEALTH_CHECK_FAILED = 0;
const FLAGS = 1;

export class ServerState {
  readonly sab: SharedArrayBuffer;
  readonly #flags: Int32Array;

  /** A new block (main), or a view of main's (`sab`: a worker). */
  constructor(sab: SharedArrayBuffer | null = null) {
    this.sab = sab ?? new SharedArrayBuffer(4 * FLAGS);
    this.#flags = new Int32Array(this.sab);
  }

  /** Envoy's Server::Instance::healthCheckFailed(). */
  healthCheckFailed(): boolean {
    return Atomics.load(this.#flags, HEALTH_CHECK_FAILED) !== 0;
  }

  /** Envoy's failHealthcheck(fail): main only. */
  setHealthCheckFailed(fail: boolean): void {
    Atomics.store(this.#flags, HEALTH_CHECK_FAILED, fail ? 1 : 0);
  }
}
