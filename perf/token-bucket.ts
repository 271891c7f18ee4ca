// The local rate limit's token take (src/extensions/filters/http/local-ratelimit/token-bucket.ts),
// uncontended, ns per take: the shared bucket (one BigInt64 word, Atomics.load + compareExchange,
// three BigInts made per take), a bucket of one thread (the per-connection one), and, for scale, the
// same take on an Int32 word (what a 32-bit layout would cost; it is not used: a 32-bit time wraps
// within the life of an idle bucket, see the file's design note).
//
//   node perf/token-bucket.ts        # 5 rounds of 3M takes each; prints the median per column
import { performance } from 'node:perf_hooks';
import {
  LocalTokenBucket, SharedTokenBucket, sharedNs,
} from '../src/extensions/filters/http/local-ratelimit/token-bucket.ts';

const N = 3_000_000;
const snap = { maxTokens: 1e9, tokensPerFill: 1e9, fillIntervalMs: 1000, offset: 0 };
const sab = new SharedArrayBuffer(64);
const shared = new SharedTokenBucket(snap, new BigInt64Array(sab), 0);
const local = new LocalTokenBucket(snap);
const i32 = new Int32Array(new SharedArrayBuffer(8));

function int32Take(now: number): boolean {
  for (;;) {
    const old = Atomics.load(i32, 0);
    const next = (old < now - 1e6 ? now - 1e6 : old) + 1;
    if (next > now) return false;
    if (Atomics.compareExchange(i32, 0, old, next | 0) === old) return true;
  }
}

function time(f: (i: number) => unknown): number {
  const t0 = performance.now();
  for (let i = 0; i < N; i++) f(i);
  return ((performance.now() - t0) * 1e6) / N;
}

const base = sharedNs(performance.now());
const cols: Record<string, number[]> = { shared: [], local: [], int32: [] };
for (let r = 0; r < 5; r++) {
  cols.shared.push(time((i) => shared.consume(base + i * 2)));
  cols.local.push(time((i) => local.consume(base + i * 2)));
  cols.int32.push(time((i) => int32Take(1e6 + i * 2)));
}
const median = (a: number[]): number => [...a].sort((x, y) => x - y)[a.length >> 1];
console.log('| shared (BigInt64) | one thread | Int32 CAS |\n| --- | --- | --- |');
console.log(`| ${median(cols.shared).toFixed(0)} ns | ${median(cols.local).toFixed(0)} ns | ${median(cols.int32).toFixed(0)} ns |`);
