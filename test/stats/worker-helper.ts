// Spawns test/stats/fixtures/stats-worker.ts and drives it one command at a time, every wait bounded.
import { Worker } from 'node:worker_threads';
import type { WorkerStatsTransfer } from '../../src/stats/store.ts';
import type { Op } from './fixtures/stats-worker.ts';

export interface Reply {
  done: string;
  values: number;
  histograms: number;
}

export interface StatsWorker {
  readonly worker: Worker;
  readonly started: Reply;
  call(op: Op): Promise<Reply>;
  /** Ends the thread and resolves on its 'exit' event. */
  kill(): Promise<void>;
}

function nextMessage(w: Worker, ms = 10_000): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      cleanup();
      reject(new Error('worker did not answer in time'));
    }, ms);
    const onMessage = (m: Reply): void => {
      cleanup();
      resolve(m);
    };
    const onError = (e: Error): void => {
      cleanup();
      reject(e);
    };
    const cleanup = (): void => {
      clearTimeout(t);
      w.off('message', onMessage);
      w.off('error', onError);
    };
    w.on('message', onMessage);
    w.on('error', onError);
  });
}

export async function spawnStatsWorker(stats: WorkerStatsTransfer): Promise<StatsWorker> {
  const worker = new Worker(new URL('./fixtures/stats-worker.ts', import.meta.url), { workerData: { stats } });
  const started = await nextMessage(worker);
  let exited = false;
  const gone = new Promise<void>((resolve) => worker.once('exit', () => {
    exited = true;
    resolve();
  }));
  return {
    worker,
    started,
    call(op) {
      const p = nextMessage(worker);
      worker.postMessage(op);
      return p;
    },
    async kill() {
      if (exited) return;
      void worker.terminate();
      let t: NodeJS.Timeout | undefined;
      await Promise.race([gone, new Promise<void>((resolve) => { t = setTimeout(resolve, 10_000); })]);
      clearTimeout(t);
    },
  };
}
