// Seeded mutation fuzzing of downstream requests through a real Legate in front of the strict,
// recording upstream of the smuggling test (fixtures/strict-upstream.ts).
//
// Design note
// - A case is one to three valid requests (GET; POST with a Content-Length body; POST chunked with
//   extensions and trailers; HEAD; Expect: 100-continue with a body; absolute-form; HTTP/1.0
//   keep-alive), pipelined on one fresh connection, put through 1-3 mutations (bytes flipped,
//   inserted or deleted; CR, LF, NUL, SP, HTAB or ':' inserted; field lines duplicated, dropped or
//   swapped; Content-Length and chunk-size digits changed; Transfer-Encoding / Content-Length lines
//   with odd spellings inserted; a second request spliced in; the version changed), written in
//   1-5 pieces with small pauses, and sometimes cut short by an early close (FIN or RST). One
//   case in ten stays unmutated so splits and closes are fuzzed on good bytes too. Case n is made
//   from (seed, n) alone: a failure replays with LEGATE_FUZZ_SEED (and LEGATE_FUZZ_CASE for that
//   one case).
// - Six lanes run cases at once and Legate's upstream pool is shared, so a case is told apart by a
//   tag (`c<n>x<check letters>`) in its request-target, Host and X-Fuzz field: a request the
//   upstream executed belongs to the one case whose tag its bytes carry. Mutations may destroy
//   all three; such a request (or an upstream error) is laid at the door of the cases in flight
//   when it arrived.
// - HEAD responses have no body: the client tells them apart by the upstream's record of the
//   request its x-up-seq names, and a local reply without its body by what follows it.
// Invariants (the smuggling test's): every request the upstream executed was answered to its own
// client with the upstream's response (x-up-seq, and the request line the upstream echoes); the
// upstream records no framing error; nothing is answered after a response
// with connection: close, local or forwarded, and the connection closes; a local
// 400/413/414/431/501/505 says connection: close; a client gets no more final responses than the
// request lines it sent (plus one closing refusal, which may answer bytes that are no request
// line), and only HTTP; Legate stays up and serves sanity requests at the end. A client that
// closed early may miss responses to what it sent (Legate resets streams on a client FIN, as
// Envoy does): the "answered" invariant is waived for those cases, the others hold.
// Against RFC 9112 too, with the fixture's strict parser as the reference for the bytes the client
// sent: while the reference reads the requests as valid, response i answers request i (a
// forwarded one has the method and body the reference reads), and requests the reference reads as
// complete get their responses instead of hanging. Legate may refuse what the reference accepts.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { proxyConfig, type Legate } from '../helpers/legate.ts';
import { legateFor, track } from './fixtures/tracked.ts';
import { parseRequest, strictUpstream, type StrictUpstream, type UpError, type UpRequest } from './fixtures/strict-upstream.ts';
import { RawClient, parseResponse, type RawResponse } from './fixtures/clients.ts';
import { withTimeout } from './fixtures/upstreams.ts';
import { mulberry32 } from '../helpers/prng.ts';

const FUZZ_MS = Number(process.env.LEGATE_FUZZ_MS ?? 3000);
const SEED = process.env.LEGATE_FUZZ_SEED !== undefined ? Number(process.env.LEGATE_FUZZ_SEED) : (Date.now() % 0x7fffffff);
const ONLY_CASE = process.env.LEGATE_FUZZ_CASE !== undefined ? Number(process.env.LEGATE_FUZZ_CASE) : null;
const LANES = 6;
/** Stop early once this many different kinds of failure are seen. */
const MAX_FAILURES = 5;
/** How long a case waits without a byte from Legate before it is over; when the reference reads
 *  everything sent as complete requests, Legate owes responses, so it gets longer. */
const QUIET_MS = 250;
const QUIET_COMPLETE_MS = 1000;
/** No case waits longer than this after its last write. */
const CASE_MS = 3000;

// ---- cases -------------------------------------------------------------------------------------

/** `c<n>x<four letters>`: the letters check n, so a mutated tag does not name another case. */
function tagOf(n: number): string {
  let h = Math.imul(n ^ 0x5bd1e995, 0x2c1b3c6d) >>> 0;
  let s = '';
  for (let i = 0; i < 4; i++) {
    s += String.fromCharCode(0x61 + (h % 26));
    h = Math.floor(h / 26);
  }
  return `c${n}x${s}`;
}

/** The cases whose valid tags appear in `b`, in order of first appearance. */
function tagsIn(b: Buffer): number[] {
  const out: number[] = [];
  for (const m of b.toString('latin1').matchAll(/c(\d{1,9})x[a-z]{4}/g)) {
    const n = Number(m[1]);
    if (tagOf(n) === m[0] && !out.includes(n)) out.push(n);
  }
  return out;
}

