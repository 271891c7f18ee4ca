// RawHeaderBlock and a raw-backed HeaderMap (src/http/raw-headers.ts): lookups by bytes, changes,
// materialization, and the bytes written back out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RawHeaderBlock } from '../../src/http/raw-headers.ts';
import { ResponseHeaders } from '../../src/http/types.ts';
import { enterRead, leaveRead } from '../../src/network/read-dispatch.ts';

/** A block from "Name: value\r\n" lines, positions found the way the codec records them. */
function block(lines: string[], transient = false): RawHeaderBlock {
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
  return new RawHeaderBlock(buf, pos, transient);
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

test('a transient block is copied out when its read ends, unless its stream has ended', () => {
  // Still wanted when the read ends: copied, so a later read reusing the buffer changes nothing
  // (line 0 dropped first: the copy starts at the first kept line).
  enterRead();
  const kept = block(LINES, true);
  const source = kept.buf;
  const h = new ResponseHeaders(200, [], kept);
  h.remove('content-type');
  leaveRead();
  source.fill(0x7a);
  assert.notEqual(kept.buf, source);
  assert.equal(h.get('etag'), '"v1"');
  assert.equal(written(h), 'x-empty:\r\nset-cookie: a=1\r\nset-cookie: b=2\r\netag: "v1"\r\nx-spaced:   v  w\r\n');
  // Released (its stream ended) within the read: emptied, never copied.
  enterRead();
  const gone = block(LINES, true);
  const g = new ResponseHeaders(200, [], gone);
  assert.equal(g.get('content-type'), 'text/html');
  g.release();
  leaveRead();
  assert.equal(gone.buf.length, 0);
  assert.equal(g.get('content-type'), undefined);
  assert.equal(gone.linesLength(), 0);
  // Made outside any read dispatch: copied at once.
  const early = block(LINES, true);
  assert.equal(new ResponseHeaders(200, [], early).get('x-spaced'), 'v  w');
  assert.equal(early.pos[0], 0, 'positions moved with the copy');
});

test('contentLengthAt: the producer\'s line while kept, a search when nobody looked', () => {
  const b = block(['Content-Type: a', 'Content-Length: 12']);
  assert.equal(b.contentLengthAt(), 1, 'not recorded (-2): found by name');
  b.contentLengthLine = 1;
  assert.equal(b.decimalValue(b.contentLengthAt()), 12);
  new ResponseHeaders(200, [], b).remove('content-length');
  assert.equal(b.contentLengthAt(), -1, 'dropped since');
});
