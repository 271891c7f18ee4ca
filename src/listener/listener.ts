// A listener on one worker (Envoy's ActiveTcpListener): takes each accepted socket, picks its
// filter chain, builds the connection's network filters from the chain's factories (made once per
// config) and keeps the listener's connection count, stats and drain state.
//
// Filter-chain selection: one chain per listener today (`filter_chain_match` is refused by the
// config loader); the matcher plugs in at `#chainFor`.
import type { Server, Socket } from 'node:net';
import { Connection, type ConnectionOwner } from '../network/connection.ts';
import { ConnectionCloseType, type NetworkFilterFactory } from '../network/filter.ts';
import { monotonicNow } from '../common/clock.ts';
import type { StatSink } from '../common/stat-sink.ts';
import type { DownstreamTransportSocketFactory } from '../network/transport-socket.ts';
import type { ListenerStats } from './stats.ts';

export interface FilterChain {
  readonly factories: readonly NetworkFilterFactory[];
  /** null: raw_buffer (the accepted socket itself). */
  readonly transportSocket: DownstreamTransportSocketFactory | null;
}

export interface ListenerConfig {
  readonly name: string;
  readonly bufferLimit: number;
  readonly stats: ListenerStats;
  readonly chains: readonly FilterChain[];
}

/** Told when the number of connections changes (the worker's load for exact_balance). */
export interface ListenerObserver {
  onConnectionCountChange(): void;
}

export class ActiveListener implements ConnectionOwner {
  config: ListenerConfig;
  readonly stats: StatSink;
  readonly connections: Set<Connection>;
  readonly servers: Server[];
  readonly observer: ListenerObserver | null;
  draining: boolean;

  constructor(config: ListenerConfig, stats: StatSink, observer: ListenerObserver | null) {
    this.config = config;
    this.stats = stats;
    this.connections = new Set();
    this.servers = [];
    this.observer = observer;
    this.draining = false;
  }

  /** A listening socket of this listener (reuse-port mode: one per worker). */
  addServer(server: Server): void {
    (server as any)[kListener] = this;
    server.on('connection', onServerConnection);
    this.servers.push(server);
  }

  closeAll(): void {
    for (const c of this.connections) c.close(ConnectionCloseType.NoFlush);
  }

  /** An accepted socket: a connection with its filter chain, or closed. */
  onAccept(socket: Socket): Connection | null {
    if (this.draining) {
      socket.destroy();
      return null;
    }
    const cfg = this.config;
    const chain = this.#chainFor(socket);
    const ts = chain.transportSocket;
    const conn = new Connection(ts === null ? socket : ts.createTransportSocket(socket, null), this, cfg.bufferLimit,
      this.stats, monotonicNow());
    const v = this.stats.v;
    const ls = cfg.stats;
    v[ls.downstream_cx_total]++;
    v[ls.downstream_cx_active]++;
    this.connections.add(conn);
    const f = chain.factories;
    for (let i = 0; i < f.length; i++) f[i](conn, conn);
    this.observer?.onConnectionCountChange();
    if (!conn.start()) {
      // No read filter: closed at once (its socket never got the handlers that report a close).
      this.onConnectionClose(conn);
      return null;
    }
    return conn;
  }

  #chainFor(_socket: Socket): FilterChain {
    return this.config.chains[0];
  }

  onConnectionClose(conn: Connection): void {
    if (!this.connections.delete(conn)) return;
    const v = this.stats.v;
    const ls = this.config.stats;
    v[ls.downstream_cx_active]--;
    v[ls.downstream_cx_destroy]++;
    this.stats.record(ls.downstream_cx_length_ms, monotonicNow() - conn.startHr);
    this.observer?.onConnectionCountChange();
  }

  /** Stop accepting and tell every connection (idle HTTP connections close now, busy ones after
   *  their response). With `deadlineMs`, what is still open then is closed. */
  drain(deadlineMs = 0): void {
    this.draining = true;
    for (const s of this.servers) s.close();
    for (const c of this.connections) c.onDrainClose(true);
    if (deadlineMs > 0 && this.connections.size > 0) setTimeout(closeAll, deadlineMs, this).unref();
  }

  /** New filter chains (a config update): new connections get them; the connections that run the
   *  old ones are drained (Envoy's listener update), gracefully. */
  update(config: ListenerConfig): void {
    this.config = config;
    for (const c of this.connections) c.onDrainClose(false);
  }
}

const kListener = Symbol('legate.listener');

function closeAll(l: ActiveListener): void {
  l.closeAll();
}

function onServerConnection(this: Server, socket: Socket): void {
  ((this as any)[kListener] as ActiveListener).onAccept(socket);
}