type SeedName = 'get' | 'post-cl' | 'post-chunked' | 'head' | 'expect' | 'absolute' | 'http10-keep-alive';
const SEEDS: Record<SeedName, (t: string, i: number) => string> = {
  'get': (t, i) => `GET /z/${t}/${i}g?x=1 HTTP/1.1\r\nHost: ${t}.fuzz.test\r\nX-Fuzz: ${t}/${i}\r\nAccept: */*\r\n\r\n`,
  'post-cl': (t, i) => `POST /z/${t}/${i}p HTTP/1.1\r\nHost: ${t}.fuzz.test\r\nX-Fuzz: ${t}/${i}\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\nhello world`,
  'post-chunked': (t, i) => `POST /z/${t}/${i}c HTTP/1.1\r\nHost: ${t}.fuzz.test\r\nX-Fuzz: ${t}/${i}\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\n\r\n` +
    '5;a=b\r\nhello\r\n6;q="x y"\r\n world\r\n0;last\r\nX-T: done\r\n\r\n',
  'head': (t, i) => `HEAD /z/${t}/${i}h HTTP/1.1\r\nHost: ${t}.fuzz.test\r\nX-Fuzz: ${t}/${i}\r\n\r\n`,
  'expect': (t, i) => `POST /z/${t}/${i}e HTTP/1.1\r\nHost: ${t}.fuzz.test\r\nX-Fuzz: ${t}/${i}\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello`,
  'absolute': (t, i) => `GET http://${t}.fuzz.test/z/${t}/${i}a?q=1 HTTP/1.1\r\nHost: ${t}.fuzz.test\r\nX-Fuzz: ${t}/${i}\r\n\r\n`,
  'http10-keep-alive': (t, i) => `POST /z/${t}/${i}k HTTP/1.0\r\nHost: ${t}.fuzz.test\r\nX-Fuzz: ${t}/${i}\r\nConnection: keep-alive\r\nContent-Length: 3\r\n\r\nabc`,
};
const SEED_NAMES = Object.keys(SEEDS) as SeedName[];

/** Transfer-Encoding and Content-Length lines, valid and not, spelled the ways parsers disagree on,
 *  and the other fields that change how a request is read or how long the connection lives. */
const ODD_LINES = [
  'Transfer-Encoding: chunked', 'Transfer-Encoding : chunked', 'Transfer-Encoding:\tchunked', 'Transfer-Encoding: chunked\t',
  'Transfer-Encoding: xchunked', 'Transfer-Encoding: chunked, identity', 'Transfer-Encoding: identity', 'Transfer-Encoding: gzip, chunked',
  'transfer-encoding: CHUNKED', 'Transfer-Encoding: "chunked"', 'Transfer-Encoding: chunked;q=1', 'Transfer_Encoding: chunked',
  ' Transfer-Encoding: chunked', 'Transfer-Encoding:\r\n chunked', 'Transfer-Encoding: ,chunked', 'Transfer-Encoding: chunked,',
  'Transfer-Encoding: chunked, chunked', 'X-A: b\nTransfer-Encoding: chunked', 'Transfer-Encoding: chu\rnked', 'Transfer-Encoding:',
  'Content-Length: 0', 'Content-Length: 5', 'Content-Length: 11', 'Content-Length : 5', 'Content-Length:\t5\t', 'Content-Length: 05',
  'Content-Length: +5', 'Content-Length: -1', 'Content-Length: 5, 5', 'Content-Length: 5,6', 'Content-Length: 0x5', 'Content-Length: 5.0',
  'Content-length: 99999999999999999999', 'Content-Length:', 'content-length: 3', 'Content-Length: 1 1', ' Content-Length: 5',
  'Content-Length\x00: 5', 'X-A: b\rContent-Length: 5',
  'Connection: close', 'Connection: keep-alive', 'Connection: Keep-Alive, close', 'Connection: content-length',
  'Connection: transfer-encoding', 'Proxy-Connection: close', 'Connection: upgrade\r\nUpgrade: h2c',
  'Connection: Upgrade\r\nUpgrade: websocket', 'Expect: 100-continue', 'Expect: 100-Continue', 'Expect: foo',
  'Host: other.fuzz.test', 'Host: a b', 'Host:', 'Host: [::1]:80',
];
const VERSIONS = ['HTTP/1.0', 'HTTP/1.1', 'HTTP/2.0', 'HTTP/0.9', 'HTTP/1.2', 'HTTP/1.10', 'HTTP/11', 'http/1.1', 'HTTP/1.1 ', 'HTTP /1.1', '', 'HTTP/3.0', 'HTTP/1.1\x00', 'HTTP/9.9', 'HTTP/1.01'];
const PALETTE = [...'\r\n\0 \t:;,-+=/"x0123456789abcdefABCDEF'].map((c) => c.charCodeAt(0)).concat([0x7f, 0x80, 0xff]);
const SPECIALS = ['\r', '\n', '\0', ' ', '\t', ':', '\r\n'];
const FIELD_LINE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+[ \t]*:/;

interface Early {
  /** Bytes written before the close (the whole case, or a prefix). */
  at: number;
  how: 'fin' | 'rst';
  delayMs: number;
}

interface Case {
  n: number;
  tag: string;
  base: SeedName[];
  mutations: string[];
  bytes: Buffer;
  /** What is written: `bytes`, or its prefix before an early close. */
  sent: Buffer;
  pieces: Buffer[];
  gapsMs: number[];
  early: Early | null;
}

/** [start, end) of every LF-terminated line. */
function linesOf(b: Buffer): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 0, s = 0; i < b.length; i++) if (b[i] === 0x0a) { out.push([s, i + 1]); s = i + 1; }
  return out;
}

