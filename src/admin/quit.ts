// POST /quitquitquit (ServerCmdHandler::handlerQuitQuitQuit): "OK\n", then the server shuts down.
// It mutates state, so the dispatcher answers anything but POST with 405 before we get here.
import type { AdminHandler, AdminOptions, AdminResponse } from './types.ts';

export const quitHandler: AdminHandler = {
  prefix: '/quitquitquit',
  help: 'exit the server',
  mutatesState: true,
  handle(_req, opts: AdminOptions): AdminResponse {
    return { status: 200, body: 'OK\n', after: () => opts.onQuit() };
  },
};
