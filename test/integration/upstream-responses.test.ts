// Malformed upstream responses, one row per vector, through a real Legate over raw sockets. Each
// vector has its own cluster and scripted upstream (fixtures/scripted-upstream.ts), so its stats
// and connections are its own. Per vector: client 1 sends the request the upstream answers badly
// and a pipelined follow-up on the same connection; client 2 sends a normal request on another
// connection at the same time; then a fresh client sends a later request. Asserted:
// - the first response is one the row allows (Envoy's outcome first; a second entry where RFC 9112
//   lets a recipient accept the message), with Envoy's local reply body;
// - no client gets more final responses than it sent requests, nor the injection marker, nor
//   another request's response; the follow-up gets its own response or the connection is closed;
// - the row's cluster stat is counted once; an upstream connection that misbehaved serves nothing
//   after and is closed;
// - the later request is served. The access log's response flags are checked at the end.
// Each row's note says why its outcome is the right one (RFC 9110/9112, Envoy's codec and router).
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import type net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileAccessLog, proxyConfig, staticCluster, type Legate } from '../helpers/legate.ts';
import { legateFor, track } from './fixtures/tracked.ts';
import { RawClient, parseResponse, pollLog, pollStat, type RawResponse } from './fixtures/clients.ts';
import { scriptedUpstream, send, type Answer, type ScriptedUpstream } from './fixtures/scripted-upstream.ts';

// The router's local reply bodies (Envoy's wording).
const BODY_PROTOCOL = 'upstream connect error or disconnect/reset before headers. reset reason: protocol error';
const BODY_TERMINATION = 'upstream connect error or disconnect/reset before headers. reset reason: connection termination';
const BODY_TIMEOUT = 'upstream request timeout';
const LOCAL_BODY: Record<number, string> = { 502: BODY_PROTOCOL, 503: BODY_TERMINATION, 504: BODY_TIMEOUT };
const ROUTE_TIMEOUT = '1s';

/** A complete response carrying the injection marker: it must never reach a client. */
const FORGED = 'HTTP/1.1 200 OK\r\ncontent-length: 8\r\nx-injected: yes\r\n\r\nINJECTED';
const MARKERS = ['INJECTED', 'x-injected'];

/** 'reset': the connection closed with no complete response (the response had started);
 *  'wedged': neither a response nor a close in time. */
type Outcome = number | 'reset' | 'wedged';

interface Vector {
  name: string;
  answer: Answer;
  /** Allowed outcomes for the first request; the first is Envoy's. */
  expect: Outcome[];
  /** The body a 2xx outcome must carry. */
  body?: string;
  /** Cluster stat counted exactly once when the connection misbehaved. */
  stat?: string;
  /** The response is usable but bytes followed it: the connection must not be reused. */
  poisoned?: boolean;
  /** Response flag of a 'reset' outcome (Envoy: UPE for a protocol error, UC for a close). */
  resetFlag?: 'UPE' | 'UC';
  why: string;
}

const PROTO = 'upstream_cx_protocol_error';
const RX_RESET = 'upstream_rq_rx_reset';

