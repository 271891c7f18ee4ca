// Listener filters in one process, over real sockets: the bytes they read reach the connection
// first and in order, after which the connection reads into the thread's shared buffer like any
// other; a chain's TLS transport socket gets the ClientHello tls_inspector read (socket.unshift
// before wrapping) and the handshake completes; a peer leaving during the filters leaves nothing
// behind.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { Buffer } from 'node:buffer';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildSnapshot } from '../../src/config/snapshot.ts';
import { loadBootstrapText } from '../../src/config/load.ts';
import { registerAll } from '../../src/extensions/index.ts';
import { WorkerRuntime } from '../../src/worker/runtime.ts';
import type { ActiveListener } from '../../src/listener/listener.ts';
import type { Connection } from '../../src/network/connection.ts';
import { usesReadBuffer } from '../../src/network/socket-owner.ts';
import { StatsLayout } from '../../src/stats/layout.ts';
import { StatsStore, WorkerStats } from '../../src/stats/store.ts';
import { makeCa } from '../helpers/certs.ts';

const servers: net.Server[] = [];
after(() => {
  for (const s of servers) s.close();
});

const ECHO = `
      - name: envoy.filters.network.echo
        typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.network.echo.v3.Echo }`;

function yaml(listenerFilter: string, extra = ''): string {
  return `
static_resources:
  listeners:
  - name: l
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }${extra}
    listener_filters:
    - name: f
      typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.listener.${listenerFilter}
    filter_chains:
    - filters:${ECHO}
`;
}

async function start(y: string): Promise<{ listener: ActiveListener; port: number; counter(n: string): number }> {
  registerAll();
  const { bootstrap } = loadBootstrapText(y, 'yaml');
  const layout = new StatsLayout();
  const snapshot = buildSnapshot(bootstrap as Record<string, unknown>, layout, { bufferLimit: 1 << 20, version: 1 });
  const store = new StatsStore(layout, 1);
  const runtime = new WorkerRuntime(snapshot, new WorkerStats(store.attachWorker(0)), 0, null);
  const listener = runtime.listener('l')!;
  const server = net.createServer((s) => listener.onAccept(s));
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    listener,
    port: (server.address() as net.AddressInfo).port,
    counter: (n) => store.value(layout.find(n)),
  };
}

function onlyConnection(l: ActiveListener): Connection {
  assert.equal(l.connections.size, 1);
  return [...l.connections][0];
}

test('what http_inspector read goes first, then the socket reads into the shared buffer', async () => {
  const { listener, port, counter } = await start(yaml('http_inspector.v3.HttpInspector }'));
  const c = net.connect(port, '127.0.0.1');
  await once(c, 'connect');
  let got = '';
  c.on('data', (d: Buffer) => { got += d.toString('latin1'); });
  // The request line in two reads: the inspector waits for its CRLF.
  c.write('GET / HT');
  await sleep(20);
  assert.equal(listener.connections.size, 0);
  assert.equal(listener.pending.size, 1);
  c.write('TP/1.1\r\nHost: x\r\n\r\n');
  const want = 'GET / HTTP/1.1\r\nHost: x\r\n\r\n';
  for (let i = 0; i < 100 && got.length < want.length; i++) await sleep(10);
  assert.equal(got, want);
  const conn = onlyConnection(listener);
  assert.ok(usesReadBuffer(conn.socket), 'the connection reads into the shared buffer');
  assert.deepEqual(conn.applicationProtocols, ['http/1.1']);
  c.write('more bytes');
  for (let i = 0; i < 100 && !got.endsWith('more bytes'); i++) await sleep(10);
  assert.equal(got, `${want}more bytes`);
  assert.equal(counter('http_inspector.http11_found'), 1);
  assert.equal(counter('listener.127.0.0.1_0.downstream_pre_cx_active'), 0);
  c.destroy();
});

test('a peer that closes during the listener filters leaves no connection and no pending socket', async () => {
  const { listener, port, counter } = await start(yaml('proxy_protocol.v3.ProxyProtocol }'));
  const c = net.connect(port, '127.0.0.1');
  await once(c, 'connect');
  c.write('PROXY TCP4 1.2.3.4 ');
  await sleep(20);
  assert.equal(counter('listener.127.0.0.1_0.downstream_pre_cx_active'), 1);
  c.end();
  await once(c, 'close');
  for (let i = 0; i < 100 && listener.pending.size > 0; i++) await sleep(10);
  assert.equal(listener.pending.size, 0);
  assert.equal(listener.connections.size, 0);
  assert.equal(counter('listener.127.0.0.1_0.downstream_pre_cx_active'), 0);
});

test('a TLS transport socket gets the ClientHello tls_inspector read, and the handshake completes', async () => {
  const ca = makeCa();
  const server = ca.issue('a.test');
  const { listener, port } = await start(yaml('tls_inspector.v3.TlsInspector }'));
  // A transport socket as the TLS extension makes one: the bytes go back on the socket, then it
  // is wrapped.
  const c0 = listener.config.chains[0];
  let prereadLength = 0;
  listener.config = {
    ...listener.config,
    chains: [{
      ...c0,
      transportSocket: {
        createTransportSocket(socket, preread) {
          prereadLength = preread?.length ?? 0;
          if (preread !== null) socket.unshift(preread);
          return new tls.TLSSocket(socket, { isServer: true, key: server.key, cert: server.cert });
        },
      },
    }],
  };
  const c = tls.connect({ port, host: '127.0.0.1', servername: 'a.test', ca: ca.cert, ALPNProtocols: ['h2', 'http/1.1'] });
  await once(c, 'secureConnect');
  c.write('over tls');
  const [d] = await once(c, 'data') as [Buffer];
  assert.equal(d.toString(), 'over tls');
  assert.ok(prereadLength > 0);
  const conn = onlyConnection(listener);
  assert.equal(conn.requestedServerName, 'a.test');
  assert.deepEqual(conn.applicationProtocols, ['h2', 'http/1.1']);
  c.destroy();
});
