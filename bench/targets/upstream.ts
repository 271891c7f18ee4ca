// The upstream: nginx serving a 100-byte file (1 worker, no access log), or a Node http server answering
// the same 100 bytes when nginx is not installed. Both also serve the gzip scenario's JSON document
// (JSON_PATH, application/json, uncompressed: the proxies compress it).
//
// Keep-alive limits are lifted on purpose: with nginx's defaults (keepalive_requests 1000, timeout 75 s)
// the upstream would close pooled connections mid-run or between a target's rounds, and each proxy would
// be measured partly on how it reconnects rather than on how it proxies.
//
// With `stream` (the tcp-stream scenario) it also serves STREAM_BYTES at STREAM_PATH, nginx with sendfile.

import { writeFileSync, mkdirSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnManaged } from '../lib/procs.ts';
import { which } from '../lib/which.ts';
import { waitProcReady } from './common.ts';
import { JSON_DOC, JSON_PATH, PAYLOAD, PAYLOAD_PATH, STREAM_BYTES, STREAM_PATH } from './payload.ts';
import { nginxCommonHttp, nginxMain } from './nginx-conf.ts';
import type { Upstream } from './types.ts';

const NODE_UPSTREAM = fileURLToPath(new URL('../peers/node-upstream.ts', import.meta.url));

export async function startUpstream(kind: 'nginx' | 'node', dir: string, port: number,
    nodeBin: string, stream = false): Promise<Upstream> {
  mkdirSync(dir, { recursive: true });
  if (kind === 'node') {
    const proc = spawnManaged('upstream (node)', nodeBin, [NODE_UPSTREAM, String(port)]);
    await waitProcReady(proc, port);
    return { kind, port, proc };
  }
  const nginx = which('nginx');
  if (nginx === null) throw new Error('nginx not found');
  const www = join(dir, 'www');
  mkdirSync(www);
  writeFileSync(join(www, PAYLOAD_PATH), PAYLOAD);
  writeFileSync(join(www, JSON_PATH), JSON_DOC);
  let streamLocation = '';
  if (stream) {
    writeFileSync(join(www, STREAM_PATH), '');
    truncateSync(join(www, STREAM_PATH), STREAM_BYTES);
    streamLocation = `
        location = ${STREAM_PATH} {
            sendfile on;
        }`;
  }
  const conf = join(dir, 'nginx.conf');
  writeFileSync(conf, `${nginxMain(dir, 1)}
http {
${nginxCommonHttp(dir)}
    default_type text/plain;
    server {
        listen 127.0.0.1:${port};
        # (The legate-dns target's three hosts.)
        listen 127.0.0.2:${port};
        listen 127.0.0.3:${port};
        root ${www};${streamLocation}
        location = ${JSON_PATH} {
            default_type application/json;
        }
    }
}
`);
  const proc = spawnManaged('upstream (nginx)', nginx, ['-p', dir, '-c', conf, '-e', join(dir, 'error.log')]);
  await waitProcReady(proc, port);
  return { kind, port, proc };
}
