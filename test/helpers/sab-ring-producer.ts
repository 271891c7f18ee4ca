// A worker thread that pushes (i, -i) for i < workerData.n into the ring whose buffer it is given
// (test/common/sab-ring.test.ts).
import { parentPort, workerData } from 'node:worker_threads';
import { SabRing } from '../../src/common/sab-ring.ts';

const { sab, n } = workerData as { sab: SharedArrayBuffer; n: number };
const ring = new SabRing(sab);
for (let i = 0; i < n; i++) while (!ring.push(i, -i)) { /* full: the main thread drains */ }
parentPort!.postMessage('done');
