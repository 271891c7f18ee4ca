// Seeded mutation fuzzing of upstream responses through a real Legate.
//
// Design note
// - A case is a few valid responses (Content-Length body, chunked body with trailers, 204, 304,
//   100-continue then 200) put through 1-3 mutations (bytes flipped, inserted or deleted, lines
//   duplicated or dropped, digits changed, CR/LF/NUL/SP inserted), written in 1-4 pieces with
//   pauses, then the connection kept, ended or reset. Case n is made from (seed, n) alone, so a
//   failure replays with LEGATE_FUZZ_SEED (and LEGATE_FUZZ_CASE for that one case).
// - Six lanes run cases at once, each on its own downstream connection: the fuzzed request
//   /f/<n>/a and a pipelined follow-up /f/<n>/b. Upstream connections are shared through
//   Legate's pool, so a response that leaks into another request shows up.
// - What a response should have been comes from a reference parser written from RFC 9112 (lenient
//   only where the RFC lets a recipient be, and llhttp's CR CR after a status line: bare LF line
//   ends, CR/LF before a status line,
//   identical Content-Length values, other CTLs than CR/LF/NUL in values, any HTTP/d.d version;
//   Envoy-strict on any Transfer-Encoding but "chunked" alone).
//   Legate may be stricter (502, or a reset) but a response it forwards must be the reference's.
// - HTTP/1 cannot tell a late byte of one response from the start of the next on a reused
//   connection: a request the upstream read on a connection whose previous answer was not exactly
//   one clean response (or was still being written, or was being closed) may get anything well
//   formed. Such requests are counted, and checked only for well-formed, one-per-request responses.
// Invariants: no client gets more responses than it sent requests, or bytes that are not HTTP; a
// forwarded response is the reference's status and exact body; a response Legate made itself is
// one of its local replies; a follow-up gets its own response or the connection closes; no
// connection wedges; Legate is up at the end and serves a sanity request.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { proxyConfig, type Legate } from '../helpers/legate.ts';
import { legateFor, track } from './fixtures/tracked.ts';
import { RawClient, parseResponse, type RawResponse } from './fixtures/clients.ts';
import { finish, scriptedUpstream, type After, type Answer, type ScriptedUpstream, type SeenHead } from './fixtures/scripted-upstream.ts';
import { mulberry32 } from '../helpers/prng.ts';

const FUZZ_MS = Number(process.env.LEGATE_FUZZ_MS ?? 3000);
const SEED = process.env.LEGATE_FUZZ_SEED !== undefined ? Number(process.env.LEGATE_FUZZ_SEED) : (Date.now() % 0x7fffffff);
const ONLY_CASE = process.env.LEGATE_FUZZ_CASE !== undefined ? Number(process.env.LEGATE_FUZZ_CASE) : null;
const LANES = 6;
/** Stop early once this many different kinds of failure are seen. */
const MAX_FAILURES = 5;
const ROUTE_TIMEOUT = '0.3s';

const LOCAL_BODIES = new Set([
  'upstream connect error or disconnect/reset before headers. reset reason: protocol error',
  'upstream connect error or disconnect/reset before headers. reset reason: connection termination',
  'upstream request timeout',
]);

// ---- cases -------------------------------------------------------------------------------------

