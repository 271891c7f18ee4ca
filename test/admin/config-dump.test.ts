// GET /config_dump as Envoy's ConfigDumpHandler answers (test/server/admin/config_dump_handler_test.cc
// has the shapes): the control plane's entries in key order (the real ConfigTracker over a loaded
// config), ?include_eds with the clusters' endpoints, ?resource=, ?mask=, ?name_regex= and their
// errors, empty parameters as absent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dispatch, type AdminOptions, type AdminResponse, type ClusterStatus } from '../../src/admin/index.ts';
import { loadBootstrapText } from '../../src/config/load.ts';
import { ConfigTracker } from '../../src/main/config-tracker.ts';

const T0 = Date.UTC(2024, 0, 2, 3, 4, 5, 678);
const T1 = Date.UTC(2024, 0, 2, 3, 5, 0, 0);

const tracker = new ConfigTracker();
const yaml = (apiTimeout: string): string => `
node: { id: n1, cluster: c1 }
static_resources:
  clusters:
  - name: web
    connect_timeout: 0.25s
    load_assignment:
      cluster_name: web
      endpoints:
      - lb_endpoints:
        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 8080 } } }
  - name: api
    type: STRICT_DNS
    connect_timeout: ${apiTimeout}
    load_assignment:
      cluster_name: api
      endpoints:
      - lb_endpoints:
        - endpoint: { address: { socket_address: { address: api.test, port_value: 80 } } }
`;
tracker.update(loadBootstrapText(yaml('1s'), 'yaml').bootstrap as any, T0);
// A reload that changes only `api`: its last_updated moves, web's stays.
tracker.update(loadBootstrapText(yaml('2s'), 'yaml').bootstrap as any, T1);

const hostStats = {};
const clusters: ClusterStatus[] = [
  {
    name: 'web',
    circuit_breakers: { default: { max_connections: 1024, max_pending_requests: 1024, max_requests: 1024, max_retries: 3 } },
    hosts: [{ address: '127.0.0.1', port: 8080, health_flags: [], weight: 1, stats: hostStats }],
  },
  {
    name: 'api',
    circuit_breakers: { default: { max_connections: 1024, max_pending_requests: 1024, max_requests: 1024, max_retries: 3 } },
    hosts: [
      // Listed out of order: the dump groups priority 0 first, then localities sorted. (The cluster
      // weighs localities: each host carries its locality's weight, 0 for one without.)
      {
        address: '10.0.0.9', port: 80, hostname: 'api.test', weight: 3, priority: 1, region: 'b', locality_weight: 0,
        health_check_address: '10.0.0.99', health_flags: [], stats: hostStats,
      },
      {
        address: '10.0.0.2', port: 80, hostname: 'api.test', weight: 5, region: 'b', zone: 'z', locality_weight: 4,
        health_check_hostname: 'hc.api.test', health_flags: ['degraded_active_hc'], stats: hostStats,
      },
      {
        address: '10.0.0.1', port: 80, hostname: 'api.test', weight: 1, region: 'a', health_check_port: 81, locality_weight: 2,
        health_flags: ['failed_active_hc'], stats: hostStats,
      },
      {
        address: '10.0.0.3', port: 80, hostname: 'api.test', weight: 1, region: 'b', zone: 'z', health_check_port: 80,
        locality_weight: 4, health_flags: [], stats: hostStats,
      },
    ],
  },
];

const opts = {
  clusters: () => clusters,
  configDump: (nameMatch: (name: string) => boolean) => tracker.entries(nameMatch).reverse(),
} as unknown as AdminOptions;

function get(target: string): AdminResponse {
  const q = target.indexOf('?');
  const r = dispatch({
    method: 'GET', path: q < 0 ? target : target.slice(0, q), query: new URLSearchParams(q < 0 ? '' : target.slice(q + 1)),
  }, opts);
  assert.ok(!(r instanceof Promise));
  return r;
}

function json(target: string): any {
  const r = get(target);
  assert.equal(r.status, 200, r.body);
  assert.equal(r.contentType, 'application/json');
  assert.ok(r.body.endsWith('}\n'));
  return JSON.parse(r.body);
}

const WEB = {
  '@type': 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
  name: 'web',
  connect_timeout: '0.250s',
  load_assignment: {
    cluster_name: 'web',
    endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: 8080 } } } }] }],
  },
};