const cl = (statusLine: string, body: string, extra = ''): string =>
  `${statusLine}\r\n${extra}content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
const GZ = zlib.gzipSync('hello');
const CHUNKED_HEAD = 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n';

function waitDrain(s: net.Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = () => { s.off('drain', done); s.off('close', done); resolve(); };
    s.on('drain', done);
    s.on('close', done);
  });
}

/** Write `head`, then `piece` again and again (pausing `gapMs`) until `capBytes` or the socket closes. */
function stream(head: string, piece: string, capBytes: number, gapMs: number): Answer {
  return async (s) => {
    s.write(head);
    for (let sent = 0; sent < capBytes && !s.destroyed; sent += piece.length) {
      if (!s.write(piece)) await waitDrain(s);
      await sleep(gapMs);
    }
  };
}

/** Write `bytes`, wait `ms` (so Legate reads them before what follows), then end as told. */
function thenAfter(bytes: string, ms: number, how: 'end' | 'rst'): Answer {
  return async (s) => {
    s.write(bytes);
    await sleep(ms);
    if (s.destroyed) return;
    if (how === 'end') s.end();
    else s.resetAndDestroy();
  };
}

const VECTORS: Vector[] = [
  // ---- status lines ----
  { name: 'status 099 whose body is a forged response', answer: send([cl('HTTP/1.1 099 X', FORGED)]),
    expect: [502], stat: PROTO, why: 'status outside 100-599 is a protocol error (only 100-199 are interim)' },
  { name: 'status 000 whose body is a forged response', answer: send([cl('HTTP/1.1 000 X', FORGED)]),
    expect: [502], stat: PROTO, why: 'status outside 100-599' },
  { name: 'status 600', answer: send([cl('HTTP/1.1 600 X', 'hello')]),
    expect: [502], stat: PROTO, why: 'status outside 100-599 (RFC 9110 15)' },
  { name: 'status 999', answer: send([cl('HTTP/1.1 999 X', 'hello')]),
    expect: [502], stat: PROTO, why: 'status outside 100-599' },
  { name: 'status 1000 (four digits)', answer: send([cl('HTTP/1.1 1000 X', 'hello')]),
    expect: [502], stat: PROTO, why: 'status-code is 3DIGIT (RFC 9112 4)' },
  { name: 'status 20 (two digits)', answer: send([cl('HTTP/1.1 20 OK', 'hello')]),
    expect: [502], stat: PROTO, why: 'status-code is 3DIGIT' },
  { name: 'status 20a', answer: send([cl('HTTP/1.1 20a OK', 'hello')]),
    expect: [502], stat: PROTO, why: 'status-code is 3DIGIT' },
  { name: 'no reason phrase: "HTTP/1.1 200"', answer: send([cl('HTTP/1.1 200', 'hello')]),
    expect: [200], body: 'hello', why: 'reason-phrase is optional and ignored (RFC 9112 4); Envoy accepts it' },
  { name: 'no space after the version: "HTTP/1.1200 OK"', answer: send([cl('HTTP/1.1200 OK', 'hello')]),
    expect: [502], stat: PROTO, why: 'HTTP-version SP status-code' },
  { name: 'no space after the status: "HTTP/1.1 200OK"', answer: send([cl('HTTP/1.1 200OK', 'hello')]),
    expect: [502], stat: PROTO, why: 'status-code SP reason-phrase' },
  { name: 'version HTTP/2.0 in an HTTP/1 status line', answer: send([cl('HTTP/2.0 200 OK', 'hello')]),
    expect: [502, 200], body: 'hello',
    why: 'not an HTTP/1.x response: Envoy rejects it; a parser that takes it as 1.0-like (no keep-alive) and delivers the body intact is tolerable' },
  { name: 'LF-only line ends', answer: send(['HTTP/1.1 200 OK\ncontent-length: 5\n\nhello']),
    expect: [502, 200], body: 'hello', why: 'a recipient MAY take a bare LF as a line end (RFC 9112 2.2), or reject it' },
  // ---- interim responses ----
  { name: '1xx (150) with content-length, the "body" a complete response',
    answer: send([cl('HTTP/1.1 150 X', cl('HTTP/1.1 200 OK', 'final', 'x-after-1xx: yes\r\n'))]),
    expect: [502, 200], body: 'final',
    why: 'a 1xx ends at its blank line (RFC 9112 6.3 rule 1): what follows is the final response; or a protocol error. Its bytes must never be passed on raw' },
  { name: '1xx (199) with a chunked "body" holding a forged response',
    answer: send([`HTTP/1.1 199 X\r\ntransfer-encoding: chunked\r\n\r\n${FORGED.length.toString(16)}\r\n${FORGED}\r\n0\r\n\r\n`]),
    expect: [502], stat: PROTO, why: 'a 1xx has no body: the chunk-size line after it is not a status line' },
  { name: '1,000 x "100 Continue" then a 200', answer: send(['HTTP/1.1 100 Continue\r\n\r\n'.repeat(1000) + cl('HTTP/1.1 200 OK', 'hello')]),
    expect: [200], body: 'hello', why: 'any number of 1xx may precede the final response (RFC 9110 15.2)' },
  { name: 'an endless stream of "100 Continue"', answer: stream('', 'HTTP/1.1 100 Continue\r\n\r\n'.repeat(200), 64 << 20, 2),
    expect: [504], stat: 'upstream_rq_timeout', why: 'no final response: the route timeout answers 504 and the connection is closed' },
  { name: '101 Switching Protocols to a request that asked no upgrade, then a forged response',
    answer: send([`HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: evil\r\n\r\n${FORGED}`]),
    expect: [502], stat: PROTO, why: '101 is only an answer to an Upgrade request (RFC 9110 15.2.2)' },
  // ---- framing ----
  { name: 'Content-Length and Transfer-Encoding: chunked together',
    answer: send([`HTTP/1.1 200 OK\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`]),
    expect: [502], stat: PROTO, why: 'Envoy: "both Content-Length and Transfer-Encoding are set" is a protocol error (RFC 9112 6.3 rule 3: ought to be an error)' },
  { name: 'two differing Content-Length headers', answer: send(['HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\nhello!']),
    expect: [502], stat: PROTO, why: 'unrecoverable framing error (RFC 9112 6.3 rule 5)' },
  { name: 'two identical Content-Length headers', answer: send(['HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-length: 5\r\n\r\nhello']),
    expect: [502, 200], body: 'hello', why: 'a recipient MAY take identical values as one (RFC 9112 6.3 rule 5), or reject' },
  { name: 'negative Content-Length', answer: send(['HTTP/1.1 200 OK\r\ncontent-length: -5\r\n\r\nhello']),
    expect: [502], stat: PROTO, why: 'Content-Length is 1*DIGIT' },
  { name: 'hex Content-Length', answer: send(['HTTP/1.1 200 OK\r\ncontent-length: 0x5\r\n\r\nhello']),
    expect: [502], stat: PROTO, why: 'Content-Length is 1*DIGIT' },
  { name: 'Transfer-Encoding: gzip (close-delimited)',
    answer: send([Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\n\r\n'), GZ])], 'end'),
    expect: [502], stat: PROTO, why: 'Envoy rejects a transfer coding other than chunked; passing it on would strip the coding off a still-coded body' },
  { name: 'Transfer-Encoding: gzip, chunked',
    answer: send([Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\n\r\n${GZ.length.toString(16)}\r\n`), GZ, Buffer.from('\r\n0\r\n\r\n')])]),
    expect: [502], stat: PROTO, why: 'Envoy takes only "chunked" (else "unsupported transfer encoding"); decoding the chunks and dropping the header would pass gzip bytes off as the body' },
  { name: 'Transfer-Encoding: chunked on two lines',
    answer: send([`HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`]),
    expect: [502], stat: PROTO, why: 'Envoy joins the lines to "chunked,chunked", not "chunked": protocol error (chunked applied twice, RFC 9112 6.1)' },
  { name: 'whitespace between a header name and the colon', answer: send(['HTTP/1.1 200 OK\r\ncontent-length : 5\r\n\r\nhello']),
    expect: [502], stat: PROTO, why: 'RFC 9112 5.1: reject, or remove it before forwarding; Envoy rejects' },
  { name: 'body shorter than Content-Length, then FIN', answer: thenAfter(`HTTP/1.1 200 OK\r\ncontent-length: 20\r\n\r\nhello`, 30, 'end'),
    expect: ['reset'], stat: RX_RESET, resetFlag: 'UC', why: 'the response had started: the downstream is reset' },
  { name: 'body longer than Content-Length: a forged response follows',
    answer: send([cl('HTTP/1.1 200 OK', 'ok') + FORGED]),
    expect: [200], body: 'ok', stat: PROTO, poisoned: true,
    why: 'the response is complete; the bytes after it are a protocol error and the connection is closed' },
  { name: '204 with a non-zero Content-Length and a forged "body"', answer: send([cl('HTTP/1.1 204 No Content', FORGED)]),
    expect: [502], stat: PROTO,
    why: 'a 204 has no body (RFC 9112 6.3 rule 1); Envoy refuses one announcing a non-zero length as a protocol error' },
  { name: '204 with Transfer-Encoding: chunked', answer: send(['HTTP/1.1 204 No Content\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n']),
    expect: [502], stat: PROTO, why: 'Envoy: transfer encoding not allowed in 1xx or 204' },
  { name: '100 Continue with a non-zero Content-Length, then a 200', answer: send(['HTTP/1.1 100 Continue\r\ncontent-length: 5\r\n\r\nhelloHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok']),
    expect: [502], stat: PROTO, why: 'Envoy: non-zero content length not allowed in 1xx or 204' },
  { name: 'garbage chunk size', answer: send([`${CHUNKED_HEAD}5\r\nhello\r\nzz\r\nabc\r\n0\r\n\r\n`]),
    expect: ['reset'], stat: PROTO, resetFlag: 'UPE', why: 'protocol error after the headers were sent: downstream reset' },
  { name: 'chunk data not followed by CRLF', answer: send([`${CHUNKED_HEAD}5\r\nhelloXX0\r\n\r\n`]),
    expect: ['reset'], stat: PROTO, resetFlag: 'UPE', why: 'protocol error after the headers were sent' },
  { name: 'no last-chunk, then FIN', answer: thenAfter(`${CHUNKED_HEAD}5\r\nhello\r\n`, 30, 'end'),
    expect: ['reset'], stat: RX_RESET, resetFlag: 'UC', why: 'the body never ended: downstream reset' },
  // ---- header bytes and limits ----
  { name: 'NUL in a header value', answer: send([cl('HTTP/1.1 200 OK', 'hello', 'x-bad: a\0b\r\n')]),
    expect: [502], stat: PROTO, why: 'field-value has no CTL but HTAB (RFC 9110 5.5)' },
  { name: 'bare CR in a header value', answer: send([cl('HTTP/1.1 200 OK', 'hello', 'x-bad: a\rb\r\n')]),
    expect: [502], stat: PROTO, why: 'a bare CR is invalid (RFC 9112 2.2)' },
  { name: '101 headers (limit 100)', answer: send([cl('HTTP/1.1 200 OK', 'hello', Array.from({ length: 100 }, (_, i) => `x-h${i}: v\r\n`).join(''))]),
    expect: [502], stat: PROTO, why: 'over max_headers_count (100, with content-length the 101st)' },
  { name: 'a 70 KiB header (limit 60 KiB)', answer: send([cl('HTTP/1.1 200 OK', 'hello', `x-big: ${'b'.repeat(70 * 1024)}\r\n`)]),
    expect: [502], stat: PROTO, why: 'over the 60 KiB response head limit' },
  { name: 'a header value that never ends', answer: stream('HTTP/1.1 200 OK\r\nx-endless: ', 'a'.repeat(1024), 4 << 20, 1),
    expect: [502], stat: PROTO, why: 'over the limit while streaming: refused at once, not at the route timeout' },
  // ---- the connection goes away ----
  { name: 'RST before any byte', answer: async (s) => { s.resetAndDestroy(); },
    expect: [503], stat: RX_RESET, why: 'reset before headers: 503 connection termination' },
  { name: 'FIN before any byte', answer: async (s) => { s.end(); },
    expect: [503], stat: RX_RESET, why: 'closed before headers: 503 connection termination' },
  { name: 'RST mid-body', answer: thenAfter(`HTTP/1.1 200 OK\r\ncontent-length: 20\r\n\r\nhello`, 50, 'rst'),
    expect: ['reset'], stat: RX_RESET, resetFlag: 'UC', why: 'the response had started: downstream reset' },
  { name: 'close-delimited body, then FIN', answer: thenAfter('HTTP/1.1 200 OK\r\n\r\nhello world', 30, 'end'),
    expect: [200], body: 'hello world', why: 'no framing: the body ends at the close (RFC 9112 6.3 rule 8)' },
  { name: 'close-delimited body, then RST', answer: thenAfter('HTTP/1.1 200 OK\r\n\r\nhello', 50, 'rst'),
    expect: ['reset'], stat: RX_RESET, resetFlag: 'UC',
    why: 'a reset is not the end of a close-delimited body: the client must see it cut short, not complete' },
];

