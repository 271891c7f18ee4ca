// The connection layer (network/connection.ts, listener/listener.ts) on real sockets: read filters
// run in order and a StopIteration holds data for continueReading, write filters run in reverse
// order of addition, inject skips the filters before, a FlushWrite close delivers what was written,
// and the listener counts connections and drains them.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { Buffer } from 'node:buffer';
import { ActiveListener } from '../../src/listener/listener.ts';
import {
  ConnectionCloseType, FilterStatus, type NetworkFilterFactory, type ReadFilter, type ReadFilterCallbacks,
} from '../../src/network/filter.ts';
import { StatsLayout } from '../../src/stats/layout.ts';
import { StatsStore, WorkerStats } from '../../src/stats/store.ts';
import { listen, withTimeout } from '../integration/fixtures/upstreams.ts';
import { Connection } from '../../src/network/connection.ts';

const servers: net.Server[] = [];
const accepted: Connection[] = [];
after(() => {
  for (const c of accepted) c.socket.destroy();
  for (const s of servers) s.close();
});

function statsFor(): { stats: WorkerStats; slots: { downstream_cx_total: number; downstream_cx_active: number;
  downstream_cx_destroy: number; downstream_cx_length_ms: number }; value(slot: number): number } {
  const layout = new StatsLayout();
  const slots = {
    downstream_cx_total: layout.counter('listener.test.downstream_cx_total'),
    downstream_cx_active: layout.gauge('listener.test.downstream_cx_active'),
    downstream_cx_destroy: layout.counter('listener.test.downstream_cx_destroy'),
    downstream_cx_length_ms: layout.histogram('listener.test.downstream_cx_length_ms', 'ms'),
  };
  const store = new StatsStore(layout, 1);
  const stats = new WorkerStats(store.attachWorker(0));
  return { stats, slots, value: (slot) => store.value(slot) };
}

async function start(factories: NetworkFilterFactory[], bufferLimit = 1 << 20): Promise<{ listener: ActiveListener; port: number;
  conns: Connection[]; value(slot: number): number; slots: ReturnType<typeof statsFor>['slots'] }> {
  const s = statsFor();
  const listener = new ActiveListener({
    name: 'test', bufferLimit, stats: s.slots, chains: [{ name: '', factories, transportSocket: null }],
    optStats: { no_filter_chain_match: -1, downstream_pre_cx_timeout: -1, downstream_pre_cx_active: -1 },
    matcher: null, defaultChain: null, listenerFilters: null, listenerFiltersTimeoutMs: 0,
    continueOnListenerFiltersTimeout: false,
  }, s.stats, null);
  const conns: Connection[] = [];
  const server = net.createServer((sock) => {
    const c = listener.onAccept(sock);
    if (c !== null) {
      conns.push(c);
      accepted.push(c);
    }
  });
  servers.push(server);
  const port = await listen(server);
  return { listener, port, conns, value: s.value, slots: s.slots };
}

/** Connects, sends `parts` one per macrotask, and collects what comes back until the close. */
async function exchange(port: number, parts: string[], waitMs = 3000): Promise<string> {
  const sock = net.connect(port, '127.0.0.1');
  let got = '';
  sock.on('data', (d: Buffer) => { got += d.toString('latin1'); });
  sock.on('error', () => {});
  const closed = new Promise<void>((r) => sock.on('close', () => r()));
  await withTimeout(new Promise((r) => sock.on('connect', r)), 3000, 'connect');
  for (const p of parts) {
    sock.write(p);
    await new Promise((r) => setTimeout(r, 20));
  }
  await withTimeout(closed, waitMs, `close (got ${JSON.stringify(got)})`);
  return got;
}

class Tagger implements ReadFilter {
  cb: ReadFilterCallbacks | null = null;
  readonly tag: string;
  readonly log: string[];
  readonly stopFirst: boolean;
  constructor(tag: string, log: string[], stopFirst = false) {
    this.tag = tag;
    this.log = log;
    this.stopFirst = stopFirst;
  }
  initializeReadFilterCallbacks(cb: ReadFilterCallbacks): void { this.cb = cb; }
  onNewConnection(): FilterStatus {
    this.log.push(`${this.tag}:new`);
    return FilterStatus.Continue;
  }
  onData(data: Buffer, end: boolean): FilterStatus {
    this.log.push(`${this.tag}:${data.toString('latin1')}${end ? ':end' : ''}`);
    if (this.stopFirst) {
      // Hold everything until "go" arrives, then let it all through.
      if (data.toString('latin1').includes('go')) {
        queueMicrotask(() => this.cb!.continueReading());
      }
      return FilterStatus.StopIteration;
    }
    return FilterStatus.Continue;
  }
}

