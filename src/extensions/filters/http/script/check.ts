// Config-time check of a user filter module (main thread, inside compile(), which is synchronous):
// a throwaway worker thread imports the module, checks its default export and calls it with the
// config once, while this thread waits on a shared buffer (Atomics.wait). A thread of its own, not
// an import here: the main thread keeps no instance of user code, each check sees the file as it is
// now (a fresh module cache), and a module whose top level never settles is abandoned at the timeout.
// A module already checked with the same content and config is not checked again (reloads).
import { Worker } from 'node:worker_threads';
import { Buffer } from 'node:buffer';

export const CheckResult = {
  Ok: 1,
  /** The import failed (syntax error, missing import, a throw at top level). */
  LoadFailed: 2,
  NoDefaultFunction: 3,
  FactoryReturnedNoFunction: 4,
  /** The factory threw: the config is wrong for it. */
  FactoryThrew: 5,
  TimedOut: 6,
} as const;
export type CheckResult = (typeof CheckResult)[keyof typeof CheckResult];

const TIMEOUT_MS = 10_000;
const passed = new Set<string>();

export function checkModule(url: string, config: unknown, name: string): { result: CheckResult; message: string } {
  const key = `${url}\n${name}\n${JSON.stringify(config)}`;
  if (passed.has(key)) return { result: CheckResult.Ok, message: '' };
  const sab = new SharedArrayBuffer(8 + 4096);
  const state = new Int32Array(sab, 0, 2);
  const w = new Worker(new URL('./check-worker.ts', import.meta.url), {
    workerData: { url, config, name, sab }, stdout: false, stderr: false,
  });
  w.on('error', () => {}); // (its outcome is in the buffer)
  Atomics.wait(state, 0, 0, TIMEOUT_MS);
  const code = Atomics.load(state, 0);
  void w.terminate();
  w.unref();
  if (code === 0) return { result: CheckResult.TimedOut, message: `it did not finish loading within ${TIMEOUT_MS / 1000} s` };
  const message = Buffer.from(new Uint8Array(sab, 8, Atomics.load(state, 1))).toString();
  if (code === CheckResult.Ok) passed.add(key);
  return { result: code as CheckResult, message };
}
