import { waitReady } from '../lib/net.ts';
import type { ManagedProcess } from '../lib/procs.ts';
import { PAYLOAD_PATH } from './payload.ts';

export const READY_TIMEOUT_MS = 10_000;

const FRAME = /^\s+at /;

/**
 * A child's output made short enough to print: stack traces keep their first two frames, and only the
 * last `maxLines` lines are kept.
 */
export function condensedOutput(output: string, maxLines = 15): string {
  const out: string[] = [];
  let frames = 0;
  const flush = (): void => {
    if (frames > 2) out.push(`    ... ${frames - 2} more frames`);
    frames = 0;
  };
  for (const line of output.trim().split('\n')) {
    if (FRAME.test(line)) {
      if (++frames <= 2) out.push(line);
      continue;
    }
    flush();
    out.push(line);
  }
  flush();
  return out.slice(-maxLines).join('\n');
}

/** The line that best says why a process failed: an error message above a stack, else its last line. */
export function headline(output: string): string {
  const lines = output.trim().split('\n');
  const frameAt = lines.findIndex((l) => FRAME.test(l));
  const line = frameAt > 0 ? lines[frameAt - 1] : lines.findLast((l) => l.trim() !== '');
  return (line ?? '').trim().slice(0, 300);
}

/**
 * Waits for `port` to answer GET PAYLOAD_PATH with 200 (over TLS if `tls`); fails early, with the output,
 * if `proc` exits. An L4 proxy answers it too: the GET goes through to the HTTP upstream.
 */
export async function waitProcReady(proc: ManagedProcess, port: number, tls = false): Promise<void> {
  try {
    await waitReady(port, {
      path: PAYLOAD_PATH,
      tls,
      timeoutMs: READY_TIMEOUT_MS,
      giveUp: () => (proc.hasExited ? `${proc.name} ${proc.exitDescription()}` : null),
    });
  } catch (err) {
    const output = proc.output();
    const why = headline(output);
    const shown = output.trim() === '' ? '(no output)' : condensedOutput(output);
    throw new Error(`${(err as Error).message}${why !== '' ? `: ${why}` : ''}\n` +
      `--- last output of ${proc.name} ---\n${shown}`);
  }
}
