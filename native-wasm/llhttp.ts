// llhttp, compiled to WASM, as the `undici` package ships it (the version is pinned exactly in
// package.json; test/native-wasm/llhttp.test.ts asserts every export used here exists).
//
// Design note
// - One WebAssembly instance per thread (module-level, created lazily). Each HTTP/1 connection owns
//   an `llhttp_t` struct inside that instance (llhttp_alloc), so a thread parses any number of
//   connections with one instance and one shared input area.
// - execute() copies the chunk into the instance's input area (grown in 4 KiB steps, never shrunk)
//   and runs llhttp over it. The callbacks llhttp makes give offsets into that area; the binding
//   turns them into ranges of the *original chunk* (same offset), not of WASM memory: a handler gets
//   (chunk, start, end) and takes a string (`latin1Slice`) or a view (`subarray`) as it needs, so
//   nothing is allocated for it and no byte is copied a second time (undici's trick, minus the
//   per-callback Buffer object).
// - execute() is synchronous and never re-enters the same parser, but a handler may start
//   another parser's execute; the current parser/chunk/input area are saved and restored around
//   every call, and a nested call copies its chunk into a separate allocation so it cannot move
//   or overwrite the input area the outer call is still parsing.
// - A callback returns 0 to go on, or ERROR.PAUSED to stop llhttp at that byte; execute() then
//   returns PAUSED and `errorOffset()` tells where the unparsed rest of the chunk starts.
import { Buffer } from 'node:buffer';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export const TYPE = { REQUEST: 1, RESPONSE: 2 } as const;
export const ERROR = {
  OK: 0,
  PAUSED: 21,
  PAUSED_UPGRADE: 22,
  USER: 24,
} as const;

/** What a parser reports to; every method returns 0 (go on) or ERROR.PAUSED. Data callbacks get
 *  the caller's chunk and a [start, end) range in it, valid for as long as the chunk is. */
export interface ParserHandler {
  onMessageBegin(): number;
  onUrl(chunk: Buffer, start: number, end: number): number;
  onStatus(chunk: Buffer, start: number, end: number): number;
  onHeaderField(chunk: Buffer, start: number, end: number): number;
  onHeaderValue(chunk: Buffer, start: number, end: number): number;
  /** Return 0, 1 (message has no body, e.g. a response to HEAD), 2 (upgrade), or -1 (error). */
  onHeadersComplete(statusCode: number, upgrade: number, shouldKeepAlive: number): number;
  onBody(chunk: Buffer, start: number, end: number): number;
  onMessageComplete(): number;
}

interface LlhttpExports {
  memory: WebAssembly.Memory;
  _initialize?: () => void;
  llhttp_alloc(type: number): number;
  llhttp_free(p: number): void;
  malloc(n: number): number;
  free(p: number): void;
  llhttp_execute(p: number, data: number, len: number): number;
  llhttp_finish(p: number): number;
  llhttp_resume(p: number): void;
  llhttp_reset(p: number): void;
  llhttp_get_method(p: number): number;
  llhttp_get_http_major(p: number): number;
  llhttp_get_http_minor(p: number): number;
  llhttp_get_error_reason(p: number): number;
  llhttp_get_error_pos(p: number): number;
  llhttp_message_needs_eof(p: number): number;
  llhttp_should_keep_alive(p: number): number;
}

/** The exports this binding calls; the version test checks the shipped WASM has all of them. */
export const REQUIRED_EXPORTS = [
  'memory', 'llhttp_alloc', 'llhttp_free', 'malloc', 'free', 'llhttp_execute', 'llhttp_finish',
  'llhttp_resume', 'llhttp_reset', 'llhttp_get_method', 'llhttp_get_http_major',
  'llhttp_get_http_minor', 'llhttp_get_error_reason', 'llhttp_get_error_pos',
  'llhttp_message_needs_eof', 'llhttp_should_keep_alive',
] as const;

// llhttp's method numbering (llhttp/constants METHODS), the ones an HTTP proxy sees.
const METHOD_NAMES: string[] = [];
{
  const m: Record<string, number> = {
    DELETE: 0, GET: 1, HEAD: 2, POST: 3, PUT: 4, CONNECT: 5, OPTIONS: 6, TRACE: 7, COPY: 8,
    LOCK: 9, MKCOL: 10, MOVE: 11, PROPFIND: 12, PROPPATCH: 13, SEARCH: 14, UNLOCK: 15, BIND: 16,
    REBIND: 17, UNBIND: 18, ACL: 19, REPORT: 20, MKACTIVITY: 21, CHECKOUT: 22, MERGE: 23,
    'M-SEARCH': 24, NOTIFY: 25, SUBSCRIBE: 26, UNSUBSCRIBE: 27, PATCH: 28, PURGE: 29,
    MKCALENDAR: 30, LINK: 31, UNLINK: 32, SOURCE: 33, QUERY: 46,
  };
  for (const k of Object.keys(m)) METHOD_NAMES[m[k]] = k;
}

let instance: LlhttpExports | null = null;
let inputPtr = 0;
let inputSize = 0;
// The parser and chunk llhttp is running over right now (see design note).
let current: HttpParser | null = null;
let currentChunk: Buffer = Buffer.alloc(0);
let currentBase = 0;
/** A byte view of the instance's memory, remade only after the memory grew (which detaches it). */
let memView: Uint8Array = new Uint8Array(0);