test('the entries in key order: BootstrapConfigDump, then ClustersConfigDump with each cluster as configured', () => {
  const j = json('/config_dump');
  assert.deepEqual(j.configs.map((c: any) => c['@type']), [
    'type.googleapis.com/envoy.admin.v3.BootstrapConfigDump',
    'type.googleapis.com/envoy.admin.v3.ClustersConfigDump',
  ]);
  const [boot, cl] = j.configs;
  assert.deepEqual(boot.bootstrap.node, { id: 'n1', cluster: 'c1' });
  assert.equal(boot.bootstrap.static_resources.clusters[1].connect_timeout, '2s');
  assert.equal(boot.last_updated, '2024-01-02T03:05:00Z');
  assert.deepEqual(cl.static_clusters, [
    { cluster: WEB, last_updated: '2024-01-02T03:04:05.678Z' },
    {
      cluster: {
        '@type': 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
        name: 'api',
        type: 'STRICT_DNS',
        connect_timeout: '2s',
        load_assignment: {
          cluster_name: 'api',
          endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 'api.test', port_value: 80 } } } }] }],
        },
      },
      last_updated: '2024-01-02T03:05:00Z',
    },
  ]);
  // Empty parameters are no parameters.
  assert.deepEqual(json('/config_dump?resource=&mask=&name_regex='), j);
});

test('include_eds: an EndpointsConfigDump of the hosts the clusters have now, by priority and locality', () => {
  const r = get('/config_dump?include_eds');
  const j = JSON.parse(r.body);
  assert.equal(j.configs.length, 3);
  const eds = j.configs[2];
  const ep = (address: string, weight: number, health: string, hc: object = {}) => ({
    endpoint: { address: { socket_address: { address, port_value: 80 } }, health_check_config: hc, hostname: 'api.test' },
    health_status: health,
    metadata: {},
    load_balancing_weight: weight,
  });
  assert.deepEqual(eds, {
    '@type': 'type.googleapis.com/envoy.admin.v3.EndpointsConfigDump',
    static_endpoint_configs: [
      {
        endpoint_config: {
          '@type': 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
          cluster_name: 'web',
          endpoints: [{
            locality: {},
            lb_endpoints: [{
              endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: 8080 } }, health_check_config: {} },
              health_status: 'HEALTHY',
              metadata: {},
              load_balancing_weight: 1,
            }],
          }],
          policy: { overprovisioning_factor: 140 },
        },
      },
      {
        endpoint_config: {
          '@type': 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
          cluster_name: 'api',
          endpoints: [
            {
              locality: { region: 'a' }, lb_endpoints: [ep('10.0.0.1', 1, 'UNHEALTHY', { port_value: 81 })],
              load_balancing_weight: 2,
            },
            {
              locality: { region: 'b', zone: 'z' },
              // (health_check_config: the hostname; port_value when checks go to another port or address.)
              lb_endpoints: [ep('10.0.0.2', 5, 'DEGRADED', { hostname: 'hc.api.test' }), ep('10.0.0.3', 1, 'HEALTHY')],
              load_balancing_weight: 4,
            },
            {
              locality: { region: 'b' }, lb_endpoints: [ep('10.0.0.9', 3, 'HEALTHY', { port_value: 80 })], load_balancing_weight: 0,
              priority: 1,
            },
          ],
          policy: { overprovisioning_factor: 140 },
        },
      },
    ],
  });
  // Field-number order (ClusterLoadAssignment, LocalityLbEndpoints, LbEndpoint, Endpoint).
  assert.ok(r.body.includes(`"endpoint_config": {
      "@type": "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
      "cluster_name": "web",
      "endpoints": [
       {
        "locality": {},
        "lb_endpoints": [
         {
          "endpoint": {
           "address": {
            "socket_address": {
             "address": "127.0.0.1",
             "port_value": 8080
            }
           },
           "health_check_config": {}
          },
          "health_status": "HEALTHY",
          "metadata": {},
          "load_balancing_weight": 1
         }
        ]
       }
      ],
      "policy": {
       "overprovisioning_factor": 140
      }
     }`), r.body);
  // Present is on, whatever the value (Envoy reads the parameter's presence).
  assert.equal(json('/config_dump?include_eds=false').configs.length, 3);
});

