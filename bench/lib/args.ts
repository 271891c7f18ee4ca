import { parseArgs } from 'node:util';

/** What is measured: see bench/scenarios.ts and docs/bench.md. */
export const SCENARIOS = ['http', 'https', 'tls-new', 'tcp-stream', 'tcp-echo', 'gzip'] as const;
export type Scenario = typeof SCENARIOS[number];

/** Scenarios where the targets terminate TLS. */
export function isTls(scenario: Scenario): boolean {
  return scenario === 'https' || scenario === 'tls-new';
}

/** Scenarios where the targets are L4 (TCP) proxies. */
export function isL4(scenario: Scenario): boolean {
  return scenario === 'tcp-stream' || scenario === 'tcp-echo';
}

/** Rounds and seconds when the flags are not given: every scenario stays within a few minutes. */
const SCENARIO_DEFAULTS: Readonly<Record<Scenario, { durationS: number; rounds: number; warmupS: number }>> = {
  'http': { durationS: 5, rounds: 3, warmupS: 2 },
  'https': { durationS: 5, rounds: 3, warmupS: 2 },
  // Two measurements per target and round (full, resumed).
  'tls-new': { durationS: 4, rounds: 3, warmupS: 1 },
  // One 1 GiB stream per target and round; the duration does not apply, warmup is one stream when > 0.
  'tcp-stream': { durationS: 5, rounds: 5, warmupS: 1 },
  'tcp-echo': { durationS: 5, rounds: 3, warmupS: 2 },
  // Three targets (legate-c1, legate-c2, nginx), each response 100 KiB compressed on the fly.
  'gzip': { durationS: 5, rounds: 3, warmupS: 2 },
};

export interface BenchArgs {
  readonly scenario: Scenario;
  readonly durationS: number;
  readonly connections: number;
  readonly threads: number;
  readonly rounds: number;
  readonly warmupS: number;
  readonly only: readonly string[] | null;
  readonly newConn: boolean;
  readonly tool: 'wrk' | 'autocannon' | null;
  readonly upstream: 'nginx' | 'node' | null;
  readonly keep: boolean;
  /** A git revision benched side by side with the working tree (targets against-c1/-c2). */
  readonly against: string | null;
  readonly help: boolean;
}

export const USAGE = `Usage: npm run bench -- [options]     (or: node bench/run.ts [options])

Runs every target in alternating rounds (A B C D, A B C D, ...) and prints median rps, p50/p99 latency,
proxy CPU-seconds per 10k requests and rps ratios to nginx and to the direct path.

  --scenario <name>     what to measure (default http):
                          http        HTTP/1.1 keep-alive rps through each proxy (wrk)
                          https       the same with TLS 1.3 terminated by the proxy (wrk)
                          tls-new     new TLS connections per second, one request each, full and
                                      resumed handshakes (bench/load/tls-conn.c)
                          tcp-stream  one 1 GiB download through each L4 proxy, MB/s (curl)
                          tcp-echo    small HTTP requests on 50 connections through each L4 proxy (wrk)
                          gzip        a 100 KiB JSON response gzipped by the proxy at nginx's default
                                      level 1, Accept-Encoding: gzip (wrk); Legate and nginx only
  --duration <s>        seconds per measurement (default 5, tls-new 4; "5s" also accepted)
  --connections <n>     concurrent client connections (default 50)
  --threads <n>         load generator threads (default 1; tls-new: client processes)
  --rounds <n>          rounds per target (default 3, tcp-stream 5)
  --warmup <s>          unrecorded load per target before round 1 (default 2, tls-new and tcp-stream 1;
                        0 disables)
  --only <a,b>          only these targets: direct, legate (= legate-c1,legate-c2), legate-c1, legate-c2,
                        nginx, haproxy, http-proxy, legate-dns-c1, legate-filters-c1 (a scenario runs those
                        it applies to: no direct in https, tls-new and gzip, no haproxy in gzip,
                        http-proxy and the legate-dns and legate-filters rows in http only)
  --new-conn            every request on a new connection (Connection: close): new-connection rate
  --tool <wrk|autocannon>  load generator (default wrk, autocannon when wrk is not installed)
  --upstream <nginx|node>  upstream server (default nginx, node when nginx is not installed)
  --keep                keep the temp directory with generated configs and logs
  --against <rev>       also bench Legate at git revision <rev> (a temporary worktree) as against-c1 and
                        against-c2, each measured right after its working-tree twin in every round: the
                        before/after of a change, free of the drift between separate runs
  -h, --help            this text

Raw results go to bench/results/<timestamp>.json. See docs/bench.md.`;

function positive(name: string, value: string | undefined, fallback: number, allowZero = false): number {
  if (value === undefined) return fallback;
  const n = Number(value.replace(/s$/, ''));
  if (!Number.isFinite(n) || n < 0 || (n === 0 && !allowZero)) {
    throw new Error(`--${name}: expected a ${allowZero ? 'non-negative' : 'positive'} number, got "${value}"`);
  }
  return n;
}

function integer(name: string, value: string | undefined, fallback: number, allowZero = false): number {
  const n = positive(name, value, fallback, allowZero);
  if (!Number.isInteger(n)) throw new Error(`--${name}: expected an integer, got "${value}"`);
  return n;
}

export function parseBenchArgs(argv: readonly string[]): BenchArgs {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      scenario: { type: 'string' },
      duration: { type: 'string' },
      connections: { type: 'string' },
      threads: { type: 'string' },
      rounds: { type: 'string' },
      warmup: { type: 'string' },
      only: { type: 'string' },
      'new-conn': { type: 'boolean', default: false },
      tool: { type: 'string' },
      upstream: { type: 'string' },
      keep: { type: 'boolean', default: false },
      against: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  const tool = values.tool ?? null;
  if (tool !== null && tool !== 'wrk' && tool !== 'autocannon') {
    throw new Error(`--tool: expected wrk or autocannon, got "${tool}"`);
  }
  const upstream = values.upstream ?? null;
  if (upstream !== null && upstream !== 'nginx' && upstream !== 'node') {
    throw new Error(`--upstream: expected nginx or node, got "${upstream}"`);
  }
  const scenario = (values.scenario ?? 'http') as Scenario;
  if (!SCENARIOS.includes(scenario)) {
    throw new Error(`--scenario: expected one of ${SCENARIOS.join(', ')}, got "${values.scenario}"`);
  }
  const defaults = SCENARIO_DEFAULTS[scenario];
  const durationS = integer('duration', values.duration, defaults.durationS);
  const connections = integer('connections', values.connections, 50);
  const threads = integer('threads', values.threads, 1);
  // wrk gives each thread at least one connection and refuses otherwise.
  if (threads > connections) throw new Error('--threads cannot exceed --connections');
  return {
    scenario,
    durationS,
    connections,
    threads,
    rounds: integer('rounds', values.rounds, defaults.rounds),
    warmupS: integer('warmup', values.warmup, defaults.warmupS, true),
    only: values.only === undefined ? null : values.only.split(',').map((s) => s.trim()).filter((s) => s !== ''),
    newConn: values['new-conn'],
    tool,
    upstream,
    keep: values.keep,
    against: values.against ?? null,
    help: values.help,
  };
}
