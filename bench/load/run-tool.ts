// Runs a load generator as a managed child (so Ctrl-C stops it too) and returns its stdout.

import { spawnManaged, stop } from '../lib/procs.ts';

export async function runTool(name: string, file: string, args: readonly string[],
    durationS: number, env?: NodeJS.ProcessEnv): Promise<string> {
  const proc = spawnManaged(name, file, args, env === undefined ? {} : { env });
  let out = '';
  proc.child.stdout?.on('data', (chunk: Buffer) => { out += chunk.toString('utf8'); });
  // A generator that hangs past its duration (a peer that stopped answering and a tool that waits on it)
  // must not hang the whole run.
  const limitMs = (durationS + 20) * 1000;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => { timer = setTimeout(resolve, limitMs, 'late'); });
  const outcome = await Promise.race([proc.exited, late]);
  clearTimeout(timer);
  if (outcome === 'late') {
    await stop(proc, 1000);
    throw new Error(`${name} did not finish within ${limitMs / 1000} s`);
  }
  if (proc.exitCode !== 0) {
    throw new Error(`${name} ${proc.exitDescription()}: ${proc.output().trim().slice(-500)}`);
  }
  return out;
}