test('resource=: the elements of that repeated field, each with its own @type; 404 and 400 as Envoy', () => {
  const j = json('/config_dump?resource=static_clusters');
  assert.deepEqual(j.configs.map((c: any) => [c['@type'], c.cluster.name]), [
    ['type.googleapis.com/envoy.admin.v3.ClustersConfigDump.StaticCluster', 'web'],
    ['type.googleapis.com/envoy.admin.v3.ClustersConfigDump.StaticCluster', 'api'],
  ]);
  const eds = json('/config_dump?resource=static_endpoint_configs&include_eds');
  assert.deepEqual(eds.configs.map((c: any) => [c['@type'], c.endpoint_config.cluster_name]), [
    ['type.googleapis.com/envoy.admin.v3.EndpointsConfigDump.StaticEndpointConfig', 'web'],
    ['type.googleapis.com/envoy.admin.v3.EndpointsConfigDump.StaticEndpointConfig', 'api'],
  ]);
  // A field no entry has is 404 (the endpoints are there only with include_eds).
  assert.deepEqual(pick(get('/config_dump?resource=static_endpoint_configs')), [404, 'static_endpoint_configs not found in config dump']);
  assert.deepEqual(pick(get('/config_dump?resource=static_listeners')), [404, 'static_listeners not found in config dump']);
  assert.deepEqual(pick(get('/config_dump?resource=version_info')),
    [400, 'version_info is not a repeated field. Use ?mask=version_info to get only this field']);
  // A repeated field with nothing in it: an empty dump.
  assert.equal(get('/config_dump?resource=dynamic_active_clusters').body, '{}\n');
});

test('mask=: applied to every entry it fits; with resource=, inside the resource\'s Any', () => {
  assert.deepEqual(json('/config_dump?mask=static_clusters').configs.map((c: any) => Object.keys(c)),
    [['@type', 'static_clusters']]);
  assert.deepEqual(json('/config_dump?mask=bootstrap.node.id').configs, [
    { '@type': 'type.googleapis.com/envoy.admin.v3.BootstrapConfigDump', bootstrap: { node: { id: 'n1' } } },
  ]);
  assert.deepEqual(pick(get('/config_dump?mask=bad')),
    [400, 'FieldMask bad could not be successfully applied to any configs.']);
  // No indexing through a repeated field.
  assert.equal(get('/config_dump?mask=static_clusters.cluster').status, 400);

  assert.deepEqual(json('/config_dump?resource=static_clusters&mask=cluster.name,cluster.connect_timeout,last_updated').configs, [
    {
      '@type': 'type.googleapis.com/envoy.admin.v3.ClustersConfigDump.StaticCluster',
      cluster: { '@type': 'type.googleapis.com/envoy.config.cluster.v3.Cluster', name: 'web', connect_timeout: '0.250s' },
      last_updated: '2024-01-02T03:04:05.678Z',
    },
    {
      '@type': 'type.googleapis.com/envoy.admin.v3.ClustersConfigDump.StaticCluster',
      cluster: { '@type': 'type.googleapis.com/envoy.config.cluster.v3.Cluster', name: 'api', connect_timeout: '2s' },
      last_updated: '2024-01-02T03:05:00Z',
    },
  ]);
  assert.deepEqual(json('/config_dump?resource=static_clusters&mask=last_updated').configs[0],
    { '@type': 'type.googleapis.com/envoy.admin.v3.ClustersConfigDump.StaticCluster', last_updated: '2024-01-02T03:04:05.678Z' });
  assert.deepEqual(pick(get('/config_dump?resource=static_clusters&mask=cluster.load_assignment.endpoints.priority')),
    [400, 'FieldMask paths: "cluster.load_assignment.endpoints.priority"\n could not be successfully used.']);
});

test('name_regex: the clusters and endpoint assignments whose name it fully matches; a bad pattern is 400', () => {
  const j = json('/config_dump?include_eds&name_regex=w.*');
  assert.deepEqual(j.configs[1].static_clusters.map((c: any) => c.cluster.name), ['web']);
  assert.deepEqual(j.configs[2].static_endpoint_configs.map((c: any) => c.endpoint_config.cluster_name), ['web']);
  // Fully: "eb" does not match "web".
  assert.equal(json('/config_dump?name_regex=eb').configs[1].static_clusters, undefined);
  const bad = get('/config_dump?name_regex=[');
  assert.equal(bad.status, 400);
  assert.match(bad.body, /^INVALID_ARGUMENT: Error while parsing name_regex from \[: /);
});

function pick(r: AdminResponse): [number, string] {
  return [r.status, r.body];
}
