// Command line -> options -> main. Flags use Envoy's names where Envoy has one.
import { parseArgs } from 'node:util';
import pino from 'pino';
import { MainServer, VERSION, defaultConcurrency, loadConfig, type ServeOptions } from './main/server.ts';
import { ConfigError } from './config/load.ts';
import { explain, formatExplanation, parseHeaderFlags } from './main/explain.ts';
import { LegateError } from './common/errors.ts';

const USAGE = `Usage: legate -c <config.yaml> [options]
       legate explain -c <config.yaml> --url <url> [--method M] [--header 'n: v']... [--json]

  -c, --config-path <path>      Envoy v3 bootstrap (YAML or JSON)
      --config-yaml <yaml>      bootstrap given inline (used when -c is absent)
      --mode serve|validate     validate: check the config and exit (0 ok, 1 errors)
      --concurrency <n>         worker threads (default: number of cores)
  -l, --log-level <level>       trace|debug|info|warn|error|critical|off (default info)
      --buffer-size <bytes>     per-connection buffer limit (default 1048576, as Envoy's
                                per_connection_buffer_limit_bytes)
      --admin-address <h:p>     override admin.address
      --admin-address-path <f>  write the admin address here once ready
      --drain-time-s <s>        how long SIGTERM/SIGINT lets requests finish (default 10)
                                (SIGHUP or POST /reload re-reads the config and applies it)
      --allow-unsupported-fields  report fields Legate does not act on as warnings, not errors
      --version                 print the version
  -h, --help                    this text

explain: where a request would go (listener, filter chain, filters, virtual host, route and
why the routes before it did not match, rewrites, cluster), without sending it:
      --url <url>               http://host[:port]/path?query (https: a TLS connection, SNI host)
      --method <m>              default GET
      --header 'name: value'    a request header (repeatable); Host overrides the URL's authority
      --remote-address <ip>     the client's address (default 127.0.0.1)
      --listener <name>         the listener, when several are bound to the URL's port
      --random <n>              the stream's random value (runtime_fraction, weighted clusters);
                                drawn when absent and printed, so an answer can be asked again
      --json                    the explanation as JSON
`;

const LEVELS: Record<string, string> = {
  trace: 'trace', debug: 'debug', info: 'info', warn: 'warn', warning: 'warn', error: 'error',
  critical: 'fatal', off: 'silent',
};

function positiveInt(name: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new LegateError('LEGATE_ERR_FLAG', `--${name}: expected a positive integer, got "${v}"`);
  return n;
}