const SEEDS: [string, string][] = [
  ['content-length', 'HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 11\r\n\r\nhello world'],
  ['chunked+trailers', 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ntrailer: x-t\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\nx-t: done\r\n\r\n'],
  ['204', 'HTTP/1.1 204 No Content\r\nx-a: 1\r\n\r\n'],
  ['304', 'HTTP/1.1 304 Not Modified\r\netag: "v1"\r\n\r\n'],
  ['100-continue+200', 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello'],
];


const PALETTE = [...'\r\n\0 \t:;,-+x0123456789abcdefABCDEF'].map((c) => c.charCodeAt(0)).concat([0x7f, 0x80, 0xff]);

interface Case {
  n: number;
  base: string;
  mutations: string[];
  bytes: Buffer;
  pieces: Buffer[];
  gapsMs: number[];
  after: After;
}

function makeCase(n: number): Case {
  const rnd = mulberry32((SEED ^ Math.imul(n + 1, 0x9e3779b1)) >>> 0);
  const int = (k: number) => Math.floor(rnd() * k);
  const [base, text] = SEEDS[int(SEEDS.length)];
  let b = Buffer.from(text, 'latin1');
  const mutations: string[] = [];
  // One case in ten is left valid, so the split and end handling are fuzzed on good bytes too.
  const count = int(10) === 0 ? 0 : 1 + int(3);
  for (let k = 0; k < count; k++) {
    const at = int(b.length);
    const lines: [number, number][] = [];
    for (let i = 0, s = 0; i < b.length; i++) if (b[i] === 0x0a) { lines.push([s, i + 1]); s = i + 1; }
    switch (int(7)) {
      case 0: {
        const bit = int(8);
        b = Buffer.from(b);
        b[at] ^= 1 << bit;
        mutations.push(`flip bit ${bit} at ${at}`);
        break;
      }
      case 1: {
        const c = PALETTE[int(PALETTE.length)];
        b = Buffer.concat([b.subarray(0, at), Buffer.from([c]), b.subarray(at)]);
        mutations.push(`insert 0x${c.toString(16)} at ${at}`);
        break;
      }
      case 2:
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1)]);
        mutations.push(`delete at ${at}`);
        break;
      case 3: {
        const [s, e] = lines[int(lines.length)];
        b = Buffer.concat([b.subarray(0, e), b.subarray(s, e), b.subarray(e)]);
        mutations.push(`duplicate line at ${s}`);
        break;
      }
      case 4: {
        const [s, e] = lines[int(lines.length)];
        b = Buffer.concat([b.subarray(0, s), b.subarray(e)]);
        mutations.push(`drop line at ${s}`);
        break;
      }
      case 5: {
        const digits: number[] = [];
        for (let i = 0; i < b.length; i++) if (b[i] >= 0x30 && b[i] <= 0x39) digits.push(i);
        if (digits.length === 0) break;
        const i = digits[int(digits.length)];
        const d = '0123456789af'.charCodeAt(int(12));
        b = Buffer.from(b);
        b[i] = d;
        mutations.push(`digit at ${i} -> ${String.fromCharCode(d)}`);
        break;
      }
      default: {
        const ins = ['\r', '\n', '\0', ' ', '\r\n'][int(5)];
        b = Buffer.concat([b.subarray(0, at), Buffer.from(ins, 'latin1'), b.subarray(at)]);
        mutations.push(`insert ${JSON.stringify(ins)} at ${at}`);
      }
    }
  }
  const cuts = Array.from({ length: int(4) }, () => 1 + int(Math.max(1, b.length - 1))).sort((x, y) => x - y);
  const pieces: Buffer[] = [];
  let prev = 0;
  for (const c of [...cuts, b.length]) {
    if (c > prev) pieces.push(b.subarray(prev, c));
    prev = Math.max(prev, c);
  }
  const gapsMs = pieces.map(() => int(4));
  const r = rnd();
  const after: After = r < 0.6 ? 'keep' : r < 0.9 ? 'end' : 'rst';
  return { n, base, mutations, bytes: b, pieces, gapsMs, after };
}

function answerFor(c: Case): Answer {
  return async (s) => {
    for (let i = 0; i < c.pieces.length; i++) {
      if (s.destroyed) return;
      s.write(c.pieces[i]);
      if (i < c.pieces.length - 1 && c.gapsMs[i] > 0) await new Promise((r) => setTimeout(r, c.gapsMs[i]));
    }
    // A reset right after a write could overtake the bytes in Legate's reads: let them land first.
    if (c.after === 'rst') await new Promise((r) => setTimeout(r, 5));
    await finish(s, c.after);
  };
}

