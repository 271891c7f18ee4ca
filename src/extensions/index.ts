// Every extension Legate implements, registered by Envoy's name. One explicit list (grpc-js's
// setup() style): an extension not named here does not exist for the data plane.
import { registerHttpFilter } from './registry.ts';
import { registerClusterType, registerLoadBalancer } from '../upstream/cluster-manager.ts';
import * as router from './filters/http/router/config.ts';
import { staticCluster } from './clusters/static/index.ts';
import { roundRobin } from './load-balancers/round-robin/index.ts';

let registered = false;
export function registerAll(): void {
  if (registered) return;
  registered = true;
  registerHttpFilter(router.NAME, router.TYPE_URL, router.routerFactory);
  registerClusterType(staticCluster);
  registerLoadBalancer(roundRobin);
}
