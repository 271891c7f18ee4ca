// Custom headers, formatters and local_reply_config in the config: compiled into the route's chains
// in Envoy's order, and what is wrong or not implemented refused with its field path.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateBootstrap } from '../../src/config/load.ts';
import { AppendAction } from '../../src/router/header-parser.ts';
import { FILE_LOG_TYPE, HCM, VH0, compileConfig, configErrors, hcmOf, minimal } from './fixtures.ts';

const hv = (key: string, value: string, extra: object = {}) => ({ header: { key, value }, ...extra });

test('the route gets its chains: route, virtual host, route configuration (or the reverse)', () => {
  for (const most of [false, true]) {
    const cfg = minimal();
    const rc = hcmOf(cfg).route_config;
    rc.most_specific_header_mutations_wins = most;
    rc.request_headers_to_add = [hv('x-g', 'g')];
    rc.internal_only_headers = ['X-Secret'];
    rc.virtual_hosts[0].request_headers_to_remove = ['X-V'];
    rc.virtual_hosts[0].routes[0].request_headers_to_add = [hv('x-r', '%REQ(x-a)%', { append_action: 'ADD_IF_ABSENT' })];
    rc.virtual_hosts[0].routes[0].response_headers_to_add = [hv('x-resp', 'v', { append: false })];
    const snap: any = compileConfig(cfg);
    const routeConfig = snap.listeners[0].filterChains[0].filters[0].config.routeConfig;
    const route = routeConfig.virtualHosts[0].routes[0];
    const r = { add: [{ name: 'x-r', value: [{ cmd: 'REQ', arg: 'x-a', max: 0 }], action: AppendAction.AddIfAbsent, keepEmpty: false }], remove: [] };
    const v = { add: [], remove: ['x-v'] };
    const g = { add: [{ name: 'x-g', value: ['g'], action: AppendAction.AppendIfExistsOrAdd, keepEmpty: false }], remove: [] };
    assert.deepEqual(route.requestHeaderParsers, most ? [g, v, r] : [r, v, g]);
    assert.deepEqual(route.responseHeaderParsers,
      [{ add: [{ name: 'x-resp', value: ['v'], action: AppendAction.OverwriteIfExistsOrAdd, keepEmpty: false }], remove: [] }]);
    assert.deepEqual(routeConfig.internalOnlyHeaders, ['x-secret']);
  }
});

test('bad custom headers and formats are refused with their field paths', () => {
  const cases: [(cfg: any) => void, string][] = [
    [(c) => { hcmOf(c).route_config.virtual_hosts[0].routes[0].request_headers_to_add = [hv(':path', '/x')]; },
      `${VH0}.routes[0].request_headers_to_add[0].header.key: :-prefixed or host headers may not be modified`],
    [(c) => { hcmOf(c).route_config.virtual_hosts[0].response_headers_to_remove = ['Host']; },
      `${VH0}.response_headers_to_remove[0]: :-prefixed or host headers may not be removed`],
    [(c) => { hcmOf(c).route_config.request_headers_to_add = [hv('x', '50%')]; },
      `${HCM}.route_config.request_headers_to_add[0].header.value: Incorrect configuration: 50%. Couldn't find valid command at position 2`],
    [(c) => { hcmOf(c).route_config.response_headers_to_add = [hv('x', 'a', { append: true, append_action: 'ADD_IF_ABSENT' })]; },
      `${HCM}.route_config.response_headers_to_add[0]: Both append and append_action are set and it's not allowed`],
    [(c) => {
      hcmOf(c).access_log = [{ name: 'log', typed_config: { '@type': FILE_LOG_TYPE, path: '/dev/null',
        log_format: { text_format_source: { inline_string: '%UPSTREAM_WHAT%' } } } }];
    }, `${HCM}.access_log[0].typed_config.log_format.text_format_source: Not supported field in StreamInfo: UPSTREAM_WHAT`],
    [(c) => {
      hcmOf(c).local_reply_config = { body_format: { json_format: { a: { b: '%NOPE%' } } } };
    }, `${HCM}.local_reply_config.body_format.json_format.a.b: Not supported field in StreamInfo: NOPE`],
  ];
  for (const [edit, expected] of cases) {
    const cfg = minimal();
    edit(cfg);
    const errors = configErrors(() => compileConfig(cfg));
    assert.equal(errors.length, 1, errors.join('\n'));
    assert.equal(errors[0].split(' (Legate has')[0], expected);
  }
});

test('access log filters Legate does not evaluate are refused by name in local_reply_config', () => {
  const cfg = minimal();
  hcmOf(cfg).local_reply_config = {
    mappers: [{ filter: { runtime_filter: { runtime_key: 'k' } }, status_code: 500 }],
  };
  assert.deepEqual(configErrors(() => validateBootstrap(cfg)), [
    '1 field(s) set that Legate does not act on yet; remove them, or set allowUnsupportedFields '
      + '(they are then ignored with a warning):',
    `${HCM}.local_reply_config.mappers[0].filter.runtime_filter: field is not supported by Legate`,
  ]);
});
