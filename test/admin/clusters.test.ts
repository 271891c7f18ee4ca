// /clusters renderers on a fully known state: Envoy's text lines and envoy.admin.v3.Clusters JSON
// (field names and order from admin/v3/clusters.proto, defaults left out), hosts in priority
// order, hostnames, the health flags active health checking sets.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { renderClustersJson, renderClustersText } from '../../src/admin/clusters.ts';
import type { ClusterStatus } from '../../src/admin/types.ts';
import { StatsLayout } from '../../src/stats/layout.ts';
import { StatsStore } from '../../src/stats/store.ts';
import { hostStats } from '../../src/upstream/stats.ts';

const layout = new StatsLayout();
const store = new StatsStore(layout);
after(() => store.close());

const p1 = hostStats(layout, 'dns', '127.0.0.9', 80);
const p0 = hostStats(layout, 'dns', '127.0.0.8', 80);
store.main.add(p0.rq_total, 3);
store.main.set(p0.cx_active, 1);

const THRESHOLDS = { max_connections: 10, max_pending_requests: 20, max_requests: 30, max_retries: 3 };

// The priority-1 host comes first in the list: Envoy walks priority 0's host set first.
const clusters: ClusterStatus[] = [{
  name: 'dns',
  circuit_breakers: { default: THRESHOLDS },
  hosts: [
    {
      address: '127.0.0.9', port: 80, hostname: 'svc.test', weight: 3, priority: 1, region: 'r1', zone: 'z1',
      health_flags: ['failed_active_hc', 'pending_active_hc'], stats: p1,
    },
    {
      address: '127.0.0.8', port: 80, hostname: 'svc.test', weight: 1, priority: 0,
      health_flags: ['failed_eds_health', 'eds_status_draining'], stats: p0,
    },
  ],
}, {
  name: 'empty',
  circuit_breakers: { default: THRESHOLDS },
  hosts: [],
}];

test('text: hosts priority by priority, with hostname, flags, weight, locality', () => {
  const text = renderClustersText(clusters, store.snapshot());
  const h0 = 'dns::127.0.0.8:80';
  const h1 = 'dns::127.0.0.9:80';
  assert.equal(text, [
    'dns::observability_name::dns',
    'dns::default_priority::max_connections::10',
    'dns::default_priority::max_pending_requests::20',
    'dns::default_priority::max_requests::30',
    'dns::default_priority::max_retries::3',
    'dns::high_priority::max_connections::1024',
    'dns::high_priority::max_pending_requests::1024',
    'dns::high_priority::max_requests::1024',
    'dns::high_priority::max_retries::3',
    'dns::added_via_api::false',
    `${h0}::cx_active::1`, `${h0}::cx_connect_fail::0`, `${h0}::cx_total::0`, `${h0}::rq_active::0`,
    `${h0}::rq_error::0`, `${h0}::rq_success::0`, `${h0}::rq_timeout::0`, `${h0}::rq_total::3`,
    `${h0}::hostname::svc.test`,
    `${h0}::health_flags::/failed_eds_health/eds_status_draining`,
    `${h0}::weight::1`, `${h0}::region::`, `${h0}::zone::`, `${h0}::sub_zone::`, `${h0}::canary::false`,
    `${h0}::priority::0`, `${h0}::success_rate::-1`, `${h0}::local_origin_success_rate::-1`,
    `${h1}::cx_active::0`, `${h1}::cx_connect_fail::0`, `${h1}::cx_total::0`, `${h1}::rq_active::0`,
    `${h1}::rq_error::0`, `${h1}::rq_success::0`, `${h1}::rq_timeout::0`, `${h1}::rq_total::0`,
    `${h1}::hostname::svc.test`,
    `${h1}::health_flags::/failed_active_hc/pending_active_hc`,
    `${h1}::weight::3`, `${h1}::region::r1`, `${h1}::zone::z1`, `${h1}::sub_zone::`, `${h1}::canary::false`,
    `${h1}::priority::1`, `${h1}::success_rate::-1`, `${h1}::local_origin_success_rate::-1`,
    'empty::observability_name::empty',
    'empty::default_priority::max_connections::10',
    'empty::default_priority::max_pending_requests::20',
    'empty::default_priority::max_requests::30',
    'empty::default_priority::max_retries::3',
    'empty::high_priority::max_connections::1024',
    'empty::high_priority::max_pending_requests::1024',
    'empty::high_priority::max_requests::1024',
    'empty::high_priority::max_retries::3',
    'empty::added_via_api::false',
    '',
  ].join('\n'));
});

test('json: envoy.admin.v3.Clusters, proto3 JSON in field-number order', () => {
  const body = renderClustersJson(clusters, store.snapshot());
  assert.ok(body.endsWith('}\n'), 'protobuf\'s pretty printer ends with a newline');
  const zeroStats = (over: Record<string, string>) => [
    ...['cx_connect_fail', 'cx_total', 'rq_error', 'rq_success', 'rq_timeout', 'rq_total']
      .map((name) => (over[name] === undefined ? { name } : { name, value: over[name] })),
    ...['cx_active', 'rq_active']
      .map((name) => (over[name] === undefined ? { name, type: 'GAUGE' } : { name, value: over[name], type: 'GAUGE' })),
  ];
  const thresholds = [
    { max_connections: 10, max_pending_requests: 20, max_requests: 30, max_retries: 3 },
    { priority: 'HIGH', max_connections: 1024, max_pending_requests: 1024, max_requests: 1024, max_retries: 3 },
  ];
  const j = JSON.parse(body);
  assert.deepEqual(j, {
    cluster_statuses: [
      {
        name: 'dns',
        host_statuses: [
          {
            address: { socket_address: { address: '127.0.0.8', port_value: 80 } },
            stats: zeroStats({ rq_total: '3', cx_active: '1' }),
            health_status: { eds_health_status: 'DRAINING' },
            weight: 1,
            hostname: 'svc.test',
            locality: {},
          },
          {
            address: { socket_address: { address: '127.0.0.9', port_value: 80 } },
            stats: zeroStats({}),
            health_status: { failed_active_health_check: true, eds_health_status: 'HEALTHY', pending_active_hc: true },
            weight: 3,
            hostname: 'svc.test',
            priority: 1,
            locality: { region: 'r1', zone: 'z1' },
          },
        ],
        circuit_breakers: { thresholds },
        observability_name: 'dns',
      },
      { name: 'empty', circuit_breakers: { thresholds }, observability_name: 'empty' },
    ],
  });
  // Key order is the proto's field numbers (ClusterStatus, HostStatus, HostHealthStatus).
  const k: any = JSON.parse(body);
  assert.deepEqual(Object.keys(k.cluster_statuses[0]), ['name', 'host_statuses', 'circuit_breakers', 'observability_name']);
  assert.deepEqual(Object.keys(k.cluster_statuses[0].host_statuses[1]),
    ['address', 'stats', 'health_status', 'weight', 'hostname', 'priority', 'locality']);
  assert.deepEqual(Object.keys(k.cluster_statuses[0].host_statuses[1].health_status),
    ['failed_active_health_check', 'eds_health_status', 'pending_active_hc']);
});

test('json: no cluster is an empty message', () => {
  assert.equal(renderClustersJson([], store.snapshot()), '{}\n');
});
