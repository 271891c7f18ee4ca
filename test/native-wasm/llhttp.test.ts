import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { HttpParser, REQUIRED_EXPORTS, TYPE, ERROR, type ParserHandler } from '../../native-wasm/llhttp.ts';

const require = createRequire(import.meta.url);

test('the pinned undici ships the llhttp WASM exports the binding uses', () => {
  const pkg = require('undici/package.json') as { version: string };
  const deps = (require('../../package.json') as { dependencies: Record<string, string> }).dependencies;
  assert.equal(pkg.version, deps.undici, 'undici must be pinned exactly');
  for (const file of ['undici/lib/llhttp/llhttp_simd-wasm.js', 'undici/lib/llhttp/llhttp-wasm.js']) {
    const mod = new WebAssembly.Module(require(file));
    const names = new Set(WebAssembly.Module.exports(mod).map((e) => e.name));
    for (const e of REQUIRED_EXPORTS) assert.ok(names.has(e), `${file} lacks export ${e}`);
    const imports = WebAssembly.Module.imports(mod).map((i) => i.name).sort();
    assert.deepEqual(imports, [
      'wasm_on_body', 'wasm_on_header_field', 'wasm_on_header_value', 'wasm_on_headers_complete',
      'wasm_on_message_begin', 'wasm_on_message_complete', 'wasm_on_status', 'wasm_on_url',
    ]);
  }
});

class Collect implements ParserHandler {
  url = '';
  fields: string[] = [];
  cur = '';
  inValue = false;
  body: Buffer[] = [];
  done = 0;
  views: Buffer[] = [];
  onMessageBegin() { return 0; }
  onUrl(c: Buffer, s: number, e: number) { this.url += c.toString('latin1', s, e); return 0; }
  onStatus() { return 0; }
  onHeaderField(c: Buffer, s: number, e: number) {
    const b = c.subarray(s, e);
    if (this.inValue) { this.fields.push(this.cur); this.cur = ''; this.inValue = false; }
    this.cur += b.toString('latin1'); return 0;
  }
  onHeaderValue(c: Buffer, s: number, e: number) {
    const b = c.subarray(s, e);
    if (!this.inValue) { this.fields.push(this.cur); this.cur = ''; this.inValue = true; }
    this.views.push(b);
    this.cur += b.toString('latin1'); return 0;
  }
  onHeadersComplete() { this.fields.push(this.cur); this.cur = ''; this.inValue = false; return 0; }
  onBody(c: Buffer, s: number, e: number) { this.body.push(Buffer.from(c.subarray(s, e))); return 0; }
  onMessageComplete() { this.done++; return 0; }
}

const REQ = Buffer.from(
  'POST /a/b?c=d HTTP/1.1\r\nHost: example.com\r\nX-Long-Header: ' + 'v'.repeat(300) +
  '\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n', 'latin1');

test('a request split at every byte boundary parses identically', () => {
  const whole = new Collect();
  const p0 = new HttpParser(TYPE.REQUEST, whole);
  assert.equal(p0.execute(REQ), ERROR.OK);
  p0.destroy();
  for (let i = 1; i < REQ.length; i++) {
    const c = new Collect();
    const p = new HttpParser(TYPE.REQUEST, c);
    assert.equal(p.execute(REQ.subarray(0, i)), ERROR.OK, `split at ${i}`);
    assert.equal(p.execute(REQ.subarray(i)), ERROR.OK, `split at ${i}`);
    assert.equal(c.url, whole.url);
    assert.deepEqual(c.fields, whole.fields);
    assert.equal(Buffer.concat(c.body).toString(), 'hello world');
    assert.equal(c.done, 1);
    assert.equal(p.method(), 'POST');
    p.destroy();
  }
});

test('callback ranges point into the caller chunk, valid after execute returns', () => {
  const c = new Collect();
  const p = new HttpParser(TYPE.REQUEST, c);
  const chunk = Buffer.from('GET / HTTP/1.1\r\nHost: h\r\nX-A: abc\r\n\r\n', 'latin1');
  p.execute(chunk);
  // A second execute on another chunk must not disturb the first chunk's views.
  const c2 = new Collect();
  const p2 = new HttpParser(TYPE.REQUEST, c2);
  p2.execute(Buffer.from('GET / HTTP/1.1\r\nHost: zzzzzz\r\nX-A: zzz\r\n\r\n', 'latin1'));
  assert.equal(c.views[1].toString(), 'abc');
  assert.equal(c.views[1].buffer, chunk.buffer);
  p.destroy();
  p2.destroy();
});

test('malformed input returns an llhttp error with a reason', () => {
  for (const bad of [
    'G@T / HTTP/1.1\r\nHost: h\r\n\r\n',
    'GET / HTTP/1.1\r\nHo st: h\r\n\r\n',
    'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n',
    'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n',
  ]) {
    const p = new HttpParser(TYPE.REQUEST, new Collect());
    const ret = p.execute(Buffer.from(bad, 'latin1'));
    assert.notEqual(ret, ERROR.OK, bad);
    assert.notEqual(p.errorReason(), '');
    p.destroy();
  }
});

test('pausing at message complete leaves the pipelined rest for later', () => {
  const c = new Collect();
  c.onMessageComplete = () => { c.done++; return ERROR.PAUSED; };
  const p = new HttpParser(TYPE.REQUEST, c);
  const two = Buffer.from('GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n', 'latin1');
  assert.equal(p.execute(two), ERROR.PAUSED);
  assert.equal(c.done, 1);
  const rest = two.subarray(p.errorOffset);
  assert.ok(rest.toString().startsWith('GET /2'));
  p.resume();
  assert.equal(p.execute(rest), ERROR.PAUSED);
  assert.equal(c.done, 2);
  assert.equal(c.url, '/1/2');
  p.destroy();
});

test('a parser run from inside another parser callback leaves the outer parse intact', () => {
  const inner = new Collect();
  const innerParser = new HttpParser(TYPE.REQUEST, inner);
  const outer = new Collect();
  const big = Buffer.from(`POST /inner HTTP/1.1\r\nHost: i\r\nContent-Length: 100000\r\n\r\n${'z'.repeat(100000)}`, 'latin1');
  const origHeaders = outer.onHeadersComplete.bind(outer);
  outer.onHeadersComplete = () => {
    // Bigger than any input area so far: must not move the outer chunk's copy.
    assert.equal(innerParser.execute(big), ERROR.OK);
    return origHeaders();
  };
  const p = new HttpParser(TYPE.REQUEST, outer);
  const req = Buffer.from('POST /outer HTTP/1.1\r\nHost: o\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n', 'latin1');
  assert.equal(p.execute(req), ERROR.OK);
  assert.equal(outer.url, '/outer');
  assert.equal(Buffer.concat(outer.body).toString(), 'abc');
  assert.equal(inner.url, '/inner');
  assert.equal(Buffer.concat(inner.body).length, 100000);
  p.destroy();
  innerParser.destroy();
});