/** Terminal: answers each read with what the write chain makes of it, closes on "bye". */
class Replier implements ReadFilter {
  cb: ReadFilterCallbacks | null = null;
  readonly log: string[];
  constructor(log: string[]) {
    this.log = log;
  }
  initializeReadFilterCallbacks(cb: ReadFilterCallbacks): void { this.cb = cb; }
  onNewConnection(): FilterStatus { this.log.push('replier:new'); return FilterStatus.Continue; }
  onData(data: Buffer, _end: boolean): FilterStatus {
    const s = data.toString('latin1');
    this.log.push(`replier:${s}`);
    this.cb!.connection.write(Buffer.from(`[${s}]`), false);
    if (s.includes('bye')) this.cb!.connection.close(ConnectionCloseType.FlushWrite);
    return FilterStatus.StopIteration;
  }
}

test('read filters run in order; the terminal one writes; a FlushWrite close delivers it', async () => {
  const log: string[] = [];
  const { port, value, slots } = await start([(fm) => {
    fm.addReadFilter(new Tagger('a', log));
    fm.addReadFilter(new Tagger('b', log));
    fm.addReadFilter(new Replier(log));
  }]);
  const got = await exchange(port, ['hello', 'bye']);
  assert.equal(got, '[hello][bye]');
  assert.deepEqual(log, ['a:new', 'b:new', 'replier:new', 'a:hello', 'b:hello', 'replier:hello', 'a:bye', 'b:bye', 'replier:bye']);
  assert.equal(value(slots.downstream_cx_total), 1);
  assert.equal(value(slots.downstream_cx_active), 0);
  assert.equal(value(slots.downstream_cx_destroy), 1);
});

test('a filter that stops holds the data for the later filters until continueReading, in order', async () => {
  const log: string[] = [];
  const { port } = await start([(fm) => {
    fm.addReadFilter(new Tagger('gate', log, true));
    fm.addReadFilter(new Replier(log));
  }]);
  const got = await exchange(port, ['one', 'two', 'go bye']);
  // The replier saw the held bytes once, together, after the gate opened.
  assert.equal(got, '[onetwogo bye]');
  assert.deepEqual(log.filter((l) => l.startsWith('replier:') && l !== 'replier:new'), ['replier:onetwogo bye']);
});

test('write filters run in reverse order of addition', async () => {
  const order: string[] = [];
  const { port } = await start([(fm) => {
    fm.addWriteFilter({ onWrite: (d) => { order.push(`first:${d.length}`); return FilterStatus.Continue; } });
    fm.addWriteFilter({ onWrite: (d) => { order.push(`second:${d.length}`); return FilterStatus.Continue; } });
    fm.addReadFilter(new Replier([]));
  }]);
  const got = await exchange(port, ['bye']);
  assert.equal(got, '[bye]');
  assert.deepEqual(order, ['second:5', 'first:5']);
});

test('a write filter that stops drops the write; inject sends it on past the filter', async () => {
  const { port } = await start([(fm) => {
    let cbs: { injectWriteDataToFilterChain(d: Buffer, e: boolean): void } | null = null;
    fm.addWriteFilter({
      initializeWriteFilterCallbacks: (cb) => { cbs = cb; },
      onWrite: (d) => {
        // Upper-cases by injecting a replacement past itself.
        cbs!.injectWriteDataToFilterChain(Buffer.from(d.toString('latin1').toUpperCase()), false);
        return FilterStatus.StopIteration;
      },
    });
    fm.addReadFilter(new Replier([]));
  }]);
  assert.equal(await exchange(port, ['bye']), '[BYE]');
});

