// envoy.health_checkers.tcp (HealthCheck.tcp_health_check), Envoy's TcpHealthCheckerImpl: connect,
// write `send` (if any), and succeed once every `receive` block has been read, in order though not
// necessarily contiguous (Envoy's "fuzzy" match); without `receive`, a connection that opens is a
// success. Every failure is a network failure (refused, reset, closed early, timeout), so it counts
// toward unhealthy_threshold. With reuse_connection (the default) the connection stays open and the
// next check writes `send` on it again.
import net from 'node:net';
import { Buffer } from 'node:buffer';
import type { CheckOutcome, CheckTarget, HealthCheck } from '../../../upstream/health-check.ts';
import { ExtensionCategory, type CompileContext, type HealthCheckerModule } from '../../types.ts';

export const NAME = 'envoy.health_checkers.tcp';
const MSG = 'envoy.config.core.v3.HealthCheck.TcpHealthCheck';

export interface TcpCheckSnap {
  /** Hex. */
  send: string;
  receive: string[];
}

type Obj = Record<string, any>;

/** A Payload's bytes as hex (`text` is hex in Envoy; `binary` is base64 in proto JSON). */
export function payloadHex(p: Obj, path: string, ctx: CompileContext): string {
  if (typeof p.text === 'string') {
    if (!/^([0-9a-fA-F]{2})+$/.test(p.text)) ctx.fail(`${path}.text`, `invalid hex string "${p.text}"`);
    return p.text.toLowerCase();
  }
  return Buffer.from(String(p.binary ?? ''), 'base64').toString('hex');
}

/** Whether every block is found in `data`, in order (Envoy's TcpHealthCheckMatcher). */
export function matchesInOrder(data: Buffer, blocks: readonly Buffer[]): boolean {
  let from = 0;
  for (const b of blocks) {
    const at = data.indexOf(b, from);
    if (at < 0) return false;
    from = at + b.length;
  }
  return true;
}

class TcpCheck implements HealthCheck {
  readonly type = 'TCP';
  readonly #send: Buffer;
  readonly #receive: Buffer[];
  readonly #reuse: boolean;
  readonly #sockets: Map<string, net.Socket>;

  constructor(c: TcpCheckSnap, reuse: boolean) {
    this.#send = Buffer.from(c.send, 'hex');
    this.#receive = c.receive.map((h) => Buffer.from(h, 'hex'));
    this.#reuse = reuse;
    this.#sockets = new Map();
  }

  check(t: CheckTarget, timeoutMs: number): Promise<CheckOutcome> {
    const key = `${t.address}:${t.port}`;
    let sock = this.#sockets.get(key);
    const fresh = sock === undefined || sock.destroyed;
    if (fresh) {
      sock = net.connect({ host: t.address, port: t.port });
      sock.on('error', () => {});
      if (this.#reuse) this.#sockets.set(key, sock);
    }
    const s = sock!;
    return new Promise<CheckOutcome>((resolve) => {
      let got = Buffer.alloc(0);
      let settled = false;
      const finish = (o: CheckOutcome): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        s.off('data', onData);
        s.off('close', onClose);
        s.off('connect', onConnect);
        if (!o.ok || !this.#reuse) {
          s.destroy();
          if (this.#sockets.get(key) === s) this.#sockets.delete(key);
        }
        resolve(o);
      };
      const fail = (reason: string): void => finish({ ok: false, network: true, retriable: false, reason });
      const onData = (d: Buffer): void => {
        got = Buffer.concat([got, d]);
        if (matchesInOrder(got, this.#receive)) finish({ ok: true, degraded: false });
      };
      const onClose = (): void => fail('connection closed');
      const onConnect = (): void => {
        if (this.#send.length > 0) s.write(this.#send);
        if (this.#receive.length === 0) finish({ ok: true, degraded: false });
      };
      const timer = setTimeout(() => fail('timeout'), timeoutMs);
      s.on('data', onData);
      s.on('close', onClose);
      if (fresh && s.connecting) s.on('connect', onConnect);
      else onConnect();
    });
  }

  release(t: CheckTarget): void {
    const key = `${t.address}:${t.port}`;
    this.#sockets.get(key)?.destroy();
    this.#sockets.delete(key);
  }

  stop(): void {
    for (const s of this.#sockets.values()) s.destroy();
    this.#sockets.clear();
  }
}

const tcpChecker: HealthCheckerModule<TcpCheckSnap> = {
  name: NAME,
  category: ExtensionCategory.HealthChecker,
  field: 'tcp_health_check',
  types: [],
  fields: {
    'envoy.config.core.v3.HealthCheck': ['tcp_health_check'],
    [MSG]: ['send', 'receive'],
    'envoy.config.core.v3.HealthCheck.Payload': ['text', 'binary'],
  },
  protos: [],
  compile(c: Obj, ctx: CompileContext): TcpCheckSnap {
    return {
      send: c.send === undefined ? '' : payloadHex(c.send, `${ctx.path}.send`, ctx),
      receive: ((c.receive ?? []) as Obj[]).map((p, i) => payloadHex(p, `${ctx.path}.receive[${i}]`, ctx)),
    };
  },
  createCheck: (c, o) => new TcpCheck(c, o.reuseConnection),
};
export default tcpChecker;
