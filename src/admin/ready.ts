// GET /ready (ServerInfoHandler::handlerReady): the server state name and a newline; 200 when
// LIVE, 503 otherwise.
import type { AdminHandler, AdminOptions, AdminResponse } from './types.ts';

export const readyHandler: AdminHandler = {
  prefix: '/ready',
  help: 'print server state, return 200 if LIVE, otherwise return 503',
  mutatesState: false,
  handle(_req, opts: AdminOptions): AdminResponse {
    if (opts.isReady()) return { status: 200, body: 'LIVE\n' };
    const state = opts.serverInfo().state;
    // Not ready but claiming LIVE (a failed health check): Envoy reports DRAINING then.
    return { status: 503, body: `${state === 'LIVE' ? 'DRAINING' : state}\n` };
  },
};
