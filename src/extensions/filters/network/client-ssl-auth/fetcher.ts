// client_ssl_auth's principal list, fetched on the main thread (Envoy's RestApiFetcher): GET
// /v1/certs/list/approved from a host of the auth cluster (Host: the cluster's name), at once and
// then refresh_delay plus a random jitter of up to refresh_delay after each fetch ends; 1 s
// timeout. A 200 with `{"certificates": [{"fingerprint_sha256": "..."}]}` replaces the list every
// worker checks against (update_success, total_principals); anything else keeps the old list and
// counts update_failure.
import http from 'node:http';
import type { MainService, MainServiceContext } from '../../../types.ts';
import type { ClientSslAuthSnap } from './index.ts';

const PATH = '/v1/certs/list/approved';
const REQUEST_TIMEOUT_MS = 1000;
/** An answer larger than this is a failure, not a list to hold. */
const MAX_BODY_BYTES = 16 * 1024 * 1024;

export function startFetcher(snap: ClientSslAuthSnap, ctx: MainServiceContext): MainService {
  let timer: NodeJS.Timeout | null = null;
  let req: http.ClientRequest | null = null;
  let stopped = false;
  const v = ctx.stats.v;
  const s = snap.stats;

  const schedule = (): void => {
    req = null;
    if (stopped) return;
    if (timer !== null) clearTimeout(timer);
    timer = setTimeout(fetch, snap.refreshMs + Math.floor(Math.random() * snap.refreshMs));
    timer.unref();
  };
  const fetch = (): void => {
    timer = null;
    if (stopped) return;
    // One outcome per fetch: Node may report one failure twice (the request's error, then the
    // response's), and only the first may count and schedule the next fetch.
    let done = false;
    const failed = (reason: string): void => {
      if (done || stopped) return;
      done = true;
      v[s.update_failure]++;
      ctx.warn('client_ssl_auth: principal fetch failed', { cluster: snap.cluster, reason });
      schedule();
    };
    const hosts = ctx.clusterHosts(snap.cluster) ?? [];
    if (hosts.length === 0) {
      failed('no host in the cluster');
      return;
    }
    const h = hosts[Math.floor(Math.random() * hosts.length)]!;
    req = http.get({ host: h.address, port: h.port, path: PATH, headers: { host: snap.cluster }, timeout: REQUEST_TIMEOUT_MS }, (res) => {
      const chunks: Buffer[] = [];
      let n = 0;
      res.on('data', (c: Buffer) => {
        n += c.length;
        if (n > MAX_BODY_BYTES) res.destroy(new Error('response too large'));
        else chunks.push(c);
      });
      res.on('error', (e) => failed(e.message));
      res.on('end', () => {
        if (res.statusCode !== 200) {
          failed(`status ${res.statusCode}`);
          return;
        }
        const list = parse(Buffer.concat(chunks).toString('utf8'));
        if (typeof list === 'string') {
          failed(list);
          return;
        }
        if (done || stopped) return;
        done = true;
        v[s.update_success]++;
        v[s.total_principals] = list.length;
        ctx.publish(list);
        schedule();
      });
    });
    req.on('timeout', () => req?.destroy(new Error('timeout')));
    req.on('error', (e) => failed(e.message));
  };

  fetch();
  return {
    stop(): void {
      stopped = true;
      if (timer !== null) clearTimeout(timer);
      req?.destroy();
    },
  };
}

/** The distinct non-empty fingerprints of an answer, or what is wrong with it. */
function parse(body: string): string[] | string {
  let j: unknown;
  try {
    j = JSON.parse(body);
  } catch (e) {
    return `invalid JSON: ${(e as Error).message}`;
  }
  const certs = (j as { certificates?: unknown } | null)?.certificates;
  if (!Array.isArray(certs)) return 'no "certificates" array';
  const out = new Set<string>();
  for (const c of certs) {
    const fp = (c as { fingerprint_sha256?: unknown } | null)?.fingerprint_sha256;
    if (typeof fp !== 'string') return 'a certificate without a "fingerprint_sha256" string';
    if (fp !== '') out.add(fp);
  }
  return [...out];
}
