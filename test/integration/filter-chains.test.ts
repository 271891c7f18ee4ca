// Filter-chain selection (filter_chain_match, default_filter_chain) and listener filters
// (tls_inspector, http_inspector, proxy_protocol, listener_filters_timeout) through a real Legate
// on two workers. Each chain answers with its own direct_response body, so which chain took a
// connection is read off the wire; SNI and ALPN come in real ClientHellos made by node:tls (TLS is
// not terminated: Legate routes on the hello and answers in clear text).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Duplex } from 'node:stream';
import { Buffer } from 'node:buffer';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileAccessLog, hcmListener, routeAll, staticCluster } from '../helpers/legate.ts';
import { pollLog, pollStat } from './fixtures/clients.ts';
import { httpUp, legateFor } from './fixtures/tracked.ts';

const DIRECT_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.direct_response.v3.Config';

/** A filter chain answering `body` (and closing), with `match` (YAML flow) and an optional name. */
function chain(body: string, match: string | null, name = ''): string {
  return `
    - ${name ? `name: ${name}\n      ` : ''}${match === null ? '' : `filter_chain_match: ${match}\n      `}filters:
      - name: envoy.filters.network.direct_response
        typed_config: { "@type": ${DIRECT_TYPE}, response: { inline_string: "${body}" } }`;
}

function listenerFilter(name: string, type: string, config = ''): string {
  return `
    - name: ${name}
      typed_config: { "@type": type.googleapis.com/${type}${config} }`;
}
const TLS_INSPECTOR = listenerFilter('envoy.filters.listener.tls_inspector',
  'envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector');
const HTTP_INSPECTOR = listenerFilter('envoy.filters.listener.http_inspector',
  'envoy.extensions.filters.listener.http_inspector.v3.HttpInspector');
const proxyProtocol = (config = ''): string => listenerFilter('envoy.filters.listener.proxy_protocol',
  'envoy.extensions.filters.listener.proxy_protocol.v3.ProxyProtocol', config);

/** A listener on `ip`, port 0 (`ip` sets its stats apart: listener.<ip>_0.*). */
function listener(name: string, ip: string, opts: { filters?: string; chains: string; extra?: string }): string {
  return `
  - name: ${name}
    address: { socket_address: { address: ${ip}, port_value: 0 } }${opts.filters ? `
    listener_filters:${opts.filters}` : ''}${opts.extra ?? ''}
    filter_chains:${opts.chains}`;
}

const LOG = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'legate-fc-')), 'access.log');

async function config(upstreamPort: number): Promise<string> {
  const ppHcm = hcmListener('pp', 'pp', routeAll('upstream'), {
    listenerExtra: `
    listener_filters:${proxyProtocol()}`,
    hcmExtra: `
          use_remote_address: true${fileAccessLog(LOG, '%DOWNSTREAM_REMOTE_ADDRESS% %DOWNSTREAM_DIRECT_REMOTE_ADDRESS% %REQ(:PATH)%\\n')}`,
  }).replace('address: 127.0.0.1', 'address: 127.0.0.5');
  return `
static_resources:
  listeners:${listener('sni', '127.0.0.2', {
    filters: TLS_INSPECTOR,
    chains: chain('exact', '{ server_names: [a.example.com] }', 'exact')
      + chain('wild', '{ server_names: ["*.example.com"] }', 'wild')
      + chain('deeper', '{ server_names: ["*.b.example.com"] }')
      + chain('alpn-h2', '{ server_names: [alpn.test], application_protocols: [h2] }')
      + chain('alpn-any', '{ server_names: [alpn.test] }')
      + chain('raw', '{ transport_protocol: raw_buffer }'),
    extra: `
    default_filter_chain:
      name: fallback
      filters:
      - name: envoy.filters.network.direct_response
        typed_config: { "@type": ${DIRECT_TYPE}, response: { inline_string: "default" } }`,
  })}${listener('http', '127.0.0.3', {
    filters: HTTP_INSPECTOR,
    chains: chain('h11', '{ application_protocols: [http/1.1] }') + chain('h10', '{ application_protocols: [http/1.0] }')
      + chain('h2c', '{ application_protocols: [h2c] }') + chain('other', null),
  })}${listener('addr', '127.0.0.4', {
    filters: proxyProtocol(', allow_requests_without_proxy_protocol: true'),
    chains: chain('port-8443', '{ destination_port: 8443 }') + chain('src-10', '{ source_prefix_ranges: [{ address_prefix: 10.0.0.0, prefix_len: 8 }] }')
      + chain('src-10-1', '{ source_prefix_ranges: [{ address_prefix: 10.1.0.0, prefix_len: 16 }] }')
      + chain('loopback', '{ source_type: SAME_IP_OR_LOOPBACK }'),
  })}${listener('nomatch', '127.0.0.6', {
    chains: chain('never', '{ server_names: [x.test] }') + chain('never2', '{ transport_protocol: tls }'),
  })}${ppHcm}${listener('silent', '127.0.0.7', {
    filters: proxyProtocol(), chains: chain('late', null), extra: '\n    listener_filters_timeout: 0.3s',
  })}${listener('silent-continue', '127.0.0.8', {
    filters: HTTP_INSPECTOR, chains: chain('continued', null),
    extra: '\n    listener_filters_timeout: 0.3s\n    continue_on_listener_filters_timeout: true',
  })}${listener('balanced', '127.0.0.9', {
    filters: HTTP_INSPECTOR + TLS_INSPECTOR,
    chains: `
    - filters:
      - name: envoy.filters.network.echo
        typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.network.echo.v3.Echo }`,
    extra: '\n    connection_balance_config: { exact_balance: {} }',
  })}
  clusters:${staticCluster('upstream', [upstreamPort])}
`;
}

