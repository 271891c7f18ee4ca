// GET /listeners (source/server/admin/listeners_handler.cc): text `name::address:port`, one line
// per listener; ?format=json gives envoy.admin.v3.Listeners.
import { addressString, prettyJson } from './format.ts';
import {
  CONTENT_JSON, type AdminHandler, type AdminOptions, type AdminRequest, type AdminResponse,
  type ListenerStatus,
} from './types.ts';

export function renderListenersText(listeners: readonly ListenerStatus[]): string {
  return listeners.map((l) => `${l.name}::${addressString(l.address, l.port)}\n`).join('');
}

export function renderListenersJson(listeners: readonly ListenerStatus[]): string {
  return prettyJson({
    listener_statuses: listeners.map((l) => ({
      name: l.name,
      local_address: { socket_address: { address: l.address, port_value: l.port } },
    })),
  });
}

export const listenersHandler: AdminHandler = {
  prefix: '/listeners',
  help: 'print listener info',
  mutatesState: false,
  handle(req: AdminRequest, opts: AdminOptions): AdminResponse {
    const listeners = opts.listeners();
    if (req.query.get('format') === 'json') {
      return { status: 200, contentType: CONTENT_JSON, body: renderListenersJson(listeners) };
    }
    return { status: 200, body: renderListenersText(listeners) };
  },
};