// ---- the reference parser (RFC 9112) -----------------------------------------------------------

type Ref =
  | { kind: 'ok'; status: number; body: Buffer; rest: Buffer }
  /** Close-delimited and ended by a reset: complete (as Envoy takes it) or cut short. */
  | { kind: 'ambiguous'; status: number; body: Buffer }
  | { kind: 'incomplete'; why: string }
  | { kind: 'invalid'; why: string };

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// RFC 9110 5.5: CR, LF and NUL in a field value must be rejected (or replaced); other CTLs MAY stay.
const BAD_VALUE = /[\r\n\0]/;

class Incomplete extends Error {}
class Invalid extends Error {}

/** One line (CRLF, or a bare LF: RFC 9112 2.2) from `at`; a CR elsewhere in it is invalid. */
function line(b: Buffer, at: number): { text: string; next: number } {
  const nl = b.indexOf(0x0a, at);
  if (nl === -1) throw new Incomplete('line');
  const end = nl > at && b[nl - 1] === 0x0d ? nl - 1 : nl;
  const text = b.subarray(at, end).toString('latin1');
  if (text.includes('\r')) throw new Invalid(`bare CR in ${JSON.stringify(text)}`);
  return { text, next: nl + 1 };
}

/** The status line: a line, or (as llhttp, which Legate's codec is, reads it) one ended by CR CR,
 *  the second CR taken as its LF. The upstream's own bytes only: no other response can be read
 *  into or out of it, and Legate writes its own status line. */
function statusLine(b: Buffer, at: number): { text: string; next: number } {
  const cr = b.indexOf(0x0d, at);
  const nl = b.indexOf(0x0a, at);
  if (cr !== -1 && (nl === -1 || cr < nl) && b[cr + 1] === 0x0d) {
    return { text: b.subarray(at, cr).toString('latin1'), next: cr + 2 };
  }
  return line(b, at);
}

/** Field lines up to the empty line: [lowercased name, value] pairs. */
function fields(b: Buffer, at: number): { list: [string, string][]; next: number } {
  const list: [string, string][] = [];
  for (;;) {
    const l = line(b, at);
    at = l.next;
    if (l.text === '') return { list, next: at };
    if (l.text[0] === ' ' || l.text[0] === '\t') throw new Invalid('obs-fold');
    const colon = l.text.indexOf(':');
    const name = l.text.slice(0, colon);
    if (colon <= 0 || !TOKEN.test(name)) throw new Invalid(`field line ${JSON.stringify(l.text)}`);
    const value = l.text.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '');
    if (BAD_VALUE.test(value)) throw new Invalid(`field value ${JSON.stringify(value)}`);
    list.push([name.toLowerCase(), value]);
  }
}