const text = (b: Buffer, s: number, e: number) => b.toString('latin1', s, e);
const isFieldLine = (b: Buffer, [s, e]: [number, number]) => FIELD_LINE.test(text(b, s, e)) && !/ HTTP\/\d/.test(text(b, s, e));
const splice = (b: Buffer, s: number, e: number, ins: string | Buffer) =>
  Buffer.concat([b.subarray(0, s), typeof ins === 'string' ? Buffer.from(ins, 'latin1') : ins, b.subarray(e)]);

function makeCase(n: number): Case {
  const rnd = mulberry32((SEED ^ Math.imul(n + 1, 0x9e3779b1)) >>> 0);
  const int = (k: number) => Math.floor(rnd() * k);
  const pick = <T>(a: readonly T[]): T => a[int(a.length)];
  const tag = tagOf(n);
  const r = rnd();
  const base = Array.from({ length: r < 0.5 ? 1 : r < 0.8 ? 2 : 3 }, () => pick(SEED_NAMES));
  let next = base.length;
  let b = Buffer.from(base.map((s, i) => SEEDS[s](tag, i)).join(''), 'latin1');
  const mutations: string[] = [];
  const count = int(10) === 0 ? 0 : 1 + int(3);
  for (let k = 0; k < count; k++) {
    const at = int(b.length + 1);
    const lines = linesOf(b);
    const fieldLines = lines.map((l, i) => [l, i] as const).filter(([l]) => isFieldLine(b, l));
    switch (int(11)) {
      case 0: {
        const i = Math.min(at, b.length - 1);
        const bit = int(8);
        b = Buffer.from(b);
        b[i] ^= 1 << bit;
        mutations.push(`flip bit ${bit} at ${i}`);
        break;
      }
      case 1: {
        const c = pick(PALETTE);
        b = splice(b, at, at, Buffer.from([c]));
        mutations.push(`insert 0x${c.toString(16)} at ${at}`);
        break;
      }
      case 2: {
        const len = 1 + int(3);
        b = splice(b, at, at + len, '');
        mutations.push(`delete ${len} at ${at}`);
        break;
      }
      case 3: {
        const ins = pick(SPECIALS);
        b = splice(b, at, at, ins);
        mutations.push(`insert ${JSON.stringify(ins)} at ${at}`);
        break;
      }
      case 4: {
        if (fieldLines.length === 0) break;
        const [[s, e]] = pick(fieldLines);
        b = splice(b, e, e, b.subarray(s, e));
        mutations.push(`duplicate field line ${JSON.stringify(text(b, s, e))}`);
        break;
      }
      case 5: {
        if (fieldLines.length === 0) break;
        const [[s, e]] = pick(fieldLines);
        mutations.push(`drop field line ${JSON.stringify(text(b, s, e))}`);
        b = splice(b, s, e, '');
        break;
      }
      case 6: {
        // Swap a field line with the one after it (or before it) in the same head.
        const swappable = fieldLines.filter(([, i]) => i + 1 < lines.length && isFieldLine(b, lines[i + 1]));
        if (swappable.length === 0) break;
        const [[s, e], i] = pick(swappable);
        const [s2, e2] = lines[i + 1];
        mutations.push(`swap field lines ${JSON.stringify(text(b, s, e))} and ${JSON.stringify(text(b, s2, e2))}`);
        b = splice(b, s, e2, Buffer.concat([b.subarray(s2, e2), b.subarray(s, e)]));
        break;
      }
      case 7: {
        // A Content-Length value or a chunk size.
        const sites: { s: number; e: number; hex: boolean }[] = [];
        const str = b.toString('latin1');
        for (const m of str.matchAll(/content-length[ \t]*:[ \t]*([0-9]+)/gi)) {
          const e = m.index + m[0].length;
          sites.push({ s: e - m[1].length, e, hex: false });
        }
        for (const [s, e] of lines) {
          const m = /^[0-9A-Fa-f]+(?=[;\r\n])/.exec(text(b, s, e));
          if (m !== null && !isFieldLine(b, [s, e])) sites.push({ s, e: s + m[0].length, hex: true });
        }
        if (sites.length === 0) break;
        const site = pick(sites);
        const old = text(b, site.s, site.e);
        const v = parseInt(old, site.hex ? 16 : 10);
        const fmt = (x: number) => Math.max(0, x).toString(site.hex ? 16 : 10);
        const nv = pick([fmt(v + 1), fmt(v - 1), '0', fmt(v + 1 + int(30)), fmt(v * 2), fmt(int(100)), `0${old}`, `${old}0`,
          site.hex ? 'fffffffffffffffff' : '99999999999999999999', `+${old}`, `-${old}`, `${old} ${old}`, `${old},${old}`, `0x${old}`,
          '', `${old} `, `${old}\t`, site.hex ? old.toUpperCase() : `${old}.0`]);
        b = splice(b, site.s, site.e, nv);
        mutations.push(`${site.hex ? 'chunk size' : 'Content-Length'} ${JSON.stringify(old)} -> ${JSON.stringify(nv)} at ${site.s}`);
        break;
      }
      case 8: {
        // A framing line where a field line could go: before a field line or a head's empty line.
        const spots = lines.filter((l, i) => i > 0 && (isFieldLine(b, lines[i - 1]) || / HTTP\/\d/.test(text(b, ...lines[i - 1]))))
          .map(([s]) => s);
        if (spots.length === 0) break;
        const s = pick(spots);
        const l = pick(ODD_LINES);
        b = splice(b, s, s, `${l}\r\n`);
        mutations.push(`insert line ${JSON.stringify(l)} at ${s}`);
        break;
      }
      case 9: {
        const seed = pick(SEED_NAMES);
        const starts = lines.map(([s]) => s).concat([b.length]);
        const s = int(2) === 0 ? pick(starts) : at;
        b = splice(b, s, s, SEEDS[seed](tag, next++));
        mutations.push(`splice in a ${seed} request at ${s}`);
        break;
      }
      default: {
        const sites = [...b.toString('latin1').matchAll(/HTTP\/\d\.\d/g)];
        if (sites.length === 0) break;
        const m = pick(sites);
        const v = pick(VERSIONS);
        b = splice(b, m.index, m.index + m[0].length, v);
        mutations.push(`version ${m[0]} -> ${JSON.stringify(v)} at ${m.index}`);
      }
    }
  }
  let early: Early | null = null;
  if (rnd() < 0.12) {
    early = { at: rnd() < 0.5 ? b.length : 1 + int(Math.max(1, b.length - 1)), how: rnd() < 0.5 ? 'fin' : 'rst', delayMs: int(6) };
  }
  const sent = early === null ? b : b.subarray(0, early.at);
  // 0-4 random cuts, and one after each Expect head so the client waits a moment for the 100
  // there, as a client does.
  const cuts = new Map<number, number>();
  for (let k = int(5); k > 0; k--) cuts.set(1 + int(Math.max(1, sent.length - 1)), int(4));
  for (const m of sent.toString('latin1').matchAll(/Expect:[^\n]*\n(?:[^\n]*\n)*?\r?\n/gi)) {
    cuts.set(m.index + m[0].length, 15);
  }
  const pieces: Buffer[] = [];
  const gapsMs: number[] = [];
  let prev = 0;
  for (const c of [...cuts.keys()].filter((c) => c > 0 && c < sent.length).sort((x, y) => x - y)) {
    pieces.push(sent.subarray(prev, c));
    gapsMs.push(cuts.get(c)!);
    prev = c;
  }
  pieces.push(sent.subarray(prev));
  gapsMs.push(0);
  return { n, tag, base, mutations, bytes: b, sent, pieces, gapsMs, early };
}