export async function run(argv: string[]): Promise<void> {
  if (argv[0] === 'explain') return explainCommand(argv.slice(1));
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      args: argv,
      options: {
        'config-path': { type: 'string', short: 'c' },
        'config-yaml': { type: 'string' },
        mode: { type: 'string', default: 'serve' },
        concurrency: { type: 'string' },
        'log-level': { type: 'string', short: 'l', default: 'info' },
        'buffer-size': { type: 'string' },
        'admin-address': { type: 'string' },
        'admin-address-path': { type: 'string' },
        'drain-time-s': { type: 'string' },
        'allow-unsupported-fields': { type: 'boolean', default: false },
        version: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    }).values;
  } catch (err) {
    process.stderr.write(`legate: ${(err as Error).message}\n\n${USAGE}`);
    process.exit(2);
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  if (values.version) {
    process.stdout.write(`legate ${VERSION} (node ${process.versions.node})\n`);
    return;
  }
  const level = LEVELS[String(values['log-level'])];
  if (level === undefined) {
    process.stderr.write(`legate: --log-level: unknown level "${values['log-level']}"\n`);
    process.exit(2);
  }
  const logger = pino({ level, base: { pid: process.pid }, name: 'legate' });
  const mode = String(values.mode);
  if (mode !== 'serve' && mode !== 'validate') {
    process.stderr.write(`legate: --mode: expected serve or validate, got "${mode}"\n`);
    process.exit(2);
  }
  let opts: ServeOptions;
  try {
    opts = {
      configPath: (values['config-path'] as string | undefined) ?? null,
      configYaml: (values['config-yaml'] as string | undefined) ?? null,
      concurrency: positiveInt('concurrency', values.concurrency as string | undefined, defaultConcurrency()),
      bufferSize: positiveInt('buffer-size', values['buffer-size'] as string | undefined, 1024 * 1024),
      adminAddress: (values['admin-address'] as string | undefined) ?? null,
      adminAddressPath: (values['admin-address-path'] as string | undefined) ?? null,
      drainTimeS: positiveInt('drain-time-s', values['drain-time-s'] as string | undefined, 10),
      allowUnsupportedFields: values['allow-unsupported-fields'] === true,
      logger,
      commandLine: argv,
    };
  } catch (err) {
    process.stderr.write(`legate: ${(err as Error).message}\n`);
    process.exit(2);
  }

  let loaded;
  try {
    loaded = loadConfig(opts);
  } catch (err) {
    if (err instanceof ConfigError || err instanceof LegateError) {
      process.stderr.write(`legate: invalid configuration:\n${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  for (const w of loaded.warnings) logger.warn(w);
  // However it stops (signal or POST /quitquitquit), the process exits once draining is done.
  let server: MainServer;
  try {
    // Builds the snapshot, where each extension compiles its config: what one refuses is a config error too.
    server = new MainServer(opts, loaded.bootstrap as Record<string, any>, () => process.exit(0));
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`legate: invalid configuration:\n${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  if (mode === 'validate') {
    process.stdout.write(`configuration '${opts.configPath ?? '<inline>'}' OK\n`);
    return;
  }

  try {
    await server.start();
  } catch (err) {
    logger.fatal({ err }, (err as Error).message);
    await new Promise((r) => setTimeout(r, 50));
    process.exit(1);
  }
  const shutdown = (sig: string) => {
    logger.info({ signal: sig }, 'shutting down');
    void server.stop();
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  // SIGHUP re-reads the config and applies it, as POST /reload does (the result is logged).
  process.on('SIGHUP', () => { void server.reload(); });
  if (process.env.LEGATE_TEST_HOOKS === '1') process.on('SIGUSR2', () => server.crashWorker(0));
}

/** `legate explain`: load and compile the config as `--mode validate` does, then explain. */
async function explainCommand(argv: string[]): Promise<void> {
  let values: Record<string, string | boolean | string[] | undefined>;
  try {
    values = parseArgs({
      args: argv,
      options: {
        'config-path': { type: 'string', short: 'c' },
        'config-yaml': { type: 'string' },
        url: { type: 'string' },
        method: { type: 'string', default: 'GET' },
        header: { type: 'string', short: 'H', multiple: true, default: [] },
        'remote-address': { type: 'string' },
        listener: { type: 'string' },
        random: { type: 'string' },
        json: { type: 'boolean', default: false },
        'allow-unsupported-fields': { type: 'boolean', default: false },
      },
      strict: true,
    }).values;
    if (values.url === undefined) throw new Error('explain: --url is required');
  } catch (err) {
    process.stderr.write(`legate: ${(err as Error).message}\n\n${USAGE}`);
    process.exit(2);
  }
  const logger = pino({ level: 'silent' });
  const opts: ServeOptions = {
    configPath: (values['config-path'] as string | undefined) ?? null,
    configYaml: (values['config-yaml'] as string | undefined) ?? null,
    concurrency: 1, bufferSize: 1024 * 1024, adminAddress: null, adminAddressPath: null, drainTimeS: 1,
    allowUnsupportedFields: values['allow-unsupported-fields'] === true, logger, commandLine: argv,
  };
  let server: MainServer;
  try {
    const loaded = loadConfig(opts);
    server = new MainServer(opts, loaded.bootstrap as Record<string, any>, () => {});
  } catch (err) {
    if (err instanceof ConfigError || err instanceof LegateError) {
      process.stderr.write(`legate: invalid configuration:\n${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  try {
    const e = explain(server.snapshot, {
      method: String(values.method).toUpperCase(),
      url: String(values.url),
      headers: parseHeaderFlags(values.header as string[]),
      remoteAddress: values['remote-address'] as string | undefined,
      listener: values.listener as string | undefined,
      random: values.random === undefined ? undefined : Number(values.random),
    }, server.runtime);
    process.stdout.write(values.json === true ? `${JSON.stringify(e, null, 2)}\n` : formatExplanation(e));
  } catch (err) {
    if (!(err instanceof LegateError)) throw err;
    process.stderr.write(`legate: ${err.message}\n`);
    process.exit(2);
  }
}
