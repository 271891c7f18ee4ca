// Placeholder: the HTTP connection manager's network filter (a ReadFilter that feeds the codec)
// comes with the connection layer and replaces this file.
import type { NetworkFilterFactory } from '../../../../network/filter.ts';
import type { HcmConfig } from './config.ts';

export function createHcmFilterFactory(_config: HcmConfig): NetworkFilterFactory {
  throw new Error('envoy.filters.network.http_connection_manager as a network filter: not wired yet');
}
