// Linear-time regex engines on this Node, side by side with irregexp (ECMAScript RegExp, backtracking)
// as the reference: route-style full matches, stats-name filter searches, compile cost, and the
// pathological patterns that pin irregexp. Prints ns/op medians as a Markdown table.
//
//   node perf/regex-engines.ts        # ROUNDS=9 timed rounds per cell, PASSES=3 processes per engine
//
// Columns:
//   irregexp   new RegExp(js, flags); full match as ^(?:..)$
//   v8-linear  the same with V8's `l` flag (experimental engine, enabled below with v8.setFlagsFromString
//              before any `l` regex exists); "refused" where V8 says "Cannot be executed in linear time"
//   re2js      RE2JS.compile(p).test / .testExact (the package Legate depends on)
//   legate     src/common/regex.ts, compileRegex(p).test / .fullMatch (re2js plus the wrapper)
//   re2-wasm   new RE2(p, 'u').test, full match as \A(?:..)\z. Not a dependency of Legate: it is in
//              node_modules as a dependency of @grpc/grpc-js-xds; the column is left out if it is absent
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import { RE2JS } from 're2js';
import { compileRegex } from '../src/common/regex.ts';

v8.setFlagsFromString('--enable-experimental-regexp-engine');

const ROUNDS = Number(process.env.ROUNDS ?? 9);
const ROUND_MS = 25;

interface Re2WasmCtor {
  new (pattern: string, flags: string): { test(s: string): boolean };
}
let Re2Wasm: Re2WasmCtor | null = null;
try {
  Re2Wasm = (createRequire(import.meta.url)('re2-wasm') as { RE2: Re2WasmCtor }).RE2;
} catch {
  Re2Wasm = null;
}

type Matcher = (s: string) => boolean;
interface Engine {
  name: string;
  /** Returns null when the engine refuses the pattern. */
  full(p: Pattern): Matcher | null;
  search(p: Pattern): Matcher | null;
}
/** One pattern in RE2 syntax and its ECMAScript equivalent (for irregexp and V8's linear engine). */
interface Pattern {
  label: string;
  re2: string;
  js: string;
  jsFlags: string;
}

function tryRegExp(src: string, flags: string): RegExp | null {
  try {
    return new RegExp(src, flags);
  } catch {
    return null;
  }
}

function regExpEngine(name: string, extra: string): Engine {
  return {
    name,
    full(p) {
      const re = tryRegExp(`^(?:${p.js})$`, p.jsFlags + extra);
      return re === null ? null : (s) => re.test(s);
    },
    search(p) {
      const re = tryRegExp(p.js, p.jsFlags + extra);
      return re === null ? null : (s) => re.test(s);
    },
  };
}

const engines: Engine[] = [
  regExpEngine('irregexp', ''),
  regExpEngine('v8-linear', 'l'),
  {
    name: 're2js',
    full(p) {
      const re = RE2JS.compile(p.re2);
      return (s) => re.testExact(s);
    },
    search(p) {
      const re = RE2JS.compile(p.re2);
      return (s) => re.test(s);
    },
  },
  {
    name: 'legate',
    full(p) {
      const re = compileRegex(p.re2);
      return (s) => re.fullMatch(s);
    },
    search(p) {
      const re = compileRegex(p.re2);
      return (s) => re.test(s);
    },
  },
];
if (Re2Wasm !== null) {
  const RE2 = Re2Wasm;
  engines.push({
    name: 're2-wasm',
    full(p) {
      const re = new RE2(`\\A(?:${p.re2})\\z`, 'u');
      return (s) => re.test(s);
    },
    search(p) {
      const re = new RE2(p.re2, 'u');
      return (s) => re.test(s);
    },
  });
}

let sink = 0;

/** Median ns per call of fn(inputs[i]) over the whole input list, in ROUNDS timed rounds. */
function measure(fn: Matcher, inputs: string[]): number {
  let iters = 1;
  for (;;) {
    const t0 = performance.now();
    for (let k = 0; k < iters; k++) for (let i = 0; i < inputs.length; i++) if (fn(inputs[i])) sink++;
    const ms = performance.now() - t0;
    if (ms >= ROUND_MS / 4) {
      iters = Math.max(1, Math.ceil((iters * ROUND_MS) / ms));
      break;
    }
    iters *= 4;
  }
  const samples: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = process.hrtime.bigint();
    for (let k = 0; k < iters; k++) for (let i = 0; i < inputs.length; i++) if (fn(inputs[i])) sink++;
    samples.push(Number(process.hrtime.bigint() - t0) / (iters * inputs.length));
  }
  samples.sort((a, b) => a - b);
  return samples[samples.length >> 1];
}

