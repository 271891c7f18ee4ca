// envoy.filters.http.buffer's filter over a real FilterManager: the later filters get the whole
// request once (headers, the body as one data call, trailers), a content-length when it had none;
// past max_request_bytes a 413 and nothing further; a route's BufferPerRoute disables it or sets
// its limit; header-only requests pass untouched.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import buffer from '../../../../src/extensions/filters/http/buffer/index.ts';
import type { WorkerContext } from '../../../../src/extensions/types.ts';
import { b, stream, trailers } from './harness.ts';

const factory = (max: number) => buffer.createFilterFactory({ disabled: false, maxRequestBytes: max }, {} as WorkerContext);

test('the body reaches the next filter once, whole, after the headers; content-length added', () => {
  const { fm, owner, terminal } = stream(factory(100), { limit: 1 << 20 });
  fm.decodeHeaders(false);
  fm.decodeData(b('hello '), false);
  fm.decodeData(b('buffered '), false);
  assert.deepEqual(terminal.events, []);
  fm.decodeData(b('world'), true);
  assert.deepEqual(terminal.events, ['headers', 'data 20 end']);
  assert.equal(Buffer.concat(terminal.body).toString(), 'hello buffered world');
  assert.equal(owner.requestHeaders.get('content-length'), '20');
  assert.equal(owner.status, 200);
});

test('with trailers: headers, body, trailers, in order; a content-length already there is kept', () => {
  const { fm, owner, terminal } = stream(factory(100), { headers: ['content-length', '3'] });
  fm.decodeHeaders(false);
  fm.decodeData(b('abc'), false);
  fm.decodeTrailers(trailers());
  assert.deepEqual(terminal.events, ['headers', 'data 3', 'trailers']);
  assert.equal(owner.requestHeaders.get('content-length'), '3');
});

test('past max_request_bytes: 413 counted by the owner, the next filter never called', () => {
  const { fm, owner, terminal } = stream(factory(8), { limit: 1 << 20 });
  fm.decodeHeaders(false);
  fm.decodeData(b('01234'), false);
  fm.decodeData(b('56789'), false);
  fm.decodeData(b('more'), true);
  assert.equal(owner.status, 413);
  assert.equal(owner.body, 'Payload Too Large');
  assert.equal(owner.streamInfo.responseCodeDetails, 'request_payload_too_large');
  assert.equal(owner.stats.v[0], 1);
  assert.deepEqual(terminal.events, []);
});

test('BufferPerRoute: disabled passes the request as it comes; buffer sets the limit', () => {
  const off = stream(factory(4), { name: 'buf' });
  off.owner.perRoute.buf = { disabled: true, maxRequestBytes: 0 };
  off.fm.decodeHeaders(false);
  off.fm.decodeData(b('0123456789'), false);
  off.fm.decodeData(b('x'), true);
  assert.deepEqual(off.terminal.events, ['headers', 'data 10', 'data 1 end']);
  assert.equal(off.owner.requestHeaders.get('content-length'), undefined);

  const big = stream(factory(4), { name: 'buf' });
  big.owner.perRoute.buf = { disabled: false, maxRequestBytes: 100 };
  big.fm.decodeHeaders(false);
  big.fm.decodeData(b('0123456789'), true);
  assert.deepEqual(big.terminal.events, ['headers', 'data 10 end']);
});

test('a header-only request is not buffered', () => {
  const { fm, terminal, owner } = stream(factory(4), { method: 'GET' });
  fm.decodeHeaders(true);
  assert.deepEqual(terminal.events, ['headers end']);
  assert.equal(owner.requestHeaders.get('content-length'), undefined);
});
