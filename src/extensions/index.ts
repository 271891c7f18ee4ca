// Every extension Legate implements, registered by Envoy's name. One explicit list (grpc-js's
// setup() style): an extension not named here does not exist for the data plane.
import { registerHttpFilter } from './registry.ts';
import * as router from './filters/http/router/config.ts';

let registered = false;
export function registerAll(): void {
  if (registered) return;
  registered = true;
  registerHttpFilter(router.NAME, router.TYPE_URL, router.routerFactory);
}
