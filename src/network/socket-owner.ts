// Socket event handlers shared by every connection object (downstream and upstream codecs).
//
// Handlers are module-level functions that find their owner through a symbol slot on the
// socket: no closure per connection. Every read dispatch is bracketed by enterRead/leaveRead
// (read-dispatch.ts), which freezes the clock and flushes held message heads when it ends.
//
// Reads land in ONE buffer per thread, shared by every socket the thread reads (Node's `onread`
// option, which bypasses the Readable stream: measured on a pinned L4 pass-through, user CPU per
// request falls from 4.0 to 2.3 us, nearly all of it the per-read ArrayBuffer allocation that the
// default read path makes). The price is a rule every consumer keeps: a read chunk's bytes are
// valid only during its synchronous dispatch; whatever outlives it (a queued write, bytes held
// for later parsing, a buffered body) goes through retain(), which copies views of the shared
// buffer. Client sockets get the buffer through net.connect's public `onread` option
// (clientReadOptions); accepted sockets, which net.Server cannot give one, are switched over in
// attachSocket through the same slots net.Socket keeps for that option, and fall back to 'data'
// events if this Node lacks them.
import { Buffer } from 'node:buffer';
import net, { type Socket } from 'node:net';
import { enterRead, leaveRead } from './read-dispatch.ts';
import { kConnectEvent } from './transport-socket.ts';

export interface SocketOwner {
  onData(chunk: Buffer): void;
  onDrain(): void;
  /** 'close' always follows 'error'; the owner does its accounting here. */
  onClose(): void;
  onEnd?(): void;
  onConnect?(): void;
}

const kOwner = Symbol('legate.socketOwner');

/** Node's default read size (64 KiB): one read takes what the kernel has, up to this. */
const READ_BUFFER_BYTES = 64 * 1024;
/** Marks the memory reads land in: the shared buffer and the sockets' own ones (below). */
const kReadMemory = Symbol('legate.readMemory');
const readBuffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
const readArrayBuffer = readBuffer.buffer;
(readArrayBuffer as any)[kReadMemory] = true;

/** The bytes of `b`, safe to keep past the current read dispatch (a copy when `b` is a view of
 *  read memory, `b` itself otherwise). */
export function retain(b: Buffer): Buffer {
  return inReadBuffer(b) ? Buffer.from(b) : b;
}

/** Whether `b` is a view of memory reads land in (the shared read buffer, or a socket's own read
 *  buffer): valid only during this read dispatch unless its reader says otherwise. */
export function inReadBuffer(b: Buffer): boolean {
  const ab = b.buffer;
  return ab === readArrayBuffer || (ab as any)[kReadMemory] === true;
}

// Own read buffers (bulk transfers: network/relay.ts). A socket moving large reads on would copy
// each out of the shared buffer before writing it (Node may queue the write past this read).
// Measured on one 1 GiB stream through tcp_proxy, that copy -- allocation, page faults, memmove,
// GC -- was about 40% of the relay's CPU. Instead such a socket reads into buffers of its own,
// written on as they are, and a buffer is read into again only once its write has completed.
// Node's `onread` option takes a function for that (kBufferGen: asked after every read for the
// buffer of the next one), which is set on the socket while it reads into its own buffers.

/** Own read buffers kept for reuse by this thread (64 KiB each). */
const POOL_MAX = 32;
const pool: Buffer[] = [];

/** A read buffer of the socket's own (from the thread's pool when it has one). */
export function takeReadBuffer(): Buffer {
  if (pool.length > 0) return pool.pop()!;
  return volatileBuffer(READ_BUFFER_BYTES);
}

/** A buffer of the owner's whose contents, like a read's, are valid only during the call that
 *  hands them on: retain() copies views of it. Read buffers are such; so is a compressor's output
 *  buffer (src/compression/zlib-stream.ts), which its output is handed on in. */
export function volatileBuffer(bytes: number): Buffer {
  const b = Buffer.allocUnsafeSlow(bytes);
  (b.buffer as any)[kReadMemory] = true;
  return b;
}

/** Give back a buffer from takeReadBuffer that nothing refers to any more. */
export function giveReadBuffer(b: Buffer): void {
  if (pool.length < POOL_MAX) pool.push(b);
}

/** Where `s` reads next: `next` is asked after every read for the buffer of the following one
 *  (a buffer from takeReadBuffer); null goes back to the shared buffer after the next read. False
 *  when `s` does not read through the shared-buffer path (nothing changes then). */
