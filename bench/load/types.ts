export interface LoadOptions {
  readonly url: string;
  readonly connections: number;
  readonly threads: number;
  readonly durationS: number;
  /** Send `Connection: close` so every request pays for a new TCP connection. */
  readonly newConn: boolean;
  /** Extra request headers (the gzip scenario's `Accept-Encoding: gzip`). */
  readonly headers?: Readonly<Record<string, string>>;
}

export interface LoadResult {
  /** Responses received, whatever their status (tcp-stream: bytes received). */
  readonly requests: number;
  /** Responses with a status >= 400 (wrk counts >= 400 as "status errors"; autocannon counts non-2xx). */
  readonly badStatus: number;
  /** Socket-level failures: connect, read, write errors and timeouts. */
  readonly socketErrors: number;
  readonly durationS: number;
  /** Good responses (requests - badStatus) per second (tcp-stream: MB/s, 10^6 bytes a second). */
  readonly rps: number;
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
  /** tls-new: the fraction of handshakes that resumed a session (absent elsewhere). */
  readonly reused?: number | null;
  /** CPU-seconds the load client itself used, when it reports them (tls-conn). */
  readonly clientCpuS?: number;
  /** What the tool reported, parsed, for the JSON file. */
  readonly raw: unknown;
}

export interface LoadTool {
  readonly name: string;
  run(opts: LoadOptions): Promise<LoadResult>;
}