function refParse(b: Buffer, after: After): Ref {
  try {
    let at = 0;
    for (;;) {
      // CR and LF bytes before a status line are skipped for robustness (RFC 9112 2.2 lets a
      // recipient ignore empty lines before a start line, and a CR before a LF).
      while (at < b.length && (b[at] === 0x0d || b[at] === 0x0a)) at++;
      const l = statusLine(b, at);
      const m = /^HTTP\/\d\.\d (\d{3})(?: .*)?$/.exec(l.text);
      if (m === null) throw new Invalid(`status line ${JSON.stringify(l.text)}`);
      const status = Number(m[1]);
      if (status < 100 || status > 599) throw new Invalid(`status ${status}`);
      const h = fields(b, l.next);
      at = h.next;
      if (status === 101) throw new Invalid('101 to a request that asked no upgrade');
      // A 1xx ends at its empty line whatever its fields say (RFC 9112 6.3 rule 1).
      if (status < 200) continue;
      if (status === 204 || status === 304) return { kind: 'ok', status, body: Buffer.alloc(0), rest: b.subarray(at) };
      const te = h.list.filter(([n]) => n === 'transfer-encoding').map(([, v]) => v);
      const cl = h.list.filter(([n]) => n === 'content-length').flatMap(([, v]) => v.split(',').map((x) => x.trim()));
      if (te.length > 0 && cl.length > 0) throw new Invalid('content-length with transfer-encoding');
      if (te.length > 0) {
        // Envoy: any transfer coding but "chunked" alone is a protocol error.
        if (te.join(',').toLowerCase().split(',').map((x) => x.trim()).join(',') !== 'chunked') {
          throw new Invalid(`transfer-encoding ${JSON.stringify(te.join(', '))}`);
        }
        const parts: Buffer[] = [];
        for (;;) {
          const sl = line(b, at);
          const cm = /^([0-9A-Fa-f]+)[ \t]*(;.*)?$/.exec(sl.text);
          if (cm === null || cm[1].length > 12) throw new Invalid(`chunk size line ${JSON.stringify(sl.text)}`);
          const size = parseInt(cm[1], 16);
          at = sl.next;
          if (size === 0) {
            const t = fields(b, at);
            return { kind: 'ok', status, body: Buffer.concat(parts), rest: b.subarray(t.next) };
          }
          if (b.length < at + size + 1) throw new Incomplete('chunk data');
          parts.push(b.subarray(at, at + size));
          at += size;
          if (b[at] === 0x0a) at += 1;
          else if (b[at] === 0x0d) {
            if (b.length < at + 2) throw new Incomplete('chunk end');
            if (b[at + 1] !== 0x0a) throw new Invalid('chunk data not followed by CRLF');
            at += 2;
          } else throw new Invalid('chunk data not followed by CRLF');
        }
      }
      if (cl.length > 0) {
        if (!cl.every((v) => /^\d+$/.test(v)) || new Set(cl.map((v) => v.replace(/^0+(?=\d)/, ''))).size !== 1) {
          throw new Invalid(`content-length ${JSON.stringify(cl.join(', '))}`);
        }
        const n = Number(cl[0]);
        if (b.length < at + n) throw new Incomplete('content-length body');
        return { kind: 'ok', status, body: b.subarray(at, at + n), rest: b.subarray(at + n) };
      }
      // Delimited by the close (RFC 9112 6.3 rule 8).
      if (after === 'end') return { kind: 'ok', status, body: b.subarray(at), rest: Buffer.alloc(0) };
      if (after === 'rst') return { kind: 'ambiguous', status, body: b.subarray(at) };
      throw new Incomplete('close-delimited body on a connection kept open');
    }
  } catch (e) {
    if (e instanceof Incomplete) return { kind: 'incomplete', why: e.message };
    if (e instanceof Invalid) return { kind: 'invalid', why: e.message };
    throw e;
  }
}

// ---- the run -----------------------------------------------------------------------------------

let legate: Legate;
let port: number;
let up: ScriptedUpstream;
const cases = new Map<number, { c: Case; ref: Ref; clean: boolean }>();

function caseOf(path: string): number | null {
  const m = /^\/f\/(\d+)\/a$/.exec(path);
  return m === null ? null : Number(m[1]);
}

before(async () => {
  up = await scriptedUpstream((req) => {
    const n = caseOf(req.path);
    return n === null ? null : answerFor(cases.get(n)!.c);
  });
  track(() => up.close());
  legate = await legateFor(proxyConfig([up.port], { routeTimeout: ROUTE_TIMEOUT }), {}, 'SIGKILL');
  port = legate.port('proxy');
});

/** Can the response to this request be judged? Not when the upstream read it on a connection
 *  where an earlier answer was not one clean response, was still being written, or was ending:
 *  a stray byte shifts every response after it on that connection, so the taint never wears off. */
