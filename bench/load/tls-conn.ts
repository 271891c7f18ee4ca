// The tls-new load client: tls-conn.c, compiled at bench time, or the Node client when there is no C
// compiler or no OpenSSL headers (a weaker client: it spends about twice the CPU per handshake).

import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { which } from '../lib/which.ts';
import { runTool } from './run-tool.ts';
import type { LoadResult } from './types.ts';

const C_SOURCE = fileURLToPath(new URL('./tls-conn.c', import.meta.url));
const NODE_CLIENT = fileURLToPath(new URL('./tls-conn-client.ts', import.meta.url));
const MARKER = 'LEGATE_BENCH_JSON ';

export type Handshake = 'full' | 'resumed';

interface ClientJson {
  requests: number;
  ok: number;
  bad_status: number;
  socket_errors: number;
  reused: number;
  attempts: number;
  duration_us: number;
  client_cpu_s: number;
  latency_us: { p50: number; p99: number };
}

export interface TlsConnClient {
  /** 'tls-conn' (C) or 'tls-conn-node'. */
  readonly name: string;
  /** Why the C client is not used, or null. */
  readonly fallbackReason: string | null;
  run(port: number, path: string, connections: number, processes: number, durationS: number,
    handshake: Handshake): Promise<LoadResult>;
}

/** Builds the C client into `dir`; falls back to the Node client on the pinned `nodeBin`. */
export function tlsConnClient(dir: string, nodeBin: string): TlsConnClient {
  const cc = which('cc') ?? which('gcc');
  let cmd: readonly string[] | null = null;
  let fallbackReason: string | null = null;
  if (cc === null) {
    fallbackReason = 'no C compiler on PATH';
  } else {
    const bin = join(dir, 'tls-conn');
    try {
      execFileSync(cc, ['-O2', '-o', bin, C_SOURCE, '-lssl', '-lcrypto'], { stdio: ['ignore', 'ignore', 'pipe'] });
      cmd = [bin];
    } catch (err) {
      const stderr = String((err as { stderr?: Buffer }).stderr ?? '').trim().split('\n')[0];
      fallbackReason = `tls-conn.c did not build (OpenSSL headers: apt-get install libssl-dev): ${stderr}`;
    }
  }
  const file = cmd === null ? nodeBin : cmd[0];
  const prefix = cmd === null ? [NODE_CLIENT] : [];
  return {
    name: cmd === null ? 'tls-conn-node' : 'tls-conn',
    fallbackReason,
    async run(port, path, connections, processes, durationS, handshake): Promise<LoadResult> {
      // One process per --threads, each with its share of the connections; their results are summed.
      const shares = Array.from({ length: processes }, (_, i) =>
        Math.floor(connections / processes) + (i < connections % processes ? 1 : 0));
      const outs = await Promise.all(shares.map((n) => runTool('tls-conn', file,
        [...prefix, String(port), path, String(n), String(durationS), handshake], durationS)));
      const js = outs.map((out) => {
        const line = out.split('\n').find((l) => l.startsWith(MARKER));
        if (line === undefined) throw new Error(`tls-conn printed no result line:\n${out.slice(-1000)}`);
        return JSON.parse(line.slice(MARKER.length)) as ClientJson;
      });
      const sum = (f: (j: ClientJson) => number): number => js.reduce((n, j) => n + f(j), 0);
      const ok = sum((j) => j.ok);
      const durationS2 = Math.max(...js.map((j) => j.duration_us)) / 1e6;
      // With several processes, each percentile is the ok-weighted mean of theirs: an approximation.
      const pct = (f: (j: ClientJson) => number): number | null =>
        ok === 0 ? null : sum((j) => f(j) * j.ok) / ok / 1000;
      const attempts = sum((j) => j.attempts);
      return {
        requests: sum((j) => j.requests),
        badStatus: sum((j) => j.bad_status),
        socketErrors: sum((j) => j.socket_errors),
        durationS: durationS2,
        rps: durationS2 > 0 ? ok / durationS2 : 0,
        p50Ms: pct((j) => j.latency_us.p50),
        p99Ms: pct((j) => j.latency_us.p99),
        reused: attempts === 0 ? null : sum((j) => j.reused) / attempts,
        clientCpuS: sum((j) => j.client_cpu_s),
        raw: js.length === 1 ? js[0] : js,
      };
    },
  };
}
