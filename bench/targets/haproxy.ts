// HAProxy in http mode with 2 threads. Keep-alive to the server is HAProxy's default (http-keep-alive);
// `http-reuse always` lets any idle server connection serve any client's request, which is what the other
// proxies' pools do.

import { writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { spawnManaged } from '../lib/procs.ts';
import { which } from '../lib/which.ts';
import { waitProcReady } from './common.ts';
import { SkipTarget } from './types.ts';
import type { RunningTarget, StartContext, TargetSpec } from './types.ts';

export const HAPROXY_THREADS = 2;

export const haproxy: TargetSpec = {
  name: 'haproxy',
  description: `HAProxy, http mode, ${HAPROXY_THREADS} threads, keep-alive to upstream`,
  async start(ctx: StartContext): Promise<RunningTarget> {
    const bin = which('haproxy');
    if (bin === null) throw new SkipTarget('haproxy not found on PATH');
    const conf = join(ctx.dir, 'haproxy.cfg');
    writeFileSync(conf, `global
    nbthread ${HAPROXY_THREADS}
    maxconn 4096

defaults
    mode http
    option http-keep-alive
    http-reuse always
    timeout connect 1s
    timeout client 60s
    timeout server 60s
    timeout http-keep-alive 600s

frontend bench
    bind 127.0.0.1:${ctx.port}
    default_backend upstream

backend upstream
    server upstream 127.0.0.1:${ctx.upstream.port}
`);
    // -db: stay in the foreground, no daemon, no master-worker.
    const proc = spawnManaged('haproxy', bin, ['-db', '-f', conf]);
    await waitProcReady(proc, ctx.port);
    let version: string | null = null;
    try {
      version = execFileSync(bin, ['-v'], { encoding: 'utf8' }).split('\n')[0].trim();
    } catch {
      // no version then
    }
    return { port: ctx.port, proc, version };
  },
};