const clusterName = (i: number) => `v${String(i).padStart(2, '0')}`;

function config(ports: number[], logPath: string): string {
  const routes = ports.map((_, i) => `
              - match: { prefix: "/${clusterName(i)}/" }
                route: { cluster: ${clusterName(i)}, timeout: ${ROUTE_TIMEOUT} }`).join('');
  return proxyConfig([], {
    routes,
    hcmExtra: fileAccessLog(logPath, '%REQ(:PATH)% %RESPONSE_CODE% %RESPONSE_FLAGS%\\n'),
    clusters: ports.map((p, i) => staticCluster(clusterName(i), [p])).join(''),
  });
}

let legate: Legate;
let port: number;
let logPath: string;
const ups: ScriptedUpstream[] = [];
/** Outcome of each vector whose test passed, for the access-log check. */
const outcomes = new Map<number, Outcome>();

before(async () => {
  for (let i = 0; i < VECTORS.length; i++) {
    const pre = `/${clusterName(i)}/bad`;
    const v = VECTORS[i];
    const up = await scriptedUpstream((req) => (req.path === pre ? v.answer : null));
    track(() => up.close());
    ups.push(up);
  }
  logPath = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'legate-upresp-')), 'access.log');
  // SIGKILL: nothing to drain, and some vectors leave upstream connections streaming.
  legate = await legateFor(config(ups.map((u) => u.port), logPath), {}, 'SIGKILL');
  port = legate.port('proxy');
});

