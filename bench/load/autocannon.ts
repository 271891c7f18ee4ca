import { createRequire } from 'node:module';
import { runTool } from './run-tool.ts';
import type { LoadOptions, LoadResult, LoadTool } from './types.ts';

// The subset of autocannon's --json result we read.
interface AutocannonJson {
  requests: { total: number };
  latency: { p50: number; p99: number; mean: number; max: number };
  duration: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  '4xx': number;
  '5xx': number;
}

/** Null when the autocannon package is not installed. */
export function autocannon(nodeBin: string): LoadTool | null {
  let cli: string;
  try {
    cli = createRequire(import.meta.url).resolve('autocannon/autocannon.js');
  } catch {
    return null;
  }
  return {
    name: 'autocannon',
    async run(opts: LoadOptions): Promise<LoadResult> {
      const args = [cli, '--json', '--no-progress',
        '-c', String(opts.connections), '-d', String(opts.durationS)];
      // autocannon runs in one thread unless given workers.
      if (opts.threads > 1) args.push('-w', String(opts.threads));
      // autocannon reconnects when the server closes after a `Connection: close` response. (Its own
      // -D/--reconnectRate 1 stalls with zero requests in autocannon 9.)
      if (opts.newConn) args.push('-H', 'connection=close');
      for (const [name, value] of Object.entries(opts.headers ?? {})) args.push('-H', `${name}=${value}`);
      args.push(opts.url);
      const out = await runTool('autocannon', nodeBin, args, opts.durationS);
      const line = out.split('\n').findLast((l) => l.startsWith('{'));
      if (line === undefined) throw new Error(`autocannon printed no JSON:\n${out.slice(-1000)}`);
      const j = JSON.parse(line) as AutocannonJson;
      const bad = j['4xx'] + j['5xx'];
      // autocannon records latency in whole milliseconds (sub-millisecond responses read as 0), and with
      // reconnects its numbers grow with run time instead of per request: report none then.
      const hasLatency = j.requests.total > 0 && !opts.newConn;
      return {
        requests: j.requests.total,
        badStatus: bad,
        socketErrors: j.errors,
        durationS: j.duration,
        rps: j.duration > 0 ? (j.requests.total - bad) / j.duration : 0,
        p50Ms: hasLatency ? j.latency.p50 : null,
        p99Ms: hasLatency ? j.latency.p99 : null,
        raw: j,
      };
    },
  };
}
