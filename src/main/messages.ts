// Messages between the main thread and workers (structured clone; servers and sockets travel in
// the transfer list, which Node >= 26.6 supports for net.Server and net.Socket).
import type { Server, Socket } from 'node:net';
import type { Snapshot } from '../config/snapshot.ts';
import type { WorkerStatsTransfer } from '../stats/store.ts';
import type { RuntimeValues } from '../runtime/types.ts';

export interface WorkerInit {
  workerId: number;
  snapshot: Snapshot;
  stats: WorkerStatsTransfer;
  /** Int32Array(concurrency): each worker's active downstream connections. */
  loadSab: SharedArrayBuffer;
  /** What main-thread services published so far (main/services.ts), as [key, value]. */
  shared: [string, unknown][];
  /** The circuit-breaker counts of every cluster (upstream/resource-slots.ts; growable). */
  resources: SharedArrayBuffer;
  /** This worker's event ring (common/sab-ring.ts; main drains it): outlier outcomes, immediate
   *  health check failures. */
  outlierRing: SharedArrayBuffer;
  /** The runtime's merged values now (runtime/loader.ts). */
  runtime: RuntimeValues;
  /** Server-wide flags main sets (common/server-state.ts). */
  serverState: SharedArrayBuffer;
}

/** Listeners are named by their `name` (unique in a config), never by position: a config update
 *  may add, remove or reorder them. */
export type ToWorker =
  | { type: 'listen'; listener: string; server: Server }
  | { type: 'socket'; listener: string; socket: Socket }
  /** A new config: the worker builds what changed and swaps it in (worker/runtime.ts); the
   *  connections of a removed listener that are still open `drainMs` later are closed. */
  | { type: 'update'; snapshot: Snapshot; drainMs: number }
  | { type: 'drain'; timeoutMs: number }
  /** A main-thread service's latest result (WorkerContext.shared(key)). */
  | { type: 'shared'; key: string; value: unknown }
  /** The runtime changed (an admin override, a disk layer's symlink swap): its merged values. */
  | { type: 'runtime'; values: RuntimeValues }
  | { type: 'crash' };

export type FromWorker = { type: 'ready' } | { type: 'drained' } | { type: 'updated'; version: number };
