// The tcp-stream measurement: one download of STREAM_BYTES through the target with curl, which writes it to
// /dev/null. curl reports the size and the time from the start of the connect to the last byte.

import { runTool } from './run-tool.ts';
import type { LoadResult } from './types.ts';

interface CurlOut {
  status: number;
  bytes: number;
  timeS: number;
}

/** Seconds a single download may take before it counts as hung (a 1 GiB stream at 10 MB/s). */
const LIMIT_S = 100;

export async function curlStream(bin: string, url: string, expectBytes: number): Promise<LoadResult> {
  const out = await runTool('curl', bin,
    ['-sS', '-o', '/dev/null', '--max-time', String(LIMIT_S), '-w', 'LEGATE %{http_code} %{size_download} %{time_total}\n', url],
    LIMIT_S);
  const m = /LEGATE (\d+) (\d+) ([\d.]+)/.exec(out);
  if (m === null) throw new Error(`curl printed no result: ${out.slice(-300)}`);
  const c: CurlOut = { status: Number(m[1]), bytes: Number(m[2]), timeS: Number(m[3]) };
  const good = c.status === 200 && c.bytes === expectBytes;
  return {
    requests: c.bytes,
    badStatus: c.status === 200 ? 0 : 1,
    socketErrors: c.status === 200 && c.bytes !== expectBytes ? 1 : 0,
    durationS: c.timeS,
    rps: good && c.timeS > 0 ? c.bytes / c.timeS / 1e6 : 0,
    p50Ms: null,
    p99Ms: null,
    raw: c,
  };
}
