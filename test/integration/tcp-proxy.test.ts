// envoy.filters.network.tcp_proxy through a real Legate, real node:net clients and upstreams:
// bulk both ways with slow readers (bytes intact, the process's memory bounded), half-close both
// ways, idle_timeout, max_connect_attempts against a refused port, no route, weighted clusters,
// the access log line, and two workers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { Buffer } from 'node:buffer';
import { once } from 'node:events';
import { createHash, randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { staticCluster, type Legate } from '../helpers/legate.ts';
import { legateFor, track } from './fixtures/tracked.ts';
import { deadPort, listen } from './fixtures/upstreams.ts';

const TCP_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';
const LOG_DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'legate-tcp-'));

/** A listener whose one filter is a tcp_proxy with `fields` (YAML lines at the typed_config's
 *  indentation). */
function tcpListener(name: string, fields: string): string {
  return `
  - name: ${name}
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": ${TCP_TYPE}
${fields.split('\n').filter((l) => l.trim() !== '').map((l) => `          ${l}`).join('\n')}`;
}

function config(listeners: string, clusters: string): string {
  return `
static_resources:
  listeners:${listeners}
  clusters:${clusters}
`;
}

/** A TCP server (half-open allowed) whose connections `onConn` handles; closed after the file. */
async function tcpServer(onConn: (s: net.Socket) => void): Promise<{ port: number; server: net.Server }> {
  const server = net.createServer({ allowHalfOpen: true }, onConn);
  const port = await listen(server);
  track(() => new Promise<void>((r) => { server.close(() => r()); for (const s of sockets) s.destroy(); }));
  const sockets = new Set<net.Socket>();
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  return { port, server };
}

async function waitFor<T>(what: string, f: () => Promise<T | undefined> | T | undefined, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

async function statsUntil(l: Legate, ok: (s: Map<string, number>) => boolean): Promise<Map<string, number>> {
  let last = new Map<string, number>();
  try {
    return await waitFor('stats', async () => {
      last = await l.stats();
      return ok(last) ? last : undefined;
    });
  } catch (e) {
    const seen = [...last].filter(([k]) => k.startsWith('tcp.') || k.startsWith('cluster.')).filter(([, v]) => v !== 0);
    throw new Error(`${(e as Error).message}; non-zero tcp/cluster stats: ${JSON.stringify(seen)}`);
  }
}

function connect(port: number, allowHalfOpen = false): Promise<net.Socket> {
  const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen });
  return once(s, 'connect').then(() => s);
}

/** Everything `s` reads until its peer's FIN (or close), with a timeout. */
function readAll(s: net.Socket, ms = 10_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const t = setTimeout(() => reject(new Error('readAll timed out')), ms);
    s.on('data', (d: Buffer) => chunks.push(d));
    const done = (): void => { clearTimeout(t); resolve(Buffer.concat(chunks)); };
    s.once('end', done);
    s.once('close', done);
  });
}

function readLog(p: string): string {
  try {
    return fs.readFileSync(p, 'utf8');
  } catch {
    return '';
  }
}

function vmRssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m === null ? 0 : Number(m[1]) * 1024;
}

/** Writes `blocks` to `s` with backpressure, then FIN. */
async function writeAll(s: net.Socket, blocks: Buffer[]): Promise<void> {
  for (const b of blocks) if (!s.write(b)) await once(s, 'drain');
  s.end();
}

/** Reads `s` slowly (a pause after every read) until FIN, hashing; resolves the hash and size. */
function slowRead(s: net.Socket, pauseMs: number): Promise<{ hash: string; bytes: number }> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    let bytes = 0;
    s.on('data', (d: Buffer) => {
      h.update(d);
      bytes += d.length;
      s.pause();
      setTimeout(() => s.resume(), pauseMs);
    });
    s.once('end', () => resolve({ hash: h.digest('hex'), bytes }));
    s.once('error', reject);
  });
}

function blocksOf(mib: number): { blocks: Buffer[]; hash: string } {
  const blocks: Buffer[] = [];
  const h = createHash('sha256');
  for (let i = 0; i < mib; i++) {
    const b = randomBytes(1 << 20);
    blocks.push(b);
    h.update(b);
  }
  return { blocks, hash: h.digest('hex') };
}

