// A listener on one worker (Envoy's ActiveTcpListener): takes each accepted socket, picks its
// filter chain, builds the connection's network filters from the chain's factories (made once per
// config) and keeps the listener's connection count, stats and drain state.
//
// Three accept paths, cheapest first:
// - no listener filters and one chain without filter_chain_match (`matcher` null): the accepted
//   socket becomes a Connection on that chain at once (nothing is allocated or looked up but the
//   Connection and its filters);
// - no listener filters, several chains: the chain is looked up (filter-chain-match.ts) from the
//   socket's addresses, then the same;
// - listener filters: an ActiveTcpSocket (active-socket.ts) reads the first bytes and runs the
//   filters, then the chain is looked up with what they learnt, and the bytes they read and did
//   not drain go to the chain's transport socket (TLS) or to the Connection's read filters first.
// A connection no chain takes (and no default_filter_chain) is closed and counted
// (no_filter_chain_match).
import type { Server, Socket } from 'node:net';
import type { Buffer } from 'node:buffer';
import { Connection, type ConnectionOwner } from '../network/connection.ts';
import { ConnectionCloseType, type NetworkFilterFactory } from '../network/filter.ts';
import { monotonicNow } from '../common/clock.ts';
import type { StatSink } from '../common/stat-sink.ts';
import type { DownstreamTransportSocketFactory } from '../network/transport-socket.ts';
import type { ListenerOptionalStats, ListenerStats } from './stats.ts';
import type { FilterChainMatcher } from './filter-chain-match.ts';
import type { ListenerFilterFactory } from './listener-filter.ts';
import { AcceptedSocket, ActiveTcpSocket } from './active-socket.ts';

export interface FilterChain {
  /** FilterChain.name ('' when unnamed). */
  readonly name: string;
  readonly factories: readonly NetworkFilterFactory[];
  /** null: raw_buffer (the accepted socket itself). */
  readonly transportSocket: DownstreamTransportSocketFactory | null;
}

export interface ListenerConfig {
  readonly name: string;
  readonly bufferLimit: number;
  readonly stats: ListenerStats;
  readonly optStats: ListenerOptionalStats;
  readonly chains: readonly FilterChain[];
  /** null: every connection gets chains[0] (one chain, no filter_chain_match). */
  readonly matcher: FilterChainMatcher<FilterChain> | null;
  /** Listener.default_filter_chain: what no chain matched goes here; null: closed. */
  readonly defaultChain: FilterChain | null;
  /** null when the listener has none. */
  readonly listenerFilters: readonly ListenerFilterFactory[] | null;
  /** listener_filters_timeout (0: none). */
  readonly listenerFiltersTimeoutMs: number;
  readonly continueOnListenerFiltersTimeout: boolean;
}

/** Told when the number of connections changes (the worker's load for exact_balance). */
export interface ListenerObserver {
  onConnectionCountChange(): void;
}

export class ActiveListener implements ConnectionOwner {
  config: ListenerConfig;
  readonly stats: StatSink;
  readonly connections: Set<Connection>;
  /** Sockets still in their listener filters. */
  readonly pending: Set<ActiveTcpSocket>;
  readonly servers: Server[];
  readonly observer: ListenerObserver | null;
  draining: boolean;

  constructor(config: ListenerConfig, stats: StatSink, observer: ListenerObserver | null) {
    this.config = config;
    this.stats = stats;
    this.connections = new Set();
    this.pending = new Set();
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
    for (const p of this.pending) p.close();
  }

  /** An accepted socket: a connection with its filter chain, or closed (or, with listener
   *  filters, null until they are done). */
  onAccept(socket: Socket): Connection | null {
    if (this.draining) {
      socket.destroy();
      return null;
    }
    const cfg = this.config;
    if (cfg.listenerFilters !== null) {
      const p = new ActiveTcpSocket(this, socket, cfg);
      this.pending.add(p);
      p.start();
      return null;
    }
    if (cfg.matcher === null) return this.newConnection(socket, cfg.chains[0], null, null);
    const facts = new AcceptedSocket(socket);
    const chain = this.chainFor(facts);
    if (chain === null) return null;
    return this.newConnection(socket, chain, facts, null);
  }

  /** The chain for a connection (listener filters done); null when none takes it (the socket is
   *  closed and counted). */
  chainFor(facts: AcceptedSocket): FilterChain | null {
    const cfg = this.config;
    // No listener filter said otherwise: raw_buffer (Envoy's ActiveTcpListener::newConnection).
    if (facts.detectedTransportProtocol === '') facts.detectedTransportProtocol = 'raw_buffer';
    const chain = cfg.matcher === null ? cfg.chains[0] : cfg.matcher.find(facts) ?? cfg.defaultChain;
    if (chain === null) {
      const slot = cfg.optStats.no_filter_chain_match;
      if (slot >= 0) this.stats.v[slot]++;
      facts.socket.destroy();
    }
    return chain;
  }

  /** Listener filters are done with `p` (see ActiveTcpSocket). */
  onListenerFiltersDone(p: ActiveTcpSocket, preread: Buffer | null): void {
    this.pending.delete(p);
    const chain = this.chainFor(p);
    if (chain !== null) this.newConnection(p.socket, chain, p, preread);
  }

  onPendingClose(p: ActiveTcpSocket): void {
    this.pending.delete(p);
  }

  /** A Connection on `chain` for `socket`. `facts`: what listener filters learnt (null: nothing,
   *  the socket's own addresses); `preread`: the bytes they read and left. */
  newConnection(socket: Socket, chain: FilterChain, facts: AcceptedSocket | null, preread: Buffer | null): Connection | null {
    const cfg = this.config;
    const ts = chain.transportSocket;
    const conn = new Connection(ts === null ? socket : ts.createTransportSocket(socket, preread), this, cfg.bufferLimit,
      this.stats, monotonicNow());
    if (facts !== null) conn.setSocketInfo(facts);
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
    // The bytes listener filters read go first (a TLS transport socket was given them).
    if (preread !== null && ts === null) conn.deliverPreread(preread);
    return conn;
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
    for (const p of this.pending) p.close();
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