function judgeable(req: SeenHead | undefined): boolean {
  if (req === undefined) return false;
  for (let r: SeenHead | null = req; r !== null; r = r.prev) {
    if (r.whileWriting) return false;
    const n = r === req ? null : caseOf(r.path);
    if (n !== null && !cases.get(n)!.clean) return false;
  }
  return true;
}

function responsesIn(c: RawClient): { finals: RawResponse[]; error: string | null } {
  const finals: RawResponse[] = [];
  let buf = c.buf;
  try {
    for (;;) {
      const p = parseResponse(buf, { ended: c.ended });
      if (p === null) break;
      if (p.res.status >= 200) finals.push(p.res);
      buf = buf.subarray(p.used);
    }
  } catch (e) {
    return { finals, error: (e as Error).message };
  }
  return { finals, error: null };
}

const esc = (b: Buffer) => JSON.stringify(b.toString('latin1'));
const forwarded = (r: RawResponse) => r.headers['x-envoy-upstream-service-time'] !== undefined;

interface Tally {
  cases: number; relaxed: number; forwarded: number; local: number; reset: number;
  /** 502 for bytes the reference reads as one clean response (Legate stricter: allowed). */
  rejectedValid: number;
  rejectedExamples: string[];
}

async function runCase(n: number, tally: Tally): Promise<string[]> {
  const c = makeCase(n);
  const ref = refParse(c.bytes, c.after);
  const clean = ref.kind === 'ok' && ref.rest.length === 0 && c.after === 'keep';
  cases.set(n, { c, ref, clean });
  const client = await RawClient.connect(port);
  const problems: string[] = [];
  try {
    await client.write(`GET /f/${n}/a HTTP/1.1\r\nHost: h\r\n\r\nGET /f/${n}/b HTTP/1.1\r\nHost: h\r\n\r\n`);
    let wedged = false;
    try {
      await client.until(() => {
        const s = responsesIn(client);
        return client.ended || s.error !== null || s.finals.length >= 2 ? true : undefined;
      }, 3000, 'responses');
    } catch {
      wedged = true;
    }
    if (!client.ended && !wedged) await new Promise((r) => setTimeout(r, 20));
    const { finals, error } = responsesIn(client);
    const a = up.seen.find((r) => r.path === `/f/${n}/a`);
    const b = up.seen.find((r) => r.path === `/f/${n}/b`);
    const strictA = judgeable(a);
    const strictB = judgeable(b);
    if (!strictA || (b !== undefined && !strictB)) tally.relaxed++;

    if (error !== null) problems.push(`bytes that are not HTTP responses: ${error}`);
    if (finals.length > 2) problems.push(`${finals.length} responses for 2 requests`);
    if (wedged) problems.push(`no response and no close within 3 s (${finals.length} responses)`);
    const r1 = finals[0];
    if (r1 === undefined) tally.reset++;
    else if (forwarded(r1)) tally.forwarded++;
    else tally.local++;
    if (r1 !== undefined && strictA) {
      if (forwarded(r1)) {
        if (ref.kind === 'ok' || ref.kind === 'ambiguous') {
          if (r1.status !== ref.status || !r1.body.equals(ref.body)) {
            problems.push(`forwarded ${r1.status} ${esc(r1.body)}; the reference reads ${ref.status} ${esc(ref.body)}`);
          }
        } else {
          problems.push(`forwarded ${r1.status} ${esc(r1.body)} for bytes the reference finds ${ref.kind}: ${ref.why}`);
        }
      } else if (![502, 503, 504].includes(r1.status) || !LOCAL_BODIES.has(r1.body.toString('latin1'))) {
        problems.push(`a response that is neither forwarded nor a local reply: ${r1.statusLine} ${esc(r1.body)}`);
      } else if (ref.kind === 'ok' && clean && r1.status === 502) {
        tally.rejectedValid++;
        if (tally.rejectedExamples.length < 3) tally.rejectedExamples.push(esc(c.bytes));
      }
    }
    const r2 = finals[1];
    if (r2 !== undefined && strictB) {
      if (r2.status !== 200 || r2.headers['x-up-path'] !== `/f/${n}/b`) {
        problems.push(`follow-up got ${r2.statusLine} x-up-path=${r2.headers['x-up-path']} ${esc(r2.body)}`);
      }
    }
    if (problems.length > 0) {
      problems.push(`  replay: LEGATE_FUZZ_SEED=${SEED} LEGATE_FUZZ_CASE=${n}`,
        `  base ${c.base}; mutations: ${c.mutations.join('; ') || 'none'}; then ${c.after}`,
        `  upstream bytes: ${esc(c.bytes)}`,
        `  pieces: ${JSON.stringify(c.pieces.map((p) => p.toString('latin1')))} gaps ${JSON.stringify(c.gapsMs)}`,
        `  reference: ${ref.kind}${'why' in ref ? ` (${ref.why})` : ` ${ref.status} ${esc(ref.body)}`}`,
        `  client got: ${esc(client.buf)}${client.ended ? ' (closed)' : ''}`,
        `  upstream saw: a on conn ${a?.conn} (${strictA ? 'judged' : 'not judged'}), b on conn ${b?.conn}`);
    }
  } finally {
    client.destroy();
  }
  return problems;
}