function fmt(ns: number | null): string {
  if (ns === null) return 'refused';
  if (ns >= 1e6) return `${(ns / 1e6).toFixed(1)} ms`;
  if (ns >= 1e4) return `${(ns / 1e3).toFixed(1)} µs`;
  return ns >= 100 ? ns.toFixed(0) : ns.toFixed(1);
}

function row(cells: string[]): void {
  process.stdout.write(`| ${cells.join(' | ')} |\n`);
}

// Route safe_regex: full match against request paths (no query string, as Envoy matches :path's path).
const paths = [
  '/api/v1/users/42',
  '/api/v2/users/alice/profile',
  '/api/v10/users/',
  '/static/js/app.3f2a9c.js',
  '/STATIC/css/site.css',
  '/service/payments-v2/charge',
  '/service/Payments/charge',
  '/foo/data/items.json',
  '/bar/2024/07/report.json',
  '/baz/readme.txt',
  '/healthz',
  '/',
  '/v1/bar/x/y/z.json',
  '/api/v1/orders/8f14e45f-ceea-467f-a8f0-5a6d2f2c3b1e/items/17/attachments/invoice-2024-07.pdf',
];
const routePatterns: Pattern[] = [
  pat('^/api/v[0-9]+/users/[^/]+$'),
  pat('/(foo|bar|baz)/.*\\.json'),
  { label: '`(?i)^/static/.*`', re2: '(?i)^/static/.*', js: '^/static/.*', jsFlags: 'i' },
  pat('^/service/[a-z0-9-]+/.*'),
];

// Admin ?filter=: a search over every stat name.
function statNames(): string[] {
  const clusterStats = [
    'upstream_cx_total', 'upstream_cx_active', 'upstream_cx_http1_total', 'upstream_cx_http2_total',
    'upstream_cx_connect_fail', 'upstream_cx_connect_timeout', 'upstream_cx_destroy',
    'upstream_cx_destroy_local', 'upstream_cx_destroy_remote', 'upstream_cx_rx_bytes_total',
    'upstream_cx_tx_bytes_total', 'upstream_cx_none_healthy',
    'upstream_rq_total', 'upstream_rq_active', 'upstream_rq_pending_total', 'upstream_rq_pending_active',
    'upstream_rq_pending_overflow', 'upstream_rq_timeout', 'upstream_rq_retry', 'upstream_rq_retry_success',
    'upstream_rq_retry_overflow', 'upstream_rq_cancelled', 'upstream_rq_2xx', 'upstream_rq_3xx', 'upstream_rq_4xx',
    'upstream_rq_5xx', 'upstream_rq_200', 'upstream_rq_404', 'upstream_rq_503', 'upstream_rq_completed',
    'membership_total', 'membership_healthy', 'membership_degraded', 'membership_change', 'lb_healthy_panic',
    'retry_or_shadow_abandoned', 'circuit_breakers.default.cx_open', 'circuit_breakers.default.rq_open',
    'circuit_breakers.default.rq_pending_open', 'circuit_breakers.default.rq_retry_open',
    'outlier_detection.ejections_active', 'outlier_detection.ejections_total', 'health_check.attempt',
    'health_check.success', 'health_check.failure', 'bind_errors', 'max_host_weight', 'version',
    'update_attempt', 'update_success',
  ];
  const httpStats = [
    'downstream_cx_total', 'downstream_cx_active', 'downstream_cx_http1_total', 'downstream_cx_destroy',
    'downstream_rq_total', 'downstream_rq_active', 'downstream_rq_1xx', 'downstream_rq_2xx', 'downstream_rq_3xx',
    'downstream_rq_4xx', 'downstream_rq_5xx', 'downstream_rq_timeout', 'downstream_rq_rx_reset',
    'downstream_rq_tx_reset', 'downstream_rq_completed', 'no_route', 'no_cluster', 'rq_total',
  ];
  const names: string[] = [];
  for (let c = 0; names.length < 4600; c++) {
    for (const s of clusterStats) names.push(`cluster.service_${c}.${s}`);
  }
  for (let h = 0; h < 20; h++) for (const s of httpStats) names.push(`http.ingress_${h}.${s}`);
  for (let l = 0; names.length < 5000; l++) {
    const prefix = `listener.0.0.0.0_${10000 + l}.`;
    names.push(`${prefix}downstream_cx_total`, `${prefix}downstream_cx_active`);
  }
  names.push('server.uptime', 'server.memory_allocated', 'server.live', 'server.concurrency');
  return names;
}
const names = statNames();
const filterPatterns: Pattern[] = [
  { ...pat('upstream_rq_5xx'), label: '`upstream_rq_5xx` (literal)' },
  pat('^cluster\\.service_1[0-9]\\.'),
  { label: '`(?i)retry`', re2: '(?i)retry', js: 'retry', jsFlags: 'i' },
  pat('http\\..*\\.downstream_rq_[45]xx$'),
  pat('(cx|rq)_(total|active)$'),
];

