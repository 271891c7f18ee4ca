// envoy.filters.network.echo through its module's factory, on an in-process connection.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import echo from '../../../../src/extensions/filters/network/echo/index.ts';
import { FilterStatus } from '../../../../src/network/filter.ts';
import { FakeConnection } from './fake-connection.ts';

const worker = {} as Parameters<typeof echo.createFilterFactory>[1];

test('echo writes back every read as read, end of stream included, and stops the chain', () => {
  const c = FakeConnection.withChain(echo.createFilterFactory(echo.compile({}, {} as never), worker));
  assert.equal(c.readFilters.length, 1);
  c.runNewConnection();
  assert.equal(c.writes.length, 0);
  // A view of a larger buffer, as reads into the shared read buffer are.
  const shared = Buffer.from('xxhello, worldyy');
  assert.equal(c.runData(shared.subarray(2, 14), false), FilterStatus.StopIteration);
  assert.equal(c.runData(Buffer.from([0, 255, 13, 10]), false), FilterStatus.StopIteration);
  assert.equal(c.runData(Buffer.alloc(0), true), FilterStatus.StopIteration);
  assert.deepEqual(c.writes.map((w) => w.endStream), [false, false, true]);
  assert.deepEqual(c.written(), Buffer.concat([Buffer.from('hello, world'), Buffer.from([0, 255, 13, 10])]));
  assert.deepEqual(c.closes, []);
});

test('echo is terminal and has nothing to compile', () => {
  assert.equal(echo.terminal, true);
  assert.equal(echo.compile({}, {} as never), null);
});
