// envoy.filters.listener.http_inspector in-process: HTTP/1.0, HTTP/1.1 and the h2c preface split at
// every byte; not HTTP; a TLS connection left alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import httpInspector from '../../../../src/extensions/filters/listener/http-inspector/index.ts';
import { feed, moduleContext, splits } from './harness.ts';

function make() {
  const m = moduleContext();
  const factory = httpInspector.createListenerFilterFactory(httpInspector.compile({}, m.ctx), { stats: m.stats } as never);
  return { filter: factory, value: m.value };
}

test('HTTP versions, split at every byte', () => {
  const p = make();
  const cases: [string, string[]][] = [
    ['GET /path?q=1 HTTP/1.1\r\nHost: x\r\n\r\n', ['http/1.1']],
    ['POST / HTTP/1.0\r\n\r\n', ['http/1.0']],
    ['PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', ['h2c']],
  ];
  for (const [text, want] of cases) {
    for (const pieces of splits(Buffer.from(text))) {
      const o = feed(p.filter(), pieces);
      assert.equal(o.result, 'continue', text);
      assert.deepEqual(o.socket.applicationProtocols, want, text);
      assert.equal(o.rest.toString(), text.slice(0, o.rest.length));
    }
  }
  assert.ok(p.value('http_inspector.http11_found') > 0);
  assert.ok(p.value('http_inspector.http10_found') > 0);
  assert.ok(p.value('http_inspector.http2_found') > 0);
});

test('not HTTP, and a TLS connection is not inspected', () => {
  const p = make();
  for (const t of ['SSH-2.0-x\r\n', 'GET / HTTP/2.0\r\n', 'GET  / HTTP/1.1\r\n', 'GET /\r\n', 'x'.repeat(9000)]) {
    const o = feed(p.filter(), [Buffer.from(t)]);
    assert.equal(o.result, 'continue', t);
    assert.deepEqual(o.socket.applicationProtocols, [], t);
  }
  assert.equal(p.value('http_inspector.http_not_found'), 5);
  const f = p.filter();
  const cb = {
    connectionSocket: { detectedTransportProtocol: 'tls', applicationProtocols: [] },
    continueFilterChain() {},
  };
  assert.equal(f.onAccept(cb as never), 0);
});