// ---- the reference: RFC 9112 as the strict upstream reads it -----------------------------------

interface RefRequest { method: string; target: string; body: Buffer }
interface Ref {
  /** The requests read, in order, up to an invalid or unfinished one or a close. */
  reqs: RefRequest[];
  /** Everything sent is read as complete requests (to the end, or to a request that closes). */
  complete: boolean;
  stop: string;
}

function refParse(b: Buffer): Ref {
  const reqs: RefRequest[] = [];
  let at = 0;
  for (;;) {
    if (at === b.length) return { reqs, complete: reqs.length > 0, stop: 'end of bytes' };
    let p: ReturnType<typeof parseRequest>;
    try {
      p = parseRequest(b.subarray(at));
    } catch (e) {
      return { reqs, complete: false, stop: `invalid at ${at}: ${(e as Error).message}` };
    }
    if (p.kind === 'incomplete') return { reqs, complete: false, stop: `unfinished at ${at}` };
    reqs.push({ method: p.head.method, target: p.head.target, body: p.body });
    at += p.used;
    if (p.head.close) return { reqs, complete: true, stop: `close after request ${reqs.length - 1}` };
  }
}

// ---- the run -----------------------------------------------------------------------------------

let legate: Legate;
let port: number;
let up: StrictUpstream;

/** What each case did, for the checks after the lanes end (requests executed late). */
interface CaseRun {
  c: Case;
  t0: number;
  /** When its client was closed (Infinity while it runs). */
  t1: number;
  /** Problems already reported for it, so a late check does not report them twice. */
  reported: Set<number>;
  /** What its client got, for a late report. */
  got: string;
}
const runs = new Map<number, CaseRun>();
/** The upstream's records by sequence number, when each arrived, and the case it belongs to. */
const bySeq = new Map<number, UpRequest>();
const arrivedAt = new Map<number, number>();
const caseOfSeq = new Map<number, number | null>();
const errorsAt = new Map<UpError, number>();
/** x-up-seq -> the case whose client got that response. */
const receivedBy = new Map<number, number>();
/** Executed requests of each case (by tag), in arrival order. */
const executedBy = new Map<number, UpRequest[]>();

const CATCH_ALL = `
              - match: { prefix: "" }
                route: { cluster: upstream, timeout: 1s }`;

