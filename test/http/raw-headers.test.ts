// RawHeaderBlock and a raw-backed HeaderMap (src/http/raw-headers.ts): lookups by bytes, changes,
// materialization, and the bytes written back out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RawHeaderBlock } from '../../src/http/raw-headers.ts';
import { ResponseHeaders } from '../../src/http/types.ts';

/** A block from "Name: value\r\n" lines, positions found the way the codec records them. */
function block(lines: string[]): RawHeaderBlock {
  const text = lines.join('\r\n');
  const buf = Buffer.from(text, 'latin1');
  const pos: number[] = [];
  let at = 0;
  for (const l of lines) {
    const colon = l.indexOf(':');
    let vs = colon + 1;
    while (l[vs] === ' ' || l[vs] === '\t') vs++;
    const empty = vs === l.length;
    pos.push(at, at + colon, empty ? at + colon + 1 : at + vs, empty ? at + colon + 1 : at + l.length);
    at += l.length + 2;
  }
  return new RawHeaderBlock(buf, pos);
}

function written(h: ResponseHeaders): string {
  const raw = h.raw!;
  const out = Buffer.alloc(raw.linesLength());
  const end = raw.writeLines(out, 0);
  assert.equal(end, out.length, 'linesLength() is what writeLines() writes');
  return out.toString('latin1');
}

const LINES = ['Content-Type: text/html', 'X-Empty:', 'Set-Cookie: a=1', 'Set-Cookie: b=2', 'ETag: "v1"', 'X-Spaced:   v  w'];

test('lookups compare bytes without regard to case; values come out as sent', () => {
  const h = new ResponseHeaders(200, [], block(LINES));
  assert.equal(h.get('content-type'), 'text/html');
  assert.equal(h.get('x-empty'), '');
  assert.equal(h.get('set-cookie'), 'a=1', 'the first of duplicates');
  assert.equal(h.get('etag'), '"v1"');
  assert.equal(h.get('x-spaced'), 'v  w');
  assert.equal(h.get('missing'), undefined);
  assert.notEqual(h.raw, null, 'reading does not turn the block into strings');
});

test('unchanged lines are written back byte for byte, names lowercased', () => {
  const h = new ResponseHeaders(200, [], block(LINES));
  assert.equal(written(h), 'content-type: text/html\r\nx-empty:\r\nset-cookie: a=1\r\nset-cookie: b=2\r\netag: "v1"\r\nx-spaced:   v  w\r\n');
});

test('set() replaces every raw line of the name; remove() drops them; added headers live in the list', () => {
  const h = new ResponseHeaders(200, [], block(LINES));
  h.set('set-cookie', 'c=3');
  h.remove('etag');
  h.set('x-new', 'n');
  assert.equal(h.get('set-cookie'), 'c=3');
  assert.equal(h.get('etag'), undefined);
  assert.equal(written(h), 'content-type: text/html\r\nx-empty:\r\nx-spaced:   v  w\r\n');
  assert.deepEqual(h.list, ['set-cookie', 'c=3', 'x-new', 'n']);
});

test('headers turns the map into plain strings: the raw lines that are left, then the added ones', () => {
  const h = new ResponseHeaders(200, [], block(LINES));
  h.remove('x-spaced');
  h.set('server', 'legate');
  assert.deepEqual(h.headers, [
    'content-type', 'text/html', 'x-empty', '', 'set-cookie', 'a=1', 'set-cookie', 'b=2', 'etag', '"v1"', 'server', 'legate',
  ]);
  assert.equal(h.raw, null);
  assert.equal(h.get('etag'), '"v1"');
});

test('decimalValue and valueIs read values in place', () => {
  const b = block(['Content-Length: 1234', 'Connection: Keep-Alive', 'X-Bad: 12a', 'Content-Length: 0 \t']);
  assert.equal(b.decimalValue(0), 1234);
  assert.equal(b.decimalValue(2), -1);
  assert.equal(b.decimalValue(3), 0, 'trailing whitespace (llhttp keeps it in the value) is not part of the number');
  assert.equal(b.valueIs(1, 'keep-alive'), true);
  assert.equal(b.valueIs(1, 'close'), false);
});