/** Sends `parts` (with a pause between them) and reads until the peer closes. */
async function exchange(ip: string, port: number, parts: Buffer[], pauseMs = 0): Promise<string> {
  const s = net.connect(port, ip);
  s.on('error', () => {});
  const chunks: Buffer[] = [];
  s.on('data', (d: Buffer) => chunks.push(d));
  const closed = new Promise<void>((r) => s.on('close', () => r()));
  await new Promise<void>((r, j) => { s.once('connect', r); s.once('error', j); });
  for (const p of parts) {
    s.write(p);
    if (pauseMs > 0) await sleep(pauseMs);
  }
  const t = setTimeout(() => s.destroy(), 5000);
  await closed;
  clearTimeout(t);
  return Buffer.concat(chunks).toString('latin1');
}

/** The ClientHello node:tls sends for `servername` / `alpn` (captured, never sent to a server). */
async function clientHello(servername: string | undefined, alpn?: string[]): Promise<Buffer> {
  return new Promise((resolve) => {
    const d = new Duplex({
      read() {},
      write(chunk: Buffer, _enc, cb) {
        resolve(Buffer.from(chunk));
        cb();
        setImmediate(() => t.destroy());
      },
    });
    const t = tls.connect({ socket: d, servername, ALPNProtocols: alpn, rejectUnauthorized: false });
    t.on('error', () => {});
  });
}

function proxyV2(src: string, sport: number, dst: string, dport: number, tlvs = Buffer.alloc(0)): Buffer {
  const sig = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
  const addr = Buffer.alloc(12);
  src.split('.').forEach((o, i) => { addr[i] = Number(o); });
  dst.split('.').forEach((o, i) => { addr[4 + i] = Number(o); });
  addr.writeUInt16BE(sport, 8);
  addr.writeUInt16BE(dport, 10);
  const len = Buffer.alloc(2);
  len.writeUInt16BE(12 + tlvs.length);
  return Buffer.concat([sig, Buffer.from([0x21, 0x11]), len, addr, tlvs]);
}