function load(): LlhttpExports {
  let mod: WebAssembly.Module;
  try {
    mod = new WebAssembly.Module(require('undici/lib/llhttp/llhttp_simd-wasm.js') as unknown as BufferSource);
  } catch {
    // No WASM SIMD on this CPU/engine: the scalar build.
    mod = new WebAssembly.Module(require('undici/lib/llhttp/llhttp-wasm.js') as unknown as BufferSource);
  }
  const env = {
    wasm_on_message_begin: (_p: number) => current!.handler.onMessageBegin(),
    wasm_on_url: (_p: number, at: number, len: number) =>
      current!.handler.onUrl(currentChunk, at - currentBase, at - currentBase + len),
    wasm_on_status: (_p: number, at: number, len: number) =>
      current!.handler.onStatus(currentChunk, at - currentBase, at - currentBase + len),
    wasm_on_header_field: (_p: number, at: number, len: number) =>
      current!.handler.onHeaderField(currentChunk, at - currentBase, at - currentBase + len),
    wasm_on_header_value: (_p: number, at: number, len: number) =>
      current!.handler.onHeaderValue(currentChunk, at - currentBase, at - currentBase + len),
    wasm_on_headers_complete: (_p: number, status: number, upgrade: number, keepAlive: number) =>
      current!.handler.onHeadersComplete(status, upgrade, keepAlive),
    wasm_on_body: (_p: number, at: number, len: number) =>
      current!.handler.onBody(currentChunk, at - currentBase, at - currentBase + len),
    wasm_on_message_complete: (_p: number) => current!.handler.onMessageComplete(),
  };
  const inst = new WebAssembly.Instance(mod, { env });
  const exp = inst.exports as unknown as LlhttpExports;
  if (typeof exp._initialize === 'function') exp._initialize();
  return exp;
}

export function llhttp(): LlhttpExports {
  if (instance === null) instance = load();
  return instance;
}

export class HttpParser {
  readonly handler: ParserHandler;
  ptr: number;
  #ll: LlhttpExports;
  /** Offset in the last chunk where parsing stopped (valid after PAUSED or an error). */
  errorOffset: number;

  constructor(type: number, handler: ParserHandler) {
    this.#ll = llhttp();
    this.handler = handler;
    this.ptr = this.#ll.llhttp_alloc(type);
    this.errorOffset = 0;
  }

  /** Parse a chunk; returns llhttp's errno (0 = OK, ERROR.PAUSED, or an error). */
  execute(chunk: Buffer): number {
    const ll = this.#ll;
    const len = chunk.length;
    const nested = current !== null;
    let base: number;
    if (!nested) {
      if (len > inputSize) {
        if (inputPtr !== 0) ll.free(inputPtr);
        inputSize = Math.ceil(len / 4096) * 4096;
        inputPtr = ll.malloc(inputSize);
      }
      base = inputPtr;
    } else {
      base = ll.malloc(len === 0 ? 1 : len);
    }
    // After malloc: a grown WASM memory has a new buffer (and the old view reads as empty).
    if (memView.byteLength === 0) memView = new Uint8Array(ll.memory.buffer);
    memView.set(chunk, base);
    const prevParser = current;
    const prevChunk = currentChunk;
    const prevBase = currentBase;
    current = this;
    currentChunk = chunk;
    currentBase = base;
    const ret = ll.llhttp_execute(this.ptr, base, len);
    if (ret !== 0) this.errorOffset = ll.llhttp_get_error_pos(this.ptr) - base;
    current = prevParser;
    currentChunk = prevChunk;
    currentBase = prevBase;
    if (nested) ll.free(base);
    return ret;
  }

  /** Signal EOF (for bodies delimited by connection close). Returns errno. */
  finish(): number {
    const prev = current;
    current = this;
    const ret = this.#ll.llhttp_finish(this.ptr);
    current = prev;
    return ret;
  }

  resume(): void {
    this.#ll.llhttp_resume(this.ptr);
  }

  reset(): void {
    this.#ll.llhttp_reset(this.ptr);
  }

  method(): string {
    return METHOD_NAMES[this.#ll.llhttp_get_method(this.ptr)] ?? 'UNKNOWN';
  }

  httpMajor(): number {
    return this.#ll.llhttp_get_http_major(this.ptr);
  }

  httpMinor(): number {
    return this.#ll.llhttp_get_http_minor(this.ptr);
  }

  messageNeedsEof(): boolean {
    return this.#ll.llhttp_message_needs_eof(this.ptr) === 1;
  }

  errorReason(): string {
    const ll = this.#ll;
    const p = ll.llhttp_get_error_reason(this.ptr);
    if (p === 0) return '';
    const mem = new Uint8Array(ll.memory.buffer, p);
    const end = mem.indexOf(0);
    return Buffer.from(ll.memory.buffer, p, end < 0 ? 0 : end).toString('latin1');
  }

  destroy(): void {
    if (this.ptr !== 0) {
      this.#ll.llhttp_free(this.ptr);
      this.ptr = 0;
    }
  }
}
