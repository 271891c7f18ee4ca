// Socket event handlers shared by every connection object (downstream and upstream codecs).
//
// Handlers are module-level functions that find their owner through a symbol slot on the
// socket: no closure per connection. Every 'data' dispatch is bracketed by enterRead/leaveRead
// (read-dispatch.ts), which freezes the clock and flushes held message heads when it ends.
import type { Socket } from 'node:net';
import { enterRead, leaveRead } from './read-dispatch.ts';

export interface SocketOwner {
  onData(chunk: Buffer): void;
  onDrain(): void;
  /** 'close' always follows 'error'; the owner does its accounting here. */
  onClose(): void;
  onEnd?(): void;
  onConnect?(): void;
}

const kOwner = Symbol('legate.socketOwner');

export function attachSocket(s: Socket, owner: SocketOwner): void {
  (s as any)[kOwner] = owner;
  s.on('data', onData);
  s.on('drain', onDrain);
  s.on('error', onError);
  s.on('close', onClose);
  if (owner.onEnd !== undefined) s.on('end', onEnd);
  if (owner.onConnect !== undefined) s.on('connect', onConnect);
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
  ((this as any)[kOwner] as SocketOwner).onConnect!();
}
