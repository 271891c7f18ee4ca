// A single-thread data plane in the test's own process (no workers, no admin): a listener whose
// connections run through the real HTTP/1 codec, connection manager, router and upstream pool,
// with a real stats layout. For tests that need to look at objects (leaks) or count stats directly.
import net from 'node:net';
import { buildSnapshot, type Snapshot } from '../../src/config/snapshot.ts';
import { loadBootstrapText } from '../../src/config/load.ts';
import { registerAll } from '../../src/extensions/index.ts';
import { WorkerRuntime } from '../../src/worker/runtime.ts';
import type { Connection } from '../../src/network/connection.ts';
import { StatsLayout } from '../../src/stats/layout.ts';
import { StatsStore, WorkerStats } from '../../src/stats/store.ts';

export interface InProcess {
  port: number;
  snapshot: Snapshot;
  store: StatsStore;
  /** The worker side (its cluster manager, listeners). */
  runtime: WorkerRuntime;
  /** Called with every downstream connection object the listener creates. */
  onConnection: ((c: Connection) => void) | null;
  counter(name: string): number;
  close(): Promise<void>;
}

export async function startInProcess(yaml: string): Promise<InProcess> {
  registerAll();
  const { bootstrap } = loadBootstrapText(yaml, 'yaml');
  const layout = new StatsLayout();
  const snapshot = buildSnapshot(bootstrap as Record<string, unknown>, layout, { bufferLimit: 1 << 20, version: 1 });
  const store = new StatsStore(layout, 1);
  const stats = new WorkerStats(store.attachWorker(0));
  const runtime = new WorkerRuntime(snapshot, stats, 0, null);
  const listener = runtime.listener(snapshot.listeners[0].name)!;
  const sockets = new Set<net.Socket>();
  const ip: InProcess = {
    port: 0,
    snapshot,
    store,
    runtime,
    onConnection: null,
    counter(name: string): number {
      const slot = layout.find(name);
      if (slot < 0) throw new Error(`no stat ${name}`);
      return store.value(slot);
    },
    async close(): Promise<void> {
      for (const s of sockets) s.destroy();
      runtime.ctx.clusterManager.drain();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    const c = listener.onAccept(sock);
    if (c !== null) ip.onConnection?.(c);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  ip.port = (server.address() as net.AddressInfo).port;
  return ip;
}