async function connect(): Promise<RawClient> {
  const c = await RawClient.connect(port);
  track(async () => c.destroy());
  return c;
}

interface Seen {
  /** Complete final responses, in order (1xx are skipped). */
  finals: RawResponse[];
  ended: boolean;
  /** The bytes are not HTTP responses. */
  error: string | null;
}

function responsesIn(c: RawClient): Seen {
  const finals: RawResponse[] = [];
  let buf = c.buf;
  let error: string | null = null;
  for (;;) {
    let p: ReturnType<typeof parseResponse>;
    try {
      p = parseResponse(buf, { ended: c.ended });
    } catch (e) {
      error = (e as Error).message;
      break;
    }
    if (p === null) break;
    if (p.res.status >= 200) finals.push(p.res);
    buf = buf.subarray(p.used);
  }
  return { finals, ended: c.ended, error };
}

/** What a client received once it has `want` final responses or the connection ended, plus a
 *  short wait for anything extra. Never throws: a wedged connection is reported by the caller. */
async function settle(c: RawClient, want: number, timeoutMs = 4000): Promise<Seen> {
  try {
    await c.until(() => {
      const s = responsesIn(c);
      return s.ended || s.error !== null || s.finals.length >= want ? true : undefined;
    }, timeoutMs, 'responses');
  } catch { /* reported as wedged */ }
  if (!c.ended) await sleep(80);
  return responsesIn(c);
}

