// The protobuf wire format (https://protobuf.dev/programming-guides/encoding/), just what a data
// plane needs to speak a gRPC service without loading a .proto at run time: a writer for
// messages built field by field, and a reader that walks a message's fields (ext_authz's
// CheckRequest/CheckResponse, ratelimit's RateLimitRequest/RateLimitResponse). Field numbers come
// from the service's .proto (the callers name it); protobufjs stays on the main thread, where the
// config is validated.
import { Buffer } from 'node:buffer';

const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

/** The wire types a ProtoField's `wire` takes. */
export const Wire = { Varint: WIRE_VARINT, Len: WIRE_LEN } as const;

/** Builds one message. Nested messages are written into their own writer, then added with
 *  `message()` (their length is known then). */
export class ProtoWriter {
  #parts: Buffer[];
  #length: number;
  constructor() {
    this.#parts = [];
    this.#length = 0;
  }
  get length(): number { return this.#length; }

  #push(b: Buffer): void {
    this.#parts.push(b);
    this.#length += b.length;
  }

  #varint(n: number | bigint): void {
    const out: number[] = [];
    if (typeof n === 'number' && Number.isSafeInteger(n) && n >= 0) {
      // (Lengths, tags and most values: no BigInt needed.)
      while (n > 0x7f) {
        out.push((n % 128) | 0x80);
        n = Math.floor(n / 128);
      }
      out.push(n);
      this.#push(Buffer.from(out));
      return;
    }
    let v = BigInt.asUintN(64, BigInt(n));
    while (v > 0x7fn) {
      out.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    out.push(Number(v));
    this.#push(Buffer.from(out));
  }

  #tag(field: number, wire: number): void {
    this.#varint(field * 8 + wire);
  }

  /** int32/int64/uint32/uint64/bool/enum; proto3 leaves zero out. */
  varint(field: number, n: number | bigint | boolean): this {
    const v = typeof n === 'boolean' ? (n ? 1 : 0) : n;
    if (v === 0 || v === 0n) return this;
    this.#tag(field, WIRE_VARINT);
    this.#varint(v);
    return this;
  }

  /** A string field; proto3 leaves '' out. */
  string(field: number, s: string): this {
    if (s === '') return this;
    return this.bytes(field, Buffer.from(s, 'utf8'));
  }

  bytes(field: number, b: Buffer): this {
    if (b.length === 0) return this;
    this.#tag(field, WIRE_LEN);
    this.#varint(b.length);
    this.#push(b);
    return this;
  }

  /** A nested message (written even when empty: presence matters for messages). */
  message(field: number, m: ProtoWriter): this {
    this.#tag(field, WIRE_LEN);
    this.#varint(m.length);
    for (const p of m.#parts) this.#push(p);
    return this;
  }

  /** A map<string, string> field: one entry message (key = 1, value = 2) per pair. */
  stringMap(field: number, entries: Iterable<readonly [string, string]>): this {
    for (const [k, v] of entries) this.message(field, new ProtoWriter().string(1, k).string(2, v));
    return this;
  }

  finish(): Buffer {
    return this.#parts.length === 1 ? this.#parts[0] : Buffer.concat(this.#parts, this.#length);
  }
}

/** One field as the reader gives it: a varint's value (as a number; exact up to 2^53), or a
 *  length-delimited field's bytes (a view of the message). I32/I64 fields are skipped. */
export interface ProtoField {
  field: number;
  wire: number;
  varint: number;
  bytes: Buffer;
}

export class ProtoError extends Error {
  readonly code = 'LEGATE_ERR_PROTO';
}

const EMPTY = Buffer.alloc(0);

/** The fields of a message, in wire order; throws ProtoError on a malformed one. */
export function* protoFields(buf: Buffer): Generator<ProtoField> {
  let i = 0;
  const readVarint = (): number => {
    let v = 0;
    let mul = 1;
    for (let n = 0; n < 10; n++) {
      if (i >= buf.length) throw new ProtoError('truncated varint');
      const b = buf[i++];
      v += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) return v;
      mul *= 128;
    }
    throw new ProtoError('varint too long');
  };
  while (i < buf.length) {
    const tag = readVarint();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (wire === WIRE_VARINT) {
      yield { field, wire, varint: readVarint(), bytes: EMPTY };
    } else if (wire === WIRE_LEN) {
      const len = readVarint();
      if (i + len > buf.length) throw new ProtoError('truncated field');
      const bytes = buf.subarray(i, i + len);
      i += len;
      yield { field, wire, varint: 0, bytes };
    } else if (wire === WIRE_I64) {
      i += 8;
    } else if (wire === WIRE_I32) {
      i += 4;
    } else {
      throw new ProtoError(`unsupported wire type ${wire}`);
    }
    if (i > buf.length) throw new ProtoError('truncated field');
  }
}