before(async () => {
  up = await strictUpstream();
  track(() => up.close());
  // The fixture pushes every record to these arrays: note when each came and whose it is.
  const reqPush = up.requests.push.bind(up.requests);
  up.requests.push = (...items: UpRequest[]) => {
    for (const q of items) {
      bySeq.set(q.seq, q);
      arrivedAt.set(q.seq, Date.now());
      const tags = tagsIn(q.raw);
      const n = tags.length === 1 ? tags[0] : null;
      caseOfSeq.set(q.seq, n);
      if (n !== null) {
        const list = executedBy.get(n) ?? [];
        list.push(q);
        executedBy.set(n, list);
      }
    }
    return reqPush(...items);
  };
  const errPush = up.errors.push.bind(up.errors);
  up.errors.push = (...items: UpError[]) => {
    for (const e of items) errorsAt.set(e, Date.now());
    return errPush(...items);
  };
  legate = await legateFor(proxyConfig([up.port], { routes: CATCH_ALL }), {}, 'SIGKILL');
  port = legate.port('proxy');
});

const alive = () => legate.proc.exitCode === null && legate.proc.signalCode === null;

interface Resp {
  res: RawResponse;
  /** x-up-seq: the upstream's response; null: Legate's own. */
  seq: number | null;
}
interface View { all: Resp[]; finals: Resp[]; rest: Buffer; error: string | null }

/** The responses in the client's bytes so far. A HEAD's response has no body: for the upstream's,
 *  its record says the method; a local reply whose body is missing is followed by the next
 *  response or by nothing (`settled`: no more bytes will come). */
function responsesIn(buf: Buffer, ended: boolean, settled: boolean): View {
  const all: Resp[] = [];
  for (;;) {
    let p: ReturnType<typeof parseResponse>;
    let seq: number | null = null;
    try {
      const h = parseResponse(buf, { head: true });
      if (h === null) break;
      const s = h.res.headers['x-up-seq'];
      seq = s === undefined ? null : Number(s);
      let head = false;
      if (seq !== null) head = bySeq.get(seq)?.method === 'HEAD';
      else if (h.res.status >= 200) {
        const rest = buf.subarray(h.used);
        head = rest.subarray(0, 5).toString('latin1') === 'HTTP/' || (rest.length === 0 && (ended || settled));
      }
      p = parseResponse(buf, { head, ended });
    } catch (e) {
      return { all, finals: all.filter((r) => r.res.status >= 200), rest: buf, error: (e as Error).message };
    }
    if (p === null || p.used === 0) break;
    all.push({ res: p.res, seq });
    buf = buf.subarray(p.used);
  }
  return { all, finals: all.filter((r) => r.res.status >= 200), rest: buf, error: null };
}

const esc = (b: Buffer | string, max = 700) => {
  const s = JSON.stringify(typeof b === 'string' ? b : b.toString('latin1'));
  return s.length > max ? `${s.slice(0, max)}…(${s.length} chars)` : s;
};
/** Legate's own reply: neither the upstream's response nor its 400 for what it could not parse. */
const isLocal = (r: Resp) => r.seq === null && r.res.headers['x-up-error'] === undefined;
/** A local reply that ends the connection: nothing may be answered after it. */
const isRefusal = (r: Resp) => isLocal(r) && r.res.headers.connection === 'close';
/** Any response that announces the close (RFC 9112 9.6): nothing may follow it. */
const isClosing = (r: Resp) => r.res.headers.connection === 'close';
/** Local statuses for a request that cannot be read: the connection must close after them. */
const FRAMING_STATUSES = new Set([400, 413, 414, 431, 501, 505]);
const showResp = (rs: Resp[]) => rs.map((r) => `${r.res.status}${r.seq !== null ? ` up#${r.seq}` : r.res.headers['x-up-error'] !== undefined ? ' up-error' : ' local'}` +
  `${r.res.headers.connection === 'close' ? ' close' : ''}`).join(', ') || 'none';
const showReq = (q: UpRequest) => `#${q.seq} conn ${q.conn} ${esc(q.raw, 400)}`;

interface Tally {
  cases: number; mutated: number; early: number; forwarded: number; local: number; refusals: number;
  executed: number; refComplete: number; unansweredAfterEarlyClose: number; unattributed: number;
  /** Legate refused a request the reference reads as valid (allowed). */
  stricter: number;
  /** Legate forwarded a request past one the reference finds invalid (allowed when what it
   *  forwarded parses strictly). */
  lenient: number;
  examples: { stricter: string[]; lenient: string[] };
}

/** Wait for an event on the client or `ms`, whichever is first. */
async function tick(c: RawClient, ms: number): Promise<void> {
  let first = true;
  try {
    await c.until(() => {
      if (first) { first = false; return undefined; }
      return true;
    }, ms, 'an event');
  } catch { /* the time ran out: that is the tick */ }
}

