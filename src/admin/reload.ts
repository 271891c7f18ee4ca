// POST /reload (Legate's; Envoy takes config changes over xDS): re-read the config the server was
// started with (-c file, or --config-yaml) and apply it. 200 with the new config version once every
// worker runs it; 400 with the errors, one per line, when it is refused (the running config stays);
// 500 when a worker did not confirm it in time.
import type { AdminHandler, AdminOptions, AdminResponse } from './types.ts';

export const reloadHandler: AdminHandler = {
  prefix: '/reload',
  help: 're-read the configuration and apply it (POST)',
  mutatesState: true,
  async handle(_req, opts: AdminOptions): Promise<AdminResponse> {
    const r = await opts.onReload();
    if (r.ok) return { status: 200, body: `OK: config version ${r.version}\n` };
    if (r.applied === true) return { status: 500, body: `config applied, but not confirmed:\n${r.errors.join('\n')}\n` };
    return { status: 400, body: `config refused, the running one is kept:\n${r.errors.join('\n')}\n` };
  },
};
