// Worker thread entry: the data plane. Receives its config snapshot and stats block from main,
// then listening sockets (reuse-port mode) or accepted sockets (exact_balance mode), and owns every
// connection it accepts for the connection's whole life, as an Envoy worker does.
import process from 'node:process';
import { parentPort, workerData } from 'node:worker_threads';
import { registerAll } from '../extensions/index.ts';
import { WorkerRuntime } from './runtime.ts';
import type { ListenerObserver } from '../listener/listener.ts';
import { flushAccessLogs } from '../http/access-log.ts';
import { WorkerStats } from '../stats/store.ts';
import type { FromWorker, ToWorker, WorkerInit } from '../main/messages.ts';
import type { Snapshot } from '../config/snapshot.ts';
import { loadModules, modulesLoaded } from '../common/preload.ts';

registerAll();

const init = workerData as WorkerInit;
// Test hooks, all here and only with LEGATE_TEST_HOOKS=1: responses name the worker that served
// them in their `server` header (tests of balancing), and main may ask a worker to crash.
const TEST_HOOKS = process.env.LEGATE_TEST_HOOKS === '1';
function tagServerName(snapshot: Snapshot): void {
  if (!TEST_HOOKS) return;
  for (const l of snapshot.listeners) {
    for (const f of l.filterChains[0].filters) {
      if (f.name === 'envoy.filters.network.http_connection_manager') {
        (f.config as { serverName: string }).serverName += ` worker-${init.workerId}`;
      }
    }
  }
}
tagServerName(init.snapshot);
// User modules the config names (legate.filters.http.script) are imported before anything is built.
await loadModules(init.snapshot.modules);
const stats = new WorkerStats(init.stats);
// Active connection count per worker, read by main to balance exact_balance listeners.
const load = new Int32Array(init.loadSab);
let draining = false;

const observer: ListenerObserver = {
  onConnectionCountChange(): void {
    const n = activeConnections();
    Atomics.store(load, init.workerId, n);
    if (draining && n === 0) finishDrain();
  },
};

const runtime = new WorkerRuntime(init.snapshot, stats, init.workerId, observer, init.shared, init.resources,
  init.outlierRing, init.runtime, init.serverState);
const ctx = runtime.ctx;

function activeConnections(): number {
  return runtime.activeConnections();
}

let drainTimer: NodeJS.Timeout | null = null;
let drained = false;
function finishDrain(): void {
  if (drained) return;
  drained = true;
  if (drainTimer !== null) clearTimeout(drainTimer);
  ctx.clusterManager.drain();
  flushAccessLogs();
  parentPort!.postMessage({ type: 'drained' });
}

// While a config update waits for its modules to load, the messages after it wait too (a 'listen'
// for a listener the update adds must find it).
let loading: ToWorker[] | null = null;

function receive(msg: ToWorker): void {
  if (loading !== null) {
    loading.push(msg);
    return;
  }
  if (msg.type === 'update' && !modulesLoaded(msg.snapshot.modules)) {
    const held: ToWorker[] = loading = [msg];
    void loadModules(msg.snapshot.modules).then(() => {
      loading = null;
      // (An update among them that needs other modules holds the rest again.)
      for (let i = 0; i < held.length; i++) {
        if (i === 0) onMessage(held[0]);
        else receive(held[i]);
      }
    });
    return;
  }
  onMessage(msg);
}

parentPort!.on('message', receive);

function onMessage(msg: ToWorker): void {
  switch (msg.type) {
    case 'listen': {
      const l = runtime.listener(msg.listener);
      if (l !== undefined) l.addServer(msg.server);
      else msg.server.close(); // removed by an update meanwhile
      break;
    }
    case 'socket': {
      const l = runtime.listener(msg.listener);
      if (l !== undefined) l.onAccept(msg.socket);
      else msg.socket.destroy();
      break;
    }
    case 'update':
      tagServerName(msg.snapshot);
      // Main grew the stats blocks for the new config's names before sending it.
      stats.refresh();
      runtime.apply(msg.snapshot, msg.drainMs);
      parentPort!.postMessage({ type: 'updated', version: msg.snapshot.version } satisfies FromWorker);
      break;
    case 'shared':
      // (A discovery's new hosts come with stat slots main grew the blocks for.)
      stats.refresh();
      runtime.setShared(msg.key, msg.value);
      break;
    case 'runtime':
      runtime.setRuntime(msg.values);
      break;
    case 'drain': {
      draining = true;
      // Envoy's drain for HTTP/1: idle connections close now, busy ones after their response
      // (which carries Connection: close); pooled upstream connections close as they go idle.
      runtime.drain();
      ctx.clusterManager.startDrain();
      if (activeConnections() === 0) finishDrain();
      else drainTimer = setTimeout(finishDrain, msg.timeoutMs);
      break;
    }
    case 'crash': {
      // Test hook: die like a bug would kill a worker.
      if (!TEST_HOOKS) break;
      throw new Error('legate test hook: worker crash requested');
    }
  }
}

parentPort!.postMessage({ type: 'ready' });
