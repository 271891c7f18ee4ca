import type { RunningTarget, StartContext, TargetSpec } from './types.ts';

export const direct: TargetSpec = {
  name: 'direct',
  // The ceiling of a scenario whose client speaks to the upstream as it is: not of the TLS ones, nor of
  // gzip (the upstream does not compress).
  scenarios: ['http', 'tcp-stream', 'tcp-echo'],
  describe: () => 'client -> upstream, no proxy (the ceiling)',
  async start(ctx: StartContext): Promise<RunningTarget> {
    return { port: ctx.upstream.port, proc: null, version: null };
  },
};