/** One case on a fresh connection: what went wrong (each line a kind of failure) and the context. */
async function runCase(n: number, tally: Tally): Promise<{ kinds: string[]; ctx: string }> {
  const c = makeCase(n);
  const ref = refParse(c.sent);
  const run: CaseRun = { c, t0: Date.now(), t1: Infinity, reported: new Set(), got: '' };
  runs.set(n, run);
  tally.cases++;
  if (c.mutations.length > 0) tally.mutated++;
  if (c.early !== null) tally.early++;
  if (ref.complete && c.early === null) tally.refComplete++;
  const kinds: string[] = [];
  let client: RawClient;
  try {
    client = await RawClient.connect(port, 2000);
  } catch (e) {
    run.t1 = Date.now();
    return { kinds: [`could not connect to Legate: ${(e as Error).message}`], ctx: '' };
  }
  let lastData = Date.now();
  client.socket.on('data', () => { lastData = Date.now(); });
  let writeError = '';
  let weClosed = false;
  let view: View;
  try {
    for (let i = 0; i < c.pieces.length; i++) {
      if (client.ended) break;
      try {
        await withTimeout(client.write(c.pieces[i]), 2000, 'a write');
      } catch (err) {
        // Legate may close (and reset) while the rest of a refused case is still being written.
        writeError = (err as Error).message;
        break;
      }
      if (c.gapsMs[i] > 0) await sleep(c.gapsMs[i]);
    }
    if (c.early !== null) {
      await sleep(c.early.delayMs);
      weClosed = true;
      if (c.early.how === 'fin') client.socket.end();
      else client.socket.resetAndDestroy();
    }
    const written = Date.now();
    const bound = Math.max(1, c.sent.toString('latin1').split('HTTP/').length - 1);
    const quietMs = ref.complete && c.early === null ? QUIET_COMPLETE_MS : QUIET_MS;
    let boundAt = 0;
    for (;;) {
      if (client.closed || (weClosed && c.early!.how === 'rst')) break;
      view = responsesIn(client.buf, client.ended, false);
      if (client.ended || view.error !== null) break;
      const now = Date.now();
      if (now - written > CASE_MS) break;
      const refused = view.finals.some(isClosing);
      // All the responses there can be: a moment more for any extra one, unless a closing
      // response still has to be followed by the close.
      if (view.finals.filter((r) => !isRefusal(r)).length >= bound && !refused) {
        if (boundAt === 0) boundAt = now;
        else if (now - boundAt >= 30) break;
      }
      const got = new Set(view.all.map((r) => r.seq));
      const owed = (executedBy.get(n) ?? []).some((q) => !got.has(q.seq));
      if (!refused && !owed && view.rest.length === 0 && now - Math.max(lastData, written) >= quietMs) break;
      await tick(client, 20);
    }
    if (!client.ended && !weClosed) await sleep(10);
    view = responsesIn(client.buf, client.ended, true);
  } finally {
    client.destroy();
    run.t1 = Date.now();
  }
  const endedByLegate = client.ended && !weClosed;
  run.got = `${showResp(view.all)}; ${endedByLegate ? 'Legate closed' : weClosed ? 'the client closed' : 'connection open'}`;

  // ---- invariants ----
  const { finals } = view;
  for (const r of view.all) if (r.seq !== null) receivedBy.set(r.seq, n);
  tally.forwarded += finals.filter((r) => r.seq !== null).length;
  tally.local += finals.filter(isLocal).length;
  tally.refusals += finals.filter(isRefusal).length;
  if (view.error !== null) kinds.push(`bytes that are not HTTP responses: ${view.error}`);
  else if (endedByLegate && view.rest.length > 0) kinds.push('a response cut short by Legate\'s close');
  const bound = Math.max(1, c.sent.toString('latin1').split('HTTP/').length - 1);
  // A closing refusal may answer bytes that are no request line at all (garbage after a body);
  // any other response answers a request line.
  const answers = finals.filter((r) => !isRefusal(r)).length;
  if (answers > bound) kinds.push(`${answers} final responses (besides a refusal) for at most ${bound} request line(s) sent`);
  const seen = new Set<number>();
  for (const r of finals) {
    if (r.seq === null) continue;
    if (seen.has(r.seq)) kinds.push(`two responses carry x-up-seq ${r.seq}`);
    seen.add(r.seq);
    const q = bySeq.get(r.seq);
    if (q === undefined) {
      kinds.push(`a response claims upstream request #${r.seq}, which the upstream never executed`);
      continue;
    }
    const owner = caseOfSeq.get(r.seq);
    if (owner !== null && owner !== undefined && owner !== n) kinds.push(`got the response to case ${owner}'s request #${r.seq}`);
    const want = q.method === 'HEAD' ? '' : `${q.method} ${q.target}`;
    if (r.res.body.toString('latin1') !== want) {
      kinds.push(`response #${r.seq} does not belong to its request (desync): body ${esc(r.res.body, 120)}, request ${esc(`${q.method} ${q.target}`, 120)}`);
    }
  }
  for (const r of finals) {
    if (isLocal(r) && FRAMING_STATUSES.has(r.res.status) && r.res.headers.connection !== 'close') {
      kinds.push(`a local ${r.res.status} without connection: close`);
    }
  }
  const refusal = finals.findIndex(isRefusal);
  const closing = finals.findIndex(isClosing);
  if (closing !== -1) {
    const what = `${isLocal(finals[closing]) ? 'a local' : 'an upstream'} ${finals[closing].res.status} with connection: close`;
    if (closing !== finals.length - 1) kinds.push(`responses after ${what}`);
    if (!weClosed && !client.ended) kinds.push(`the connection stayed open after ${what}`);
  }
  const executed = executedBy.get(n) ?? [];
  tally.executed += executed.length;
  const got = new Set(view.all.map((r) => r.seq));
  for (const q of executed) {
    if (got.has(q.seq)) continue;
    run.reported.add(q.seq);
    if (c.early !== null) {
      tally.unansweredAfterEarlyClose++;
      continue;
    }
    kinds.push(`the upstream executed a request (${q.method}) whose response the client never got`);
  }
  // ---- against the reference ----
  for (let i = 0; i < Math.min(finals.length, ref.reqs.length); i++) {
    const r = finals[i];
    const q = r.seq === null ? undefined : bySeq.get(r.seq);
    if (q === undefined) continue;
    const want = ref.reqs[i];
    if (q.method !== want.method || !q.body.equals(want.body)) {
      kinds.push(`response ${i} is from a request framed unlike RFC 9112 reads request ${i}: upstream got ${q.method} with body ${esc(q.body, 120)}; ` +
        `the bytes say ${want.method} with body ${esc(want.body, 120)}`);
    }
  }
  // Where Legate and the reference part ways without breaking anything: shown, not failed.
  if (refusal !== -1 && refusal < ref.reqs.length && c.early === null) {
    tally.stricter++;
    if (tally.examples.stricter.length < 3) tally.examples.stricter.push(`case ${n}: request ${refusal} ${esc(c.sent, 400)}`);
  }
  if (!ref.complete && !ref.stop.startsWith('unfinished') && finals.slice(ref.reqs.length).some((r) => r.seq !== null)) {
    tally.lenient++;
    if (tally.examples.lenient.length < 3) tally.examples.lenient.push(`case ${n}: ${ref.stop}; ${esc(c.sent, 400)}`);
  }
  if (ref.complete && c.early === null && view.error === null && closing === -1 && finals.length < ref.reqs.length) {
    kinds.push(`${ref.reqs.length} complete request(s) by the reference got ${finals.length} response(s), ${endedByLegate ? 'then Legate closed' : 'and the connection stayed open'}`);
  }

  const ctx = context(n, c, ref, client, view, endedByLegate, weClosed, writeError);
  return { kinds, ctx };
}

