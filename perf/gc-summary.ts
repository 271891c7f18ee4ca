// Sums a `node --trace-gc` log per V8 isolate (the main thread and each worker thread have their own
// isolate, and every trace line starts with [pid:isolate-address]): collections and pause time by kind.
//
// Usage: node perf/gc-summary.ts <log> [--requests N]   (N adds "pause per 10k requests")

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

// [12345:0x7f77f0001000]     1234 ms: Scavenge 5.1 (6.4) -> 4.3 (6.6) MB, pooled: 0.0 MB, 0.43 / 0.00 ms ...
// The kind is whatever precedes the heap sizes: Scavenge, Minor Mark-Sweep, Mark-Compact,
// Mark-Compact (reduce), ... The first number of "a / b ms" is the pause on the isolate's thread.
const LINE =
  /^\[(\d+):(0x[0-9a-f]+)\]\s+([\d.]+) ms: (.+?) [\d.]+ \([\d.]+\) -> [\d.]+ \([\d.]+\) MB,.*?([\d.]+) \/ [\d.]+ ms/;

interface Kind {
  count: number;
  pauseMs: number;
  maxMs: number;
}
interface Isolate {
  readonly id: string;
  firstMs: number;
  lastMs: number;
  readonly kinds: Map<string, Kind>;
}

export function summarizeGcLog(file: string, requests: number | null): string {
  const isolates = new Map<string, Isolate>();
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = LINE.exec(line);
    if (m === null) continue;
    const id = `${m[1]}:${m[2]}`;
    const at = Number(m[3]);
    let iso = isolates.get(id);
    if (iso === undefined) {
      iso = { id, firstMs: at, lastMs: at, kinds: new Map() };
      isolates.set(id, iso);
    }
    iso.lastMs = at;
    const pause = Number(m[5]);
    const kind = iso.kinds.get(m[4]) ?? { count: 0, pauseMs: 0, maxMs: 0 };
    kind.count++;
    kind.pauseMs += pause;
    kind.maxMs = Math.max(kind.maxMs, pause);
    iso.kinds.set(m[4], kind);
  }
  if (isolates.size === 0) return `${file}: no --trace-gc lines found`;
  const out: string[] = [`${file}: ${isolates.size} isolate(s) (the main thread and one per worker thread)`];
  for (const iso of isolates.values()) {
    let total = 0;
    for (const k of iso.kinds.values()) total += k.pauseMs;
    const span = iso.lastMs - iso.firstMs;
    const share = span > 0
      ? ` over ${(span / 1000).toFixed(1)} s between first and last GC (${((total / span) * 100).toFixed(1)}%)`
      : '';
    out.push(`  isolate ${iso.id}: ${total.toFixed(1)} ms paused${share}`);
    for (const [name, k] of [...iso.kinds].sort((a, b) => b[1].pauseMs - a[1].pauseMs)) {
      out.push(`    ${name.padEnd(24)} ${String(k.count).padStart(6)} x  ${k.pauseMs.toFixed(1).padStart(8)} ms` +
        `  max ${k.maxMs.toFixed(2)} ms  avg ${(k.pauseMs / k.count).toFixed(2)} ms`);
    }
  }
  if (requests !== null && requests > 0) {
    let all = 0;
    for (const iso of isolates.values()) for (const k of iso.kinds.values()) all += k.pauseMs;
    out.push(`  all isolates: ${((all / requests) * 10_000).toFixed(1)} ms of GC pause per 10k requests ` +
      `(${requests} requests, startup GCs included)`);
  }
  return out.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values, positionals } = parseArgs({ options: { requests: { type: 'string' } }, allowPositionals: true });
  if (positionals.length !== 1) {
    process.stderr.write('usage: node perf/gc-summary.ts <log> [--requests N]\n');
    process.exit(2);
  }
  const requests = values.requests === undefined ? null : Number(values.requests);
  process.stdout.write(`${summarizeGcLog(positionals[0], requests)}\n`);
}
