// POST /healthcheck/fail and /healthcheck/ok (Envoy's ServerCmdHandler::handlerHealthcheckFail /
// handlerHealthcheckOk): "OK\n". The server's health-check-failed state reaches every worker at
// once (common/server-state.ts): envoy.filters.http.health_check answers health checks 503 and
// marks other responses, connection managers close connections after their current response, and
// /ready answers DRAINING.
import type { AdminHandler, AdminOptions, AdminResponse } from './types.ts';

export const healthcheckFailHandler: AdminHandler = {
  prefix: '/healthcheck/fail',
  help: 'cause the server to fail health checks',
  mutatesState: true,
  handle(_req, opts: AdminOptions): AdminResponse {
    opts.onHealthCheck(true);
    return { status: 200, body: 'OK\n' };
  },
};

export const healthcheckOkHandler: AdminHandler = {
  prefix: '/healthcheck/ok',
  help: 'cause the server to pass health checks',
  mutatesState: true,
  handle(_req, opts: AdminOptions): AdminResponse {
    opts.onHealthCheck(false);
    return { status: 200, body: 'OK\n' };
  },
};
