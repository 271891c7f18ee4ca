// The TCP connection pool over a cluster's TLS transport socket, against a real node:tls server:
// the pool hands the connection over once the handshake is done (ConnectionEvent.Connected), and
// a certificate that fails verification is a connection failure with the transport's reason.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { Buffer } from 'node:buffer';
import { TcpConnPool, type TcpPoolCallbacks } from '../../src/upstream/tcp-conn-pool.ts';
import { ClusterInfo } from '../../src/upstream/cluster-info.ts';
import { Host } from '../../src/upstream/host.ts';
import { compileTls } from '../../src/extensions/transport-sockets/tls/config.ts';
import { UpstreamTlsFactory } from '../../src/extensions/transport-sockets/tls/upstream.ts';
import type { CompileContext } from '../../src/extensions/types.ts';
import type { StatsLayout } from '../../src/stats/layout.ts';
import { makeCa } from '../helpers/certs.ts';
import { TestSink, clusterSnap, hostSnap, readUntil } from './fixtures.ts';

const ca = makeCa();
const other = makeCa('other');
const server = ca.issue('up.test');
const srv = tls.createServer({ cert: server.cert, key: server.key }, (s) => s.pipe(s));
await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
const port = (srv.address() as AddressInfo).port;
after(() => srv.close());

function setup(caPath: string) {
  const sink = new TestSink();
  const names = new Map<string, number>();
  const layout = { counter: (n: string) => { const s = sink.slot(); names.set(n, s); return s; } } as unknown as StatsLayout;
  const ctx = {
    layout, path: 'static_resources.clusters[0].transport_socket.typed_config', scope: 'cluster.c.',
    fail: (p: string, m: string) => { throw new Error(`${p}: ${m}`); },
  } as unknown as CompileContext;
  const snap = compileTls({
    '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
    common_tls_context: { validation_context: { trusted_ca: { filename: caPath } } },
  }, ctx);
  const hs = hostSnap(sink, '127.0.0.1', port);
  const info = new ClusterInfo(clusterSnap(sink, [hs]), sink, new UpstreamTlsFactory(snap, sink));
  const pool = new TcpConnPool(info, Host.fromSnap(hs));
  return { sink, pool, stat: (n: string) => sink.v[names.get(n)!] };
}

test('a TLS connection is handed over after the handshake and carries bytes both ways', async () => {
  const { pool, stat } = setup(ca.certPath);
  const conn = await new Promise<Parameters<TcpPoolCallbacks['onPoolReady']>[0]>((resolve, reject) => {
    pool.newConnection({ onPoolReady: resolve, onPoolFailure: (r) => reject(new Error(r)) });
  });
  assert.equal(conn.connection.ssl()?.tlsVersion(), 'TLSv1.2');
  assert.equal(conn.connection.ssl()?.peerCertificateValidated, true);
  const echo = readUntil(conn.connection, (reads) => reads.length > 0);
  conn.connection.startClient();
  conn.connection.write(Buffer.from('ping'), false);
  assert.deepEqual(await echo, ['ping']);
  assert.equal(stat('cluster.c.ssl.handshake'), 1);
  conn.close();
});

test('an untrusted server certificate: connection_failure with the transport failure reason', async () => {
  const { pool, stat } = setup(other.certPath);
  const [reason, why] = await new Promise<[string, string]>((resolve) => {
    pool.newConnection({ onPoolReady: () => resolve(['ready', '']), onPoolFailure: (r, _h, w) => resolve([r, w]) });
  });
  assert.equal(reason, 'connection_failure');
  assert.match(why, /^TLS_error:\|CERTIFICATE_VERIFY_FAILED: [A-Z_]+:TLS_error_end$/);
  assert.equal(stat('cluster.c.ssl.fail_verify_error'), 1);
  assert.equal(stat('cluster.c.ssl.handshake'), 0);
});
