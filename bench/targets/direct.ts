import type { RunningTarget, StartContext, TargetSpec } from './types.ts';

export const direct: TargetSpec = {
  name: 'direct',
  description: 'client -> upstream, no proxy (the ceiling)',
  async start(ctx: StartContext): Promise<RunningTarget> {
    return { port: ctx.upstream.port, proc: null, version: null };
  },
};
