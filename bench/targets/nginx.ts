// nginx as a reverse proxy, configured the way its docs recommend for upstream keep-alive:
// an upstream block with `keepalive`, HTTP/1.1 to the upstream and the Connection header cleared.
// `reuseport` gives each of the 2 workers its own accept queue; without it one worker tends to accept
// most of wrk's 50 connections (they all arrive at once) and nginx runs on one core.

import { writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { spawnManaged } from '../lib/procs.ts';
import { which } from '../lib/which.ts';
import { waitProcReady } from './common.ts';
import { nginxCommonHttp, nginxMain } from './nginx-conf.ts';
import { SkipTarget } from './types.ts';
import type { RunningTarget, StartContext, TargetSpec } from './types.ts';

export const NGINX_WORKERS = 2;

export function nginxVersion(bin: string): string | null {
  // nginx -v prints to stderr: "nginx version: nginx/1.22.1".
  const r = spawnSync(bin, ['-v'], { encoding: 'utf8' });
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n')[0] || null;
}

export const nginx: TargetSpec = {
  name: 'nginx',
  description: `nginx reverse proxy, ${NGINX_WORKERS} workers, upstream keepalive`,
  async start(ctx: StartContext): Promise<RunningTarget> {
    const bin = which('nginx');
    if (bin === null) throw new SkipTarget('nginx not found on PATH');
    const conf = join(ctx.dir, 'nginx.conf');
    writeFileSync(conf, `${nginxMain(ctx.dir, NGINX_WORKERS)}
http {
${nginxCommonHttp(ctx.dir)}
    upstream bench_upstream {
        server 127.0.0.1:${ctx.upstream.port};
        keepalive 128;
        keepalive_requests 1000000;
        keepalive_timeout 600s;
    }
    server {
        listen 127.0.0.1:${ctx.port} reuseport;
        location / {
            proxy_pass http://bench_upstream;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
`);
    const proc = spawnManaged('nginx', bin, ['-p', ctx.dir, '-c', conf, '-e', join(ctx.dir, 'error.log')]);
    await waitProcReady(proc, ctx.port);
    return { port: ctx.port, proc, version: nginxVersion(bin) };
  },
};