/** Failures told apart by what went wrong, not by the bytes (quoted text and numbers blanked). */
function failureClass(problem: string): string {
  return problem.replace(/"(?:[^"\\]|\\.)*"/g, '"…"').replace(/\d+/g, 'N');
}

test(`mutated upstream responses for ${FUZZ_MS} ms (seed ${SEED}${ONLY_CASE !== null ? `, case ${ONLY_CASE}` : ''})`, async (t) => {
  const tally: Tally = { cases: 0, relaxed: 0, forwarded: 0, local: 0, reset: 0, rejectedValid: 0, rejectedExamples: [] };
  // Per failure class: how many cases, and the first two in full.
  const failures = new Map<string, { count: number; examples: string[] }>();
  const record = (n: number, p: string[]) => {
    if (p.length === 0) return;
    const key = failureClass(p[0]);
    const f = failures.get(key) ?? { count: 0, examples: [] };
    f.count++;
    if (f.examples.length < 2) f.examples.push(`case ${n}: ${p.join('\n')}`);
    failures.set(key, f);
  };
  const deadline = Date.now() + FUZZ_MS;
  const lane = async (k: number) => {
    for (let n = k; Date.now() < deadline && failures.size < MAX_FAILURES; n += LANES) {
      tally.cases++;
      record(n, await runCase(n, tally));
    }
  };
  if (ONLY_CASE !== null) {
    tally.cases++;
    record(ONLY_CASE, await runCase(ONLY_CASE, tally));
  } else {
    await Promise.all(Array.from({ length: LANES }, (_, k) => lane(k)));
  }
  const { rejectedExamples, ...counts } = tally;
  t.diagnostic(`seed ${SEED}: ${JSON.stringify(counts)}`);
  for (const e of rejectedExamples) t.diagnostic(`502 for bytes the reference accepts: ${e}`);

  // Legate is still up and serving.
  assert.equal(legate.proc.exitCode, null, `legate exited: ${legate.stderr().slice(-2000)}`);
  const s = await RawClient.connect(port);
  track(async () => s.destroy());
  await s.write('GET /f/sanity HTTP/1.1\r\nHost: h\r\n\r\n');
  const r = await s.readResponse({ timeoutMs: 3000 });
  assert.equal(r.status, 200);
  assert.equal(r.headers['x-up-path'], '/f/sanity');

  if (failures.size > 0) {
    const text = [...failures].map(([k, f]) => `${f.count} case(s): ${k}\n${f.examples.join('\n\n')}`).join('\n\n');
    assert.fail(`seed ${SEED}: ${failures.size} kind(s) of failure (replay with LEGATE_FUZZ_SEED=${SEED})\n${text}`);
  }
});
