// GET /listeners (source/server/admin/listeners_handler.cc): text `name::address:port`, one line
// per listener; ?format=json gives envoy.admin.v3.Listeners, each ListenerStatus with Legate's
// addition of its `filter_chains` (and `default_filter_chain`) in Envoy's FilterChain JSON form as
// config_dump shows them: `name` and `filter_chain_match` (the network filters are left out).
import { addressString, prettyJson } from './format.ts';
import {
  CONTENT_JSON, type AdminHandler, type AdminOptions, type AdminRequest, type AdminResponse,
  type FilterChainStatus, type ListenerStatus,
} from './types.ts';

function chainJson(fc: FilterChainStatus): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (fc.filterChainMatch !== null) out.filter_chain_match = fc.filterChainMatch;
  if (fc.name !== '') out.name = fc.name;
  return out;
}

export function renderListenersText(listeners: readonly ListenerStatus[]): string {
  return listeners.map((l) => `${l.name}::${addressString(l.address, l.port)}\n`).join('');
}

export function renderListenersJson(listeners: readonly ListenerStatus[]): string {
  return prettyJson({
    listener_statuses: listeners.map((l) => {
      const out: Record<string, unknown> = {
        name: l.name,
        local_address: { socket_address: { address: l.address, port_value: l.port } },
      };
      if (l.filterChains !== undefined) out.filter_chains = l.filterChains.map(chainJson);
      if (l.defaultFilterChain != null) out.default_filter_chain = chainJson(l.defaultFilterChain);
      return out;
    }),
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
