// nginx as a reverse proxy, configured the way its docs recommend for upstream keep-alive:
// an upstream block with `keepalive`, HTTP/1.1 to the upstream and the Connection header cleared.
// `reuseport` gives each of the 2 workers its own accept queue; without it one worker tends to accept
// most of wrk's 50 connections (they all arrive at once) and nginx runs on one core.
// In the TLS scenarios the same server terminates TLS 1.3 with the shared certificate and ticket key; in
// the TCP scenarios it is the `stream` module's proxy_pass to the upstream (a dynamic module on Debian:
// libnginx-mod-stream, loaded with load_module). In the gzip scenario it gzips application/json at
// GZIP.level (its window and hash at their defaults, which Legate's compressor is set to match), for
// proxied requests too (`gzip_proxied any`), with `Vary: Accept-Encoding` as Envoy's compressor sends it.

import { existsSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { isL4, isTls, SCENARIOS } from '../lib/args.ts';
import type { BenchTls } from '../lib/certs.ts';
import { spawnManaged } from '../lib/procs.ts';
import { which } from '../lib/which.ts';
import { waitProcReady } from './common.ts';
import { GZIP } from './payload.ts';
import { nginxCommonHttp, nginxMain } from './nginx-conf.ts';
import { SkipTarget } from './types.ts';
import type { RunningTarget, StartContext, TargetSpec } from './types.ts';

export const NGINX_WORKERS = 2;

export function nginxVersion(bin: string): string | null {
  // nginx -v prints to stderr: "nginx version: nginx/1.22.1".
  const r = spawnSync(bin, ['-v'], { encoding: 'utf8' });
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n')[0] || null;
}

/**
 * The load_module line the stream module needs ('' when it is built in), or throws SkipTarget when it is
 * a dynamic module that is not installed.
 */
function streamModuleLine(bin: string): string {
  const r = spawnSync(bin, ['-V'], { encoding: 'utf8' });
  const v = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  if (/--with-stream(\s|$)/.test(v)) return '';
  if (!/--with-stream=dynamic/.test(v)) throw new SkipTarget('nginx is built without the stream module');
  const dir = /--modules-path=(\S+)/.exec(v)?.[1] ?? '/usr/lib/nginx/modules';
  const so = join(dir, 'ngx_stream_module.so');
  if (!existsSync(so)) {
    throw new SkipTarget(`${so} is missing (Debian/Ubuntu: apt-get install libnginx-mod-stream)`);
  }
  return `load_module ${so};\n`;
}

/** TLS 1.3 only, TLS_AES_128_GCM_SHA256 only, P-256 only; tickets with the shared key. */
function sslDirectives(tls: BenchTls): string {
  return `
        ssl_certificate ${tls.certPath};
        ssl_certificate_key ${tls.keyPath};
        ssl_protocols TLSv1.3;
        ssl_conf_command Ciphersuites TLS_AES_128_GCM_SHA256;
        ssl_ecdh_curve prime256v1;
        ssl_session_tickets on;
        ssl_session_ticket_key ${tls.ticketKeyPath};`;
}

/** gzip as nginx users turn it on; window and hash stay at their defaults (see payload.ts GZIP). */
const GZIP_DIRECTIVES = `
    gzip on;
    gzip_types application/json;
    gzip_comp_level ${GZIP.level};
    gzip_proxied any;
    gzip_vary on;`;

function streamConf(ctx: StartContext, bin: string): string {
  return `${streamModuleLine(bin)}${nginxMain(ctx.dir, NGINX_WORKERS)}
stream {
    server {
        listen 127.0.0.1:${ctx.port} reuseport;
        proxy_pass 127.0.0.1:${ctx.upstream.port};
    }
}
`;
}

export const nginx: TargetSpec = {
  name: 'nginx',
  scenarios: SCENARIOS,
  describe: (scenario) => isL4(scenario)
    ? `nginx stream proxy_pass, ${NGINX_WORKERS} workers`
    : `nginx reverse proxy, ${NGINX_WORKERS} workers, upstream keepalive${isTls(scenario) ? ', TLS 1.3' : ''}` +
      (scenario === 'gzip' ? `, gzip_comp_level ${GZIP.level}` : ''),
  async start(ctx: StartContext): Promise<RunningTarget> {
    const bin = which('nginx');
    if (bin === null) throw new SkipTarget('nginx not found on PATH');
    const conf = join(ctx.dir, 'nginx.conf');
    writeFileSync(conf, isL4(ctx.scenario) ? streamConf(ctx, bin) : `${nginxMain(ctx.dir, NGINX_WORKERS)}
http {
${nginxCommonHttp(ctx.dir)}${ctx.scenario === 'gzip' ? GZIP_DIRECTIVES : ''}
    upstream bench_upstream {
        server 127.0.0.1:${ctx.upstream.port};
        keepalive 128;
        keepalive_requests 1000000;
        keepalive_timeout 600s;
    }
    server {
        listen 127.0.0.1:${ctx.port}${ctx.tls !== null ? ' ssl' : ''} reuseport;${ctx.tls !== null ? sslDirectives(ctx.tls) : ''}
        location / {
            proxy_pass http://bench_upstream;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
`);
    const proc = spawnManaged('nginx', bin, ['-p', ctx.dir, '-c', conf, '-e', join(ctx.dir, 'error.log')]);
    await waitProcReady(proc, ctx.port, ctx.tls !== null);
    return { port: ctx.port, proc, version: nginxVersion(bin) };
  },
};