const show = (b: Buffer) => JSON.stringify(b.toString('latin1').length > 600
  ? `${b.toString('latin1').slice(0, 600)}...(${b.length} bytes)` : b.toString('latin1'));

function checkOwn(r: RawResponse | undefined, p: string, who: string, problems: string[]): void {
  if (r === undefined) {
    problems.push(`${who}: no response`);
    return;
  }
  if (r.status !== 200 || r.headers['x-up-path'] !== p || !r.body.toString('latin1').startsWith(`up ${p} `)) {
    problems.push(`${who}: not its own response: ${r.statusLine} x-up-path=${r.headers['x-up-path']} body=${show(r.body)}`);
  }
}

for (let i = 0; i < VECTORS.length; i++) {
  const v = VECTORS[i];
  test(`${clusterName(i)} ${v.name}: ${v.expect.join(' or ')}`, async (t) => {
    const name = clusterName(i);
    const up = ups[i];
    const problems: string[] = [];
    const c1 = await connect();
    const c2 = await connect();
    await Promise.all([
      c1.write(`GET /${name}/bad HTTP/1.1\r\nHost: h\r\n\r\nGET /${name}/follow HTTP/1.1\r\nHost: h\r\n\r\n`),
      c2.write(`GET /${name}/other HTTP/1.1\r\nHost: h\r\n\r\n`),
    ]);
    const [s1, s2] = await Promise.all([settle(c1, 2), settle(c2, 1)]);

    // No forged bytes anywhere.
    for (const [who, c] of [['client 1', c1], ['client 2', c2]] as const) {
      const text = c.buf.toString('latin1');
      for (const m of MARKERS) if (text.includes(m)) problems.push(`${who} received the injection marker ${m}`);
    }
    if (s1.error !== null) problems.push(`client 1 received bytes that are not HTTP responses: ${s1.error}`);
    if (s1.finals.length > 2) problems.push(`client 1 got ${s1.finals.length} responses for 2 requests`);

    // The first response.
    const first = s1.finals[0];
    const outcome: Outcome = first !== undefined ? first.status : s1.ended ? 'reset' : 'wedged';
    if (!v.expect.includes(outcome)) {
      problems.push(`first response: ${first?.statusLine ?? outcome}, expected ${v.expect.join(' or ')}`);
    } else if (first !== undefined && first.status < 300) {
      if (first.body.toString('latin1') !== v.body) problems.push(`first response body ${show(first.body)}, expected ${JSON.stringify(v.body)}`);
    } else if (first !== undefined && first.body.toString() !== LOCAL_BODY[first.status]) {
      problems.push(`local reply body ${show(first.body)}, expected ${JSON.stringify(LOCAL_BODY[first.status])}`);
    }

    // The pipelined follow-up: its own response, or the connection closed.
    if (s1.finals.length >= 2) checkOwn(s1.finals[1], `/${name}/follow`, 'follow-up', problems);
    else if (!s1.ended) problems.push(`client 1 has ${s1.finals.length} responses and its connection is still open`);

    // The concurrent second client.
    if (s2.error !== null) problems.push(`client 2 received bytes that are not HTTP responses: ${s2.error}`);
    if (s2.finals.length !== 1) problems.push(`client 2 got ${s2.finals.length} responses for 1 request`);
    checkOwn(s2.finals[0], `/${name}/other`, 'client 2', problems);

    // Legate still serves this cluster.
    const c3 = await connect();
    await c3.write(`GET /${name}/later HTTP/1.1\r\nHost: h\r\n\r\n`);
    const s3 = await settle(c3, 1);
    if (s3.finals.length !== 1) problems.push(`later request: ${s3.finals.length} responses${s3.ended ? ', closed' : ''}`);
    checkOwn(s3.finals[0], `/${name}/later`, 'later request', problems);

    // A connection that misbehaved serves nothing after.
    const clean = typeof outcome === 'number' && outcome >= 200 && outcome < 300 && v.expect.includes(outcome) && v.poisoned !== true;
    const bad = up.seen.find((r) => r.path === `/${name}/bad`);
    if (bad === undefined) problems.push('the bad request never reached the upstream');
    else if (!clean) {
      for (const r of up.seen) {
        if (r.conn === bad.conn && r.seq > bad.seq) problems.push(`upstream connection ${bad.conn} misbehaved, then served ${r.path}`);
      }
      // And it is closed (by Legate, where the upstream left it open).
      const deadline = Date.now() + 500;
      while (!up.closed.has(bad.conn) && Date.now() < deadline) await sleep(20);
      if (!up.closed.has(bad.conn)) problems.push(`upstream connection ${bad.conn} misbehaved and is still open`);
    }

    // Stats.
    const stats = (s: string) => `cluster.${name}.${s}`;
    if (!clean && v.stat !== undefined && v.expect.includes(outcome)) {
      const got = await pollStat(legate, stats(v.stat), (x) => x === 1, 2000);
      if (got !== 1) problems.push(`${stats(v.stat)} = ${got}, expected 1`);
    }
    if (clean && problems.length === 0) {
      // Every response the upstream completed is counted by now: no protocol error among them.
      const completed = 3 + (s1.finals.length >= 2 ? 1 : 0);
      await pollStat(legate, stats('upstream_rq_completed'), (x) => x >= completed, 2000);
      const pe = (await legate.stats()).get(stats(PROTO)) ?? 0;
      if (pe !== 0) problems.push(`${stats(PROTO)} = ${pe} for a response that was fine`);
    }

    t.diagnostic(`${v.why}; client 1 got ${show(c1.buf)}${c1.ended ? ' (closed)' : ''}`);
    if (problems.length === 0) outcomes.set(i, outcome);
    else {
      assert.fail(`${problems.join('\n')}\n  client 1 bytes: ${show(c1.buf)}${c1.ended ? ' (closed)' : ''}`
        + `\n  client 2 bytes: ${show(c2.buf)}\n  upstream saw: ${up.seen.map((r) => `${r.path}@conn${r.conn}`).join(', ')}`);
    }
  });
}

