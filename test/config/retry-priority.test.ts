// A route's retry_policy.retry_priority in the config: envoy.retry_priorities.previous_priorities
// compiled into the route's retry policy; its update_frequency checked as Envoy's proto does; a
// retry priority Legate does not have refused with its path.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileConfig, configErrors, minimal } from './fixtures.ts';

const PP_TYPE = 'type.googleapis.com/envoy.extensions.retry.priority.previous_priorities.v3.PreviousPrioritiesConfig';
const ROUTE = 'static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[0].route';

function withRetryPriority(rp: unknown): any {
  const cfg = minimal();
  const hcm = cfg.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
  hcm.route_config.virtual_hosts[0].routes[0].route.retry_policy = { retry_on: '5xx', retry_priority: rp };
  return cfg;
}
function retryPolicyOf(cfg: unknown): any {
  const hcm = compileConfig(cfg).listeners[0].filterChains[0].filters[0].config as any;
  return hcm.routeConfig.virtualHosts[0].routes[0].action.retryPolicy;
}

test('previous_priorities compiles into the route\'s retry policy (by @type or by name)', () => {
  const p = retryPolicyOf(withRetryPriority({
    name: 'envoy.retry_priorities.previous_priorities', typed_config: { '@type': PP_TYPE, update_frequency: 2 },
  }));
  assert.deepEqual(p.retryPriority, { name: 'envoy.retry_priorities.previous_priorities', config: { updateFrequency: 2 } });
  const byType = retryPolicyOf(withRetryPriority({ name: 'anything', typed_config: { '@type': PP_TYPE, update_frequency: 1 } }));
  assert.deepEqual(byType.retryPriority.config, { updateFrequency: 1 });
  // Without one: null.
  const cfg = minimal();
  cfg.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[0].route
    .retry_policy = { retry_on: '5xx' };
  assert.equal(retryPolicyOf(cfg).retryPriority, null);
});

test('update_frequency must be greater than 0 (Envoy\'s proto rule; unset is 0)', () => {
  const errs = configErrors(() => compileConfig(withRetryPriority({
    name: 'envoy.retry_priorities.previous_priorities', typed_config: { '@type': PP_TYPE, update_frequency: 0 },
  })));
  assert.equal(errs.length, 1);
  assert.match(errs[0], /retry_priority\.typed_config\.update_frequency: value must be greater than 0, got 0/);
  assert.deepEqual(configErrors(() => compileConfig(withRetryPriority({
    name: 'envoy.retry_priorities.previous_priorities', typed_config: { '@type': PP_TYPE },
  }))), [`${ROUTE}.retry_policy.retry_priority.typed_config.update_frequency: value must be greater than 0, got 0`]);
});

test('a retry priority Legate does not have is refused at its path', () => {
  const errs = configErrors(() => compileConfig(withRetryPriority({ name: 'envoy.retry_priorities.other' })));
  assert.equal(errs.length, 1);
  assert.ok(errs[0].startsWith(`${ROUTE}.retry_policy.retry_priority`), errs[0]);
});
