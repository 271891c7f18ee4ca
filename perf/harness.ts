// Runs Legate under load with extra Node flags, then stops it cleanly so V8 writes what those flags
// collect. perf/cpu-profile.sh and perf/gc-trace.sh are thin wrappers around this; see perf/README.md.
//
// It reuses the bench's pieces (bench/targets, bench/load): the same upstream (nginx serving 100 bytes,
// or the Node one), the same generated Envoy config, the same wrk invocation.
//
// Why the clean stop matters: --cpu-prof writes each thread's profile when that thread exits normally
// (worker threads when they end or are terminated, the main thread at process exit). A process killed by a
// signal it does not handle writes nothing, so Legate must turn SIGTERM into an orderly exit.

import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { makeBenchTls, writeClientOpensslConf } from '../bench/lib/certs.ts';
import { freePorts } from '../bench/lib/net.ts';
import { spawnManaged, stop, stopAll } from '../bench/lib/procs.ts';
import type { ManagedProcess } from '../bench/lib/procs.ts';
import { which } from '../bench/lib/which.ts';
import { autocannon } from '../bench/load/autocannon.ts';
import { wrk } from '../bench/load/wrk.ts';
import { waitProcReady } from '../bench/targets/common.ts';
import { legate, REPO_ROOT, type Variant } from '../bench/targets/legate.ts';
import { JSON_PATH, PAYLOAD_PATH } from '../bench/targets/payload.ts';
import { startUpstream } from '../bench/targets/upstream.ts';
import { profileFiles, summarizeProfile } from './cpuprofile-top.ts';
import { summarizeGcLog } from './gc-summary.ts';

const USAGE = `Usage: node perf/harness.ts --out <dir> [options]

  --out <dir>            where Legate's config, log and the collected files go (created)
  --node-flag <flag>     a flag for Legate's Node, repeatable (--node-flag=--cpu-prof)
  --report <cpu|gc|none> summary to print afterwards (default none)
  --concurrency <n>      Legate --concurrency (default 2)
  --duration <s>         seconds of load (default 10)
  --connections <n>      client connections (default 50)
  --new-conn             a new connection per request
  --scenario <http|https|tcp-echo|gzip>  as npm run bench -- --scenario ...: https terminates TLS 1.3,
                         tcp-echo proxies the same HTTP exchanges through tcp_proxy, gzip compresses
                         the 100 KiB JSON document
  --upstream <nginx|node>  default nginx when installed
  --script <file>        profile this Node server instead of Legate; it is run as
                         <file> <listen-port> <upstream-port> (e.g. bench/peers/node-http-proxy.ts)
  --variant <plain|dns|filters>  Legate's config as the bench's legate, legate-dns or legate-filters rows
  --stop-timeout <s>     how long Legate may take to exit after SIGTERM (default 15)`;

