// envoy.filters.listener.proxy_protocol in-process: v1 and v2 headers (split at every byte), LOCAL,
// TLVs, malformed headers, allow_requests_without_proxy_protocol, disallowed_versions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import proxyProtocol from '../../../../src/extensions/filters/listener/proxy-protocol/index.ts';
import { feed, moduleContext, splits } from './harness.ts';

function make(tc: Record<string, unknown> = {}): { filter: () => ReturnType<ReturnType<typeof proxyProtocol.createListenerFilterFactory>>; value(n: string): number } {
  const m = moduleContext();
  const snap = proxyProtocol.compile(tc, m.ctx);
  const factory = proxyProtocol.createListenerFilterFactory(snap, { stats: m.stats } as never);
  return { filter: factory, value: m.value };
}

const SIG = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
function v2(cmd: number, fam: number, body: Buffer): Buffer {
  const len = Buffer.alloc(2);
  len.writeUInt16BE(body.length);
  return Buffer.concat([SIG, Buffer.from([0x20 | cmd, fam]), len, body]);
}
const V4_BODY = Buffer.from([203, 0, 113, 7, 198, 51, 100, 1, 0x9c, 0x41, 0x01, 0xbb]);

test('v1 TCP4, split at every byte: the header is drained, the addresses replaced', () => {
  const hdr = Buffer.from('PROXY TCP4 203.0.113.7 198.51.100.1 40001 443\r\n');
  const body = Buffer.from('GET / HTTP/1.1\r\n\r\n');
  const p = make();
  for (const pieces of splits(Buffer.concat([hdr, body]))) {
    const o = feed(p.filter(), pieces);
    assert.equal(o.result, 'continue');
    assert.equal(o.socket.remoteIpOverride, '203.0.113.7');
    assert.equal(o.socket.remotePortOverride, 40001);
    assert.equal(o.socket.localIpOverride, '198.51.100.1');
    assert.equal(o.socket.localPortOverride, 443);
    assert.equal(o.rest.toString(), body.toString().slice(0, o.rest.length));
  }
  assert.ok(p.value('proxy_proto.versions.v1.found') > 0);
});

test('v2 PROXY over IPv4 and IPv6, with TLVs, split at every byte', () => {
  const tlv = Buffer.from([0x01, 0x00, 0x02, 0x68, 0x32]); // ALPN "h2"
  const p = make();
  for (const pieces of splits(Buffer.concat([v2(1, 0x11, Buffer.concat([V4_BODY, tlv])), Buffer.from('x')]))) {
    const o = feed(p.filter(), pieces);
    assert.equal(o.result, 'continue');
    assert.equal(o.socket.remoteIpOverride, '203.0.113.7');
    assert.equal(o.socket.remotePortOverride, 40001);
    assert.equal(o.socket.localPortOverride, 443);
  }
  const v6 = Buffer.alloc(36);
  Buffer.from('20010db8000000000000000000000001', 'hex').copy(v6, 0);
  Buffer.from('20010db8000000000000000000000002', 'hex').copy(v6, 16);
  v6.writeUInt16BE(5000, 32);
  v6.writeUInt16BE(443, 34);
  const o = feed(p.filter(), [v2(1, 0x21, v6)]);
  assert.equal(o.result, 'continue');
  assert.equal(o.socket.remoteIpOverride, '2001:db8::1');
  assert.equal(o.socket.localIpOverride, '2001:db8::2');
});

test('v2 LOCAL and v1 UNKNOWN keep the socket addresses', () => {
  const p = make();
  const local = feed(p.filter(), [Buffer.concat([v2(0, 0x00, Buffer.from([1, 2, 3])), Buffer.from('rest')])]);
  assert.equal(local.result, 'continue');
  assert.equal(local.socket.remoteIpOverride, null);
  assert.equal(local.rest.toString(), 'rest');
  const unknown = feed(p.filter(), [Buffer.from('PROXY UNKNOWN whatever\r\nrest')]);
  assert.equal(unknown.result, 'continue');
  assert.equal(unknown.socket.remoteIpOverride, null);
  assert.equal(unknown.rest.toString(), 'rest');
});

test('malformed headers close the connection, each counted', () => {
  const p = make();
  const bad: [Buffer, string][] = [
    [Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n'), 'v1'],
    [Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n'), 'v1'],
    [Buffer.from('PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n'), 'v1'],
    [Buffer.from('PROXY TCP4 224.0.0.1 5.6.7.8 1 2\r\n'), 'v1'],
    [Buffer.from(`PROXY TCP4 ${'1'.repeat(120)}`), 'none'],
    [v2(1, 0x31, Buffer.alloc(216)), 'v2'], // AF_UNIX
    [v2(1, 0x11, Buffer.alloc(4)), 'v2'], // too short for IPv4 addresses
    [v2(1, 0x11, Buffer.concat([V4_BODY, Buffer.from([1, 0, 9, 1])])), 'v2'], // a TLV past the end
    [Buffer.concat([SIG, Buffer.from([0x11, 0x11, 0, 12]), V4_BODY]), 'v2'], // version 1 in a v2 header
    [Buffer.from('GET / HTTP/1.1\r\n\r\n'), 'none'],
  ];
  for (const [b, kind] of bad) assert.equal(feed(p.filter(), [b]).result, 'closed', `${b.toString('latin1')} (${kind})`);
  assert.equal(p.value('downstream_cx_proxy_proto_error'), bad.length);
  assert.equal(p.value('proxy_proto.versions.v1.error'), 4);
  assert.equal(p.value('proxy_proto.versions.v2.error'), 4);
  // (No CRLF within v1's longest line: the version was never known.)
  assert.equal(p.value('proxy_proto.not_found_disallowed'), 2);
});

test('allow_requests_without_proxy_protocol lets other bytes through untouched', () => {
  const p = make({ allow_requests_without_proxy_protocol: true, stat_prefix: 'edge' });
  const o = feed(p.filter(), [Buffer.from('GET / HTTP/1.1\r\n\r\n')]);
  assert.equal(o.result, 'continue');
  assert.equal(o.socket.remoteIpOverride, null);
  assert.equal(o.rest.toString(), 'GET / HTTP/1.1\r\n\r\n');
  assert.equal(p.value('proxy_proto.edge.not_found_allowed'), 1);
  // A header is still read.
  assert.equal(feed(p.filter(), [Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n')]).socket.remoteIpOverride, '1.2.3.4');
});

test('disallowed_versions refuses that version', () => {
  const p = make({ disallowed_versions: ['V1'] });
  assert.equal(feed(p.filter(), [Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n')]).result, 'closed');
  assert.equal(p.value('proxy_proto.versions.v1.disallowed'), 1);
  assert.equal(feed(p.filter(), [v2(1, 0x11, V4_BODY)]).result, 'continue');
});
