// envoy.filters.network.direct_response: compile (its DataSource read once) and the filter on an
// in-process connection.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import directResponse from '../../../../src/extensions/filters/network/direct-response/index.ts';
import { ConnectionCloseType, FilterStatus } from '../../../../src/network/filter.ts';
import type { CompileContext } from '../../../../src/extensions/types.ts';
import { tmpFile } from '../../../helpers/legate.ts';
import { FakeConnection } from './fake-connection.ts';

const PATH = 'static_resources.listeners[0].filter_chains[0].filters[0].typed_config';
const ctx = {
  path: PATH,
  fail(path: string, message: string): never {
    throw new Error(`${path}: ${message}`);
  },
} as CompileContext;
const worker = {} as Parameters<typeof directResponse.createFilterFactory>[1];

/** compile, a structured clone (as the snapshot crosses to a worker), then a connection. */
function connect(typedConfig: Record<string, unknown>): FakeConnection {
  const compiled = structuredClone(directResponse.compile(typedConfig, ctx));
  const c = FakeConnection.withChain(directResponse.createFilterFactory(compiled, worker));
  c.runNewConnection();
  return c;
}

test('writes the response with end of stream on a new connection, then closes after flushing', () => {
  const c = connect({ response: { inline_string: 'go away\n' } });
  assert.deepEqual(c.writes.map((w) => [w.data.toString(), w.endStream]), [['go away\n', true]]);
  assert.deepEqual(c.closes, [ConnectionCloseType.FlushWrite]);
});

test('the response may be bytes (base64 in the normalized config) or a file, read at compile time', () => {
  const bytes = Buffer.from([0, 1, 2, 255, 13, 10]);
  assert.deepEqual(connect({ response: { inline_bytes: bytes.toString('base64') } }).written(), bytes);
  const file = tmpFile('response.bin', 'from a file');
  assert.equal(connect({ response: { filename: file } }).written().toString(), 'from a file');
});

test('no response: nothing is written, the connection still closes', () => {
  const c = connect({});
  assert.equal(c.writes.length, 0);
  assert.deepEqual(c.closes, [ConnectionCloseType.FlushWrite]);
});

test('what the peer sends is dropped', () => {
  const c = connect({ response: { inline_string: 'x' } });
  assert.equal(c.readFilters[0]!.onData(Buffer.from('hello'), false), FilterStatus.StopIteration);
  assert.equal(c.writes.length, 1);
});

test('an unreadable file refuses the config, naming the field', () => {
  assert.throws(() => directResponse.compile({ response: { filename: '/nonexistent/legate/response' } }, ctx),
    { message: `${PATH}.response.filename: unable to read file: /nonexistent/legate/response (ENOENT)` });
});
