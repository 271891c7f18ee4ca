// A header block kept as the bytes it arrived in, for headers a proxy forwards without reading.
//
// Measured with the proxy pinned to a core: handling the 7 headers nginx sends with each response
// (a string for every name and value, a list, and a new head text for the client) cost about
// 2 us of a 18 us request, more than parsing both messages. A response head from an upstream is
// therefore kept raw: its bytes are copied once into a private buffer, each line's name and value
// are noted as offsets, and a line nobody changes goes to the client as a byte copy (runs of
// adjacent lines in one copy). Lookups compare bytes; a filter that walks the whole list makes
// the block into ordinary strings (HeaderMap.headers).
//
// The block is not copied at all while it can stay where it was read: it points into the read
// chunk (the thread's shared read buffer, network/socket-owner.ts) until that read's dispatch
// ends. Then, if its stream still lives, it is copied out (detach); if the stream has ended, it is
// emptied. That is Envoy's rule for header maps, which belong to their stream: a filter must not
// keep one past its stream's end (onDestroy). A plain response (head and body in one read) so
// never copies its head.
import { Buffer } from 'node:buffer';
import { headerName } from './http1/header-names.ts';
import { atEndOfRead, type ReadScoped } from '../network/read-dispatch.ts';

const EMPTY = Buffer.alloc(0);

/** A block's producer drops its hop-by-hop lines (connection, transfer-encoding, ...) before
 *  handing it on: the codec writing it adds this hop's framing headers itself. */
export class RawHeaderBlock implements ReadScoped {
  /** The bytes the positions point into: the read chunk, then a private copy (see above). */
  buf: Buffer;
  /** Per line i: [4i] name start (-1: dropped), [4i+1] name end, [4i+2] value start, [4i+3]
   *  value end, all in `buf`. An empty value has start = end = name end + 1 (after the colon). */
  pos: number[];
  /** The line the producer found content-length on (-1: none), -2 when it did not look. */
  contentLengthLine: number;
  /** Its stream has ended (HeaderMap.release()): nothing may read it any more. */
  released: boolean;

  /** A block over `buf`; `transient` when `buf` is only valid until the current read dispatch
   *  ends (the block then detaches itself, see above). */
  constructor(buf: Buffer, pos: number[], transient = false) {
    this.buf = buf;
    this.pos = pos;
    this.contentLengthLine = -2;
    this.released = false;
    if (transient && !atEndOfRead(this)) this.detach();
  }

  /** End of the read it came from: copied out if its stream lives, emptied if not. */
  onEndOfRead(): void {
    if (!this.released) {
      this.detach();
    } else {
      this.buf = EMPTY;
      this.pos = [];
      this.contentLengthLine = -1;
    }
  }

  /** Copy the kept lines' bytes into a buffer of the block's own, positions moved with them. */
  detach(): void {
    const p = this.pos;
    let first = -1;
    let last = -1;
    for (let k = 0; k < p.length; k += 4) {
      if (p[k] < 0) continue; // dropped: never read again
      if (first < 0) first = p[k];
      last = p[k + 3];
    }
    if (first < 0) {
      this.buf = EMPTY;
      return;
    }
    const buf = Buffer.allocUnsafe(last - first);
    this.buf.copy(buf, 0, first, last);
    for (let k = 0; k < p.length; k++) if (p[k] >= 0) p[k] -= first;
    this.buf = buf;
  }

  /** Whether the line at `i` is still kept. */
  kept(i: number): boolean {
    return i >= 0 && this.pos[4 * i] >= 0;
  }

  /** The kept content-length line, or -1. */
  contentLengthAt(): number {
    const i = this.contentLengthLine;
    if (i === -2) return this.find('content-length');
    return this.kept(i) ? i : -1;
  }

  /** The first kept line named `name` (lowercase), or -1. */
  find(name: string, from = 0): number {
    const p = this.pos;
    const n = name.length;
    for (let k = from * 4; k < p.length; k += 4) {
      const ns = p[k];
      if (ns >= 0 && p[k + 1] - ns === n && this.nameIs(k >> 2, name)) return k >> 2;
    }
    return -1;
  }