test('tcp_proxy', async (t) => {
  // Upstreams: bulk (reads slowly, writes its own 50 MiB), echo-on-end, banner-then-FIN, two
  // named ones for the weighted split.
  const up = blocksOf(50);
  const down = blocksOf(50);
  let bulkSeen: Promise<{ hash: string; bytes: number }> | null = null;
  const bulk = await tcpServer((s) => {
    bulkSeen = slowRead(s, 4);
    void writeAll(s, up.blocks);
  });
  const echoOnEnd = await tcpServer((s) => {
    const chunks: Buffer[] = [];
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('end', () => s.end(Buffer.concat([Buffer.from('got:'), ...chunks])));
  });
  let afterBanner: Promise<Buffer> | null = null;
  const banner = await tcpServer((s) => {
    afterBanner = readAll(s);
    s.end('banner');
  });
  // Reads nothing until released; ends when the proxy's side has.
  let stalledGot: Promise<Buffer> | null = null;
  let release: () => void = () => {};
  const stall = await tcpServer((s) => {
    s.pause();
    release = () => s.resume();
    stalledGot = new Promise((resolve) => {
      const chunks: Buffer[] = [];
      s.on('data', (d: Buffer) => chunks.push(d));
      s.on('end', () => { s.end(); resolve(Buffer.concat(chunks)); });
    });
  });
  const named = async (name: string): Promise<number> => (await tcpServer((s) => s.end(name))).port;
  const aPort = await named('a');
  const bPort = await named('b');
  const refused = await deadPort();
  const logPath = path.join(LOG_DIR, 'tcp.log');
  const accessLog = `access_log:
- name: envoy.access_loggers.file
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
    path: ${logPath}
    log_format:
      text_format_source:
        inline_string: "%UPSTREAM_CLUSTER% %UPSTREAM_HOST% %BYTES_RECEIVED% %BYTES_SENT% [%RESPONSE_FLAGS%] %RESPONSE_CODE%\\n"`;

  const legate = await legateFor(config(
    tcpListener('bulk', 'stat_prefix: bulk\ncluster: bulk') +
    tcpListener('echo', `stat_prefix: echo\ncluster: echo
${accessLog}`) +
    tcpListener('banner', 'stat_prefix: banner\ncluster: banner') +
    tcpListener('flush', 'stat_prefix: flush\ncluster: stall') +
    tcpListener('idle', 'stat_prefix: idle\ncluster: echo\nidle_timeout: 1s') +
    tcpListener('refused', `stat_prefix: refused\ncluster: refused\nmax_connect_attempts: 3
${accessLog}`) +
    tcpListener('noroute', `stat_prefix: noroute\ncluster: missing
${accessLog}`) +
    tcpListener('weighted', `stat_prefix: weighted
weighted_clusters:
  clusters:
  - { name: a, weight: 1 }
  - { name: b, weight: 3 }`),
    staticCluster('bulk', [bulk.port]) + staticCluster('echo', [echoOnEnd.port]) +
    staticCluster('banner', [banner.port]) + staticCluster('refused', [refused]) + 
    // (A buffer limit above what the test sends: the client is never paused, so Legate sees its
    // reset at once; see docs/differences.md on paused connections.)
    staticCluster('stall', [stall.port], '\n    per_connection_buffer_limit_bytes: 67108864') +
    staticCluster('a', [aPort]) + staticCluster('b', [bPort]),
  ), { args: ['--buffer-size', String(256 * 1024)] });
  const pid = legate.proc.pid!;

  await t.test('50 MiB each way with slow readers: intact, and memory stays bounded', async () => {
    const rss0 = vmRssBytes(pid);
    let rssMax = rss0;
    const sampler = setInterval(() => { rssMax = Math.max(rssMax, vmRssBytes(pid)); }, 50);
    try {
      const c = await connect(legate.port('bulk'));
      const got = slowRead(c, 4);
      await writeAll(c, down.blocks);
      const fromUp = await got;
      assert.equal(fromUp.bytes, 50 << 20);
      assert.equal(fromUp.hash, up.hash);
      const seen = await waitFor('the upstream to read everything', () => bulkSeen ?? undefined);
      const toUp = await seen;
      assert.equal(toUp.bytes, 50 << 20);
      assert.equal(toUp.hash, down.hash);
    } finally {
      clearInterval(sampler);
    }
    const grew = rssMax - rss0;
    assert.ok(grew < 50 << 20, `RSS grew by ${(grew / 2 ** 20).toFixed(1)} MiB`);
    const s = await statsUntil(legate, (m) => (m.get('tcp.bulk.downstream_cx_rx_bytes_total') ?? 0) === 50 << 20
      && (m.get('tcp.bulk.downstream_cx_tx_bytes_total') ?? 0) === 50 << 20);
    assert.equal(s.get('tcp.bulk.downstream_cx_total'), 1);
    assert.equal(s.get('cluster.bulk.upstream_cx_tx_bytes_total'), 50 << 20);
    assert.equal(s.get('cluster.bulk.upstream_cx_rx_bytes_total'), 50 << 20);
    // The slow upstream reader paused the downstream, and it resumed as often.
    const paused = s.get('tcp.bulk.downstream_flow_control_paused_reading_total') ?? 0;
    assert.ok(paused > 0);
    assert.equal(s.get('tcp.bulk.downstream_flow_control_resumed_reading_total'), paused);
    await statsUntil(legate, (m) => m.get('cluster.bulk.upstream_cx_active') === 0
      && m.get('tcp.bulk.downstream_cx_tx_bytes_buffered') === 0);
  });

  await t.test('half-close: the client ends its side and still gets the reply', async () => {
    const c = await connect(legate.port('echo'));
    const got = readAll(c);
    c.write('one ');
    c.end('two');
    assert.equal((await got).toString(), 'got:one two');
  });

  await t.test('half-close: the upstream ends first and the client can still send', async () => {
    const c = await connect(legate.port('banner'), true);
    const chunks: Buffer[] = [];
    c.on('data', (d: Buffer) => chunks.push(d));
    await once(c, 'end');
    assert.equal(Buffer.concat(chunks).toString(), 'banner');
    const closed = once(c, 'close');
    c.end('still here');
    const seen = await waitFor('the upstream', () => afterBanner ?? undefined);
    assert.equal((await seen).toString(), 'still here');
    await closed;
  });

  await t.test('a client that goes away leaves the upstream to flush what it sent', async () => {
    const c = await connect(legate.port('flush'));
    const data = randomBytes(16 << 20);
    c.write(data);
    // Legate has read it all; the stalled upstream has not: the client resets.
    await statsUntil(legate, (m) => m.get('tcp.flush.downstream_cx_rx_bytes_total') === data.length);
    c.resetAndDestroy();
    const s = await statsUntil(legate, (m) => m.get('tcp.flush.upstream_flush_total') === 1);
    assert.equal(s.get('tcp.flush.upstream_flush_active'), 1);
    release();
    const got = await waitFor('the upstream', () => stalledGot ?? undefined);
    assert.ok((await got).equals(data));
    await statsUntil(legate, (m) => m.get('tcp.flush.upstream_flush_active') === 0
      && m.get('cluster.stall.upstream_cx_active') === 0);
  });

  await t.test('idle_timeout closes a silent connection and counts', async () => {
    const c = await connect(legate.port('idle'));
    const start = Date.now();
    await once(c, 'close');
    const took = Date.now() - start;
    assert.ok(took >= 900 && took < 5000, `closed after ${took} ms`);
    await statsUntil(legate, (m) => m.get('tcp.idle.idle_timeout') === 1);
  });

  await t.test('max_connect_attempts against a refused port', async () => {
    const c = await connect(legate.port('refused'));
    c.resume();
    await once(c, 'close');
    const s = await statsUntil(legate, (m) => m.get('cluster.refused.upstream_cx_connect_attempts_exceeded') === 1);
    assert.equal(s.get('cluster.refused.upstream_cx_total'), 3);
    assert.equal(s.get('cluster.refused.upstream_cx_connect_fail'), 3);
    assert.equal(s.get('tcp.refused.downstream_cx_total'), 1);
    const line = await waitFor('the access log line', () =>
      readLog(logPath).split('\n').find((l) => l.startsWith('refused ')));
    assert.equal(line, `refused 127.0.0.1:${refused} 0 0 [UF] 0`);
  });

  await t.test('no route: an unknown cluster closes the connection and counts', async () => {
    const c = await connect(legate.port('noroute'));
    c.resume();
    await once(c, 'close');
    await statsUntil(legate, (m) => m.get('tcp.noroute.downstream_cx_no_route') === 1);
    const line = await waitFor('the access log line', () =>
      readLog(logPath).split('\n').find((l) => l.startsWith('missing ')));
    assert.equal(line, 'missing - 0 0 [NC] 0');
  });

  await t.test('access log: one line per TCP session, with bytes each way', async () => {
    const c = await connect(legate.port('echo'));
    const got = readAll(c);
    c.end('12345');
    assert.equal((await got).toString(), 'got:12345');
    const lines = await waitFor('the access log lines', () => {
      const l = readLog(logPath).split('\n').filter((x) => x.startsWith('echo '));
      return l.length >= 2 ? l : undefined;
    });
    // The half-close test's session, then this one.
    assert.deepEqual(lines, [
      `echo 127.0.0.1:${echoOnEnd.port} 7 11 [-] 0`,
      `echo 127.0.0.1:${echoOnEnd.port} 5 9 [-] 0`,
    ]);
  });

  await t.test('weighted_clusters split connections by weight', async () => {
    const counts = { a: 0, b: 0 } as Record<string, number>;
    for (let i = 0; i < 200; i++) {
      const c = await connect(legate.port('weighted'));
      counts[(await readAll(c)).toString()]++;
    }
    assert.equal(counts.a + counts.b, 200);
    // Expected 50 / 150 (sd about 6).
    assert.ok(counts.a > 25 && counts.a < 80, `a got ${counts.a} of 200`);
  });
});

