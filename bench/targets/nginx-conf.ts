// Config fragments shared by the nginx upstream and the nginx reverse proxy.

import { join } from 'node:path';

/** Main context: foreground, own pid file and error log, `workers` worker processes. */
export function nginxMain(dir: string, workers: number): string {
  // Started by root, nginx switches its workers to "nobody", which cannot enter the 0700 directory
  // mkdtemp made; keep them as the invoking user instead (nginx ignores `user` when not root).
  const user = process.getuid?.() === 0 ? 'user root;\n' : '';
  return `${user}daemon off;
worker_processes ${workers};
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} error;
events {
    worker_connections 8192;
}`;
}

/** http context basics: no access log, temp paths inside `dir`, keep-alive without limits. */
export function nginxCommonHttp(dir: string): string {
  return `    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 600s;
    client_body_temp_path ${join(dir, 'client_body')};
    proxy_temp_path ${join(dir, 'proxy')};
    fastcgi_temp_path ${join(dir, 'fastcgi')};
    uwsgi_temp_path ${join(dir, 'uwsgi')};
    scgi_temp_path ${join(dir, 'scgi')};`;
}
