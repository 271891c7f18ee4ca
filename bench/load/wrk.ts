import { fileURLToPath } from 'node:url';
import { runTool } from './run-tool.ts';
import type { LoadOptions, LoadResult, LoadTool } from './types.ts';

const SCRIPT = fileURLToPath(new URL('./report.lua', import.meta.url));
const MARKER = 'LEGATE_BENCH_JSON ';

interface WrkJson {
  requests: number;
  duration_us: number;
  bytes: number;
  errors: { connect: number; read: number; write: number; status: number; timeout: number };
  latency_us: { min: number; mean: number; stdev: number; max: number; p50: number; p90: number; p99: number;
    p999: number };
}

/** `env`: the environment wrk runs in (the TLS scenarios set OPENSSL_CONF there). */
export function wrk(bin: string, env?: NodeJS.ProcessEnv): LoadTool {
  return {
    name: 'wrk',
    async run(opts: LoadOptions): Promise<LoadResult> {
      const args = [
        `-t${opts.threads}`, `-c${opts.connections}`, `-d${opts.durationS}s`,
        '--latency', '-s', SCRIPT,
      ];
      // wrk 4 reconnects after a response that does not keep the connection alive.
      if (opts.newConn) args.push('-H', 'Connection: close');
      for (const [name, value] of Object.entries(opts.headers ?? {})) args.push('-H', `${name}: ${value}`);
      args.push(opts.url);
      const out = await runTool('wrk', bin, args, opts.durationS, env);
      const line = out.split('\n').find((l) => l.startsWith(MARKER));
      if (line === undefined) throw new Error(`wrk printed no result line:\n${out.slice(-1000)}`);
      const j = JSON.parse(line.slice(MARKER.length)) as WrkJson;
      const durationS = j.duration_us / 1e6;
      const e = j.errors;
      const hasLatency = j.requests > 0;
      return {
        requests: j.requests,
        badStatus: e.status,
        socketErrors: e.connect + e.read + e.write + e.timeout,
        durationS,
        rps: durationS > 0 ? (j.requests - e.status) / durationS : 0,
        p50Ms: hasLatency ? j.latency_us.p50 / 1000 : null,
        p99Ms: hasLatency ? j.latency_us.p99 / 1000 : null,
        raw: j,
      };
    },
  };
}