test('filter chains and listener filters', async (t) => {
  const up = await httpUp();
  const legate = await legateFor(await config(up.port), { concurrency: 2 });
  const port = (n: string): number => legate.port(n);

  await t.test('SNI: exact name, then the longest *. suffix, and an unknown one gets default_filter_chain', async () => {
    const sni = async (name: string | undefined, alpn?: string[]): Promise<string> =>
      exchange('127.0.0.2', port('sni'), [await clientHello(name, alpn)]);
    assert.equal(await sni('a.example.com'), 'exact');
    assert.equal(await sni('A.Example.COM'), 'exact');
    assert.equal(await sni('www.example.com'), 'wild');
    assert.equal(await sni('x.y.example.com'), 'wild');
    assert.equal(await sni('x.b.example.com'), 'deeper');
    assert.equal(await sni('unknown.test'), 'default');
    // No SNI: only chains without server_names (the raw_buffer one does not take TLS).
    assert.equal(await sni(undefined), 'default');
  });

  await t.test('application_protocols from the ClientHello ALPN, under the same server name', async () => {
    const sni = async (alpn?: string[]): Promise<string> =>
      exchange('127.0.0.2', port('sni'), [await clientHello('alpn.test', alpn)]);
    assert.equal(await sni(['http/1.1', 'h2']), 'alpn-h2');
    assert.equal(await sni(['http/1.1']), 'alpn-any');
    assert.equal(await sni(), 'alpn-any');
  });

  await t.test('a ClientHello in several reads; plain text is raw_buffer', async () => {
    const hello = await clientHello('a.example.com');
    const parts = [hello.subarray(0, 3), hello.subarray(3, 60), hello.subarray(60)];
    assert.equal(await exchange('127.0.0.2', port('sni'), parts, 30), 'exact');
    assert.equal(await exchange('127.0.0.2', port('sni'), [Buffer.from('hello\r\n')]), 'raw');
    const s = await legate.stats();
    assert.ok(s.get('tls_inspector.tls_found')! >= 10, `tls_found ${s.get('tls_inspector.tls_found')}`);
    assert.ok(s.get('tls_inspector.sni_found')! >= 9);
    assert.ok(s.get('tls_inspector.sni_not_found')! >= 1);
    assert.ok(s.get('tls_inspector.alpn_found')! >= 2);
    assert.ok(s.get('tls_inspector.tls_not_found')! >= 1);
  });

  await t.test('http_inspector: HTTP/1.1, HTTP/1.0 and the h2c preface', async () => {
    const ip = '127.0.0.3';
    assert.equal(await exchange(ip, port('http'), [Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')]), 'h11');
    assert.equal(await exchange(ip, port('http'), [Buffer.from('GET / HT'), Buffer.from('TP/1.0\r\n\r\n')], 30), 'h10');
    assert.equal(await exchange(ip, port('http'), [Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')]), 'h2c');
    assert.equal(await exchange(ip, port('http'), [Buffer.from('SSH-2.0-OpenSSH\r\n')]), 'other');
    const s = await legate.stats();
    assert.equal(s.get('http_inspector.http11_found'), 1);
    assert.equal(s.get('http_inspector.http10_found'), 1);
    assert.equal(s.get('http_inspector.http2_found'), 1);
    assert.equal(s.get('http_inspector.http_not_found'), 1);
  });

  await t.test('destination_port and source prefixes from a PROXY header; source_type from the socket', async () => {
    const ip = '127.0.0.4';
    assert.equal(await exchange(ip, port('addr'), [Buffer.from('PROXY TCP4 192.0.2.1 198.51.100.1 1234 8443\r\n')]), 'port-8443');
    assert.equal(await exchange(ip, port('addr'), [Buffer.from('PROXY TCP4 10.9.9.9 198.51.100.1 1234 80\r\n')]), 'src-10');
    assert.equal(await exchange(ip, port('addr'), [proxyV2('10.1.2.3', 1234, '198.51.100.1', 80)]), 'src-10-1');
    // No header (allowed): the socket's loopback peer.
    assert.equal(await exchange(ip, port('addr'), [Buffer.from('hi')]), 'loopback');
    // An external source on port 80 takes no chain: closed without a byte.
    assert.equal(await exchange(ip, port('addr'), [Buffer.from('PROXY TCP4 192.0.2.1 198.51.100.1 1234 80\r\n')]), '');
    assert.equal(await pollStat(legate, 'listener.127.0.0.4_0.no_filter_chain_match', (v) => v === 1), 1);
    const s = await legate.stats();
    assert.equal(s.get('proxy_proto.versions.v1.found'), 3);
    assert.equal(s.get('proxy_proto.versions.v2.found'), 1);
    assert.equal(s.get('proxy_proto.not_found_allowed'), 1);
  });

  await t.test('no chain matches: the connection is closed and counted', async () => {
    assert.equal(await exchange('127.0.0.6', port('nomatch'), [Buffer.from('GET / HTTP/1.1\r\n\r\n')]), '');
    assert.equal(await pollStat(legate, 'listener.127.0.0.6_0.no_filter_chain_match', (v) => v === 1), 1);
  });

  await t.test('PROXY v1 and v2 set the downstream address seen in x-forwarded-for and the access log', async () => {
    const req = async (header: Buffer, p: string): Promise<string> => {
      const out = await exchange('127.0.0.5', port('pp'), [Buffer.concat([header,
        Buffer.from(`GET ${p} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n`)])]);
      assert.match(out, /^HTTP\/1\.1 200 /, out);
      return up.requests.at(-1)!.headers['x-forwarded-for'] as string;
    };
    assert.equal(await req(Buffer.from('PROXY TCP4 203.0.113.7 198.51.100.1 40001 443\r\n'), '/v1'), '203.0.113.7');
    // A TLV (type 0x04 NOOP) after the addresses is skipped.
    assert.equal(await req(proxyV2('203.0.113.9', 40002, '198.51.100.1', 443, Buffer.from([0x04, 0, 2, 0, 0])), '/v2'), '203.0.113.9');
    assert.equal(await req(Buffer.from('PROXY TCP6 2001:db8::1 2001:db8::2 40003 443\r\n'), '/v6'), '2001:db8::1');
    const log = await pollLog(LOG, (x) => x.split('\n').length >= 4);
    const lines = log.trim().split('\n');
    assert.match(lines[0], /^203\.0\.113\.7:40001 127\.0\.0\.1:\d+ \/v1$/);
    assert.match(lines[1], /^203\.0\.113\.9:40002 127\.0\.0\.1:\d+ \/v2$/);
    assert.match(lines[2], /^\[2001:db8::1\]:40003 127\.0\.0\.1:\d+ \/v6$/);
  });

  await t.test('PROXY v2 LOCAL keeps the socket address', async () => {
    const local = Buffer.concat([Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, 0x20, 0x00, 0, 0])]);
    const out = await exchange('127.0.0.5', port('pp'), [Buffer.concat([local, Buffer.from('GET /local HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n')])]);
    assert.match(out, /^HTTP\/1\.1 200 /);
    assert.equal(up.requests.at(-1)!.headers['x-forwarded-for'], '127.0.0.1');
  });

  await t.test('a malformed or missing PROXY header closes the connection and counts it', async () => {
    const before = await legate.stats();
    const bad = [
      'PROXY TCP4 203.0.113.7 198.51.100.1 99999 443\r\nGET / HTTP/1.1\r\n\r\n',
      'PROXY TCP4 2001:db8::1 198.51.100.1 1 2\r\nGET / HTTP/1.1\r\n\r\n',
      'PROXY BOGUS\r\n',
    ];
    for (const b of bad) assert.equal(await exchange('127.0.0.5', port('pp'), [Buffer.from(b)]), '');
    const v2bad = proxyV2('203.0.113.9', 1, '198.51.100.1', 2);
    v2bad[12] = 0x31; // version 3
    assert.equal(await exchange('127.0.0.5', port('pp'), [v2bad]), '');
    assert.equal(await exchange('127.0.0.5', port('pp'), [Buffer.from('GET / HTTP/1.1\r\nHost: h\r\n\r\n')]), '');
    const d = (await legate.stats());
    const diff = (n: string): number => (d.get(n) ?? 0) - (before.get(n) ?? 0);
    assert.equal(diff('proxy_proto.versions.v1.error'), 3);
    assert.equal(diff('proxy_proto.versions.v2.error'), 1);
    assert.equal(diff('proxy_proto.not_found_disallowed'), 1);
    assert.equal(diff('downstream_cx_proxy_proto_error'), 5);
  });

  await t.test('listener_filters_timeout closes a silent client, or goes on with continue_on_listener_filters_timeout', async () => {
    const t0 = performance.now();
    assert.equal(await exchange('127.0.0.7', port('silent'), []), '');
    const waited = performance.now() - t0;
    assert.ok(waited >= 250 && waited < 3000, `closed after ${waited} ms`);
    assert.equal(await pollStat(legate, 'listener.127.0.0.7_0.downstream_pre_cx_timeout', (v) => v === 1), 1);
    assert.equal(await exchange('127.0.0.8', port('silent-continue'), []), 'continued');
    assert.equal(await pollStat(legate, 'listener.127.0.0.8_0.downstream_pre_cx_timeout', (v) => v === 1), 1);
    assert.equal((await legate.stats()).get('listener.127.0.0.7_0.downstream_pre_cx_active'), 0);
  });

  await t.test('sockets accepted in main (exact_balance) run their listener filters on a worker; the bytes read come back first', async () => {
    for (let i = 0; i < 4; i++) {
      const s = net.connect(port('balanced'), '127.0.0.9');
      await new Promise<void>((r) => s.once('connect', r));
      let got = '';
      s.on('data', (d: Buffer) => { got += d.toString('latin1'); });
      s.write('GET / HTTP/1.1\r\n');
      s.write('Host: x\r\n\r\n');
      for (let k = 0; k < 200 && got.length < 27; k++) await sleep(10);
      s.write('tail');
      for (let k = 0; k < 200 && !got.endsWith('tail'); k++) await sleep(10);
      assert.equal(got, 'GET / HTTP/1.1\r\nHost: x\r\n\r\ntail');
      s.destroy();
    }
  });

  await t.test('/listeners?format=json shows the filter chains', async () => {
    const j = await (await fetch(`${legate.admin}/listeners?format=json`)).json() as { listener_statuses: any[] };
    const sni = j.listener_statuses.find((l) => l.name === 'sni');
    assert.deepEqual(sni.filter_chains[0], { name: 'exact', filter_chain_match: { server_names: ['a.example.com'] } });
    assert.deepEqual(sni.filter_chains[5], { filter_chain_match: { transport_protocol: 'raw_buffer' } });
    assert.deepEqual(sni.default_filter_chain, { name: 'fallback' });
  });
});
