// envoy.filters.listener.tls_inspector in-process: real ClientHellos from node:tls (SNI, ALPN, none),
// split at every byte and across records; plain text; an oversized hello.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import tls from 'node:tls';
import { Duplex } from 'node:stream';
import { Buffer } from 'node:buffer';
import tlsInspector from '../../../../src/extensions/filters/listener/tls-inspector/index.ts';
import {
  ClientHelloParser, MAX_CLIENT_HELLO, NEED_MORE,
} from '../../../../src/extensions/filters/listener/tls-inspector/filter.ts';
import { feed, moduleContext, splits } from './harness.ts';

function make() {
  const m = moduleContext();
  const factory = tlsInspector.createListenerFilterFactory(tlsInspector.compile({}, m.ctx), { stats: m.stats } as never);
  return { filter: factory, value: m.value };
}

function clientHello(servername: string | undefined, alpn?: string[]): Promise<Buffer> {
  return new Promise((resolve) => {
    const d = new Duplex({
      read() {},
      write(chunk: Buffer, _e, cb) {
        resolve(Buffer.from(chunk));
        cb();
        setImmediate(() => t.destroy());
      },
    });
    const t = tls.connect({ socket: d, servername, ALPNProtocols: alpn, rejectUnauthorized: false });
    t.on('error', () => {});
  });
}

test('SNI and ALPN from a real ClientHello, split at every byte; the bytes stay', async () => {
  const hello = await clientHello('Www.Example.com', ['h2', 'http/1.1']);
  const p = make();
  for (const pieces of splits(hello)) {
    const o = feed(p.filter(), pieces);
    assert.equal(o.result, 'continue');
    assert.equal(o.socket.requestedServerName, 'www.example.com');
    assert.deepEqual(o.socket.applicationProtocols, ['h2', 'http/1.1']);
    assert.equal(o.socket.detectedTransportProtocol, 'tls');
    assert.equal(o.rest.length, hello.length);
  }
  assert.equal(p.value('tls_inspector.sni_found'), p.value('tls_inspector.tls_found'));
  assert.equal(p.value('tls_inspector.alpn_found'), p.value('tls_inspector.tls_found'));
});

test('a ClientHello without SNI or ALPN', async () => {
  const p = make();
  const o = feed(p.filter(), [await clientHello(undefined)]);
  assert.equal(o.result, 'continue');
  assert.equal(o.socket.requestedServerName, '');
  assert.equal(o.socket.detectedTransportProtocol, 'tls');
  assert.equal(p.value('tls_inspector.sni_not_found'), 1);
  assert.equal(p.value('tls_inspector.alpn_not_found'), 1);
});

test('a ClientHello fragmented over two records', async () => {
  const hello = await clientHello('a.test');
  const body = hello.subarray(5);
  const rec = (b: Buffer): Buffer => {
    const h = Buffer.from([0x16, 0x03, 0x01, 0, 0]);
    h.writeUInt16BE(b.length, 3);
    return Buffer.concat([h, b]);
  };
  const two = Buffer.concat([rec(body.subarray(0, 40)), rec(body.subarray(40))]);
  const o = feed(make().filter(), [two]);
  assert.equal(o.socket.requestedServerName, 'a.test');
});

test('a ClientHello a byte per record, a record per read: found, each record looked at once', async () => {
  const hello = await clientHello('bytewise.test', ['h2', 'http/1.1']);
  const body = hello.subarray(5);
  const records: Buffer[] = [];
  for (let i = 0; i < body.length; i++) records.push(Buffer.from([0x16, 0x03, 0x01, 0, 1, body[i]!]));
  // The filter gets every read as it comes (the listener's buffer grows by each).
  const o = feed(make().filter(), records);
  assert.equal(o.socket.requestedServerName, 'bytewise.test');
  assert.deepEqual(o.socket.applicationProtocols, ['h2', 'http/1.1']);
  // The parser resumes where it stopped: fed the growing prefix, it never re-reads a record.
  const p = new ClientHelloParser();
  let all = Buffer.alloc(0);
  let r: ReturnType<ClientHelloParser['feed']> = NEED_MORE;
  for (const rec of records) {
    all = Buffer.concat([all, rec]);
    r = p.feed(all);
    if (r !== NEED_MORE) break;
  }
  assert.ok(typeof r === 'object' && r.serverName === 'bytewise.test' && r.bytes === all.length);
});

test('plain text is not TLS; a hello that never ends is too large and closes', () => {
  const p = make();
  const plain = feed(p.filter(), [Buffer.from('GET / HTTP/1.1\r\n')]);
  assert.equal(plain.result, 'continue');
  assert.equal(plain.socket.detectedTransportProtocol, '');
  assert.equal(p.value('tls_inspector.tls_not_found'), 1);
  // A record header announcing more than the limit, then filler up to it.
  const huge = Buffer.alloc(MAX_CLIENT_HELLO);
  huge.set([0x16, 0x03, 0x01, 0xff, 0xff, 0x01, 0xff, 0xff, 0xff]);
  assert.equal(feed(p.filter(), [huge.subarray(0, 1000), huge.subarray(1000)]).result, 'closed');
  assert.equal(p.value('tls_inspector.client_hello_too_large'), 1);
});
