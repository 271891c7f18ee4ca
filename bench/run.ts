// `npm run bench`: Legate next to its peers on one box, in one run.
//
// Design note. The box is small and noisy (2 cores shared by client, proxy and upstream), so the runner
// does three things to make numbers comparable rather than absolute:
// - all targets run at once and are measured in alternating rounds (A B C, A B C, ...), so drift such as
//   another tenant's load or thermal throttling lands on every target alike;
// - ratios (to nginx, to direct) are computed per round, between measurements taken seconds apart, and
//   then the median over rounds is reported: a paired comparison, steadier than a ratio of medians;
// - CPU is read from /proc around each measurement, so "CPU-seconds per 10k requests" says what a proxy
//   costs even when the client, not the proxy, was the bottleneck.
// --scenario picks what is measured (bench/scenarios.ts): HTTP keep-alive (the default), HTTPS, new TLS
// connections (two modes, full and resumed, each measured per target and round), or an L4 proxy. See
// docs/bench.md for how to read the tables.

import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { cpus, tmpdir, loadavg, release } from 'node:os';
import { join } from 'node:path';
import { isTls, parseBenchArgs, USAGE } from './lib/args.ts';
import type { BenchArgs } from './lib/args.ts';
import { makeBenchTls, writeClientOpensslConf } from './lib/certs.ts';
import type { BenchTls } from './lib/certs.ts';
import { groupCpuSeconds } from './lib/cpu.ts';
import { freePorts } from './lib/net.ts';
import { stopAll } from './lib/procs.ts';
import type { ManagedProcess } from './lib/procs.ts';
import { median } from './lib/stats.ts';
import { formatTable } from './lib/table.ts';
import { which } from './lib/which.ts';
import { autocannon } from './load/autocannon.ts';
import { wrk } from './load/wrk.ts';
import type { LoadResult, LoadTool } from './load/types.ts';
import { scenarioModes } from './scenarios.ts';
import type { Mode } from './scenarios.ts';
import { selectTargets } from './targets/index.ts';
import { legate, REPO_ROOT } from './targets/legate.ts';
import { nginxVersion } from './targets/nginx.ts';
import { GZIP, JSON_BYTES, JSON_PATH, PAYLOAD_PATH, STREAM_BYTES, STREAM_PATH } from './targets/payload.ts';
import { condensedOutput, headline } from './targets/common.ts';
import { SkipTarget } from './targets/types.ts';
import type { RunningTarget, TargetSpec, Upstream } from './targets/types.ts';
import { startUpstream } from './targets/upstream.ts';

interface RoundResult {
  readonly round: number;
  /** The mode's name when the scenario has several (tls-new: full, resumed). */
  readonly mode?: string;
  readonly startedAt: string;
  readonly requests: number;
  readonly badStatus: number;
  readonly socketErrors: number;
  readonly durationS: number;
  readonly rps: number;
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
  /** tls-new: the fraction of handshakes that resumed a session. */
  readonly reused?: number | null;
  /** tls-new: CPU-seconds the load client used. */
  readonly clientCpuS?: number;
  /** CPU-seconds used by the proxy's process group during the measurement (null: direct, or no /proc). */
  readonly proxyCpuS: number | null;
  readonly upstreamCpuS: number | null;
  readonly raw: unknown;
}

interface TargetState {
  readonly spec: TargetSpec;
  status: 'running' | 'skipped' | 'failed';
  note: string;
  running: RunningTarget | null;
  readonly rounds: RoundResult[];
}

interface Summary {
  readonly rps: number | null;
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
  /** CPU-seconds per Mode.cpuUnits (10k requests, or a GiB in tcp-stream). */
  readonly cpuPer10k: number | null;
  readonly vsNginx: number | null;
  readonly vsDirect: number | null;
  readonly reused?: number | null;
  readonly errors: number;
}

const PAUSE_MS = 500;

/** Set by SIGINT/SIGTERM: loops stop starting measurements and stop reporting the failures it causes. */
let interrupted = false;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function log(line: string): void {
  process.stdout.write(`${line}\n`);
}

function nodeRuntime(): string {
  // The pinned Node 26 from devDependencies; the runner itself may have been started by another Node.
  const pinned = join(REPO_ROOT, 'node_modules', '.bin', 'node');
  return existsSync(pinned) ? pinned : process.execPath;
}