test('a connection with no read filter is closed; drain tells every connection', async () => {
  const none = await start([]);
  assert.equal(await exchange(none.port, []), '');
  let drained = 0;
  const { listener, port } = await start([(fm, conn) => {
    fm.addReadFilter(new Replier([]));
    conn.addOnDrainCloseCb({ onDrainClose: () => { drained++; conn.close(ConnectionCloseType.FlushWrite); } });
  }]);
  const sock = net.connect(port, '127.0.0.1');
  sock.on('error', () => {});
  const closed = new Promise<void>((r) => sock.on('close', () => r()));
  await withTimeout(new Promise((r) => sock.on('connect', r)), 3000, 'connect');
  await withTimeout(new Promise<void>((r) => {
    const check = (): void => { if (listener.connections.size === 1) r(); else setTimeout(check, 5); };
    check();
  }), 3000, 'accepted');
  listener.drain();
  await withTimeout(closed, 3000, 'closed by the drain');
  assert.equal(drained, 1);
});

test('held data is bounded: past the buffer limit the connection stops reading until the filter continues', async () => {
  let gate: ReadFilterCallbacks | null = null;
  let open = false;
  let seen = 0;
  const { port, conns } = await start([(fm) => {
    fm.addReadFilter({
      initializeReadFilterCallbacks: (cb) => { gate = cb; },
      onNewConnection: () => FilterStatus.Continue,
      // Holds everything back until it opens.
      onData: () => (open ? FilterStatus.Continue : FilterStatus.StopIteration),
    });
    fm.addReadFilter({
      initializeReadFilterCallbacks: () => {},
      onNewConnection: () => FilterStatus.Continue,
      onData: (d) => { seen += d.length; return FilterStatus.StopIteration; },
    });
  }], 4096);
  const sock = net.connect(port, '127.0.0.1');
  sock.on('error', () => {});
  await withTimeout(new Promise((r) => sock.on('connect', r)), 3000, 'connect');
  const total = 1024 * 1024;
  sock.write(Buffer.alloc(total, 0x61));
  await withTimeout(new Promise<void>((r) => {
    const check = (): void => { if (conns.length === 1 && !conns[0].readEnabled) r(); else setTimeout(check, 5); };
    check();
  }), 3000, 'reading disabled past the limit');
  // Let more arrive if it would: reading stays off, so what is held stays within a read of the limit.
  await new Promise((r) => setTimeout(r, 100));
  const held = conns[0].held?.length ?? 0;
  assert.ok(held > 4096 && held <= 4096 + 64 * 1024, `held ${held} bytes`);
  assert.equal(seen, 0);
  open = true;
  gate!.continueReading();
  await withTimeout(new Promise<void>((r) => {
    const check = (): void => { if (seen === total) r(); else setTimeout(check, 5); };
    check();
  }), 3000, `all bytes through (seen ${seen})`);
  assert.ok(conns[0].readEnabled);
  sock.destroy();
});

test('addresses: both ends as "ip:port"; a PROXY protocol header\'s source and destination replace them', async () => {
  const { port, conns } = await start([(fm) => { fm.addReadFilter(new Replier([])); }]);
  const sock = net.connect(port, '127.0.0.1');
  sock.on('error', () => {});
  await withTimeout(new Promise((r) => sock.on('connect', r)), 3000, 'connect');
  await withTimeout(new Promise<void>((r) => {
    const check = (): void => { if (conns.length === 1) r(); else setTimeout(check, 5); };
    check();
  }), 3000, 'accepted');
  const c = conns[0];
  assert.equal(c.localAddress, `127.0.0.1:${port}`);
  assert.equal(c.remoteAddress, `127.0.0.1:${sock.localPort}`);
  // What the proxy_protocol listener filter records, as a new connection on the same socket sees it.
  const proxied = new Connection(c.socket, null, 1024, statsFor().stats, 0);
  proxied.setSocketInfo({
    socket: c.socket, requestedServerName: '', applicationProtocols: [], detectedTransportProtocol: '',
    remoteIpOverride: '2001:db8::1', remotePortOverride: 1234, localIpOverride: '10.0.0.2', localPortOverride: 443,
  });
  assert.equal(proxied.remoteAddress, '[2001:db8::1]:1234');
  assert.equal(proxied.localAddress, '10.0.0.2:443');
  assert.equal(proxied.directRemoteAddress, `127.0.0.1:${sock.localPort}`);
  sock.destroy();
});