test('tcp_proxy with two workers', async () => {
  const echo = await tcpServer((s) => s.pipe(s));
  const legate = await legateFor(config(tcpListener('echo', 'stat_prefix: two\ncluster: echo'),
    staticCluster('echo', [echo.port])), { concurrency: 2 });
  const rounds = await Promise.all(Array.from({ length: 20 }, async (_, i) => {
    const c = await connect(legate.port('echo'));
    const got = readAll(c);
    c.end(`message ${i}`);
    return (await got).toString();
  }));
  assert.deepEqual(rounds, Array.from({ length: 20 }, (_, i) => `message ${i}`));
  await statsUntil(legate, (m) => m.get('tcp.two.downstream_cx_total') === 20);
});

test('TLS passthrough: the SNI tls_inspector read reaches the access log (%REQUESTED_SERVER_NAME%)', async () => {
  // The "upstream" takes the ClientHello and closes: enough for a session to end and be logged.
  const sink = await tcpServer((s) => s.once('data', () => s.destroy()));
  const logPath = path.join(LOG_DIR, 'sni.log');
  const legate = await legateFor(config(`
  - name: pass
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    listener_filters:
    - name: envoy.filters.listener.tls_inspector
      typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector }
    filter_chains:
    - filter_chain_match: { server_names: [pass.test] }
      filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": ${TCP_TYPE}
          stat_prefix: pass
          cluster: sink
          access_log:
          - name: envoy.access_loggers.file
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
              path: ${logPath}
              log_format: { text_format_source: { inline_string: "%REQUESTED_SERVER_NAME% %UPSTREAM_CLUSTER%\\n" } }`,
  staticCluster('sink', [sink.port])));
  const c = tls.connect({ host: '127.0.0.1', port: legate.port('pass'), servername: 'pass.test', rejectUnauthorized: false });
  c.on('error', () => {});
  await waitFor('the client connection to close', () => (c.destroyed ? true : undefined), 5000);
  const line = await waitFor('the access log line', () => {
    const text = fs.existsSync(logPath) ? fs.readFileSync(logPath, 'utf8') : '';
    return text.includes('\n') ? text.trim() : undefined;
  });
  assert.equal(line, 'pass.test sink');
});
