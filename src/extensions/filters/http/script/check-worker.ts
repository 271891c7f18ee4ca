// The thread check.ts starts to try a user filter module: import it, check its default export,
// call that factory with the config once. The outcome goes back through the shared buffer (the main
// thread waits on it with Atomics.wait), as [state, length, UTF-8 message...].
import { Buffer } from 'node:buffer';
import { workerData } from 'node:worker_threads';

const { url, config, name, sab } = workerData as { url: string; config: unknown; name: string; sab: SharedArrayBuffer };
const state = new Int32Array(sab, 0, 2);
const text = new Uint8Array(sab, 8);

function done(code: number, message: string): void {
  const b = Buffer.from(message);
  const n = Math.min(b.length, text.length);
  text.set(b.subarray(0, n));
  Atomics.store(state, 1, n);
  Atomics.store(state, 0, code);
  Atomics.notify(state, 0);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'object') return 'an object';
  return typeof v === 'undefined' ? 'undefined' : `a ${typeof v}`;
}

function messageOf(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

async function check(): Promise<void> {
  let ns: Record<string, unknown>;
  try {
    ns = await import(url);
  } catch (e) {
    done(2, messageOf(e));
    return;
  }
  const factory = ns.default;
  if (typeof factory !== 'function') {
    done(3, `its default export is ${describe(factory)}, not a function (export default (config, ctx) => (callbacks) => filter)`);
    return;
  }
  let perStream: unknown;
  try {
    perStream = factory(config, { name, workerId: -1 });
  } catch (e) {
    done(5, messageOf(e));
    return;
  }
  if (typeof perStream !== 'function') {
    done(4, `its default export returned ${describe(perStream)}, not the per-stream function ((callbacks) => filter)`);
    return;
  }
  done(1, '');
}

await check();
