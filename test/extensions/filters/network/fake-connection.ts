// A network connection as a filter sees it, in-process and without a socket: it records what the
// filters write and how it was closed, and runs a filter chain built by a module's factory.
import { Buffer } from 'node:buffer';
import {
  FilterStatus, type ConnectionByteStats, type ConnectionCallbacks, type ConnectionCloseType, type DrainCloseCallback,
  type NetworkConnection, type NetworkFilterFactory, type ReadFilter, type ReadFilterCallbacks, type WriteFilter,
} from '../../../../src/network/filter.ts';

export class FakeConnection implements NetworkConnection {
  readonly id = 1;
  readonly bufferLimit = 1 << 20;
  readonly remoteAddress = '127.0.0.1:40000';
  readonly remoteIp = '127.0.0.1';
  readonly directRemoteAddress = '127.0.0.1:40000';
  readonly localAddress = '127.0.0.1:10000';
  readonly requestedServerName = '';
  readonly applicationProtocols: readonly string[] = [];
  closing = false;
  ssl(): null {
    return null;
  }
  readEnabled = true;
  /** Every write: a copy of its bytes and its end_stream flag. */
  writes: { data: Buffer; endStream: boolean }[] = [];
  /** The close types asked for, in order. */
  closes: ConnectionCloseType[] = [];
  readFilters: ReadFilter[] = [];
  writeFilters: WriteFilter[] = [];

  write(data: Buffer, endStream: boolean): void {
    if (this.closing) throw new Error('write after close');
    this.writes.push({ data: Buffer.from(data), endStream });
  }
  close(type: ConnectionCloseType): void {
    this.closes.push(type);
    this.closing = true;
  }
  readDisable(disable: boolean): void {
    this.readEnabled = !disable;
  }
  writeHeld(data: Buffer): void {
    this.write(data, false);
  }
  /** No socket: reads never land anywhere. */
  setReadBufferSource(_next: (() => Buffer) | null): boolean {
    return false;
  }
  queueWrite(data: string | Buffer): void {
    this.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data, false);
  }
  writeFramed(head: string | Buffer, body: Buffer, chunked: boolean, _end: boolean): void {
    if (chunked) throw new Error('no HTTP/1 framing in these tests');
    this.write(Buffer.concat([typeof head === 'string' ? Buffer.from(head, 'latin1') : head, body]), false);
  }
  addConnectionCallbacks(_cb: ConnectionCallbacks): void {}
  setConnectionStats(_stats: ConnectionByteStats): void {}
  addOnDrainCloseCb(_cb: DrainCloseCallback): void {}
  setDelayedCloseTimeout(_delayedMs: number, _flushStallMs: number): void {}
  enableHalfClose(_enabled: boolean): void {}
  readonly bufferedWriteBytes = 0;

  /** All bytes written so far. */
  written(): Buffer {
    return Buffer.concat(this.writes.map((w) => w.data));
  }

  /** Builds the filter chain with `factory` and gives each read filter its callbacks. */
  static withChain(factory: NetworkFilterFactory): FakeConnection {
    const c = new FakeConnection();
    factory({
      addReadFilter: (f) => { c.readFilters.push(f); },
      addWriteFilter: (f) => { c.writeFilters.push(f); },
      addFilter: (f) => { c.readFilters.push(f); c.writeFilters.push(f); },
    }, c);
    c.readFilters.forEach((f, i) => {
      const cb: ReadFilterCallbacks = {
        connection: c,
        continueReading: () => { c.runNewConnection(i + 1); },
        injectReadDataToFilterChain: (data, end) => { c.runData(data, end, i + 1); },
      };
      f.initializeReadFilterCallbacks(cb);
    });
    return c;
  }

  /** onNewConnection down the read chain until a filter stops it. */
  runNewConnection(from = 0): void {
    for (let i = from; i < this.readFilters.length; i++) {
      if (this.readFilters[i]!.onNewConnection() === FilterStatus.StopIteration) return;
    }
  }

  /** A read: onData down the read chain until a filter stops it; returns the last status. */
  runData(data: Buffer, endStream: boolean, from = 0): FilterStatus {
    let st: FilterStatus = FilterStatus.Continue;
    for (let i = from; i < this.readFilters.length; i++) {
      st = this.readFilters[i]!.onData(data, endStream);
      if (st === FilterStatus.StopIteration) break;
    }
    return st;
  }
}
