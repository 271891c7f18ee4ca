// Differential request-smuggling test: one Legate in front of a strict, recording upstream
// (fixtures/strict-upstream.ts parses RFC 9112 itself) and a table of raw request vectors, each
// written on a fresh client connection (as listed, and again cut at seeded random byte boundaries).
// Whatever Legate decides about a vector, these must hold:
// - every request the upstream executed was routed by Legate and answered to the client with the
//   upstream's own response (matched by x-up-seq, and by the request line the upstream echoes);
// - a request Legate answers locally executes nothing upstream, and nothing after a local reply
//   that closes the connection (a refusal), or after a close, is forwarded;
// - what Legate forwards parses strictly (the upstream recorded no error);
// - Legate is still alive and serves a normal request afterwards.
// Where RFC 9112 is clear the status is pinned too: 400 for bad framing, Transfer-Encoding other
// than a final chunked, HTTP/1.0 with Transfer-Encoding and a bad Host; 431 for over-limit heads.
// The route matches every path (prefix ""), so whatever Legate accepts reaches the upstream to be
// judged. An idle pooled upstream connection is there before every vector (the previous vector's
// liveness check leaves one), so a request forwarded before its head is accepted goes out at once.
import { test, before, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { proxyConfig, type Legate } from '../helpers/legate.ts';
import { legateFor, track } from './fixtures/tracked.ts';
import { strictUpstream, header, headerAll, type StrictUpstream, type UpRequest } from './fixtures/strict-upstream.ts';
import { RawClient, parseResponse, type RawResponse } from './fixtures/clients.ts';
import { mulberry32 } from '../helpers/prng.ts';

// ---- vectors ------------------------------------------------------------------------------------

/**
 * What Legate must do with a vector:
 * - a status (or '4xx'): a local reply with it and connection: close, then the connection
 *   closes; nothing executed upstream;
 * - { upstream: n }: n requests forwarded, each answered by the upstream (200); with `refuse`, a
 *   local refusal follows them; with `closes`, the connection closes after them;
 * - 'either': refused or answered locally (4xx, 501, 505) or forwarded; only the invariants
 *   (and `check`, on what was forwarded) apply;
 * - 'incomplete': the request never completes; the client gives up after 200 ms. No response,
 *   nothing executed, and the half-sent upstream request does not poison a pooled connection.
 */
type Status = number | '4xx';
type Expect = Status | 'either' | 'incomplete' | { upstream: number; refuse?: Status; closes?: boolean };
interface Vector {
  name: string;
  /** Written on a fresh connection; several strings are several writes, 20 ms apart. */
  bytes: string | string[];
  expect: Expect;
  /** Runs on what the upstream executed and what the client got, when anything was forwarded. */
  check?: (reqs: UpRequest[], res: RawResponse[]) => void;
  /** No idle upstream connection in Legate's pool when the vector is written. */
  cold?: true;
  /** The first request is a HEAD (its response has no body). */
  headFirst?: true;
}

const H = 'Host: shop.test\r\n';
/** A valid request pipelined after a vector: it must never run upstream when the vector is refused. */
const NEXT = `GET /smuggled HTTP/1.1\r\n${H}\r\n`;
const get = (path: string, fields = '') => `GET ${path} HTTP/1.1\r\n${H}${fields}\r\n`;
const post = (path: string, fields: string, body: string) => `POST ${path} HTTP/1.1\r\n${H}${fields}\r\n${body}`;
const chunked = (body: string) => post('/chunked', 'Transfer-Encoding: chunked\r\n', body);
/** The upstream got these bodies, in order. */
const bodies = (...want: string[]) => (reqs: UpRequest[]) =>
  assert.deepEqual(reqs.map((r) => r.body.toString('latin1')), want);
const hostIs = (want: string) => (reqs: UpRequest[]) => assert.equal(header(reqs[0], 'host'), want);

const VECTORS: Vector[] = [
  // Transfer-Encoding other than a final chunked: 400 and close (RFC 9112 6.3 rule 4).
  { name: 'TE xchunked', bytes: 'GET /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n', expect: 400 },
  { name: 'TE xchunked, cold pool', bytes: 'GET /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n', expect: 400, cold: true },
  { name: 'TE chunked;x=1', bytes: 'GET /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;x=1\r\n\r\n', expect: 400 },
  { name: 'TE "chunked"', bytes: 'GET /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: "chunked"\r\n\r\n', expect: 400 },
  { name: 'TE foo', bytes: 'GET /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: foo\r\n\r\n', expect: 400 },
  { name: 'TE chunked, identity', bytes: 'GET /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n', expect: 400 },
  { name: 'TE identity', bytes: get('/x', 'Transfer-Encoding: identity\r\n'), expect: 400 },
  { name: 'TE empty value', bytes: get('/x', 'Transfer-Encoding: \r\n'), expect: 400 },
  { name: 'TE xchunked, chunked body and a pipelined GET', bytes: post('/x', 'Transfer-Encoding: xchunked\r\n', `3\r\nabc\r\n0\r\n\r\n${NEXT}`), expect: 400 },
  { name: 'TE in two lines, chunked then identity', bytes: post('/x', 'Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n', `3\r\nabc\r\n0\r\n\r\n${NEXT}`), expect: 400 },
  { name: 'TE obs-folded after chunked', bytes: post('/x', 'Transfer-Encoding: chunked\r\n , identity\r\n', `3\r\nabc\r\n0\r\n\r\n${NEXT}`), expect: 400 },
  // HTTP/1.0 has no chunked coding: 400 and close (RFC 9112 6.1).
  {
    name: 'HTTP/1.0 keep-alive with TE chunked and a pipelined GET',
    bytes: 'POST /a HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n',
    expect: 400,
  },
  { name: 'HTTP/1.0 with TE chunked', bytes: `POST /a HTTP/1.0\r\n${H}Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n`, expect: 400 },
  // Codings Legate does not decode: refused (RFC 9112 6.1 suggests 501) or forwarded as they came.
  {
    name: 'TE in two lines, gzip then chunked',
    bytes: post('/x', 'Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n', `3\r\nabc\r\n0\r\n\r\n${NEXT}`),
    expect: 'either',
    check: (reqs) => assert.match(headerAll(reqs[0], 'transfer-encoding').join(','), /gzip/i, 'the gzip coding was dropped: the upstream takes gzip bytes for the content'),
  },
  {
    name: 'TE chunked, chunked',
    bytes: post('/x', 'Transfer-Encoding: chunked, chunked\r\n', `3\r\nabc\r\n0\r\n\r\n${NEXT}`),
    expect: 'either',
    check: (reqs) => assert.match(headerAll(reqs[0], 'transfer-encoding').join(','), /chunked.*chunked/i, 'one chunked layer was dropped'),
  },
  // Valid Transfer-Encoding spellings: forwarded, body intact.
  { name: 'TE CHUNKED (case-insensitive)', bytes: post('/x', 'Transfer-Encoding: CHUNKED\r\n', '3\r\nabc\r\n0\r\n\r\n') + NEXT, expect: { upstream: 2 }, check: bodies('abc', '') },
  { name: 'TE:<HTAB>chunked', bytes: post('/x', 'Transfer-Encoding:\tchunked\r\n', '3\r\nabc\r\n0\r\n\r\n') + NEXT, expect: { upstream: 2 }, check: bodies('abc', '') },
  { name: 'TE chunked with a trailing SP', bytes: post('/x', 'Transfer-Encoding: chunked \r\n', '3\r\nabc\r\n0\r\n\r\n') + NEXT, expect: { upstream: 2 }, check: bodies('abc', '') },
  // Valid too (OWS), but llhttp refuses a trailing HTAB after a TE or CL value: a safe refusal.
  { name: 'TE chunked with a trailing HTAB', bytes: post('/x', 'Transfer-Encoding: chunked\t\r\n', `3\r\nabc\r\n0\r\n\r\n${NEXT}`), expect: 'either', check: bodies('abc', '') },
  { name: 'Transfer-Encoding<SP>: chunked', bytes: post('/x', 'Transfer-Encoding : chunked\r\n', `3\r\nabc\r\n0\r\n\r\n${NEXT}`), expect: 400 },
  { name: 'Transfer-Encoding<HTAB>: chunked', bytes: post('/x', 'Transfer-Encoding\t: chunked\r\n', `3\r\nabc\r\n0\r\n\r\n${NEXT}`), expect: 400 },
  { name: 'TE obs-folded value', bytes: post('/x', 'Transfer-Encoding:\r\n chunked\r\n', `3\r\nabc\r\n0\r\n\r\n${NEXT}`), expect: 'either', check: bodies('abc', '') },
  { name: 'X-Transfer-Encoding is not TE', bytes: get('/x', 'X-Transfer-Encoding: chunked\r\n') + NEXT, expect: { upstream: 2 } },
  { name: 'Transfer_Encoding (underscore)', bytes: get('/x', 'Transfer_Encoding: chunked\r\n') + NEXT, expect: 'either' },

  // Content-Length.
  { name: 'CL and TE', bytes: post('/x', 'Content-Length: 5\r\nTransfer-Encoding: chunked\r\n', `0\r\n\r\n${NEXT}`), expect: 400 },
  { name: 'TE and CL', bytes: post('/x', 'Transfer-Encoding: chunked\r\nContent-Length: 5\r\n', `0\r\n\r\n${NEXT}`), expect: 400 },
  { name: 'CL.TE, smuggled prefix', bytes: post('/x', 'Content-Length: 6\r\nTransfer-Encoding: chunked\r\n', '0\r\n\r\nG'), expect: 400 },
  { name: 'TE.CL, smuggled request in a chunk', bytes: post('/x', 'Content-Length: 4\r\nTransfer-Encoding: chunked\r\n', `${(NEXT.length + 1).toString(16)}\r\nG${NEXT}\r\n0\r\n\r\n`), expect: 400 },
  { name: 'CL 5 and CL 6', bytes: post('/x', 'Content-Length: 5\r\nContent-Length: 6\r\n', `hello!${NEXT}`), expect: 400 },
  { name: 'CL 5 twice', bytes: post('/x', 'Content-Length: 5\r\nContent-Length: 5\r\n', `hello${NEXT}`), expect: 'either', check: bodies('hello', '') },
  { name: 'CL 5, 5', bytes: post('/x', 'Content-Length: 5, 5\r\n', `hello${NEXT}`), expect: 'either', check: bodies('hello', '') },
  { name: 'CL +5', bytes: post('/x', 'Content-Length: +5\r\n', `hello${NEXT}`), expect: 400 },
  { name: 'CL -5', bytes: post('/x', 'Content-Length: -5\r\n', `hello${NEXT}`), expect: 400 },
  { name: 'CL 0x5', bytes: post('/x', 'Content-Length: 0x5\r\n', `hello${NEXT}`), expect: 400 },
  { name: 'CL 1 0 (inner space)', bytes: post('/x', 'Content-Length: 1 0\r\n', `helloworld${NEXT}`), expect: 400 },
  { name: 'CL 5.0', bytes: post('/x', 'Content-Length: 5.0\r\n', `hello${NEXT}`), expect: 400 },
  { name: 'CL past 2^64', bytes: post('/x', 'Content-Length: 184467440737095516160\r\n', `hello${NEXT}`), expect: 400 },
  { name: 'Content-Length<SP>: 5', bytes: post('/x', 'Content-Length : 5\r\n', `hello${NEXT}`), expect: 400 },
  { name: 'Content-Length<HTAB>: 5', bytes: post('/x', 'Content-Length\t: 5\r\n', `hello${NEXT}`), expect: 400 },
  // A hop-by-hop nomination must not strip the framing of what is forwarded.
  { name: 'Connection: content-length', bytes: post('/x', `Connection: content-length\r\nContent-Length: ${NEXT.length}\r\n`, NEXT), expect: { upstream: 1 }, check: bodies(NEXT) },
  { name: 'Connection: transfer-encoding', bytes: post('/x', 'Connection: transfer-encoding\r\nTransfer-Encoding: chunked\r\n', `${NEXT.length.toString(16)}\r\n${NEXT}\r\n0\r\n\r\n`), expect: { upstream: 1 }, check: bodies(NEXT) },
  { name: 'CL with HTAB and SP before it, SP after it', bytes: post('/x', 'Content-Length:\t 5 \r\n', 'hello') + NEXT, expect: { upstream: 2 }, check: bodies('hello', '') },
  { name: 'CL with a trailing HTAB', bytes: post('/x', 'Content-Length: 5\t\r\n', `hello${NEXT}`), expect: 'either', check: bodies('hello', '') },
  { name: 'CL body and a pipelined GET', bytes: post('/x', 'Content-Length: 5\r\n', 'hello') + NEXT, expect: { upstream: 2 }, check: bodies('hello', '') },
  { name: 'GET with a CL body and a pipelined GET', bytes: get('/x', 'Content-Length: 5\r\n') + 'hello' + NEXT, expect: { upstream: 2 }, check: bodies('hello', '') },

  // Chunk framing (RFC 9112 7.1): a bad one is a 400; the head may have gone upstream, the
  // request must not have run there.
  { name: 'chunk size zz', bytes: chunked(`zz\r\nhello\r\n0\r\n\r\n${NEXT}`), expect: 400 },
  { name: 'chunk size 0x5', bytes: chunked(`0x5\r\nhello\r\n0\r\n\r\n${NEXT}`), expect: 400 },
  { name: 'chunk size -1', bytes: chunked(`-1\r\nhello\r\n0\r\n\r\n${NEXT}`), expect: 400 },
  { name: 'chunk size past 2^64', bytes: chunked(`1${'0'.repeat(16)}5\r\nhello\r\n0\r\n\r\n${NEXT}`), expect: 400 },
  { name: 'chunk data longer than its size', bytes: chunked(`3\r\nhello\r\n0\r\n\r\n${NEXT}`), expect: 400 },
  { name: 'no CRLF after chunk data', bytes: chunked(`5\r\nhello0\r\n\r\n${NEXT}`), expect: 400 },
  { name: 'bare CR after chunk data', bytes: chunked(`5\r\nhello\r0\r\n\r\n${NEXT}`), expect: 400 },
  { name: 'LF-only chunk lines', bytes: chunked(`5\nhello\n0\n\n${NEXT}`), expect: 400 },
  { name: 'bare CR ending a chunk-size line', bytes: chunked(`5\rhello\r\n0\r\n\r\n${NEXT}`), expect: 400 },
  { name: 'chunk extension with a bare LF', bytes: chunked(`5;a\nxx\r\nhello\r\n0\r\n\r\n${NEXT}`), expect: 400 },
  { name: 'chunk extension with a NUL', bytes: chunked(`5;a\x00b\r\nhello\r\n0\r\n\r\n${NEXT}`), expect: 400 },
  { name: 'request line as a trailer', bytes: chunked(`5\r\nhello\r\n0\r\n${NEXT}`), expect: 400 },
  { name: 'trailer with a space in its name', bytes: chunked(`5\r\nhello\r\n0\r\nBad Trailer: 1\r\n\r\n${NEXT}`), expect: 400 },
  { name: 'chunk extensions', bytes: chunked('5;a=b\r\nhello\r\n0;last\r\n\r\n') + NEXT, expect: { upstream: 2 }, check: bodies('hello', '') },
  { name: 'chunk extension, quoted value', bytes: chunked('5;a="b;c"\r\nhello\r\n0\r\n\r\n') + NEXT, expect: 'either', check: bodies('hello', '') },
  { name: 'chunk size with leading zeros', bytes: chunked('0005\r\nhello\r\n000\r\n\r\n') + NEXT, expect: { upstream: 2 }, check: bodies('hello', '') },
  { name: 'chunk size with trailing whitespace', bytes: chunked(`5 \r\nhello\r\n0\r\n\r\n${NEXT}`), expect: 'either', check: bodies('hello', '') },
  { name: 'trailers', bytes: chunked('5\r\nhello\r\n0\r\nX-Trailer: 1\r\n\r\n') + NEXT, expect: { upstream: 2 }, check: bodies('hello', '') },

  // Bytes in heads. Field names are tokens: anything else is a 400. In values, NUL and bare CR
  // are rejected or replaced by SP (RFC 9110 5.5, RFC 9112 2.2), other CTLs and obs-text may stay.
  { name: 'NUL in a field name', bytes: get('/x', 'X-A\x00b: v\r\n') + NEXT, expect: 400 },
  { name: 'bare CR in a field name', bytes: get('/x', 'X-A\rb: v\r\n') + NEXT, expect: 400 },
  { name: 'DEL in a field name', bytes: get('/x', 'X-A\x7fb: v\r\n') + NEXT, expect: 400 },
  { name: 'high byte in a field name', bytes: get('/x', 'X-A\xe9b: v\r\n') + NEXT, expect: 400 },
  { name: 'space in a field name', bytes: get('/x', 'X A: v\r\n') + NEXT, expect: 400 },
  { name: 'empty field name', bytes: get('/x', ': v\r\n') + NEXT, expect: 400 },
  { name: 'field line without a colon', bytes: get('/x', 'X-No-Colon\r\n') + NEXT, expect: 400 },
  { name: 'NUL in a field value', bytes: get('/x', 'X-A: a\x00b\r\n') + NEXT, expect: 'either' },
  { name: 'bare CR in a field value', bytes: get('/x', 'X-A: a\rb\r\n') + NEXT, expect: 'either' },
  { name: 'bare CR in a field value hiding a TE line', bytes: post('/x', 'X-A: a\rTransfer-Encoding: chunked\r\nContent-Length: 5\r\n', `hello${NEXT}`), expect: 'either', check: bodies('hello', '') },
  { name: 'DEL in a field value', bytes: get('/x', 'X-A: a\x7fb\r\n') + NEXT, expect: 'either' },
  { name: 'obs-text in a field value', bytes: get('/x', 'X-A: caf\xe9\r\n') + NEXT, expect: 'either' },
  { name: 'obs-fold in a field value', bytes: get('/x', 'X-A: a\r\n b\r\n') + NEXT, expect: 'either' },
  { name: 'whitespace before the first field line', bytes: `GET /x HTTP/1.1\r\n Transfer-Encoding: chunked\r\n${H}\r\n${NEXT}`, expect: 'either' },
  { name: 'LF-only head', bytes: 'GET /x HTTP/1.1\nHost: shop.test\n\n' + NEXT, expect: 'either' },
  { name: 'bare LF inside a head', bytes: `GET /x HTTP/1.1\r\n${H}X-A: 1\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${NEXT}`, expect: 'either' },

  // The request line (RFC 9112 3).
  { name: 'two spaces after the method', bytes: `GET  /x HTTP/1.1\r\n${H}\r\n${NEXT}`, expect: 'either' },
  { name: 'two spaces before the version', bytes: `GET /x  HTTP/1.1\r\n${H}\r\n${NEXT}`, expect: 'either' },
  { name: 'HTAB in the request-target', bytes: `GET /a\tb HTTP/1.1\r\n${H}\r\n${NEXT}`, expect: 'either' },
  { name: 'no version (HTTP/0.9)', bytes: `GET /x\r\n${H}\r\n${NEXT}`, expect: '4xx' },
  { name: 'lowercase http/1.1', bytes: `GET /x http/1.1\r\n${H}\r\n${NEXT}`, expect: 400 },
  { name: 'NUL in the request-target', bytes: `GET /a\x00b HTTP/1.1\r\n${H}\r\n${NEXT}`, expect: 400 },
  { name: 'DEL in the request-target', bytes: `GET /a\x7fb HTTP/1.1\r\n${H}\r\n${NEXT}`, expect: 400 },
  { name: 'high byte in the request-target', bytes: `GET /caf\xe9 HTTP/1.1\r\n${H}\r\n${NEXT}`, expect: 'either' },
  { name: 'empty line before the request line', bytes: `\r\nGET /x HTTP/1.1\r\n${H}\r\n${NEXT}`, expect: 'either' },
  {
    name: 'absolute-form',
    bytes: `GET http://shop.test/abs?q=1 HTTP/1.1\r\nHost: other.test\r\n\r\n${NEXT}`,
    expect: { upstream: 2 },
    check: (reqs) => {
      assert.equal(reqs[0].target, '/abs?q=1');
      assert.deepEqual(headerAll(reqs[0], 'host'), ['shop.test']);
    },
  },
  // RFC 9112 3.2.1: an empty path goes upstream as "/".
  { name: 'absolute-form with an empty path and a query', bytes: `GET http://shop.test?q=1 HTTP/1.1\r\n${H}\r\n${NEXT}`, expect: { upstream: 2 }, check: (reqs) => assert.equal(reqs[0].target, '/?q=1') },
  { name: 'absolute-form with a fragment', bytes: `GET http://shop.test/a#f HTTP/1.1\r\n${H}\r\n${NEXT}`, expect: 'either' },
  // RFC 9112 3.2: the URL's authority wins, but Host must still be there and valid; userinfo and
  // a bad port make the URL's authority invalid.
  { name: 'absolute-form with userinfo', bytes: `GET http://user@shop.test/ HTTP/1.1\r\n${H}\r\n${NEXT}`, expect: 400 },
  { name: 'absolute-form with a bad port', bytes: `GET http://shop.test:8x/ HTTP/1.1\r\n${H}\r\n${NEXT}`, expect: 400 },
  { name: 'absolute-form without Host', bytes: `GET http://shop.test/ HTTP/1.1\r\n\r\n${NEXT}`, expect: 400 },
  { name: 'absolute-form with a bad Host', bytes: `GET http://shop.test/ HTTP/1.1\r\nHost: a b\r\n\r\n${NEXT}`, expect: 400 },
  {
    name: 'absolute-form with an empty Host',
    bytes: `GET http://shop.test/e HTTP/1.1\r\nHost:\r\n\r\n${NEXT}`,
    expect: { upstream: 2 },
    check: (reqs) => assert.deepEqual(headerAll(reqs[0], 'host'), ['shop.test']),
  },
  {
    name: 'OPTIONS *',
    bytes: `OPTIONS * HTTP/1.1\r\n${H}\r\n${NEXT}`,
    expect: 'either',
    check: (reqs) => { for (const q of reqs) if (q.method === 'OPTIONS') assert.equal(q.target, '*'); },
  },
  { name: 'HEAD, then a pipelined GET', bytes: `HEAD /x HTTP/1.1\r\n${H}\r\n${NEXT}`, expect: { upstream: 2 }, headFirst: true },
  { name: 'GET *', bytes: `GET * HTTP/1.1\r\n${H}\r\n${NEXT}`, expect: 'either' },
  { name: 'authority-form with GET', bytes: `GET shop.test:80 HTTP/1.1\r\n${H}\r\n${NEXT}`, expect: 400 },
  { name: 'CONNECT with bytes after it', bytes: `CONNECT shop.test:443 HTTP/1.1\r\nHost: shop.test:443\r\n\r\n${NEXT}`, expect: 'either' },
  { name: 'HTTP/2 preface on HTTP/1', bytes: `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n${NEXT}`, expect: 'either' },

  // Host (RFC 9112 3.2: a bad value is a 400; RFC 3986 host [":" port]).
  { name: 'Host with a space', bytes: get('/x', '').replace(H, 'Host: shop.test evil\r\n') + NEXT, expect: 400 },
  { name: 'Host with a slash', bytes: get('/x', '').replace(H, 'Host: shop.test/evil\r\n') + NEXT, expect: 400 },
  { name: 'Host with a backslash', bytes: get('/x', '').replace(H, 'Host: shop.test\\evil\r\n') + NEXT, expect: 400 },
  { name: 'Host with userinfo', bytes: get('/x', '').replace(H, 'Host: user@shop.test\r\n') + NEXT, expect: 400 },
  { name: 'Host with a query', bytes: get('/x', '').replace(H, 'Host: shop.test?x\r\n') + NEXT, expect: 400 },
  { name: 'Host with a bad port', bytes: get('/x', '').replace(H, 'Host: shop.test:80x\r\n') + NEXT, expect: 400 },
  { name: 'Host [] (empty IPv6 literal)', bytes: get('/x', '').replace(H, 'Host: []\r\n') + NEXT, expect: 400 },
  { name: 'Host [::1 (unclosed)', bytes: get('/x', '').replace(H, 'Host: [::1\r\n') + NEXT, expect: 400 },
  { name: 'Host list', bytes: get('/x', '').replace(H, 'Host: shop.test, other.test\r\n') + NEXT, expect: 400 },
  // RFC 9110 5.5: whitespace around a field value is not part of it.
  {
    name: 'Host with trailing whitespace',
    bytes: get('/x', '').replace(H, 'Host: shop.test \t\r\n') + NEXT,
    expect: { upstream: 2 },
    check: (reqs) => assert.deepEqual(headerAll(reqs[0], 'host'), ['shop.test']),
  },
  { name: 'two Host lines', bytes: get('/x', 'Host: other.test\r\n') + NEXT, expect: 400 },
  { name: 'empty Host', bytes: get('/x', '').replace(H, 'Host:\r\n') + NEXT, expect: 'either' },
  { name: 'Host [::1]:8080', bytes: get('/x', '').replace(H, 'Host: [::1]:8080\r\n') + NEXT, expect: { upstream: 2 }, check: hostIs('[::1]:8080') },
  { name: 'Host 127.0.0.1:80', bytes: get('/x', '').replace(H, 'Host: 127.0.0.1:80\r\n') + NEXT, expect: { upstream: 2 }, check: hostIs('127.0.0.1:80') },
  { name: 'HTTP/1.0 without Host', bytes: 'GET /x HTTP/1.0\r\n\r\n', expect: 'either' },

  // Limits (Legate's defaults: 60 KiB of head, 100 headers).
  { name: 'a 70 KiB header', bytes: get('/x', `X-Big: ${'a'.repeat(70 * 1024)}\r\n`) + NEXT, expect: 431 },
  { name: '101 headers', bytes: get('/x', Array.from({ length: 100 }, (_, i) => `X-H${i}: v\r\n`).join('')) + NEXT, expect: 431 },
  { name: 'a 70 KiB request-target', bytes: get(`/${'u'.repeat(70 * 1024)}`) + NEXT, expect: '4xx' },

  // Requests that never complete: the client gives up.
  { name: 'head never finished', bytes: `GET /x HTTP/1.1\r\n${H}`, expect: 'incomplete' },
  { name: 'CL body cut short', bytes: post('/x', 'Content-Length: 10\r\n', 'hello'), expect: 'incomplete' },
  { name: 'chunked body without its last chunk', bytes: chunked('5\r\nhello\r\n'), expect: 'incomplete' },
  { name: 'chunk size past the data, a request inside', bytes: chunked(`100\r\n${NEXT}`), expect: 'incomplete' },
  { name: 'Expect: 100-continue, body never sent', bytes: post('/x', 'Expect: 100-continue\r\nContent-Length: 5\r\n', ''), expect: 'incomplete' },

  // Pipelining: nothing after a refusal or a close goes upstream.
  { name: 'good, bad, good', bytes: get('/first') + get('/x', 'X-A\x00b: v\r\n') + NEXT, expect: { upstream: 1, refuse: 400 } },
  { name: 'good, TE xchunked, good', bytes: get('/first') + get('/x', 'Transfer-Encoding: xchunked\r\n') + NEXT, expect: { upstream: 1, refuse: 400 } },
  { name: 'good, bad Host, good', bytes: get('/first') + get('/x', '').replace(H, 'Host: a b\r\n') + NEXT, expect: { upstream: 1, refuse: 400 } },
  { name: 'three good ones', bytes: get('/1') + post('/2', 'Content-Length: 3\r\n', 'abc') + get('/3'), expect: { upstream: 3 }, check: bodies('', 'abc', '') },
  { name: 'Connection: close, then a pipelined GET', bytes: get('/x', 'Connection: close\r\n') + NEXT, expect: { upstream: 1, closes: true } },
  { name: 'HTTP/1.0 GET, then a pipelined GET', bytes: `GET /x HTTP/1.0\r\n${H}\r\n${NEXT}`, expect: { upstream: 1, closes: true } },
  { name: 'HTTP/1.0 keep-alive with CL, then a pipelined GET', bytes: `POST /x HTTP/1.0\r\n${H}Connection: keep-alive\r\nContent-Length: 3\r\n\r\nabc${NEXT}`, expect: { upstream: 2 }, check: bodies('abc', '') },

  // Expect (RFC 9110 10.1.1).
  {
    name: 'Expect: 100-continue, CL body after the 100',
    bytes: [post('/x', 'Expect: 100-continue\r\nContent-Length: 5\r\n', ''), 'hello'],
    expect: { upstream: 1 },
    check: (reqs, res) => {
      bodies('hello')(reqs);
      assert.equal(res[0].status, 100, 'a 100 Continue came first');
    },
  },
  { name: 'Expect: 100-continue, chunked body after the 100', bytes: [post('/x', 'Expect: 100-continue\r\nTransfer-Encoding: chunked\r\n', ''), `5\r\nhello\r\n0\r\n\r\n${NEXT}`], expect: { upstream: 2 }, check: bodies('hello', '') },
  { name: 'Expect: 100-continue, bad chunk after the 100', bytes: [post('/x', 'Expect: 100-continue\r\nTransfer-Encoding: chunked\r\n', ''), `zz\r\nhello\r\n0\r\n\r\n${NEXT}`], expect: 400 },
  { name: 'Expect: 100-continue on a GET without body', bytes: get('/x', 'Expect: 100-continue\r\n') + NEXT, expect: { upstream: 2 } },
  { name: 'Expect: foo', bytes: get('/x', 'Expect: foo\r\n') + NEXT, expect: 'either' },

  // Upgrade: h2c is served as HTTP/1.1 and closes the connection; anything else is refused.
  {
    name: 'h2c upgrade, then the HTTP/2 preface',
    bytes: get('/x', 'Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n') + 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n' + NEXT,
    expect: { upstream: 1, closes: true },
    check: (reqs) => assert.equal(header(reqs[0], 'upgrade'), undefined),
  },
  {
    name: 'h2c upgrade with a chunked body, then a GET',
    bytes: post('/x', 'Connection: Upgrade\r\nUpgrade: h2c\r\nTransfer-Encoding: chunked\r\n', `3\r\nabc\r\n0\r\n\r\n${NEXT}`),
    expect: { upstream: 1, closes: true },
    check: bodies('abc'),
  },
  {
    name: 'WebSocket upgrade, then a GET',
    bytes: get('/x', 'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n') + NEXT,
    expect: 403,
  },
];

// ---- harness ------------------------------------------------------------------------------------

let up: StrictUpstream;
let legate: Legate;
let port: number;
let legates = 0;

const CATCH_ALL = `
              - match: { prefix: "" }
                route: { cluster: upstream }`;

async function startProxy(): Promise<void> {
  legates++;
  legate = await legateFor(proxyConfig([up.port], { routeTimeout: '3s', routes: CATCH_ALL }), {}, 'SIGKILL');
  port = legate.port('proxy');
}

before(async () => {
  up = await strictUpstream();
  track(() => up.close());
  await startProxy();
  // The first idle pooled connection.
  await normalRequest('/warm-up');
});

function alive(): boolean {
  return legate.proc.exitCode === null && legate.proc.signalCode === null;
}

async function connect(): Promise<RawClient> {
  const c = await RawClient.connect(port);
  track(async () => c.destroy());
  return c;
}

/** A plain GET on a fresh connection: answered by the upstream, whose record matches it. */
async function normalRequest(path: string): Promise<void> {
  const c = await connect();
  try {
    await c.write(`GET ${path} HTTP/1.1\r\n${H}\r\n`);
    const r = await c.readResponse({ timeoutMs: 3000 });
    assert.equal(r.status, 200, `${path}: ${r.statusLine} ${r.body.toString('latin1')}`);
    assert.equal(r.body.toString('latin1'), `GET ${path}`, `${path} got another request's response`);
    const seq = Number(r.headers['x-up-seq']);
    assert.ok(up.requests.some((q) => q.seq === seq && q.target === path), `${path} is not in the upstream's records`);
  } finally {
    c.destroy();
  }
}

/** Move the complete responses in `c.buf` to `into`. */
function drain(c: RawClient, into: RawResponse[], v: Vector): void {
  for (;;) {
    const head = v.headFirst === true && into.filter(isFinal).length === 0;
    let p: ReturnType<typeof parseResponse>;
    try {
      p = parseResponse(c.buf, { ended: c.ended, head });
    } catch (e) {
      throw new Error(`unparsable response bytes ${show(c.buf)}: ${(e as Error).message}`);
    }
    if (p === null || p.used === 0) return;
    into.push(p.res);
    c.buf = c.buf.subarray(p.used);
  }
}

const fromUpstream = (r: RawResponse) => r.headers['x-up-seq'] !== undefined;
/** The upstream's own 400 for what it could not parse (recorded in up.errors). */
const upstreamError = (r: RawResponse) => r.headers['x-up-error'] !== undefined;
const isLocal = (r: RawResponse) => !fromUpstream(r) && !upstreamError(r);
const isFinal = (r: RawResponse) => r.status >= 200;
/** A local reply that ends the connection: nothing after it may be forwarded or answered. */
const isRefusal = (r: RawResponse) => isLocal(r) && r.headers.connection === 'close';
/** Local statuses for a request that cannot be read: the connection must close after them. */
const FRAMING_STATUSES = new Set([400, 413, 414, 431, 501, 505]);
const show = (b: Buffer | string) => JSON.stringify(typeof b === 'string' ? b : b.toString('latin1')).slice(0, 600);
const showRes = (res: RawResponse[]) => res.map((r) => `${r.status}${fromUpstream(r) ? ` up#${r.headers['x-up-seq']}` : upstreamError(r) ? ` up-error "${r.headers['x-up-error']}"` : ' local'}${r.headers.connection === 'close' ? ' close' : ''}`).join(', ') || 'none';
const showReqs = (reqs: UpRequest[]) => reqs.map((q) => `#${q.seq} conn ${q.conn}: ${show(q.raw)}`).join('\n    ') || 'none';

/** How many responses to wait for: what a forwarding expectation says; otherwise one per request
 *  line in the bytes (a Legate that forwards what it should refuse answers them all; one that
 *  refuses is waited for until it closes). */
function responsesToWaitFor(v: Vector): number {
  const e = v.expect;
  if (typeof e === 'object') return e.upstream + (e.refuse !== undefined ? 1 : 0);
  const all = Array.isArray(v.bytes) ? v.bytes.join('') : v.bytes;
  return Math.max(1, all.match(/(?:^|\n)[A-Z]+ \S+ HTTP\/1\.[01]\r?\n/g)?.length ?? 0);
}

async function run(t: TestContext, v: Vector, pieces: Buffer[], gapMs: number): Promise<void> {
  if (!alive()) await startProxy();
  if (v.cold === true) {
    up.dropConnections();
    // Let Legate see the close and drop the connection from its pool.
    await sleep(50);
  }
  up.reset();
  const e = v.expect;
  const c = await connect();
  const res: RawResponse[] = [];
  let writeError = '';
  for (let i = 0; i < pieces.length; i++) {
    if (c.ended) break;
    try {
      await c.write(pieces[i]);
    } catch (err) {
      // Legate may close (and reset) while the rest of a refused vector is still being written.
      writeError = (err as Error).message;
      break;
    }
    if (i < pieces.length - 1) await sleep(gapMs);
  }
  // Wait until the connection closed, or all the responses are in (and, after a refusal or when
  // the expectation says so, the close). What is missing when time runs out shows below.
  let timedOut = false;
  const n = responsesToWaitFor(v);
  try {
    await c.until(() => {
      drain(c, res, v);
      if (c.ended) return true;
      const finals = res.filter(isFinal);
      if (e === 'incomplete') return finals.length > 0 ? true : undefined;
      if (finals.some(isRefusal) || (typeof e === 'object' && e.closes === true)) return undefined;
      return finals.length >= n ? true : undefined;
    }, e === 'incomplete' ? 200 : 1500, 'the vector\'s responses');
  } catch {
    timedOut = true;
  }
  // Anything forwarded late, and anything Legate still writes, has time to show up.
  await sleep(40);
  drain(c, res, v);
  const ended = c.ended;
  c.destroy();
  if (e === 'incomplete') await sleep(50);
  assert.ok(alive(), `Legate died: exit ${legate.proc.exitCode} ${legate.proc.signalCode}\n${legate.stderr().slice(-2000)}`);
  const afterVector = [...up.requests];
  const errors = [...up.errors];
  const aborted = [...up.aborted];
  // Liveness (and the next vector's idle pooled connection). After an unfinished request, twice:
  // a pooled connection left in the middle of it would take the next request for its body.
  await normalRequest('/after');
  if (e === 'incomplete') await normalRequest('/after-2');

  const outcome = `client got: ${showRes(res)}${ended ? ', then close' : ', connection open'}; ` +
    `upstream executed ${afterVector.map((q) => `#${q.seq} ${q.method} ${q.target}`).join(', ') || 'nothing'}` +
    `${errors.length > 0 ? `; upstream errors: ${errors.map((x) => x.reason).join('; ')}` : ''}` +
    `${aborted.length > 0 ? `; upstream saw ${aborted.length} unfinished request(s)` : ''}`;
  t.diagnostic(outcome);
  const ctx = `\n  client got: ${showRes(res)}${ended ? ', then close' : timedOut ? ', connection open (waited)' : ', connection open'}` +
    `${writeError !== '' ? ` (write failed: ${writeError})` : ''}` +
    `\n  bytes left: ${show(c.buf)}` +
    `\n  upstream executed: ${showReqs(afterVector)}` +
    `\n  upstream errors: ${errors.map((x) => `conn ${x.conn} ${x.reason}: ${show(x.bytes)}`).join('; ') || 'none'}` +
    `\n  upstream saw unfinished: ${aborted.map((x) => `conn ${x.conn}: ${show(x.bytes)}`).join('; ') || 'none'}`;

  // ---- invariants ----
  assert.deepEqual(errors, [], `what Legate forwarded does not parse strictly${ctx}`);
  const answered = new Map(res.filter(fromUpstream).map((r) => [Number(r.headers['x-up-seq']), r]));
  const unanswered = afterVector.filter((q) => !answered.has(q.seq));
  assert.deepEqual(unanswered.map((q) => q.seq), [], `the upstream executed requests whose responses the client never got${ctx}`);
  for (const q of afterVector) {
    const r = answered.get(q.seq)!;
    assert.equal(r.body.toString('latin1'), q.method === 'HEAD' ? '' : `${q.method} ${q.target}`, `response #${q.seq} does not belong to its request (desync)${ctx}`);
  }
  assert.equal(answered.size, afterVector.length, `responses claim upstream requests that were not executed${ctx}`);
  const finals = res.filter(isFinal);
  for (const r of finals) {
    if (isLocal(r) && FRAMING_STATUSES.has(r.status)) {
      assert.equal(r.headers.connection, 'close', `a local ${r.status} without connection: close${ctx}`);
    }
  }
  const refusal = finals.findIndex(isRefusal);
  if (refusal !== -1) {
    assert.equal(refusal, finals.length - 1, `responses after a local reply with connection: close${ctx}`);
    assert.ok(ended, `the connection stayed open after a local ${finals[refusal].status} with connection: close${ctx}`);
  }

  // ---- expectations ----
  if (e === 'incomplete') {
    assert.deepEqual(finals.map((r) => r.status), [], `a response to an unfinished request${ctx}`);
    assert.equal(afterVector.length, 0, `an unfinished request executed upstream${ctx}`);
    return;
  }
  if (e === 'either') {
    assert.ok(finals.length > 0 || ended, `no response and no close${ctx}`);
    for (const r of finals) {
      if (isLocal(r)) assert.ok((r.status >= 400 && r.status < 500) || r.status === 501 || r.status === 505, `a local ${r.status}${ctx}`);
    }
    if (afterVector.length > 0) runCheck(v, afterVector, res, ctx);
    return;
  }
  const upstreamN = typeof e === 'object' ? e.upstream : 0;
  const refuse = typeof e === 'object' ? e.refuse : e;
  const statusOk = (s: Status, got: number) => (s === '4xx' ? got >= 400 && got < 500 : got === s);
  assert.equal(afterVector.length, upstreamN, `expected ${upstreamN} request(s) executed upstream${ctx}`);
  assert.deepEqual(finals.slice(0, upstreamN).map((r) => r.status), Array(upstreamN).fill(200), `expected ${upstreamN} upstream 200(s)${ctx}`);
  if (refuse !== undefined) {
    assert.equal(finals.length, upstreamN + 1, `expected a local ${refuse} after ${upstreamN} response(s)${ctx}`);
    assert.ok(isLocal(finals[upstreamN]) && statusOk(refuse, finals[upstreamN].status), `expected a local ${refuse}${ctx}`);
    assert.equal(finals[upstreamN].headers.connection, 'close', `expected connection: close on the ${refuse}${ctx}`);
    assert.ok(ended, `expected the connection closed after the ${refuse}${ctx}`);
  } else {
    assert.equal(finals.length, upstreamN, `expected ${upstreamN} response(s)${ctx}`);
    if (typeof e === 'object' && e.closes === true) assert.ok(ended, `the connection stayed open${ctx}`);
  }
  if (upstreamN > 0) runCheck(v, afterVector, res, ctx);
}

function runCheck(v: Vector, reqs: UpRequest[], res: RawResponse[], ctx: string): void {
  try {
    v.check?.(reqs, res);
  } catch (err) {
    throw new Error(`${(err as Error).message}${ctx}`, { cause: err });
  }
}


const SEED = 0x5e4a11;
const rnd = mulberry32(SEED);

for (const v of VECTORS) {
  const parts = (Array.isArray(v.bytes) ? v.bytes : [v.bytes]).map((b) => Buffer.from(b, 'latin1'));
  test(`smuggling: ${v.name}`, (t) => run(t, v, parts, 20));
  // The same bytes cut at 1 to 3 more random boundaries (the vector's own cuts kept).
  const all = Buffer.concat(parts);
  const cuts = new Set<number>();
  let at = 0;
  for (const p of parts.slice(0, -1)) cuts.add(at += p.length);
  const extra = 1 + Math.floor(rnd() * 3);
  for (let i = 0; i < extra && all.length > 1; i++) cuts.add(1 + Math.floor(rnd() * (all.length - 1)));
  const sorted = [...cuts].sort((a, b) => a - b);
  const split: Buffer[] = [];
  at = 0;
  for (const cut of sorted) { split.push(all.subarray(at, cut)); at = cut; }
  split.push(all.subarray(at));
  test(`smuggling: ${v.name}, split at ${sorted.join(',')} (seed ${SEED.toString(16)})`, (t) => run(t, v, split, 5));
}

test('smuggling: Legate ran start to finish without a restart', () => {
  assert.equal(legates, 1, 'Legate died during the vectors and was restarted');
  assert.ok(alive());
});
