import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { spawnManaged } from '../lib/procs.ts';
import { waitProcReady } from './common.ts';
import { SkipTarget } from './types.ts';
import type { RunningTarget, StartContext, TargetSpec } from './types.ts';

const PEER = fileURLToPath(new URL('../peers/node-http-proxy.ts', import.meta.url));

export const httpProxy: TargetSpec = {
  name: 'http-proxy',
  scenarios: ['http'],
  describe: () => 'node-http-proxy (http-proxy package), keep-alive agent, 1 process',
  async start(ctx: StartContext): Promise<RunningTarget> {
    let version: string;
    try {
      const require = createRequire(import.meta.url);
      version = (require('http-proxy/package.json') as { version: string }).version;
    } catch {
      throw new SkipTarget('the http-proxy package is not installed (npm install)');
    }
    // --no-deprecation: http-proxy 1.18 calls util._extend, which warns on every start.
    const proc = spawnManaged('http-proxy', ctx.nodeBin,
      ['--no-deprecation', PEER, String(ctx.port), String(ctx.upstream.port)]);
    await waitProcReady(proc, ctx.port);
    return { port: ctx.port, proc, version: `http-proxy ${version}` };
  },
};
