// HAProxy in http mode with 2 threads. Keep-alive to the server is HAProxy's default (http-keep-alive);
// `http-reuse always` lets any idle server connection serve any client's request, which is what the other
// proxies' pools do. In the TLS scenarios the frontend terminates TLS 1.3 with the shared certificate and
// ticket key; in the TCP scenarios it is `mode tcp` to the same server.

import { writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { isL4, isTls, SCENARIOS } from '../lib/args.ts';
import type { BenchTls } from '../lib/certs.ts';
import { spawnManaged } from '../lib/procs.ts';
import { which } from '../lib/which.ts';
import { waitProcReady } from './common.ts';
import { SkipTarget } from './types.ts';
import type { RunningTarget, StartContext, TargetSpec } from './types.ts';

export const HAPROXY_THREADS = 2;

/** TLS 1.3 only, TLS_AES_128_GCM_SHA256 only, P-256 only; tickets with the shared key. */
function sslBind(tls: BenchTls): string {
  return ` ssl crt ${tls.pemPath} ssl-min-ver TLSv1.3 ssl-max-ver TLSv1.3` +
    ` ciphersuites TLS_AES_128_GCM_SHA256 curves P-256 tls-ticket-keys ${tls.ticketKeyB64Path}`;
}

const HTTP_DEFAULTS = `defaults
    mode http
    option http-keep-alive
    http-reuse always
    timeout connect 1s
    timeout client 60s
    timeout server 60s
    timeout http-keep-alive 600s`;

const TCP_DEFAULTS = `defaults
    mode tcp
    timeout connect 1s
    timeout client 60s
    timeout server 60s`;

export const haproxy: TargetSpec = {
  name: 'haproxy',
  // Not in gzip: the row compares proxies that compress, and this config does not.
  scenarios: SCENARIOS.filter((s) => s !== 'gzip'),
  describe: (scenario) => isL4(scenario)
    ? `HAProxy, tcp mode, ${HAPROXY_THREADS} threads`
    : `HAProxy, http mode, ${HAPROXY_THREADS} threads, keep-alive to upstream${isTls(scenario) ? ', TLS 1.3' : ''}`,
  async start(ctx: StartContext): Promise<RunningTarget> {
    const bin = which('haproxy');
    if (bin === null) throw new SkipTarget('haproxy not found on PATH');
    const conf = join(ctx.dir, 'haproxy.cfg');
    writeFileSync(conf, `global
    nbthread ${HAPROXY_THREADS}
    maxconn 4096

${isL4(ctx.scenario) ? TCP_DEFAULTS : HTTP_DEFAULTS}

frontend bench
    bind 127.0.0.1:${ctx.port}${ctx.tls !== null ? sslBind(ctx.tls) : ''}
    default_backend upstream

backend upstream
    server upstream 127.0.0.1:${ctx.upstream.port}
`);
    // -db: stay in the foreground, no daemon, no master-worker.
    const proc = spawnManaged('haproxy', bin, ['-db', '-f', conf]);
    await waitProcReady(proc, ctx.port, ctx.tls !== null);
    let version: string | null = null;
    try {
      version = execFileSync(bin, ['-v'], { encoding: 'utf8' }).split('\n')[0].trim();
    } catch {
      // no version then
    }
    return { port: ctx.port, proc, version };
  },
};