function log(line: string): void {
  process.stdout.write(`${line}\n`);
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      out: { type: 'string' },
      'node-flag': { type: 'string', multiple: true, default: [] },
      report: { type: 'string', default: 'none' },
      concurrency: { type: 'string', default: '2' },
      duration: { type: 'string', default: '10' },
      connections: { type: 'string', default: '50' },
      'new-conn': { type: 'boolean', default: false },
      scenario: { type: 'string', default: 'http' },
      upstream: { type: 'string' },
      script: { type: 'string' },
      'stop-timeout': { type: 'string', default: '15' },
      variant: { type: 'string', default: 'plain' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help || values.out === undefined) {
    log(USAGE);
    return values.help ? 0 : 2;
  }
  if (values.report !== 'cpu' && values.report !== 'gc' && values.report !== 'none') {
    throw new Error(`--report: expected cpu, gc or none, got "${values.report}"`);
  }
  const out = resolve(values.out);
  mkdirSync(out, { recursive: true });
  const nodeFlags = values['node-flag'];
  const durationS = Number(values.duration);
  const concurrency = Number(values.concurrency);
  const pinned = join(REPO_ROOT, 'node_modules', '.bin', 'node');
  const nodeBin = existsSync(pinned) ? pinned : process.execPath;
  const wrkBin = which('wrk');
  const https = values.scenario === 'https';
  const scenario = values.scenario as 'http' | 'https' | 'tcp-echo' | 'gzip';
  if (!['http', 'https', 'tcp-echo', 'gzip'].includes(scenario)) {
    throw new Error(`--scenario: expected http, https, tcp-echo or gzip, got "${scenario}"`);
  }
  const gzip = scenario === 'gzip';
  if (https && wrkBin === null) throw new Error('--scenario https needs wrk');
  // https: the bench's TLS (one ECDSA P-256 certificate; wrk offering TLS_AES_128_GCM_SHA256, P-256).
  const tls = https ? makeBenchTls(out) : null;
  const tool = wrkBin !== null
    ? wrk(wrkBin, https ? { ...process.env, OPENSSL_CONF: writeClientOpensslConf(out) } : undefined)
    : autocannon(nodeBin);
  if (tool === null) throw new Error('no load generator: install wrk (or npm install for autocannon)');
  const upstreamKind = values.upstream === 'node' || which('nginx') === null ? 'node' : 'nginx';

  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => { void stopAll().finally(() => process.exit(130)); });
  }
  try {
    const [upstreamPort, port] = await freePorts(2);
    const upstream = await startUpstream(upstreamKind, join(out, 'upstream'), upstreamPort, nodeBin);
    let proc: ManagedProcess;
    let what: string;
    if (values.script !== undefined) {
      what = values.script;
      proc = spawnManaged('server', nodeBin,
        [...nodeFlags, resolve(values.script), String(port), String(upstreamPort)],
        { cwd: out, logFile: join(out, 'legate.log') });
      await waitProcReady(proc, port);
    } else {
      what = `Legate --concurrency ${concurrency}`;
      const variant = values.variant as Variant;
      if (!['plain', 'dns', 'filters'].includes(variant)) {
        throw new Error(`--variant: expected plain, dns or filters, got "${variant}"`);
      }
      what += variant === 'plain' ? '' : ` (${variant} variant)`;
      const running = await legate(concurrency, 'legate', undefined, '', variant).start(
        // The load has ended by the time we stop it: no need for the default 10 s drain.
        { dir: out, port, scenario, tls, upstream, nodeBin, legateNodeFlags: nodeFlags,
          legateExtraArgs: ['--drain-time-s', '1'] });
      if (running.proc === null) throw new Error('bug: Legate target without a process');
      proc = running.proc;
    }
    log(`${what} (node ${nodeFlags.join(' ')}) on 127.0.0.1:${port} -> ${upstreamKind} upstream; ` +
      `${tool.name} ${values.connections} connections for ${durationS} s`);
    const result = await tool.run({
      url: `${https ? 'https' : 'http'}://127.0.0.1:${port}${gzip ? JSON_PATH : PAYLOAD_PATH}`,
      ...(gzip ? { headers: { 'Accept-Encoding': 'gzip' } } : {}),
      connections: Number(values.connections),
      threads: 1,
      durationS,
      newConn: values['new-conn'],
    });
    log(`${Math.round(result.rps)} rps, p50 ${result.p50Ms ?? '-'} ms, p99 ${result.p99Ms ?? '-'} ms, ` +
      `${result.requests} requests, ${result.badStatus + result.socketErrors} errors`);

    const graceMs = Number(values['stop-timeout']) * 1000;
    log(`stopping with SIGTERM (waiting up to ${graceMs / 1000} s for the files to be written)`);
    await stop(proc, graceMs);
    await proc.logWritten;
    if (proc.exitSignal !== null) {
      log(`WARNING: the server ${proc.exitDescription()} instead of exiting on SIGTERM: ` +
        'V8 writes CPU profiles only on a normal exit, so some or all may be missing.');
    }
    await stop(upstream.proc);

    log(`\nlog (stdout+stderr, --trace-gc output goes here): ${join(out, 'legate.log')}`);
    if (values.report === 'cpu') {
      const files = profileFiles([out]);
      if (files.length === 0) log(`no .cpuprofile files in ${out}`);
      for (const file of files) log(`\n${summarizeProfile(file, 15)}`);
      log(`\nprofiles: ${out}/*.cpuprofile (one per thread; open in Chrome DevTools > Performance, or speedscope)`);
    } else if (values.report === 'gc') {
      log(`\n${summarizeGcLog(join(out, 'legate.log'), result.requests)}`);
    }
    return 0;
  } finally {
    await stopAll();
  }
}

main().then((code) => { process.exitCode = code; }, async (err: unknown) => {
  process.stderr.write(`perf: ${err instanceof Error ? err.message : String(err)}\n`);
  await stopAll();
  process.exitCode = 1;
});