function context(n: number, c: Case, ref: Ref, client: RawClient, view: View, endedByLegate: boolean, weClosed: boolean, writeError: string): string {
  const executed = executedBy.get(n) ?? [];
  const ours = (b: Buffer) => tagsIn(b).includes(n);
  return [
    `  replay: LEGATE_FUZZ_SEED=${SEED} LEGATE_FUZZ_CASE=${n}`,
    `  base ${c.base.join(' + ')}; mutations: ${c.mutations.join('; ') || 'none'}` +
      `${c.early !== null ? `; early ${c.early.how} after ${c.early.at} of ${c.bytes.length} bytes` : ''}`,
    `  bytes sent: ${esc(c.sent)}`,
    `  pieces: ${c.pieces.map((p) => p.length).join('+')} bytes, gaps ${JSON.stringify(c.gapsMs)} ms`,
    `  reference (RFC 9112): ${ref.reqs.map((q) => `${q.method} ${esc(q.target, 80)} body ${esc(q.body, 60)}`).join(', ') || 'no request'}; then ${ref.stop}`,
    `  client got: ${showResp(view.all)}; ${endedByLegate ? 'Legate closed' : weClosed ? 'the client closed' : 'connection open'}` +
      `${writeError !== '' ? ` (write failed: ${writeError})` : ''}; bytes ${esc(client.buf, 500)}`,
    `  upstream executed: ${executed.map(showReq).join('\n    ') || 'nothing'}`,
    `  upstream errors: ${up.errors.filter((e) => ours(e.bytes)).map((e) => `conn ${e.conn} ${e.reason}: ${esc(e.bytes, 400)}`).join('; ') || 'none'}`,
    `  upstream saw unfinished: ${up.aborted.filter((a) => ours(a.bytes)).map((a) => `conn ${a.conn}: ${esc(a.bytes, 300)}`).join('; ') || 'none'}`,
  ].join('\n');
}

/** The cases whose client was open at `t` (and a moment after it closed). */
function inFlight(t: number): number[] {
  return [...runs].filter(([, r]) => r.t0 <= t && t <= r.t1 + 100).map(([n]) => n);
}

/** After the lanes: upstream errors, and executed requests no client got a response for (late or
 *  without a tag). Each as [case or null, kind, context]. */
function lateChecks(tally: Tally): [number | null, string, string][] {
  const out: [number | null, string, string][] = [];
  const blame = (tags: number[], t: number): { n: number | null; who: string } => {
    if (tags.length > 0 && runs.has(tags[0])) return { n: tags[0], who: `case ${tags[0]} (by its tag)` };
    const cands = inFlight(t);
    return { n: cands[0] ?? null, who: `one of the cases in flight: ${cands.join(', ') || 'none'}` };
  };
  for (const e of up.errors) {
    const { n, who } = blame(tagsIn(e.bytes), errorsAt.get(e) ?? 0);
    out.push([n, `what Legate forwarded does not parse strictly: ${e.reason}`,
      `  from ${who}; upstream conn ${e.conn}, error at byte ${e.at} of ${esc(e.bytes, 800)}${n !== null ? `\n${caseSummary(n)}` : ''}`]);
  }
  for (const [seq, q] of bySeq) {
    if (receivedBy.has(seq) || q.target.startsWith('/z/sanity')) continue;
    const owner = caseOfSeq.get(seq) ?? null;
    const t = arrivedAt.get(seq) ?? 0;
    if (owner !== null && runs.get(owner)?.reported.has(seq)) continue;
    const { n, who } = blame(owner === null ? [] : [owner], t);
    if (owner === null) tally.unattributed++;
    const suspects = owner !== null ? [owner] : inFlight(t);
    if (suspects.length > 0 && suspects.some((k) => runs.get(k)!.c.early !== null)) {
      tally.unansweredAfterEarlyClose++;
      continue;
    }
    const r = n === null ? undefined : runs.get(n);
    const when = r === undefined ? '' : t > r.t1 ? `, ${t - r.t1} ms after the client closed` : ', while the client was open';
    out.push([n, `the upstream executed a request (${q.method}) whose response no client got`,
      `  from ${who}${when}: ${showReq(q)}${n !== null ? `\n${caseSummary(n)}` : ''}`]);
  }
  return out;
}

