// Child processes of a bench run: spawn, remember, and always kill.
//
// Every child is spawned `detached`, which makes it the leader of its own process group. That does two
// things: a terminal Ctrl-C reaches only the runner (which then stops the children in order instead of
// racing them), and one kill(-pgid) reaches a whole tree, e.g. an nginx master and its workers, even if
// the master has already died. The same process group is what CPU sampling sums over (lib/cpu.ts).

import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import type { ChildProcess } from 'node:child_process';

const TAIL_BYTES = 16 * 1024;

export class ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly child: ChildProcess;
  /** Resolves when the process has exited (never rejects). */
  readonly exited: Promise<void>;
  /** Resolves when the log file (SpawnOpts.logFile) has everything; at once without one. */
  readonly logWritten: Promise<void>;
  exitCode: number | null = null;
  exitSignal: NodeJS.Signals | null = null;
  hasExited = false;
  #tail = '';

  constructor(name: string, child: ChildProcess, logFile?: string) {
    if (child.pid === undefined) throw new Error(`${name}: spawn failed`);
    this.name = name;
    this.pid = child.pid;
    this.child = child;
    const keep = (chunk: Buffer): void => {
      this.#tail += chunk.toString('utf8');
      if (this.#tail.length > TAIL_BYTES * 2) this.#tail = this.#tail.slice(-TAIL_BYTES);
    };
    // Pipes must be drained or a chatty child blocks on write.
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    if (logFile === undefined) {
      this.logWritten = Promise.resolve();
    } else {
      const log = createWriteStream(logFile);
      child.stdout?.pipe(log, { end: false });
      child.stderr?.pipe(log, { end: false });
      // 'close' comes after both pipes ended (unlike 'exit').
      child.once('close', () => log.end());
      this.logWritten = new Promise((resolve) => {
        log.once('finish', resolve);
        log.once('error', () => resolve());
      });
    }
    this.exited = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        this.hasExited = true;
        this.exitCode = code;
        this.exitSignal = signal;
        resolve();
      });
    });
  }

  /** The last few KiB of stdout and stderr, interleaved. */
  output(): string {
    return this.#tail.slice(-TAIL_BYTES);
  }

  /** "exited with code 1" / "killed by SIGSEGV" / "" while running. */
  exitDescription(): string {
    if (!this.hasExited) return '';
    return this.exitSignal !== null ? `killed by ${this.exitSignal}` : `exited with code ${this.exitCode}`;
  }

  signalGroup(signal: NodeJS.Signals): void {
    try {
      process.kill(-this.pid, signal);
    } catch {
      // ESRCH: the whole group is gone already.
    }
  }
}

const live = new Set<ManagedProcess>();

export interface SpawnOpts {
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Also write all of stdout and stderr to this file (the in-memory tail keeps only the end). */
  readonly logFile?: string;
}

export function spawnManaged(name: string, file: string, args: readonly string[],
    opts: SpawnOpts = {}): ManagedProcess {
  const child = spawn(file, args, {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // A missing binary surfaces as an async 'error' event with no pid; callers check for binaries first,
  // but never let it crash the runner.
  child.on('error', () => {});
  const managed = new ManagedProcess(name, child, opts.logFile);
  live.add(managed);
  void managed.exited.then(() => live.delete(managed));
  return managed;
}

/** SIGTERM, then SIGKILL whatever is still there after `graceMs`. */
export async function stop(proc: ManagedProcess, graceMs = 3000): Promise<void> {
  if (!proc.hasExited) {
    proc.signalGroup('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<void>((resolve) => { timer = setTimeout(resolve, graceMs); });
    await Promise.race([proc.exited, timedOut]);
    clearTimeout(timer);
  }
  // Orphaned group members (nginx workers whose master died) outlive the leader; SIGKILL the group.
  proc.signalGroup('SIGKILL');
}

export async function stopAll(graceMs = 3000): Promise<void> {
  await Promise.all([...live].map((p) => stop(p, graceMs)));
}

// Last resort when the runner exits without stopAll() (an uncaught error): 'exit' handlers run
// synchronously, so only a synchronous SIGKILL fits here.
process.on('exit', () => {
  for (const p of live) p.signalGroup('SIGKILL');
});
