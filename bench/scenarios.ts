// What each --scenario measures: its modes (one measurement each per target and round), the load tool
// behind each, and the columns the table shows. The targets decide for themselves what they are in a
// scenario (targets/*.ts, StartContext.scenario).

import { gunzipSync } from 'node:zlib';
import type { BenchArgs, Scenario } from './lib/args.ts';
import { httpFetch } from './lib/net.ts';
import { which } from './lib/which.ts';
import { curlStream } from './load/curl-stream.ts';
import { tlsConnClient } from './load/tls-conn.ts';
import type { Handshake } from './load/tls-conn.ts';
import { wrk } from './load/wrk.ts';
import type { LoadResult, LoadTool } from './load/types.ts';
import { JSON_BYTES, JSON_DOC, JSON_PATH, PAYLOAD_PATH, STREAM_BYTES, STREAM_PATH } from './targets/payload.ts';

export interface Mode {
  /** '' when the scenario has one mode; else its name in the table title and the JSON ('full'). */
  readonly name: string;
  /** The load tool, for the table title and the JSON. */
  readonly tool: string;
  /** How it loads, for the title: "50 connections, 5 s, keep-alive". */
  readonly how: string;
  /** Header of the rate column and what LoadResult.rps counts: 'rps', 'conn/s', 'MB/s'. */
  readonly rate: string;
  /** Header of the CPU column, and how many counted units (LoadResult.requests) it is per. */
  readonly cpu: string;
  readonly cpuUnits: number;
  /** The table shows p50/p99 (the tool measures per-request latency). */
  readonly latency: boolean;
  /** The table shows the fraction of resumed handshakes. */
  readonly reused: boolean;
  /** The targets the ratios are taken to, in column order. */
  readonly refs: readonly string[];
  run(port: number, durationS: number): Promise<LoadResult>;
  /**
   * Run once per target after it started: resolves with a line for the log, or rejects with why the
   * target does not do what the mode measures (it is then dropped from the run).
   */
  check?(port: number): Promise<string>;
}

export interface ModeContext {
  readonly args: BenchArgs;
  /** The HTTP load tool chosen by --tool (wrk or autocannon). */
  readonly tool: LoadTool;
  /** Scratch directory (the C client is built here) and the OpenSSL client config for wrk. */
  readonly tmp: string;
  readonly opensslConf: string | null;
  readonly nodeBin: string;
  readonly log: (line: string) => void;
}

function httpMode(ctx: ModeContext, tool: LoadTool, scheme: 'http' | 'https', refs: readonly string[],
    path = PAYLOAD_PATH, headers?: Readonly<Record<string, string>>): Mode {
  const { args } = ctx;
  return {
    name: '',
    tool: tool.name,
    how: `-c ${args.connections}, ${args.durationS} s, ${args.newConn ? 'new connection per request' : 'keep-alive'}` +
      (path !== PAYLOAD_PATH ? `, GET ${path}` : '') +
      Object.entries(headers ?? {}).map(([name, value]) => `, ${name}: ${value}`).join(''),
    rate: 'rps',
    cpu: 'CPU s/10k',
    cpuUnits: 10_000,
    latency: true,
    reused: false,
    refs,
    run: (port, durationS) => tool.run({
      url: `${scheme}://127.0.0.1:${port}${path}`,
      connections: args.connections,
      threads: args.threads,
      durationS,
      newConn: args.newConn,
      ...(headers !== undefined ? { headers } : {}),
    }),
  };
}

const ACCEPT_GZIP = { 'Accept-Encoding': 'gzip' } as const;

/**
 * The gzip scenario's check: one request as the load sends it must come back gzip-coded and decode to
 * the document, or a target that passes the JSON through uncompressed (a config it ignored, a content
 * type it does not match) would be measured as if it compressed.
 */
async function checkGzip(port: number): Promise<string> {
  const res = await httpFetch(port, JSON_PATH, ACCEPT_GZIP, 5000);
  if (res.status !== 200) throw new Error(`GET ${JSON_PATH} answered ${res.status}`);
  const encoding = res.headers['content-encoding'];
  if (encoding !== 'gzip') {
    throw new Error(`GET ${JSON_PATH} with Accept-Encoding: gzip came back ` +
      `${encoding === undefined ? 'without content-encoding' : `content-encoding: ${encoding}`} (${res.body.length} bytes)`);
  }
  let body: Buffer;
  try {
    body = gunzipSync(res.body);
  } catch (err) {
    throw new Error(`GET ${JSON_PATH}: the gzip body does not decode: ${(err as Error).message}`);
  }
  if (!body.equals(Buffer.from(JSON_DOC))) {
    throw new Error(`GET ${JSON_PATH}: the body decodes to ${body.length} bytes that are not the document`);
  }
  return `gzip ok, ${JSON_BYTES} -> ${res.body.length} bytes, vary: ${String(res.headers.vary ?? '-')}`;
}

function wrkOnly(ctx: ModeContext, scenario: Scenario): LoadTool {
  if (ctx.tool.name !== 'wrk') throw new Error(`--scenario ${scenario} needs wrk (autocannon cannot be used here)`);
  return ctx.tool;
}

export function scenarioModes(scenario: Scenario, ctx: ModeContext): Mode[] {
  switch (scenario) {
    case 'http':
      return [httpMode(ctx, ctx.tool, 'http', ['nginx', 'direct'])];
    case 'gzip':
      // The same keep-alive load, for the JSON document, asking for gzip.
      return [{ ...httpMode(ctx, ctx.tool, 'http', ['nginx'], JSON_PATH, ACCEPT_GZIP), check: checkGzip }];
    case 'tcp-echo':
      // Small HTTP requests and responses on 50 connections, through proxies that see only bytes.
      return [httpMode(ctx, wrkOnly(ctx, scenario), 'http', ['nginx', 'direct'])];
    case 'https': {
      const bin = which('wrk');
      wrkOnly(ctx, scenario);
      // The same wrk, offering only TLS_AES_128_GCM_SHA256 and P-256 (see lib/certs.ts).
      return [httpMode(ctx, wrk(bin!, { ...process.env, OPENSSL_CONF: ctx.opensslConf! }), 'https', ['nginx'])];
    }
    case 'tls-new': {
      const client = tlsConnClient(ctx.tmp, ctx.nodeBin);
      if (client.fallbackReason !== null) {
        ctx.log(`note: ${client.fallbackReason}; using the Node TLS client (about half the handshake rate)`);
      }
      const { args } = ctx;
      const mode = (handshake: Handshake): Mode => ({
        name: handshake,
        tool: client.name,
        how: `-c ${args.connections}, ${args.durationS} s, ${handshake} handshakes, one request per connection`,
        rate: 'conn/s',
        cpu: 'CPU s/10k',
        cpuUnits: 10_000,
        latency: true,
        reused: true,
        refs: ['nginx'],
        run: (port, durationS) =>
          client.run(port, PAYLOAD_PATH, args.connections, args.threads, durationS, handshake),
      });
      return [mode('full'), mode('resumed')];
    }
    case 'tcp-stream': {
      const curl = which('curl');
      if (curl === null) throw new Error('--scenario tcp-stream needs curl');
      return [{
        name: '',
        tool: 'curl',
        how: `one ${STREAM_BYTES / 1024 ** 3} GiB download per round`,
        rate: 'MB/s',
        cpu: 'CPU s/GiB',
        cpuUnits: 1024 ** 3,
        latency: false,
        reused: false,
        refs: ['nginx', 'direct'],
        run: (port) => curlStream(curl, `http://127.0.0.1:${port}${STREAM_PATH}`, STREAM_BYTES),
      }];
    }
  }
}