export function setReadBufferSource(s: Socket, next: (() => Buffer) | null): boolean {
  if (slots === null || !usesReadBuffer(s)) return false;
  const a = s as any;
  if (next !== null) {
    a[slots.gen] = next;
  } else if (a[slots.gen] !== null) {
    // The slot is read once the read's callback is done: the generator answering the shared
    // buffer switches back and clears itself.
    const gen = slots.gen;
    a[gen] = (): Buffer => {
      a[gen] = null;
      return readBuffer;
    };
  }
  return true;
}

/** Spread into net.connect's options: the socket reads into the shared buffer. */
export const clientReadOptions: { onread: net.OnReadOpts } = {
  onread: { buffer: readBuffer, callback: onRead as unknown as net.OnReadOpts['callback'] },
};

// The slots net.Socket keeps for the `onread` option, found by their descriptions.
const slots = ((): { buf: symbol; cb: symbol; gen: symbol } | null => {
  let buf: symbol | undefined;
  let cb: symbol | undefined;
  let gen: symbol | undefined;
  const probe = new net.Socket();
  for (const k of Object.getOwnPropertySymbols(probe)) {
    if (k.description === 'kBuffer') buf = k;
    else if (k.description === 'kBufferCb') cb = k;
    else if (k.description === 'kBufferGen') gen = k;
  }
  // (kBufferGen must start null: Node calls it after every read when it is anything else.)
  return buf !== undefined && cb !== undefined && gen !== undefined && (probe as any)[gen] === null
    ? { buf, cb, gen } : null;
})();

/** Switch an accepted socket to the shared read buffer; false when it must stay on 'data'. */
function adoptReadBuffer(s: Socket): boolean {
  const handle = (s as any)._handle;
  if (slots === null || handle == null || typeof handle.useUserBuffer !== 'function' || s.readableLength > 0) {
    return false;
  }
  (s as any)[slots.buf] = readBuffer;
  (s as any)[slots.cb] = onRead;
  handle.useUserBuffer(readBuffer);
  // Start reading if nothing has (a socket accepted paused and handed over by main), as adding
  // a 'data' listener would.
  s.resume();
  return true;
}

/** Whether `s` reads into the shared buffer (tests assert the fast path is in use). */
export function usesReadBuffer(s: Socket): boolean {
  return slots !== null && (s as any)[slots.cb] === onRead;
}

export function attachSocket(s: Socket, owner: SocketOwner): void {
  (s as any)[kOwner] = owner;
  if (!usesReadBuffer(s) && !adoptReadBuffer(s)) s.on('data', onData);
  s.on('drain', onDrain);
  s.on('error', onError);
  s.on('close', onClose);
  if (owner.onEnd !== undefined) s.on('end', onEnd);
  // (Only a socket still connecting will say so: not an accepted one. A TLS socket says so when
  // its handshake is done, on the event it names.)
  if (owner.onConnect !== undefined) {
    const ev = (s as any)[kConnectEvent] as string | undefined;
    if (ev !== undefined) s.on(ev, onConnect);
    else if (s.connecting) s.on('connect', onConnect);
  }
}

/** Give `owner` bytes read outside its socket's handlers (listener filters read them first), as
 *  one read dispatch. */
export function dispatchRead(owner: SocketOwner, chunk: Buffer): void {
  enterRead();
  owner.onData(chunk);
  leaveRead();
}

function onRead(this: Socket, nread: number, buf: Buffer): void {
  enterRead();
  ((this as any)[kOwner] as SocketOwner).onData(buf.subarray(0, nread));
  leaveRead();
}
function onData(this: Socket, chunk: Buffer): void {
  enterRead();
  ((this as any)[kOwner] as SocketOwner).onData(chunk);
  leaveRead();
}
function onDrain(this: Socket): void {
  ((this as any)[kOwner] as SocketOwner).onDrain();
}
function onError(this: Socket): void {
  // 'close' follows.
}
function onClose(this: Socket): void {
  ((this as any)[kOwner] as SocketOwner).onClose();
}
function onEnd(this: Socket): void {
  ((this as any)[kOwner] as SocketOwner).onEnd!();
}
function onConnect(this: Socket): void {
  // (A TLS socket that failed its post-handshake verification is destroyed by then.)
  if (this.destroyed) return;
  ((this as any)[kOwner] as SocketOwner).onConnect!();
}
