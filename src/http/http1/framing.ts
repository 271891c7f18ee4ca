// HTTP/1 message framing on the write side, shared by the server and client codecs.
//
// Syscalls dominate a proxy's profile (each socket.write that is not corked is a write(2) on
// loopback), so a message head is held back until the first body bytes arrive in the same tick
// and both go out as ONE Buffer; chunk framing is assembled the same way. Large bodies go through
// cork()/uncork(), which still ends in a single writev(2); Node may queue them for a slow reader,
// so a view of the shared read buffer is copied first (network/socket-owner.ts).
import { Buffer } from 'node:buffer';
import type { Socket } from 'node:net';
import { retain } from '../../network/socket-owner.ts';

const CRLF = Buffer.from('\r\n', 'latin1');
const LAST_CHUNK = Buffer.from('0\r\n\r\n', 'latin1');
/** Below this, copying into one Buffer beats a writev of several pieces. */
export const COPY_LIMIT = 16 * 1024;

/**
 * Write `head` (latin1 text or bytes; may be empty) and `body` (may be empty), framing the body as
 * one chunk when `chunked`, and the last-chunk marker when `chunked && end`. Returns the bytes
 * written.
 */
export function writeMessage(sock: Socket, head: string | Buffer, body: Buffer, chunked: boolean, end: boolean): number {
  const blen = body.length;
  if (blen <= COPY_LIMIT) {
    if (blen === 0 && !chunked) {
      if (head.length > 0) sock.write(head as string, 'latin1');
      return head.length;
    }
    const buf = framedBytes(head, body, chunked, end);
    if (buf.length > 0) sock.write(buf);
    return buf.length;
  }
  const prefix = chunked ? blen.toString(16) + '\r\n' : '';
  const corked = sock.writableCorked > 0;
  if (!corked) sock.cork();
  if (head.length > 0) sock.write(head as string, 'latin1');
  if (prefix.length > 0) sock.write(prefix, 'latin1');
  // Node may queue it (a slow reader): the bytes must outlive this read.
  sock.write(retain(body));
  if (chunked) {
    sock.write(CRLF);
    if (end) sock.write(LAST_CHUNK);
  }
  if (!corked) sock.uncork();
  return head.length + prefix.length + blen + (chunked ? 2 + (end ? 5 : 0) : 0);
}

/** What writeMessage writes, as one Buffer (also what a connection's write filters are given). */
export function framedBytes(head: string | Buffer, body: Buffer, chunked: boolean, end: boolean): Buffer {
  const blen = body.length;
  const prefix = chunked && blen > 0 ? blen.toString(16) + '\r\n' : '';
  const tailLen = chunked ? (blen > 0 ? 2 : 0) + (end ? 5 : 0) : 0;
  const buf = Buffer.allocUnsafe(head.length + prefix.length + blen + tailLen);
  let off = 0;
  if (head.length > 0) off += typeof head === 'string' ? buf.latin1Write(head, off) : head.copy(buf, off);
  if (prefix.length > 0) off += buf.latin1Write(prefix, off);
  if (blen > 0) off += body.copy(buf, off);
  if (chunked) {
    if (blen > 0) { buf[off++] = 13; buf[off++] = 10; }
    if (end) LAST_CHUNK.copy(buf, off);
  }
  return buf;
}
