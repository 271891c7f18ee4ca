// Worker thread entry: the data plane. Receives its config snapshot and stats block from main,
// then listening sockets (reuse-port mode) or accepted sockets (exact_balance mode), and owns every
// connection it accepts for the connection's whole life, as an Envoy worker does.
import { parentPort, workerData } from 'node:worker_threads';
import type { Server, Socket } from 'node:net';
import { registerAll } from '../extensions/index.ts';
import { ClusterManager } from '../upstream/cluster-manager.ts';
import { HcmConfig } from '../extensions/filters/network/http-connection-manager/config.ts';
import { Http1ServerConnection, activeConnections, drainConnections } from '../http/http1/server-connection.ts';
import { flushAccessLogs } from '../http/access-log.ts';
import { WorkerStats } from '../stats/store.ts';
import type { Snapshot, ListenerSnap } from '../config/snapshot.ts';
import type { WorkerContext } from '../extensions/registry.ts';
import type { ToWorker, WorkerInit } from '../main/messages.ts';

registerAll();

const init = workerData as WorkerInit;
const stats = new WorkerStats(init.stats);
// Active connection count per worker, read by main to balance exact_balance listeners.
const load = new Int32Array(init.loadSab);
const ctx: WorkerContext = {
  stats,
  clusterManager: new ClusterManager(init.snapshot.clusters, stats, init.workerId),
  workerId: init.workerId,
};

interface ListenerRuntime {
  snap: ListenerSnap;
  hcm: HcmConfig;
  servers: Server[];
}
const listeners: ListenerRuntime[] = buildListeners(init.snapshot);

function buildListeners(snap: Snapshot): ListenerRuntime[] {
  return snap.listeners.map((l) => ({ snap: l, hcm: new HcmConfig(l.hcm, ctx), servers: [] }));
}

const kListener = Symbol('legate.listener');
let draining = false;

function onConnection(this: Server, socket: Socket): void {
  handleSocket((this as any)[kListener] as ListenerRuntime, socket);
}

function handleSocket(l: ListenerRuntime, socket: Socket): void {
  if (draining) {
    socket.destroy();
    return;
  }
  new Http1ServerConnection(socket, l.hcm, l.snap.stats, l.snap.bufferLimit);
  Atomics.store(load, init.workerId, activeConnections());
  socket.once('close', updateLoad);
}

function updateLoad(): void {
  Atomics.store(load, init.workerId, activeConnections());
  if (draining && activeConnections() === 0) finishDrain();
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

parentPort!.on('message', (msg: ToWorker) => {
  switch (msg.type) {
    case 'listen': {
      const l = listeners[msg.listener];
      const server = msg.server;
      (server as any)[kListener] = l;
      server.on('connection', onConnection);
      l.servers.push(server);
      break;
    }
    case 'socket': {
      handleSocket(listeners[msg.listener], msg.socket);
      break;
    }
    case 'drain': {
      draining = true;
      for (const l of listeners) for (const s of l.servers) s.close();
      // Envoy's drain for HTTP/1: idle connections close now, busy ones after their response
      // (which carries Connection: close); pooled upstream connections close as they go idle.
      drainConnections();
      ctx.clusterManager.startDrain();
      if (activeConnections() === 0) finishDrain();
      else drainTimer = setTimeout(finishDrain, msg.timeoutMs);
      break;
    }
    case 'crash': {
      // Test hook (only sent when LEGATE_TEST_HOOKS=1): die like a bug would kill a worker.
      throw new Error('legate test hook: worker crash requested');
    }
  }
});

parentPort!.postMessage({ type: 'ready' });
