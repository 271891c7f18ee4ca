// New TLS connections per second: every request on its own connection, with a full handshake or a
// resumed one (the session ticket of the connection before). Run as a child by load/tls-conn.ts.
// Usage: node tls-conn-client.ts <port> <path> <connections> <duration-s> <full|resumed>
//
// wrk cannot make full handshakes: it reuses one SSL object per connection slot (SSL_clear keeps the
// session), so with `Connection: close` every reconnect offers the last ticket. This client does both
// modes with the same code, so the two figures differ only in the handshake. Each of `connections`
// loops connects, sends one GET with `Connection: close`, reads to the server's close, checks the status
// line, and starts over. Latency is connect to close. The client offers exactly what every target is
// configured with (TLS 1.3, TLS_AES_128_GCM_SHA256, P-256), so no HelloRetryRequest happens.

import { connect } from 'node:tls';
import type { TLSSocket } from 'node:tls';

const port = Number(process.argv[2]);
const path = process.argv[3];
const connections = Number(process.argv[4]);
const durationS = Number(process.argv[5]);
const resumed = process.argv[6] === 'resumed';

const request = Buffer.from(`GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
const OK_PREFIX = 'HTTP/1.1 200';

let done = 0;
let badStatus = 0;
let socketErrors = 0;
let reused = 0;
let stopping = false;
const latenciesUs: number[] = [];
let running = connections;
let started = 0;

interface Loop {
  session: Buffer | undefined;
}

function oneRequest(loop: Loop): void {
  if (stopping) {
    if (--running === 0) report();
    return;
  }
  started++;
  const t0 = process.hrtime.bigint();
  let head = '';
  let failed = false;
  const socket: TLSSocket = connect({
    host: '127.0.0.1',
    port,
    servername: 'localhost',
    rejectUnauthorized: false,
    minVersion: 'TLSv1.3' as const,
    maxVersion: 'TLSv1.3' as const,
    ciphers: 'TLS_AES_128_GCM_SHA256',
    ecdhCurve: 'P-256',
    session: resumed ? loop.session : undefined,
  });
  socket.setNoDelay(true);
  if (resumed) socket.on('session', (s: Buffer) => { loop.session = s; });
  socket.once('secureConnect', () => {
    if (socket.isSessionReused()) reused++;
    socket.write(request);
  });
  socket.on('data', (chunk: Buffer) => {
    if (head.length < OK_PREFIX.length) head += chunk.toString('latin1', 0, OK_PREFIX.length);
  });
  socket.once('error', () => {
    failed = true;
  });
  socket.once('close', () => {
    if (failed || head.length === 0) socketErrors++;
    else if (head.startsWith(OK_PREFIX)) {
      done++;
      latenciesUs.push(Number(process.hrtime.bigint() - t0) / 1000);
    } else badStatus++;
    setImmediate(oneRequest, loop);
  });
  socket.resume();
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

let startNs = 0n;
function report(): void {
  const durationUs = Number(process.hrtime.bigint() - startNs) / 1000;
  latenciesUs.sort((a, b) => a - b);
  process.stdout.write(`LEGATE_BENCH_JSON ${JSON.stringify({
    requests: done + badStatus,
    ok: done,
    bad_status: badStatus,
    socket_errors: socketErrors,
    reused,
    attempts: started,
    duration_us: Math.round(durationUs),
    client_cpu_s: (process.cpuUsage().user + process.cpuUsage().system) / 1e6,
    latency_us: { p50: percentile(latenciesUs, 50), p99: percentile(latenciesUs, 99) },
  })}\n`);
  process.exit(0);
}

startNs = process.hrtime.bigint();
setTimeout(() => { stopping = true; }, durationS * 1000);
for (let i = 0; i < connections; i++) {
  oneRequest({ session: undefined });
}