function chooseTool(args: BenchArgs, nodeBin: string): LoadTool {
  const wrkBin = which('wrk');
  if (args.tool === 'wrk' || (args.tool === null && wrkBin !== null)) {
    if (wrkBin === null) throw new Error('--tool wrk: wrk not found on PATH');
    return wrk(wrkBin);
  }
  const ac = autocannon(nodeBin);
  if (ac === null) throw new Error('no load generator: wrk is not on PATH and autocannon is not installed');
  if (args.tool === null) log('note: wrk not found on PATH, using autocannon (slower client: lower ceilings)');
  return ac;
}

function cpuOf(proc: ManagedProcess | null): number | null {
  return proc === null ? null : groupCpuSeconds(proc.pid);
}

function delta(before: number | null, after: number | null): number | null {
  // Rounded: the inputs are whole clock ticks, the subtraction adds float noise.
  return before === null || after === null ? null : Math.round((after - before) * 1e6) / 1e6;
}

function fmtNum(n: number | null, digits = 0): string {
  if (n === null) return '-';
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function fmtRatio(n: number | null): string {
  return n === null ? '-' : `${n.toFixed(2)}x`;
}

function fmtPercent(n: number | null): string {
  return n === null ? '-' : `${(n * 100).toFixed(0)}%`;
}

const RATE_NOTES: Readonly<Record<BenchArgs['scenario'], string>> = {
  'http': 'rps counts responses with status < 400.',
  'https': 'rps counts responses with status < 400, over TLS 1.3 (TLS_AES_128_GCM_SHA256, P-256).',
  'tls-new': 'conn/s counts connections that completed a handshake and a 200 response; "resumed" is the ' +
    'share of handshakes that resumed a session (the resumed mode should show ~100%, full 0%).',
  'tcp-stream': 'MB/s is 10^6 bytes a second of one 1 GiB download, connect to last byte.',
  'tcp-echo': 'rps counts responses with status < 400, small HTTP exchanges through an L4 proxy.',
  'gzip': `rps counts responses with status < 400, each the ${JSON_BYTES / 1024} KiB JSON document gzipped by the ` +
    `proxy (level ${GZIP.level}, window bits ${GZIP.windowBits}, memory level ${GZIP.memLevel}).`,
};

const CPU_NOTES: Readonly<Record<BenchArgs['scenario'], string>> = {
  'http': 'CPU s/10k: CPU-seconds the proxy (all its processes and threads) spent per 10,000 requests.',
  'https': 'CPU s/10k: CPU-seconds the proxy (all its processes and threads) spent per 10,000 requests.',
  'tls-new': 'CPU s/10k: CPU-seconds the proxy (all its processes and threads) spent per 10,000 connections.',
  'tcp-stream': 'CPU s/GiB: CPU-seconds the proxy (all its processes and threads) spent per GiB carried.',
  'tcp-echo': 'CPU s/10k: CPU-seconds the proxy (all its processes and threads) spent per 10,000 requests.',
  'gzip': 'CPU s/10k: CPU-seconds the proxy (all its processes and threads, compression included) spent per ' +
    '10,000 requests.',
};

function roundsOf(t: TargetState, mode: Mode): RoundResult[] {
  return t.rounds.filter((r) => (r.mode ?? '') === mode.name);
}

/** Median over rounds of rps(target) / rps(reference) in the same round and mode. */
function pairedRatio(t: TargetState, ref: TargetState | undefined, mode: Mode): number | null {
  if (ref === undefined || ref.status !== 'running') return null;
  const refRounds = roundsOf(ref, mode);
  const ratios: number[] = [];
  for (const r of roundsOf(t, mode)) {
    const rr = refRounds.find((x) => x.round === r.round);
    if (rr !== undefined && rr.rps > 0) ratios.push(r.rps / rr.rps);
  }
  return median(ratios);
}

function summarize(t: TargetState, all: readonly TargetState[], mode: Mode): Summary {
  const rounds = roundsOf(t, mode);
  const ref = (name: string): number | null => mode.refs.includes(name)
    ? pairedRatio(t, all.find((x) => x.spec.name === name), mode) : null;
  return {
    rps: median(rounds.map((r) => r.rps)),
    p50Ms: median(rounds.map((r) => r.p50Ms)),
    p99Ms: median(rounds.map((r) => r.p99Ms)),
    cpuPer10k: median(rounds.map((r) =>
      r.proxyCpuS === null || r.requests === 0 ? null : (r.proxyCpuS / r.requests) * mode.cpuUnits)),
    vsNginx: ref('nginx'),
    vsDirect: ref('direct'),
    ...(mode.reused ? { reused: median(rounds.map((r) => r.reused ?? null)) } : {}),
    errors: rounds.reduce((n, r) => n + r.badStatus + r.socketErrors, 0),
  };
}

function toolVersion(bin: string | null, args: string[]): string | null {
  if (bin === null) return null;
  try {
    return execFileSync(bin, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).split('\n')[0].trim();
  } catch (err) {
    return String((err as { stdout?: string }).stdout ?? '').split('\n')[0].trim() || null;
  }
}

async function measure(mode: Mode, t: TargetState, upstream: Upstream,
    durationS: number): Promise<{ load: LoadResult; proxyCpuS: number | null; upstreamCpuS: number | null }> {
  const running = t.running;
  if (running === null) throw new Error('bug: measuring a target that is not running');
  const proxyBefore = cpuOf(running.proc);
  const upstreamBefore = cpuOf(upstream.proc);
  const load = await mode.run(running.port, durationS);
  return {
    load,
    proxyCpuS: delta(proxyBefore, cpuOf(running.proc)),
    upstreamCpuS: delta(upstreamBefore, cpuOf(upstream.proc)),
  };
}

/** A target whose process died is out for the rest of the run; says so once. */
function checkAlive(t: TargetState): boolean {
  const proc = t.running?.proc ?? null;
  if (t.status === 'running' && proc !== null && proc.hasExited) {
    t.status = 'failed';
    t.note = `${proc.name} ${proc.exitDescription()} during the run: ${headline(proc.output())}`;
    log(`  ${t.spec.name}: FAILED: ${t.note}\n${indent(condensedOutput(proc.output()))}`);
  }
  return t.status === 'running';
}

function indent(text: string): string {
  return text.split('\n').map((l) => `    | ${l}`).join('\n');
}

/** --against: check `rev` out at `dir` and put against-cN right after each legate-cN in `specs`. */
function addAgainst(specs: TargetSpec[], rev: string, dir: string): string {
  execFileSync('git', ['worktree', 'add', '--detach', dir, rev], { cwd: REPO_ROOT, stdio: 'ignore' });
  symlinkSync(join(REPO_ROOT, 'node_modules'), join(dir, 'node_modules'));
  for (let i = specs.length - 1; i >= 0; i--) {
    const m = /^legate-c(\d+)$/.exec(specs[i].name);
    if (m !== null) specs.splice(i + 1, 0, legate(Number(m[1]), 'against', dir, ` at ${rev}`));
  }
  return dir;
}

async function main(): Promise<number> {
  const args = parseBenchArgs(process.argv.slice(2));
  if (args.help) {
    log(USAGE);
    return 0;
  }
  const scenario = args.scenario;
  const specs = selectTargets(args.only, scenario);
  if (specs.length === 0) throw new Error(`--only: none of these targets takes part in --scenario ${scenario}`);
  const nodeBin = nodeRuntime();
  const tool = chooseTool(args, nodeBin);
  const upstreamKind = args.upstream ?? (which('nginx') !== null ? 'nginx' : 'node');
  if (upstreamKind === 'nginx' && which('nginx') === null) throw new Error('--upstream nginx: nginx not found');
  if (args.upstream === null && upstreamKind === 'node') log('note: nginx not found, upstream is a Node server');

  const tmp = mkdtempSync(join(tmpdir(), 'legate-bench-'));
  const against = args.against === null ? null : addAgainst(specs, args.against, join(tmp, 'against'));
  let tls: BenchTls | null = null;
  let opensslConf: string | null = null;
  if (isTls(scenario)) {
    mkdirSync(join(tmp, 'tls'));
    tls = makeBenchTls(join(tmp, 'tls'));
    opensslConf = writeClientOpensslConf(join(tmp, 'tls'));
  }

  let cleaningUp = false;
  const cleanup = async (): Promise<void> => {
    if (cleaningUp) return;
    cleaningUp = true;
    await stopAll();
    if (against !== null) execFileSync('git', ['worktree', 'remove', '--force', against], { cwd: REPO_ROOT, stdio: 'ignore' });
    if (args.keep) log(`kept ${tmp}`);
    else rmSync(tmp, { recursive: true, force: true });
  };
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      interrupted = true;
      log(`\n${sig}: stopping every child process`);
      void cleanup().finally(() => process.exit(130));
    });
  }

  try {
    const modes = scenarioModes(scenario, { args, tool, tmp, opensslConf, nodeBin, log });
    const [upstreamPort, ...ports] = await freePorts(1 + specs.length);
    const stream = scenario === 'tcp-stream';
    const upstream = await startUpstream(upstreamKind, join(tmp, 'upstream'), upstreamPort, nodeBin, stream);
    log(`upstream: ${upstreamKind} on 127.0.0.1:${upstream.port}, ${PAYLOAD_PATH} (100 bytes)` +
      (stream ? `, ${STREAM_PATH} (${STREAM_BYTES} bytes)` : '') +
      (scenario === 'gzip' ? `, ${JSON_PATH} (${JSON_BYTES} bytes, application/json)` : ''));

    const targets: TargetState[] = specs.map((spec) =>
      ({ spec, status: 'running', note: '', running: null, rounds: [] }));
    // Start everything at once: a slow or hanging start (Legate's 10 s readiness bound) costs its time once.
    const started = await Promise.allSettled(specs.map((spec, i) => {
      const dir = join(tmp, spec.name);
      mkdirSync(dir);
      return spec.start({ dir, port: ports[i], scenario, tls, upstream, nodeBin, legateNodeFlags: [],
        legateExtraArgs: [] });
    }));
    started.forEach((s, i) => {
      const t = targets[i];
      if (s.status === 'fulfilled') {
        t.running = s.value;
        log(`  ${t.spec.name.padEnd(11)} ready on 127.0.0.1:${s.value.port}  (${t.spec.describe(scenario)})`);
      } else if (s.reason instanceof SkipTarget) {
        t.status = 'skipped';
        t.note = s.reason.message;
        log(`  ${t.spec.name.padEnd(11)} skipped: ${t.note}`);
      } else {
        t.status = 'failed';
        const [first, ...rest] = String((s.reason as Error).message ?? s.reason).split('\n');
        t.note = first;
        log(`  ${t.spec.name.padEnd(11)} FAILED to start: ${first}`);
        if (rest.length > 0) log(indent(rest.join('\n')));
      }
    });
    const active = (): TargetState[] => targets.filter((t) => t.status === 'running');
    // A target that answers but does not do what the scenario measures is out before it is measured.
    for (const m of modes) {
      if (m.check === undefined) continue;
      for (const t of active()) {
        try {
          log(`  ${t.spec.name.padEnd(11)} ${await m.check(t.running!.port)}`);
        } catch (err) {
          t.status = 'failed';
          t.note = `check failed: ${(err as Error).message}`;
          log(`  ${t.spec.name.padEnd(11)} FAILED: ${t.note}`);
        }
      }
    }
    if (active().length === 0) throw new Error('no target could be started and pass its check');

    if (scenario === 'http') {
      const mode = args.newConn ? 'new connection per request' : 'keep-alive';
      log(`\n${tool.name}: ${args.connections} connections, ${args.threads} thread(s), ${args.durationS} s x ` +
        `${args.rounds} rounds, ${mode}; ${cpus().length} CPUs`);
    } else {
      log(`\nscenario ${scenario}, ${args.rounds} rounds; ${cpus().length} CPUs`);
      for (const m of modes) log(`  ${m.name !== '' ? `${m.name}: ` : ''}${m.tool}, ${m.how}`);
    }

    if (args.warmupS > 0) {
      log(`warmup: ${scenario === 'tcp-stream' ? 'one stream' : `${args.warmupS} s`} per target`);
      for (const t of active()) {
        for (const m of modes) {
          if (interrupted) break;
          try {
            await measure(m, t, upstream, args.warmupS);
          } catch (err) {
            if (interrupted) break;
            log(`  ${t.spec.name}${m.name !== '' ? ` ${m.name}` : ''}: warmup failed: ${(err as Error).message}`);
          }
          if (!checkAlive(t)) break;
          await sleep(PAUSE_MS);
        }
      }
    }

    for (let round = 1; round <= args.rounds; round++) {
      for (const t of active()) {
        for (const m of modes) {
          if (interrupted) break;
          const startedAt = new Date().toISOString();
          const label = `${t.spec.name.padEnd(11)}${m.name !== '' ? ` ${m.name.padEnd(7)}` : ''}`;
          try {
            const r = await measure(m, t, upstream, args.durationS);
            const l = r.load;
            t.rounds.push({
              round, ...(m.name !== '' ? { mode: m.name } : {}), startedAt, requests: l.requests,
              badStatus: l.badStatus, socketErrors: l.socketErrors, durationS: l.durationS, rps: l.rps,
              p50Ms: l.p50Ms, p99Ms: l.p99Ms, ...(m.reused ? { reused: l.reused ?? null } : {}),
              ...(l.clientCpuS !== undefined ? { clientCpuS: l.clientCpuS } : {}),
              proxyCpuS: r.proxyCpuS, upstreamCpuS: r.upstreamCpuS, raw: l.raw,
            });
            const errs = l.badStatus + l.socketErrors;
            log(`round ${round}/${args.rounds}  ${label} ${fmtNum(l.rps).padStart(8)} ${m.rate}` +
              (m.latency ? `  p50 ${fmtNum(l.p50Ms, 2)} ms  p99 ${fmtNum(l.p99Ms, 2)} ms` : '') +
              (m.reused ? `  resumed ${fmtPercent(l.reused ?? null)}` : '') +
              (r.proxyCpuS !== null ? `  cpu ${r.proxyCpuS.toFixed(2)} s` : '') +
              (l.clientCpuS !== undefined ? `  client cpu ${l.clientCpuS.toFixed(2)} s` : '') +
              (errs > 0 ? `  ERRORS ${errs} (status ${l.badStatus}, socket ${l.socketErrors})` : ''));
          } catch (err) {
            if (interrupted) break;
            log(`round ${round}/${args.rounds}  ${label} measurement failed: ${(err as Error).message}`);
          }
          if (!checkAlive(t)) break;
          await sleep(PAUSE_MS);
        }
      }
    }

    if (interrupted) return 130;
    const summaries = modes.map((m) => targets.map((t) => summarize(t, targets, m)));
    modes.forEach((m, mi) => {
      const header = ['target', m.rate, ...(m.latency ? ['p50 ms', 'p99 ms'] : []), m.cpu,
        ...m.refs.map((r) => `vs ${r}`), ...(m.reused ? ['resumed'] : []), 'errors'];
      const rows = targets.map((t, i) => {
        const s = summaries[mi][i];
        if (t.status !== 'running' && t.rounds.length === 0) {
          return [t.spec.name, t.status, ...header.slice(2).map(() => '')];
        }
        return [t.spec.name, fmtNum(s.rps), ...(m.latency ? [fmtNum(s.p50Ms, 2), fmtNum(s.p99Ms, 2)] : []),
          fmtNum(s.cpuPer10k, 3), ...m.refs.map((r) => fmtRatio(r === 'nginx' ? s.vsNginx : s.vsDirect)),
          ...(m.reused ? [fmtPercent(s.reused ?? null)] : []), String(s.errors)];
      });
      const what = scenario === 'http' ? '' : `, ${scenario}${m.name !== '' ? ` ${m.name}` : ''}`;
      log(`\nmedians over ${args.rounds} rounds${what} (${m.tool}, ${m.how}):\n`);
      log(formatTable(header, rows));
    });
    log('');
    for (const t of targets) {
      log(`  ${t.spec.name.padEnd(11)} ${t.spec.describe(scenario)}${t.note !== '' ? `  [${t.status}: ${t.note}]` : ''}`);
    }
    log(`\n${RATE_NOTES[scenario]} "vs" columns: median over rounds of the same-round ${modes[0].rate} ratio.`);
    log(CPU_NOTES[scenario]);

    const resultsDir = join(REPO_ROOT, 'bench', 'results');
    mkdirSync(resultsDir, { recursive: true });
    const file = join(resultsDir, `${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
    writeFileSync(file, `${JSON.stringify({
      meta: {
        date: new Date().toISOString(),
        argv: process.argv.slice(2),
        args,
        scenario,
        tool: modes.map((m) => m.tool).filter((x, i, a) => a.indexOf(x) === i).join(','),
        cpus: cpus().length,
        cpuModel: cpus()[0]?.model ?? null,
        kernel: release(),
        loadavg: loadavg(),
        node: toolVersion(nodeBin, ['--version']),
        wrk: modes.some((m) => m.tool === 'wrk') ? toolVersion(which('wrk'), ['-v']) : null,
        upstream: { kind: upstream.kind, nginx: upstream.kind === 'nginx' ? nginxVersion(which('nginx')!) : null },
        payloadBytes: scenario === 'gzip' ? JSON_BYTES : 100,
        ...(scenario === 'gzip' ? { gzip: GZIP } : {}),
        ...(stream ? { streamBytes: STREAM_BYTES } : {}),
        ...(scenario !== 'http' ? { units: Object.fromEntries(modes.map((m) => [m.name, { rate: m.rate, cpu: m.cpu }])) } : {}),
      },
      targets: targets.map((t, i) => ({
        name: t.spec.name,
        description: t.spec.describe(scenario),
        status: t.status,
        note: t.note,
        version: t.running?.version ?? null,
        ...(modes.length === 1
          ? { summary: summaries[0][i] }
          : { summaries: Object.fromEntries(modes.map((m, mi) => [m.name, summaries[mi][i]])) }),
        rounds: t.rounds,
      })),
    }, null, 2)}\n`);
    log(`\nraw results: ${file}`);
    return 0;
  } finally {
    await cleanup();
  }
}

main().then((code) => { process.exitCode = code; }, async (err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
  await stopAll();
  process.exitCode = 1;
});
