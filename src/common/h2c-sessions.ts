// Prior-knowledge h2c sessions (node:http2), one per host address and port, kept while they live
// and replaced once closed or destroyed. Shared by the unary gRPC client (common/grpc-unary.ts:
// ext_authz, ratelimit) and the health checkers' HTTP/2 exchanges
// (extensions/health-checkers/common/h2.ts); what each does with a session's streams is its own.
//
// A GOAWAY needs no handler here: node closes the session on a NO_ERROR GOAWAY and destroys it on
// any other, so the next get() replaces it, and 'close' drops it from the map.
import http2 from 'node:http2';

export interface H2cSessionOptions {
  /** unref() each session: an idle session does not keep the thread alive. */
  unref: boolean;
  /** Close a session with no stream for this long (0: never). */
  idleMs: number;
}

export class H2cSessions {
  readonly #unref: boolean;
  readonly #idleMs: number;
  readonly #sessions: Map<string, http2.ClientHttp2Session>;

  constructor(o: H2cSessionOptions) {
    this.#unref = o.unref;
    this.#idleMs = o.idleMs;
    this.#sessions = new Map();
  }

  /** The live session to address:port, connecting a new one if there is none. */
  get(address: string, port: number): http2.ClientHttp2Session {
    const key = `${address}:${port}`;
    const have = this.#sessions.get(key);
    if (have !== undefined && !have.closed && !have.destroyed) return have;
    const host = address.includes(':') ? `[${address}]` : address;
    const s = http2.connect(`http://${host}:${port}`);
    // (Its streams report the error; a session error with no stream open has nobody to tell.)
    s.on('error', () => {});
    s.on('close', () => { if (this.#sessions.get(key) === s) this.#sessions.delete(key); });
    if (this.#idleMs > 0) s.setTimeout(this.#idleMs, () => s.close());
    if (this.#unref) s.unref();
    this.#sessions.set(key, s);
    return s;
  }

  /** Destroy and forget address:port's session (the host left). */
  release(address: string, port: number): void {
    const key = `${address}:${port}`;
    this.#sessions.get(key)?.destroy();
    this.#sessions.delete(key);
  }

  close(): void {
    for (const s of this.#sessions.values()) s.destroy();
    this.#sessions.clear();
  }
}
