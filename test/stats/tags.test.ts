import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { TagProducer } from '../../src/stats/tags.ts';

const p = new TagProducer();

function tags(name: string): [string, [string, string][]] {
  const t = p.produceTags(name);
  return [t.name, t.tags.map((x) => [x.name, x.value])];
}

describe("Envoy's default tag extraction", () => {
  test('cluster name', () => {
    assert.deepEqual(tags('cluster.x.upstream_rq_total'), ['cluster.upstream_rq_total', [['envoy.cluster_name', 'x']]]);
  });

  test('response code class, then the HCM prefix', () => {
    assert.deepEqual(tags('http.y.downstream_rq_2xx'), ['http.downstream_rq_xx', [
      ['envoy.response_code_class', '2'], ['envoy.http_conn_manager_prefix', 'y'],
    ]]);
  });

  test('response code on a cluster stat', () => {
    assert.deepEqual(tags('cluster.x.upstream_rq_503'), ['cluster.upstream_rq', [
      ['envoy.response_code', '503'], ['envoy.cluster_name', 'x'],
    ]]);
  });

  test('listener address (IPv4 and IPv6), not for the admin listener', () => {
    assert.deepEqual(tags('listener.0.0.0.0_10000.downstream_cx_total'),
      ['listener.downstream_cx_total', [['envoy.listener_address', '0.0.0.0_10000']]]);
    assert.deepEqual(tags('listener.[__1]_443.downstream_cx_active'),
      ['listener.downstream_cx_active', [['envoy.listener_address', '[__1]_443']]]);
    assert.deepEqual(tags('listener.admin.downstream_cx_total'), ['listener.admin.downstream_cx_total', []]);
  });

  test('listener http prefix and address together', () => {
    assert.deepEqual(tags('listener.127.0.0.1_80.http.ingress.downstream_rq_5xx'), ['listener.http.downstream_rq_xx', [
      ['envoy.response_code_class', '5'],
      ['envoy.http_conn_manager_prefix', 'ingress'],
      ['envoy.listener_address', '127.0.0.1_80'],
    ]]);
  });

  test('virtual host and cluster, tcp prefix, worker id, untagged names', () => {
    assert.deepEqual(tags('vhost.vh.vcluster.vc.upstream_rq_time'), ['vhost.vcluster.upstream_rq_time', [
      ['envoy.virtual_cluster', 'vc'], ['envoy.virtual_host', 'vh'],
    ]]);
    assert.deepEqual(tags('tcp.ingress_tcp.downstream_cx_total'), ['tcp.downstream_cx_total', [['envoy.tcp_prefix', 'ingress_tcp']]]);
    // Only the id is cut: Envoy's Prometheus name is envoy_listener_manager_worker_dispatcher_...
    assert.deepEqual(tags('listener_manager.worker_3.dispatcher.loop_duration_us'),
      ['listener_manager.worker_dispatcher.loop_duration_us', [['envoy.worker_id', '3']]]);
    assert.deepEqual(tags('server.worker_0.watchdog_miss'), ['server.worker_watchdog_miss', [['envoy.worker_id', '0']]]);
    assert.deepEqual(tags('server.live'), ['server.live', []]);
    assert.deepEqual(tags('server.legate.worker_restarts'), ['server.legate.worker_restarts', []]);
  });

  test('rds route config names keep their dots', () => {
    assert.deepEqual(tags('http.hcm.rds.my.routes.config_reload'), ['http.rds.config_reload', [
      ['envoy.rds_route_config', 'my.routes'], ['envoy.http_conn_manager_prefix', 'hcm'],
    ]]);
  });

  test('mongo callsite and collection (tokens with ** in the middle)', () => {
    assert.deepEqual(tags('mongo.mp.collection.users.callsite.login.query.total'), ['mongo.collection.callsite.query.total', [
      ['envoy.mongo_callsite', 'login'], ['envoy.mongo_collection', 'users'], ['envoy.mongo_prefix', 'mp'],
    ]]);
  });
});
