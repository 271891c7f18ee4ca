// Quick look at .cpuprofile files (V8's format, written by `node --cpu-prof`): per file, the share of
// idle, GC and program time and the functions with the most self time. For call trees and flame graphs
// open the file in Chrome DevTools (Performance > Load profile) or https://www.speedscope.app.
//
// Usage: node perf/cpuprofile-top.ts [--top N] <file.cpuprofile | dir>...

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  hitCount?: number;
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Expands directories to the .cpuprofile files in them, sorted by name. */
export function profileFiles(paths: readonly string[]): string[] {
  const files: string[] = [];
  for (const p of paths) {
    if (statSync(p).isDirectory()) {
      files.push(...readdirSync(p).filter((f) => f.endsWith('.cpuprofile')).sort().map((f) => join(p, f)));
    } else {
      files.push(p);
    }
  }
  return files;
}

/** Node names profiles CPU.<date>.<time>.<pid>.<threadId>.<seq>.cpuprofile; thread 0 is the main thread. */
export function threadLabel(file: string): string {
  const parts = basename(file).split('.');
  if (parts.length < 7 || parts[0] !== 'CPU') return 'thread ?';
  const tid = Number(parts[4]);
  return tid === 0 ? 'main thread' : `worker thread ${tid}`;
}

function where(cf: CallFrame): string {
  if (cf.url === '') return '';
  const url = cf.url.startsWith('file://') ? relative(REPO_ROOT, fileURLToPath(cf.url)) : cf.url;
  return `${url}:${cf.lineNumber + 1}`;
}

export function summarizeProfile(file: string, top: number): string {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  // Self time of a node = its samples; each sample stands for the interval that follows it.
  const selfUs = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i++) {
    const us = deltas[i + 1] ?? 0;
    selfUs.set(samples[i], (selfUs.get(samples[i]) ?? 0) + us);
  }
  const totalUs = profile.endTime - profile.startTime;
  const special = new Map<string, number>();
  const byFunction = new Map<string, number>();
  for (const node of profile.nodes) {
    const us = selfUs.get(node.id) ?? 0;
    if (us === 0) continue;
    const name = node.callFrame.functionName;
    if (name === '(idle)' || name === '(garbage collector)' || name === '(program)' || name === '(root)') {
      special.set(name, (special.get(name) ?? 0) + us);
      continue;
    }
    const loc = where(node.callFrame);
    const key = `${name === '' ? '(anonymous)' : name}${loc === '' ? '' : `  ${loc}`}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + us);
  }
  const pct = (us: number): string => `${((us / totalUs) * 100).toFixed(1).padStart(5)}%`;
  const busyUs = totalUs - (special.get('(idle)') ?? 0);
  const lines = [
    `${file}  (${threadLabel(file)}, ${(totalUs / 1e6).toFixed(1)} s profiled)`,
    `  idle ${pct(special.get('(idle)') ?? 0)}   busy ${pct(busyUs)}` +
      `   of which GC ${pct(special.get('(garbage collector)') ?? 0)}, (program) ${pct(special.get('(program)') ?? 0)}`,
    `  top ${top} functions by self time (% of wall time):`,
  ];
  const sorted = [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, top);
  for (const [key, us] of sorted) lines.push(`  ${pct(us)}  ${key}`);
  return lines.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values, positionals } = parseArgs({
    options: { top: { type: 'string', default: '20' } },
    allowPositionals: true,
  });
  if (positionals.length === 0) {
    process.stderr.write('usage: node perf/cpuprofile-top.ts [--top N] <file.cpuprofile | dir>...\n');
    process.exit(2);
  }
  for (const file of profileFiles(positionals)) {
    process.stdout.write(`${summarizeProfile(file, Number(values.top))}\n\n`);
  }
}
