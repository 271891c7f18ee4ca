// HTTP/2 for health checks: the gRPC checker's transport, and the HTTP checker's with
// codec_client_type HTTP2. Prior-knowledge h2c (node:http2; the checks, HTTP/1 ones too, are made
// in clear text), one session per target kept between checks with reuse_connection (Envoy's codec
// client per session), closed after each check without it. A check is one request whose complete
// response a judge turns into an outcome; a connection error, a reset, a stream that closes before
// its response ends, or no complete response within the timeout is a network failure, and the
// session is destroyed (Envoy closes the connection of a check that failed on the network).
// The sessions are common/h2c-sessions.ts's (the unary gRPC client's too); the exchange is not
// common/grpc-unary.ts's call: it serves the HTTP checker as well, needs the complete response
// (END_STREAM, not only a close) and judges it as a health check (network or active failure).
import type http2 from 'node:http2';
import { Buffer } from 'node:buffer';
import { H2cSessions } from '../../../common/h2c-sessions.ts';
import type { CheckOutcome, CheckTarget } from '../../../upstream/health-check.ts';

/** A complete response, as a judge sees it. */
export interface H2Response {
  status: number;
  headers: http2.IncomingHttpHeaders;
  /** null: none (a trailers-only gRPC answer carries its status in `headers`). */
  trailers: http2.IncomingHttpHeaders | null;
  /** The body (empty unless the exchange keeps it). */
  body: Buffer;
}

const EMPTY = Buffer.alloc(0);

export class H2Checks {
  readonly #reuse: boolean;
  readonly #sessions: H2cSessions;

  constructor(reuse: boolean) {
    this.#reuse = reuse;
    this.#sessions = new H2cSessions({ unref: false, idleMs: 0 });
  }

  /** Send `headers` (and `body`; null: none) to `t` and conclude from the complete response with
   *  `judge`; `keepBody`: collect the body for the judge (else it is read and dropped). */
  exchange(t: CheckTarget, timeoutMs: number, headers: http2.OutgoingHttpHeaders, body: Buffer | null,
    keepBody: boolean, judge: (r: H2Response) => CheckOutcome): Promise<CheckOutcome> {
    const session = this.#sessions.get(t.address, t.port);
    return new Promise<CheckOutcome>((resolve) => {
      let settled = false;
      let res: H2Response | null = null;
      let ended = false;
      const chunks: Buffer[] = [];
      const done = (o: CheckOutcome): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (!o.ok && o.network) session.destroy();
        else if (!this.#reuse) session.close();
        resolve(o);
      };
      const net = (reason: string): void => done({ ok: false, network: true, retriable: false, reason });
      const timer = setTimeout(() => net('timeout'), timeoutMs);
      let req: http2.ClientHttp2Stream;
      try {
        req = session.request(headers, { endStream: body === null });
      } catch (err) {
        net((err as Error).message);
        return;
      }
      req.on('response', (h) => { res = { status: Number(h[':status']), headers: h, trailers: null, body: EMPTY }; });
      req.on('trailers', (h) => { if (res !== null) res.trailers = h; });
      req.on('data', (d: Buffer) => { if (keepBody) chunks.push(d); });
      req.on('end', () => { ended = true; });
      req.on('error', (err) => net(err.message));
      req.on('close', () => {
        if (res === null || !ended) return net(`stream closed before the response ended (code ${req.rstCode ?? 0})`);
        if (keepBody) res.body = Buffer.concat(chunks);
        done(judge(res));
      });
      if (body !== null) req.end(body);
    });
  }

  /** Forget `t`'s session (the host left). */
  release(t: CheckTarget): void {
    this.#sessions.release(t.address, t.port);
  }

  stop(): void {
    this.#sessions.close();
  }
}
