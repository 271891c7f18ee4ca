// Summarise `perf script` output of a Legate worker (perf/perf-record.sh): where the samples are
// (kernel by the syscall that entered it, user by kind), then user time owned by each Legate
// function, self (the nearest Legate frame on the stack) and inclusive.
//
//   node_modules/.bin/node perf/perf-summary.ts <perf.txt> [--top N]
import { readFileSync } from 'node:fs';

const args = process.argv.slice(2);
const file = args.find((a) => !a.startsWith('--'));
const topAt = args.indexOf('--top');
const TOP = topAt >= 0 ? Number(args[topAt + 1]) : 25;
if (file === undefined) {
  console.error('usage: perf-summary.ts <perf.txt> [--top N]');
  process.exit(2);
}

type Frame = { sym: string; dso: string };
const samples: Frame[][] = [];
let cur: Frame[] | null = null;
const FRAME = /^\s*[0-9a-f]+\s+(.*?)(\+0x[0-9a-f]+)?\s+\((.*)\)\s*$/;
for (const line of readFileSync(file, 'utf8').split('\n')) {
  if (line.trim() === '') {
    if (cur !== null && cur.length > 0) samples.push(cur);
    cur = null;
  } else if (!/^\s/.test(line)) {
    cur = [];
  } else if (cur !== null) {
    const m = FRAME.exec(line);
    if (m !== null) cur.push({ sym: m[1], dso: m[3] });
  }
}
if (cur !== null && cur.length > 0) samples.push(cur);
const total = samples.length;
const pct = (n: number): string => `${((100 * n) / total).toFixed(2).padStart(6)}%`;
const isKernel = (f: Frame): boolean => f.dso.includes('kernel');
/** A Legate source function ("name src/file.ts:line"), or null. */
function legate(f: Frame): string | null {
  if (!f.sym.startsWith('JS:') || !f.sym.includes('file:///')) return null;
  const q = f.sym.split("'");
  return (q[1] ?? f.sym).replace(/file:\/\/\/.*?\/(src|native-wasm)\//, '$1/');
}

function print(title: string, counts: Map<string, number>): void {
  console.log(`\n${title}`);
  for (const [k, v] of [...counts].sort((a, b) => b[1] - a[1]).slice(0, TOP)) console.log(`${pct(v)}  ${k}`);
}
function bump(m: Map<string, number>, k: string): void {
  m.set(k, (m.get(k) ?? 0) + 1);
}

const kinds = new Map<string, number>();
const self = new Map<string, number>();
const incl = new Map<string, number>();
let user = 0;
for (const s of samples) {
  const leaf = s[0];
  if (isKernel(leaf)) {
    const entry = s.find((f) => !isKernel(f));
    bump(kinds, `kernel, entered from ${entry?.sym ?? '?'}`);
    continue;
  }
  user++;
  const sym = leaf.sym;
  let kind = 'other';
  if (sym.startsWith('JS:') && sym.includes('wasm-function')) kind = 'WASM (llhttp)';
  else if (sym.startsWith('JS:wasm-to-js')) kind = 'WASM -> JS calls';
  else if (legate(leaf) !== null) kind = 'JS, Legate';
  else if (sym.startsWith('JS:')) kind = 'JS, Node lib';
  else if (sym.startsWith('Builtins_')) kind = 'V8 builtins';
  else if (sym.startsWith('v8::')) kind = 'V8 runtime (incl. GC)';
  else if (sym.startsWith('node::') || sym.includes('to node::')) kind = 'Node C++';
  else if (leaf.dso.includes('libc')) kind = 'libc';
  else if (sym.startsWith('uv')) kind = 'libuv';
  bump(kinds, `user: ${kind}`);
  const owner = s.map(legate).find((x) => x !== null) ?? '(outside Legate code: event loop, callbacks, GC)';
  bump(self, owner);
  const seen = new Set<string>();
  for (const f of s) {
    const l = legate(f);
    if (l !== null && !seen.has(l)) {
      seen.add(l);
      bump(incl, l);
    }
  }
}
console.log(`${total} samples; user ${pct(user)}, kernel ${pct(total - user)}`);
print('where the samples are', kinds);
print('user time by the nearest Legate function on the stack (its own code and the natives it calls)', self);
print('user time inclusive (everything under the function, syscalls excluded)', incl);