test('access log: response code and Envoy\'s response flag for every vector', async () => {
  const text = await pollLog(logPath, (t) => VECTORS.every((_, i) => t.includes(`/${clusterName(i)}/later `)));
  const lines = new Map(text.split('\n').filter((l) => l !== '').map((l) => [l.split(' ')[0], l]));
  const wrong: string[] = [];
  for (let i = 0; i < VECTORS.length; i++) {
    const v = VECTORS[i];
    const outcome = outcomes.get(i);
    // Only rows that passed: the others have failed their own test already.
    if (outcome === undefined) continue;
    const clean = typeof outcome === 'number' && outcome < 300;
    const flag = clean ? '-' : outcome === 502 ? 'UPE' : outcome === 503 ? 'UC' : outcome === 504 ? 'UT' : v.resetFlag;
    const line = lines.get(`/${clusterName(i)}/bad`);
    const code = outcome === 'reset' ? '200' : String(outcome);
    if (line !== `/${clusterName(i)}/bad ${code} ${flag}`) {
      wrong.push(`${clusterName(i)} ${v.name}: ${JSON.stringify(line)}, expected "... ${code} ${flag}"`);
    }
  }
  assert.deepEqual(wrong, []);
});

test('Legate is still up', async () => {
  assert.equal(legate.proc.exitCode, null);
  assert.equal(legate.proc.signalCode, null);
  const c = await connect();
  await c.write(`GET /${clusterName(0)}/final HTTP/1.1\r\nHost: h\r\n\r\n`);
  const r = await c.readResponse();
  assert.equal(r.status, 200);
  assert.equal(r.headers['x-up-path'], `/${clusterName(0)}/final`);
});
