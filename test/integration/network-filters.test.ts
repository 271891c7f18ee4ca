// Network filters other than the HTTP connection manager, through a real Legate over real
// sockets: an echo listener (envoy.filters.network.echo) and a direct_response listener
// (envoy.filters.network.direct_response).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { Buffer } from 'node:buffer';
import { once } from 'node:events';
import { tmpFile } from '../helpers/legate.ts';
import { legateFor } from './fixtures/tracked.ts';

const RESPONSE_FILE = tmpFile('banner.txt', 'banner from a file\r\n');

/** A listener whose one network filter is `filter` (its name and typed_config, as YAML flow). */
function listener(name: string, filter: string, typedConfig: string): string {
  return `
  - name: ${name}
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    filter_chains:
    - filters:
      - name: ${filter}
        typed_config: ${typedConfig}`;
}

const DIRECT = 'envoy.filters.network.direct_response';
const DIRECT_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.direct_response.v3.Config';
const CONFIG = `
static_resources:
  listeners:${listener('echo', 'envoy.filters.network.echo',
    '{ "@type": type.googleapis.com/envoy.extensions.filters.network.echo.v3.Echo }')}${
  listener('direct', DIRECT, `{ "@type": ${DIRECT_TYPE}, response: { inline_string: "go away\\n" } }`)}${
  listener('direct-file', DIRECT, `{ "@type": ${DIRECT_TYPE}, response: { filename: ${RESPONSE_FILE} } }`)}
`;

/** Connects, sends `send` (then FIN when `end`), and collects everything until the peer closes. */
async function exchange(port: number, send: Buffer[], end: boolean): Promise<Buffer> {
  const s = net.connect(port, '127.0.0.1');
  await once(s, 'connect');
  const chunks: Buffer[] = [];
  s.on('data', (d: Buffer) => chunks.push(d));
  const closed = once(s, 'close');
  for (const b of send) s.write(b);
  if (end) s.end();
  await closed;
  return Buffer.concat(chunks);
}

test('echo and direct_response listeners', async (t) => {
  const legate = await legateFor(CONFIG);

  await t.test('echo writes back every byte, and half-closes when the client does', async () => {
    const bytes = Buffer.alloc(256 * 1024);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7) & 0xff;
    const got = await exchange(legate.port('echo'), [Buffer.from('hello\r\n'), bytes, Buffer.from([0])], true);
    assert.deepEqual(got, Buffer.concat([Buffer.from('hello\r\n'), bytes, Buffer.from([0])]));
  });

  await t.test('echo answers each read as it comes', async () => {
    const s = net.connect(legate.port('echo'), '127.0.0.1');
    await once(s, 'connect');
    for (const word of ['one', 'two', 'three']) {
      s.write(word);
      const [d] = await once(s, 'data') as [Buffer];
      assert.equal(d.toString(), word);
    }
    s.destroy();
  });

  await t.test('direct_response writes its response on connect and closes, without waiting for input', async () => {
    assert.equal((await exchange(legate.port('direct'), [], false)).toString(), 'go away\n');
    assert.equal((await exchange(legate.port('direct-file'), [], false)).toString(), 'banner from a file\r\n');
  });

  await t.test('direct_response ignores what the client sends', async () => {
    assert.equal((await exchange(legate.port('direct'), [Buffer.from('GET / HTTP/1.1\r\n\r\n')], false)).toString(),
      'go away\n');
  });
});