function caseSummary(n: number): string {
  const { c, got } = runs.get(n)!;
  return `  replay: LEGATE_FUZZ_SEED=${SEED} LEGATE_FUZZ_CASE=${n}\n  base ${c.base.join(' + ')}; mutations: ${c.mutations.join('; ') || 'none'}` +
    `${c.early !== null ? `; early ${c.early.how} after ${c.early.at} bytes` : ''}\n  bytes sent: ${esc(c.sent)}\n  client got: ${got}`;
}

/** Failures told apart by what went wrong, not by the bytes (quoted text and numbers blanked). */
function failureClass(kind: string): string {
  return kind.replace(/"(?:[^"\\]|\\.)*"/g, '"…"').replace(/\d+/g, 'N');
}

test(`mutated downstream requests for ${FUZZ_MS} ms (seed ${SEED}${ONLY_CASE !== null ? `, case ${ONLY_CASE}` : ''})`, async (t) => {
  const tally: Tally = {
    cases: 0, mutated: 0, early: 0, forwarded: 0, local: 0, refusals: 0, executed: 0, refComplete: 0,
    unansweredAfterEarlyClose: 0, unattributed: 0, stricter: 0, lenient: 0, examples: { stricter: [], lenient: [] },
  };
  // Per failure class: how many cases, and the first two in full.
  const failures = new Map<string, { count: number; examples: string[] }>();
  const record = (n: number | null, kind: string, ctx: string) => {
    const key = failureClass(kind);
    const f = failures.get(key) ?? { count: 0, examples: [] };
    f.count++;
    if (f.examples.length < 2) f.examples.push(`case ${n ?? '?'}: ${kind}\n${ctx}`);
    failures.set(key, f);
  };
  let died = false;
  const one = async (n: number) => {
    const { kinds, ctx } = await runCase(n, tally);
    for (const k of kinds) record(n, k, ctx);
    if (ONLY_CASE !== null) t.diagnostic(`case ${n}:\n${ctx}`);
    if (!alive()) {
      died = true;
      record(n, 'Legate exited', `  exit ${legate.proc.exitCode} ${legate.proc.signalCode}; cases in flight: ${inFlight(Date.now()).join(', ')}\n${legate.stderr().slice(-2000)}`);
    }
  };
  if (ONLY_CASE !== null) {
    await one(ONLY_CASE);
  } else {
    const deadline = Date.now() + FUZZ_MS;
    await Promise.all(Array.from({ length: LANES }, async (_, k) => {
      for (let n = k; Date.now() < deadline && failures.size < MAX_FAILURES && !died; n += LANES) await one(n);
    }));
  }
  // Late arrivals have had time to land.
  await sleep(200);
  for (const [n, kind, ctx] of lateChecks(tally)) record(n, kind, ctx);
  const { examples, ...counts } = tally;
  t.diagnostic(`seed ${SEED}: ${JSON.stringify(counts)}`);
  for (const e of examples.stricter) t.diagnostic(`refused, though the reference reads it as valid: ${e}`);
  for (const e of examples.lenient) t.diagnostic(`forwarded past what the reference finds invalid: ${e}`);

  // Legate is still up and serving, each request on a fresh connection answered with its own response.
  assert.ok(alive(), `legate exited: ${legate.proc.exitCode} ${legate.proc.signalCode}\n${legate.stderr().slice(-2000)}`);
  for (let i = 0; i < 3; i++) {
    const s = await RawClient.connect(port);
    track(async () => s.destroy());
    await s.write(`GET /z/sanity/${i} HTTP/1.1\r\nHost: fuzz.test\r\n\r\n`);
    const r = await s.readResponse({ timeoutMs: 3000 });
    s.destroy();
    assert.equal(r.status, 200, `sanity ${i}: ${r.statusLine} ${r.body.toString('latin1')}`);
    assert.equal(r.body.toString('latin1'), `GET /z/sanity/${i}`, `sanity ${i} got another request's response`);
  }

  if (failures.size > 0) {
    const report = [...failures].map(([k, f]) => `${f.count} case(s): ${k}\n${f.examples.join('\n\n')}`).join('\n\n');
    assert.fail(`seed ${SEED}: ${failures.size} kind(s) of failure (replay with LEGATE_FUZZ_SEED=${SEED})\n${report}`);
  }
});
