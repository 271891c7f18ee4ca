// Starts a real Legate process (bin/legate.js on the pinned Node) for integration tests: config
// from a YAML string, admin on 127.0.0.1 port 0, listener ports discovered through /listeners.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const ROOT = path.resolve(import.meta.dirname, '../..');
export const NODE = process.execPath;
export const BIN = path.join(ROOT, 'bin/legate.js');

export interface Legate {
  proc: ChildProcess;
  admin: string;
  /** The config file it was started with (rewrite it, then reload). */
  configPath: string;
  /** Look the listeners' ports up again (after a reload added some). */
  refreshPorts(): Promise<void>;
  /** The bound port of a listener, by name. */
  port(listener: string): number;
  stdout(): string;
  stderr(): string;
  /** Counters and gauges from /stats?format=json (histograms left out). */
  stats(): Promise<Map<string, number>>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export interface StartOptions {
  concurrency?: number;
  args?: string[];
  env?: Record<string, string>;
  timeoutMs?: number;
}

export function tmpFile(name: string, content: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'legate-test-'));
  const p = path.join(dir, name);
  fs.writeFileSync(p, content);
  return p;
}

export async function startLegate(yaml: string, opts: StartOptions = {}): Promise<Legate> {
  const cfg = tmpFile('config.yaml', yaml);
  const addrPath = path.join(path.dirname(cfg), 'admin-address');
  const proc = spawn(NODE, [
    BIN, '-c', cfg, '--concurrency', String(opts.concurrency ?? 1), '--log-level', 'warn',
    '--admin-address', '127.0.0.1:0', '--admin-address-path', addrPath, ...(opts.args ?? []),
  ], { env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout!.on('data', (d) => { out += d; });
  proc.stderr!.on('data', (d) => { err += d; });
  let exited = false;
  const exit = new Promise<number | null>((resolve) => proc.on('exit', (code) => { exited = true; resolve(code); }));
  const deadline = Date.now() + (opts.timeoutMs ?? 20_000);
  while (!fs.existsSync(addrPath) || fs.readFileSync(addrPath, 'utf8') === '') {
    if (exited) throw new Error(`legate exited during start:\n${err}\n${out}`);
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`legate did not start in time:\n${err}\n${out}`);
    }
    await sleep(25);
  }
  const admin = `http://${fs.readFileSync(addrPath, 'utf8').trim()}`;
  const ports = new Map<string, number>();
  const refreshPorts = async (): Promise<void> => {
    const ls = await (await fetch(`${admin}/listeners?format=json`, { signal: AbortSignal.timeout(5000) })).json() as {
      listener_statuses: { name: string; local_address: { socket_address: { port_value: number } } }[];
    };
    ports.clear();
    for (const l of ls.listener_statuses) ports.set(l.name, l.local_address.socket_address.port_value);
  };
  await refreshPorts();
  return {
    proc,
    admin,
    configPath: cfg,
    refreshPorts,
    port(name: string): number {
      const p = ports.get(name);
      if (p === undefined) throw new Error(`no listener named ${name}`);
      return p;
    },
    stdout: () => out,
    stderr: () => err,
    async stats(): Promise<Map<string, number>> {
      const j = await (await fetch(`${admin}/stats?format=json`)).json() as { stats: { name?: string; value?: number }[] };
      const m = new Map<string, number>();
      for (const s of j.stats) if (s.name !== undefined && typeof s.value === 'number') m.set(s.name, s.value);
      return m;
    },
    async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
      if (exited) return proc.exitCode;
      proc.kill(signal);
      const t = setTimeout(() => proc.kill('SIGKILL'), 15_000);
      const code = await exit;
      clearTimeout(t);
      return code;
    },
  };
}

/** Run the CLI to completion (validate mode and the like). */
export function runLegate(args: string[], timeoutMs = 20_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(NODE, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d) => { stdout += d; });
    proc.stderr.on('data', (d) => { stderr += d; });
    const t = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error('legate did not exit in time')); }, timeoutMs);
    proc.on('exit', (code) => { clearTimeout(t); resolve({ code, stdout, stderr }); });
  });
}

/** An HCM `access_log` entry (indented for `hcmExtra` / an HCM's fields) writing `format` to the
 *  file `path`; `format` is YAML-quoted text, so a newline is written `\\n`. */
export function fileAccessLog(path: string, format: string): string {
  return `
          access_log:
          - name: envoy.access_loggers.file
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
              path: ${path}
              log_format:
                text_format_source:
                  inline_string: "${format}"`;
}

/** A STATIC round-robin cluster entry (for a `clusters:` list) over 127.0.0.1 ports. */
export function staticCluster(name: string, ports: number[], extra = ''): string {
  const endpoints = ports.map((p) => `
        - endpoint:
            address:
              socket_address: { address: 127.0.0.1, port_value: ${p} }`).join('');
  return `
  - name: ${name}
    type: STATIC
    connect_timeout: 1s
    lb_policy: ROUND_ROBIN${extra}
    load_assignment:
      cluster_name: ${name}
      endpoints:
      - lb_endpoints:${endpoints}`;
}

/** A listener entry (for a `listeners:` list) on 127.0.0.1, port 0, whose one network filter is an
 *  HTTP connection manager: `httpFilters` (entries, indented as below) before the router, and one
 *  virtual host `*` with `routes` (or `virtualHosts`: the route configuration's list, entries
 *  indented as `            - name: ...`, and `routes` unused). */
export function hcmListener(name: string, statPrefix: string, routes: string,
  extra: { listenerExtra?: string; hcmExtra?: string; httpFilters?: string; virtualHosts?: string } = {}): string {
  return `
  - name: ${name}
    address:
      socket_address: { address: 127.0.0.1, port_value: 0 }${extra.listenerExtra ?? ''}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ${statPrefix}${extra.hcmExtra ?? ''}
          http_filters:${extra.httpFilters ?? ''}
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
          route_config:
            name: local
            virtual_hosts:${extra.virtualHosts ?? `
            - name: all
              domains: ["*"]
              routes:${routes}`}`;
}

/** A route entry (for hcmListener's `routes`): every path to `cluster`. */
export function routeAll(cluster: string, routeExtra = ''): string {
  return `
              - match: { prefix: "/" }
                route: { cluster: ${cluster}${routeExtra} }`;
}

/** A minimal bootstrap: listener "proxy" -> cluster "upstream" at the given ports (`clusters`
 *  replaces that cluster with entries of one's own, see staticCluster). */
export function proxyConfig(upstreamPorts: number[], extra: { routeTimeout?: string; hcmExtra?: string; clusterExtra?: string; listenerExtra?: string; routes?: string; clusters?: string; httpFilters?: string } = {}): string {
  const routes = extra.routes ?? routeAll('upstream', extra.routeTimeout ? `, timeout: ${extra.routeTimeout}` : '');
  return `
static_resources:
  listeners:${hcmListener('proxy', 'ingress', routes, extra)}
  clusters:${extra.clusters ?? staticCluster('upstream', upstreamPorts, extra.clusterExtra ?? '')}
`;
}
