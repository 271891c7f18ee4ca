// Runs one listener filter in-process, without a socket: bytes are fed in the given pieces as an
// ActiveTcpSocket would (everything read so far, less what was drained), and what the filter
// decided and set on the ConnectionSocket is returned.
import { Buffer } from 'node:buffer';
import type { Socket } from 'node:net';
import {
  ListenerFilterStatus, type ConnectionSocket, type ListenerFilter, type ListenerFilterBuffer,
  type ListenerFilterCallbacks,
} from '../../../../src/listener/listener-filter.ts';
import { StatsLayout } from '../../../../src/stats/layout.ts';
import { StatsStore, WorkerStats } from '../../../../src/stats/store.ts';
import type { CompileContext } from '../../../../src/extensions/types.ts';

export interface Outcome {
  /** continue: done, the next filter runs; closed: the connection is refused; waiting: more
   *  bytes wanted. */
  result: 'continue' | 'closed' | 'waiting';
  socket: ConnectionSocket;
  /** What is left for the connection. */
  rest: Buffer;
}

export function feed(filter: ListenerFilter, pieces: Buffer[]): Outcome {
  const socket: ConnectionSocket = {
    socket: null as unknown as Socket, requestedServerName: '', applicationProtocols: [],
    detectedTransportProtocol: '', remoteIpOverride: null, remotePortOverride: 0, localIpOverride: null,
    localPortOverride: 0,
  };
  let result: Outcome['result'] = 'waiting';
  const cb: ListenerFilterCallbacks = {
    connectionSocket: socket,
    continueFilterChain(ok) { result = ok ? 'continue' : 'closed'; },
  };
  const buf: ListenerFilterBuffer & { data: Buffer } = {
    data: Buffer.alloc(0),
    drain(n) { this.data = this.data.subarray(n); },
  };
  if (filter.onAccept(cb) === ListenerFilterStatus.Continue) return { result: 'continue', socket, rest: buf.data };
  for (const p of pieces) {
    buf.data = Buffer.concat([buf.data, p]);
    const st = filter.onData(buf);
    if ((result as string) === 'closed') break;
    if (st === ListenerFilterStatus.Continue) {
      result = 'continue';
      break;
    }
  }
  return { result, socket, rest: buf.data };
}

/** Every way to cut `b` in two, plus one byte at a time. */
export function splits(b: Buffer): Buffer[][] {
  const out: Buffer[][] = [[b]];
  for (let i = 1; i < b.length; i++) out.push([b.subarray(0, i), b.subarray(i)]);
  out.push([...b].map((x) => Buffer.from([x])));
  return out;
}

/** A compile context and a stats block for a module's compile() and factory. */
export function moduleContext(): { ctx: CompileContext; stats: WorkerStats; value(name: string): number } {
  const layout = new StatsLayout();
  const ctx = {
    layout, path: 'x', scope: 'listener.x.', bufferLimit: 1 << 20, clusters: new Set<string>(), clustersWithTransportSocket: new Set<string>(),
    fail(path: string, message: string): never { throw new Error(`${path}: ${message}`); },
    compileNested(): never { throw new Error('none'); },
  } as CompileContext;
  let store: StatsStore | null = null;
  let stats: WorkerStats | null = null;
  return {
    ctx,
    get stats(): WorkerStats {
      store ??= new StatsStore(layout, 1);
      return (stats ??= new WorkerStats(store.attachWorker(0)));
    },
    value(name: string): number {
      return store!.value(layout.find(name));
    },
  };
}