// Pathological: a search for a match that is not there. Linear engines get long inputs; irregexp gets
// short ones (its cost multiplies with every few characters) and nothing longer. `^([a-z_.]+)+!` runs
// twice: on stat-name text without a `!`, which RE2's required-literal prefilter rejects in one indexOf,
// and with a `-!` at the end, which makes the automaton walk the input.
const pathological: { p: Pattern; note: string; input: (n: number) => string }[] = [
  { p: pat('^([a-z_.]+)+!'), note: '', input: (n) => statText(n) },
  { p: pat('^([a-z_.]+)+!'), note: ' + `-!`', input: (n) => `${statText(n - 2)}-!` },
  { p: pat('(a+)+$'), note: '', input: (n) => `${'a'.repeat(n - 1)}b` },
  { p: pat('(a|a)*b'), note: '', input: (n) => 'a'.repeat(n) },
];
const shortSizes = [16, 20, 24];
const longSizes = [1_000, 10_000, 50_000];

function pat(src: string): Pattern {
  return { label: `\`${src}\``, re2: src, js: src, jsFlags: '' };
}

function statText(n: number): string {
  return 'cluster.upstream_rq_total.'.repeat(Math.ceil(n / 26)).slice(0, n);
}

// One child process per engine, so that one engine's JIT feedback (the shared measure() loop goes
// megamorphic) and memory do not colour the next engine's figures; PASSES rounds over all engines, and
// each cell is the median across passes, so a burst of load elsewhere on the box hits one pass only.
interface Cell {
  table: number;
  label: string;
  ns: number | null; // null: refused; -1: not run
  chars: number; // > 0: also print ns per input char
  note: string;
}
const NOT_RUN = -1;
const PASSES = Number(process.env.PASSES ?? 3);
const tables = [
  `Route safe_regex, full match: ns per path (mean over ${paths.length} typical paths)`,
  `Admin ?filter=, search: ns per stat name (${names.length} Envoy-style names)`,
  'Compile: ns per pattern (the route and filter patterns above that the engine accepts; for irregexp and ' +
    'v8-linear a floor: V8 compiles code on first exec and caches by source)',
  'Pathological, search, no match: ns per call (and ns per input char from 1,000 chars on)',
];
const engineArg = process.argv.indexOf('--engine');
if (engineArg !== -1) {
  const engine = engines.find((e) => e.name === process.argv[engineArg + 1]);
  if (engine === undefined) throw new Error(`--engine: unknown engine "${process.argv[engineArg + 1]}"`);
  runEngine(engine, (cell) => process.stdout.write(`${JSON.stringify(cell)}\n`));
} else {
  process.stdout.write(`Node ${process.version}, V8 ${process.versions.v8}, re2js ${packageVersion('re2js')}` +
    `${Re2Wasm !== null ? `, re2-wasm ${packageVersion('re2-wasm')}` : ', re2-wasm not installed'}; ` +
    `median of ${ROUNDS} rounds in each of ${PASSES} passes, one process per engine and pass\n`);
  const results = new Map<string, Map<string, Cell[]>>(); // `${table}\0${label}` -> engine -> one per pass
  const rowOrder: { table: number; label: string }[] = [];
  for (let pass = 0; pass < PASSES; pass++) {
    for (const e of engines) {
      const args = [...process.execArgv, fileURLToPath(import.meta.url), '--engine', e.name];
      const child = spawnSync(process.execPath, args, {
        encoding: 'utf8',
        maxBuffer: 16 << 20,
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      if (child.status !== 0) throw new Error(`engine ${e.name}: exit ${child.status ?? child.signal}`);
      for (const line of child.stdout.split('\n')) {
        if (line === '') continue;
        const cell = JSON.parse(line) as Cell;
        const key = `${cell.table}\0${cell.label}`;
        let byEngine = results.get(key);
        if (byEngine === undefined) {
          byEngine = new Map();
          results.set(key, byEngine);
          rowOrder.push({ table: cell.table, label: cell.label });
        }
        const cells = byEngine.get(e.name) ?? [];
        cells.push(cell);
        byEngine.set(e.name, cells);
      }
    }
  }
  for (let t = 0; t < tables.length; t++) {
    process.stdout.write(`\n### ${tables[t]}\n\n`);
    row([t === 3 ? 'pattern, input chars' : 'pattern', ...engines.map((e) => e.name)]);
    row(['---', ...engines.map(() => '---')]);
    for (const r of rowOrder) {
      if (r.table !== t) continue;
      const byEngine = results.get(`${t}\0${r.label}`);
      row([r.label, ...engines.map((e) => show(byEngine?.get(e.name)))]);
    }
  }
}

function show(cells: Cell[] | undefined): string {
  if (cells === undefined || cells.length === 0) return '';
  const c = cells[0];
  if (c.ns === null) return 'refused';
  if (c.ns === NOT_RUN) return 'not run (exponential)';
  const ns = cells.map((x) => x.ns ?? 0).sort((a, b) => a - b)[cells.length >> 1];
  return `${fmt(ns)}${c.chars > 0 ? ` (${(ns / c.chars).toFixed(1)}/char)` : ''}${c.note}`;
}

function runEngine(e: Engine, emit: (cell: Cell) => void): void {
  for (const p of routePatterns) emit({ table: 0, label: p.label, ns: time(e.full(p), paths), chars: 0, note: '' });
  for (const p of filterPatterns) emit({ table: 1, label: p.label, ns: time(e.search(p), names), chars: 0, note: '' });
  const all = [...routePatterns, ...filterPatterns];
  const accepted = all.filter((p) => e.search(p) !== null);
  const note = accepted.length < all.length ? ` (${accepted.length} accepted)` : '';
  emit({ table: 2, label: `${all.length} patterns`, ns: compileCost(e, accepted), chars: 0, note });
  for (const { p, input, note } of pathological) {
    for (const n of [...shortSizes, ...longSizes]) {
      const label = `${p.label}${note}, ${n.toLocaleString('en')}`;
      const long = n >= longSizes[0];
      const m = e.search(p);
      if (m === null) emit({ table: 3, label, ns: null, chars: 0, note: '' });
      else if (e.name === 'irregexp') {
        emit({ table: 3, label, ns: long ? NOT_RUN : once(m, input(n)), chars: 0, note: '' });
      }
      else emit({ table: 3, label, ns: measure(m, [input(n)]), chars: long ? n : 0, note: '' });
    }
  }
  if (sink < 0) process.stdout.write('\n');
}

function time(m: Matcher | null, inputs: string[]): number | null {
  return m === null ? null : measure(m, inputs);
}

/** One timed call: irregexp on the pathological inputs takes too long to repeat. */
function once(m: Matcher | null, s: string): number | null {
  if (m === null) return null;
  const t0 = process.hrtime.bigint();
  if (m(s)) sink++;
  return Number(process.hrtime.bigint() - t0);
}

function compileCost(e: Engine, accepted: Pattern[]): number | null {
  if (accepted.length === 0) return null;
  // re2-wasm never frees a compiled regex (its 16 MiB heap aborts the process after a few thousand), so
  // every engine gets the same small, fixed number of compiles.
  const reps = 50;
  const samples: number[] = [];
  for (let r = 0; r < 6; r++) {
    const t0 = process.hrtime.bigint();
    for (let k = 0; k < reps; k++) for (const p of accepted) if (e.search(p) !== null) sink++;
    samples.push(Number(process.hrtime.bigint() - t0) / (reps * accepted.length));
  }
  samples.shift(); // the first round warms the compiler up
  samples.sort((a, b) => a - b);
  return samples[samples.length >> 1];
}

/** The installed version, found from the entry point up (re2js's `exports` hides its package.json). */
function packageVersion(name: string): string {
  let dir = dirname(createRequire(import.meta.url).resolve(name));
  while (dir !== dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === name && pkg.version !== undefined) return pkg.version;
    } catch {
      // no package.json at this level
    }
    dir = dirname(dir);
  }
  return '?';
}
