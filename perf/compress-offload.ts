// Where compression runs: node:zlib's asynchronous streams (libuv's threadpool), a piscina
// worker-thread pool, and coding in the loop as src/compression/zlib-stream.ts does (as Envoy does
// in its worker: each chunk when it arrives, in slices of about 2 ms). For 100 KiB and 10 MiB JSON
// bodies, several at once: throughput (input MB/s), CPU per input MB (every thread of the process),
// the event loop's delay while it runs (p50/p99/max, what another request on the same worker would
// wait) and the loop's utilisation.
//
//   node perf/compress-offload.ts            # piscina is looked up in node_modules, or in
//   PISCINA_DIR=/tmp/x/node_modules/piscina node perf/compress-offload.ts
//
// piscina is not a dependency (docs/bench.md, README "Dependencies"): install it anywhere to run
// its rows; without it they are skipped.
import { Buffer } from 'node:buffer';
import { createRequire } from 'node:module';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { zlibCodecFactory } from '../src/compression/zlib-stream.ts';
import { JSON_DOC } from '../bench/targets/payload.ts';

const CHUNK = 64 * 1024;
const HIGH = 1024 * 1024; // pending input above which a body's source waits (the filter's watermark)

/** `bytes` of the bench's JSON document (bench/targets/payload.ts: API-style records from a seeded
 *  generator, compressing like real JSON), repeated as needed (farther apart than deflate's window). */
function jsonBody(bytes: number): Buffer {
  const doc = Buffer.from(JSON_DOC);
  return Buffer.concat(Array.from({ length: Math.ceil(bytes / doc.length) }, () => doc)).subarray(0, bytes);
}

function chunks(b: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < b.length; i += CHUNK) out.push(b.subarray(i, i + CHUNK));
  return out;
}

type Mode = (body: Buffer[]) => Promise<number>;

/** zlib's asynchronous stream (libuv's threadpool), flushed per chunk, the source held above
 *  HIGH bytes written and not yet coded. */
const zlibAsync: Mode = (body) => new Promise((resolve, reject) => {
  let out = 0;
  let i = 0;
  const z = zlib.createGzip({ flush: zlib.constants.Z_SYNC_FLUSH, chunkSize: 64 * 1024 });
  z.on('data', (d: Buffer) => { out += d.length; });
  z.on('end', () => resolve(out));
  z.on('error', reject);
  z.on('drain', pump);
  function pump(): void {
    while (i < body.length) {
      const last = i === body.length - 1;
      const more = z.write(body[i]);
      i++;
      if (last) z.end();
      if (!more) return;
    }
  }
  pump();
});

/** What Legate does (src/compression/zlib-stream.ts): each chunk coded in the loop when it
 *  arrives, a slice at a time (a step of about 2 ms), coders reused; the next chunk is offered
 *  after a loop turn, as the next read would be. */
const legateFactory = zlibCodecFactory(() => zlib.createGzip({ flush: zlib.constants.Z_SYNC_FLUSH }), 4096);
const legateInLoop: Mode = (body) => new Promise((resolve, reject) => {
  let out = 0;
  let i = 0;
  const c = legateFactory.create({
    onCodecOutput(d, end) {
      out += d.length;
      if (end) resolve(out);
    },
    onCodecError: (_c, m) => reject(new Error(m)),
  });
  function next(): void {
    if (c.pendingBytes < HIGH) {
      c.write(body[i], i === body.length - 1);
      i++;
    }
    if (i < body.length) setImmediate(next);
  }
  next();
});

function piscinaMode(pool: any): Mode {
  // A task codes one slice as its own gzip member (a worker keeps no stream state between tasks;
  // concatenated gzip members are one valid gzip body). Slices of up to 1 MiB, as many in flight
  // as the pool has threads.
  return async (body) => {
    const whole = Buffer.concat(body);
    const slice = 1024 * 1024;
    const tasks: Promise<number>[] = [];
    for (let i = 0; i < whole.length; i += slice) {
      const part = whole.subarray(i, i + slice);
      const copy = new Uint8Array(part.length);
      copy.set(part);
      tasks.push(pool.run(copy, { transferList: [copy.buffer] }).then((r: Uint8Array) => r.length));
    }
    return (await Promise.all(tasks)).reduce((a, b) => a + b, 0);
  };
}

async function run(name: string, mode: Mode, body: Buffer, total: number, parallel: number): Promise<void> {
  const parts = chunks(body);
  await mode(parts); // warm up
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  const elu0 = performance.eventLoopUtilization();
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  let next = 0;
  let outBytes = 0;
  async function lane(): Promise<void> {
    while (next < total) {
      next++;
      const n = await mode(parts);
      outBytes += n; // (not `outBytes += await ...`: that reads outBytes before the await, losing other lanes' sums)
    }
  }
  await Promise.all(Array.from({ length: parallel }, lane));
  const ms = performance.now() - t0;
  const elu = performance.eventLoopUtilization(elu0);
  h.disable();
  const mbps = (body.length * total) / ms / 1000;
  const cpu = process.cpuUsage(cpu0);
  const cpuMsPerMb = (cpu.user + cpu.system) / 1000 / ((body.length * total) / 1e6);
  console.log(`${name.padEnd(15)} ${(body.length / 1024).toFixed(0).padStart(6)} KiB x${String(total).padEnd(4)} par ${parallel}`
    + `  ${mbps.toFixed(1).padStart(6)} MB/s  cpu ${cpuMsPerMb.toFixed(1)} ms/MB  ratio ${(outBytes / (body.length * total)).toFixed(3)}`
    + `  loop delay p50 ${(h.percentile(50) / 1e6).toFixed(2)} p99 ${(h.percentile(99) / 1e6).toFixed(2)}`
    + ` max ${(h.max / 1e6).toFixed(2)} ms  loop busy ${(elu.utilization * 100).toFixed(0)}%`);
}

async function loadPiscina(): Promise<any> {
  const require = createRequire(import.meta.url);
  try {
    return require(process.env.PISCINA_DIR ?? 'piscina');
  } catch {
    return null;
  }
}

const small = jsonBody(100 * 1024);
const large = jsonBody(10 * 1024 * 1024);
console.log(`node ${process.version}, ${os.cpus().length} cpus, UV_THREADPOOL_SIZE ${process.env.UV_THREADPOOL_SIZE ?? 4}, gzip level 6`);
const P = await loadPiscina();
const pool = P === null ? null : new (P.Piscina ?? P)({
  filename: path.join(import.meta.dirname, 'compress-offload-worker.mjs'),
  maxThreads: os.cpus().length, minThreads: os.cpus().length,
});
for (const [body, total, parallel] of [[small, 400, 8], [large, 6, 2]] as const) {
  await run('zlib-async', zlibAsync, body, total, parallel);
  if (pool !== null) await run('piscina', piscinaMode(pool), body, total, parallel);
  else console.log('piscina        (not installed: skipped)');
  await run('legate in-loop', legateInLoop, body, total, parallel);
}
await pool?.destroy();