  /** Whether line i's name is `name` (lowercase), given the lengths are equal. */
  nameIs(i: number, name: string): boolean {
    return this.#bytesAre(this.pos[4 * i], name);
  }

  /** Whether buf[at, at + lower.length) is `lower` (lowercase), ignoring ASCII case. */
  #bytesAre(at: number, lower: string): boolean {
    const b = this.buf;
    for (let j = 0; j < lower.length; j++) {
      let c = b[at + j];
      if (c >= 65 && c <= 90) c |= 0x20;
      if (c !== lower.charCodeAt(j)) return false;
    }
    return true;
  }

  value(i: number): string {
    return this.buf.latin1Slice(this.pos[4 * i + 2], this.pos[4 * i + 3]);
  }

  /** Line i's value as a non-negative decimal (a content-length), or -1 if it is not one. */
  decimalValue(i: number): number {
    const b = this.buf;
    const s = this.pos[4 * i + 2];
    let e = this.pos[4 * i + 3];
    // llhttp's value range keeps trailing whitespace.
    while (e > s && (b[e - 1] === 32 || b[e - 1] === 9)) e--;
    if (e === s || e - s > 15) return e === s ? -1 : Number(this.value(i));
    let n = 0;
    for (let j = s; j < e; j++) {
      const d = b[j] - 48;
      if (d < 0 || d > 9) return -1;
      n = n * 10 + d;
    }
    return n;
  }

  /** Whether line i's value is `v` (lowercase), ignoring ASCII case. */
  valueIs(i: number, v: string): boolean {
    const s = this.pos[4 * i + 2];
    return this.pos[4 * i + 3] - s === v.length && this.#bytesAre(s, v);
  }

  /** Drop every line named `name`. */
  drop(name: string): void {
    for (let i = this.find(name); i >= 0; i = this.find(name, i + 1)) this.pos[4 * i] = -1;
  }

  dropAt(i: number): void {
    this.pos[4 * i] = -1;
  }

  /** Bytes writeLines() writes. */
  linesLength(): number {
    const p = this.pos;
    let n = 0;
    for (let k = 0; k < p.length; k += 4) if (p[k] >= 0) n += p[k + 3] - p[k] + 2;
    return n;
  }

  /** Copy the kept lines into `out` at `off` ("name: value\r\n" each, names lowercased, as
   *  Envoy writes them); returns the end offset. */
  writeLines(out: Buffer, off: number): number {
    const p = this.pos;
    const b = this.buf;
    const end = p.length;
    for (let k = 0; k < end; k += 4) {
      const ls = p[k];
      if (ls < 0) continue;
      // A run: following kept lines that start right after this one's CRLF.
      const runOff = off;
      let last = k;
      while (last + 4 < end && p[last + 4] === p[last + 3] + 2 && b[p[last + 3]] === 13 && b[p[last + 3] + 1] === 10) {
        last += 4;
      }
      const ve = p[last + 3];
      off += b.copy(out, off, ls, ve);
      out[off++] = 13;
      out[off++] = 10;
      for (let q = k; q <= last; q += 4) {
        const o = runOff + p[q] - ls;
        const e = o + p[q + 1] - p[q];
        for (let j = o; j < e; j++) {
          const c = out[j];
          if (c >= 65 && c <= 90) out[j] = c | 0x20;
        }
      }
      k = last;
    }
    return off;
  }

  /** The kept lines as [name, value, ...] strings. */
  toList(): string[] {
    const p = this.pos;
    const out: string[] = [];
    for (let k = 0; k < p.length; k += 4) {
      if (p[k] >= 0) out.push(headerName(this.buf, p[k], p[k + 1]), this.buf.latin1Slice(p[k + 2], p[k + 3]));
    }
    return out;
  }
}
