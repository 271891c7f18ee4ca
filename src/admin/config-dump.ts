// GET /config_dump: whatever the control plane returns (Envoy's envoy.admin.v3.ConfigDump shape is
// the caller's job), as pretty JSON like Envoy's.
import { prettyJson } from './format.ts';
import { CONTENT_JSON, type AdminHandler, type AdminOptions, type AdminResponse } from './types.ts';

export const configDumpHandler: AdminHandler = {
  prefix: '/config_dump',
  help: 'dump current Envoy configs (experimental)',
  mutatesState: false,
  handle(_req, opts: AdminOptions): AdminResponse {
    return { status: 200, contentType: CONTENT_JSON, body: prettyJson(opts.configDump() ?? {}) };
  },
};
