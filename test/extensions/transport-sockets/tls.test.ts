// envoy.transport_sockets.tls in-process: a downstream TLS connection reads into the thread's
// shared buffer like a raw one, raises ConnectionEvent.Connected when its handshake is done, and
// says what it knows (Connection.ssl()); a raw connection has no SslConnectionInfo. Plus the
// pieces with rules of their own: Node's subjectAltName text, the RFC 2253 subject.
import { test, after } from 'node:test';
import net, { type AddressInfo } from 'node:net';
import tls from 'node:tls';
import assert from 'node:assert/strict';
import { makeCa } from '../../helpers/certs.ts';
import { startInProcess } from '../../helpers/in-process.ts';
import { proxyConfig } from '../../helpers/legate.ts';
import { httpUpstream } from '../../integration/fixtures/upstreams.ts';
import { downstreamTls, tlsGet, tlsProxyConfig } from '../../integration/fixtures/tls.ts';
import { usesReadBuffer } from '../../../src/network/socket-owner.ts';
import { ConnectionEvent, type ConnectionCallbacks } from '../../../src/network/filter.ts';
import type { Connection } from '../../../src/network/connection.ts';
import { parseSans } from '../../../src/extensions/transport-sockets/tls/config.ts';
import { rawRequest } from '../../integration/fixtures/clients.ts';
import { buildSnapshot } from '../../../src/config/snapshot.ts';
import { loadBootstrapText } from '../../../src/config/load.ts';
import { registerAll } from '../../../src/extensions/index.ts';
import { downstreamTransportSocketFactory } from '../../../src/extensions/registry.ts';
import { StatsLayout } from '../../../src/stats/layout.ts';
import { StatsStore, WorkerStats } from '../../../src/stats/store.ts';

const ca = makeCa();
const a = ca.issue('a.test');
const client = ca.issue('client.test', { client: true, cn: 'client.test', sans: ['DNS:client.test', 'URI:spiffe://x/y'] });
const up = await httpUpstream();
after(() => up.close());

test('a TLS connection reads into the shared buffer, raises Connected after the handshake, and has its SslConnectionInfo', async () => {
  const ip = await startInProcess(tlsProxyConfig(downstreamTls([a], `
            validation_context:
              trusted_ca: { filename: ${ca.certPath} }`), [up.port]));
  after(() => ip.close());
  let conn: Connection | null = null;
  const events: number[] = [];
  ip.onConnection = (c) => {
    conn = c;
    const cb: ConnectionCallbacks = {
      onEvent: (e) => events.push(e),
      onAboveWriteBufferHighWatermark: () => {},
      onBelowWriteBufferLowWatermark: () => {},
    };
    c.addConnectionCallbacks(cb);
  };
  const r = await tlsGet(ip.port, { ca: ca.cert, servername: 'a.test', cert: client.cert, key: client.key });
  assert.equal(r.status, 200, r.error ?? '');
  const c = conn as unknown as Connection;
  assert.ok(usesReadBuffer(c.socket), 'the TLS socket reads into the shared buffer');
  assert.deepEqual(events.slice(0, 1), [ConnectionEvent.Connected]);
  const ssl = c.ssl()!;
  assert.equal(ssl.peerCertificatePresented, true);
  assert.equal(ssl.peerCertificateValidated, true);
  assert.equal(ssl.sha256PeerCertificateDigest(), client.sha256);
  assert.equal(ssl.subjectPeerCertificate(), 'CN=client.test');
  assert.deepEqual(ssl.dnsSansPeerCertificate(), ['client.test']);
  assert.deepEqual(ssl.uriSanPeerCertificate(), ['spiffe://x/y']);
  assert.equal(ssl.tlsVersion(), 'TLSv1.3');
  assert.match(ssl.ciphersuiteString(), /^TLS_/);
  assert.equal(ssl.requestedServerName(), 'a.test');
  assert.equal(decodeURIComponent(ssl.urlEncodedPemEncodedPeerCertificate()), client.cert);
  assert.ok(decodeURIComponent(ssl.urlEncodedPemEncodedPeerCertificateChain()).startsWith(client.cert));
  assert.equal(ip.counter('listener.127.0.0.1_0.ssl.handshake'), 1);
});

test('a raw connection has no SslConnectionInfo', async () => {
  const ip = await startInProcess(proxyConfig([up.port]));
  after(() => ip.close());
  let conn: Connection | null = null;
  ip.onConnection = (c) => { conn = c; };
  const r = await rawRequest(ip.port, 'GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n');
  assert.equal(r.status, 200);
  assert.equal((conn as unknown as Connection).ssl(), null);
});

test('subjectAltName text: types, quoted values with commas', () => {
  assert.deepEqual(parseSans('DNS:a.test, URI:spiffe://x/y, IP Address:127.0.0.1, email:a@b'),
    [['DNS', 'a.test'], ['URI', 'spiffe://x/y'], ['IP Address', '127.0.0.1'], ['email', 'a@b']]);
  assert.deepEqual(parseSans('DNS:a, URI:"http://x/a,b", DNS:c'), [['DNS', 'a'], ['URI', 'http://x/a,b'], ['DNS', 'c']]);
  assert.deepEqual(parseSans(undefined), []);
});

test('bytes a listener filter already read (the ClientHello) go to the TLS socket first', async () => {
  registerAll();
  const { bootstrap } = loadBootstrapText(tlsProxyConfig(downstreamTls([a]), [up.port]), 'yaml');
  const layout = new StatsLayout();
  const snap = buildSnapshot(bootstrap as Record<string, unknown>, layout, { bufferLimit: 1 << 20, version: 1 });
  const stats = new WorkerStats(new StatsStore(layout, 1).attachWorker(0));
  const factory = downstreamTransportSocketFactory(snap.listeners[0].filterChains[0].transportSocket!,
    { stats, workerId: 0 });
  let prereadBytes = 0;
  const server = net.createServer((raw) => {
    // As a listener filter does: take the first read off the socket, stop reading, hand it over.
    raw.once('data', (first: Buffer) => {
      raw.pause();
      prereadBytes = first.length;
      const s = factory.createTransportSocket(raw, first);
      s.on('data', (d: Buffer) => s.end(`echo:${d.toString()}`));
      s.on('error', () => {});
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  after(() => server.close());
  const got = await new Promise<string>((resolve, reject) => {
    const c = tls.connect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, ca: ca.cert, servername: 'a.test' });
    let out = '';
    c.on('secureConnect', () => c.write('ping'));
    c.on('data', (d: Buffer) => { out += d.toString(); });
    c.on('end', () => resolve(out));
    c.on('error', reject);
    setTimeout(() => reject(new Error('timeout')), 5000).unref();
  });
  assert.ok(prereadBytes > 0);
  assert.equal(got, 'echo:ping');
});
