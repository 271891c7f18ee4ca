// envoy.filters.http.header_mutation in the config: accepted and compiled (in order, names
// lowercased, values parsed as substitution formats), and what Legate does not implement refused
// by name.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateBootstrap } from '../../src/config/load.ts';
import { MutationOp } from '../../src/extensions/filters/http/header-mutation/filter.ts';
import { HCM, ROUTER_TYPE, compileConfig, configErrors, hcmOf, minimal } from './fixtures.ts';

const TYPE = 'type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutation';
const HM = `${HCM}.http_filters[0].typed_config`;

function withMutations(mutations: unknown, extra: Record<string, unknown> = {}): any {
  const cfg = minimal();
  hcmOf(cfg).http_filters = [
    { name: 'hm', typed_config: { '@type': TYPE, mutations, ...extra } },
    { name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER_TYPE } },
  ];
  return cfg;
}

/** Compiled with every extension's module (the snapshot, untyped for the assertions). */
const compile = (cfg: unknown): any => compileConfig(cfg);
const errorsOf = configErrors;

test('request and response mutations compile in order, names lowercased, values parsed as formats', () => {
  const snap = compile(withMutations({
    request_mutations: [
      { append: { header: { key: 'X-Add', value: ' a, b ' } } },
      { append: { header: { key: 'x-absent', value: '1' }, append_action: 'ADD_IF_ABSENT' } },
      { append: { header: { key: 'x-over', value: '2' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' } },
      { append: { header: { key: 'x-only', value: '3' }, append_action: 'OVERWRITE_IF_EXISTS' } },
      { remove: 'X-Gone' },
      // Empty values are skipped unless keep_empty_value (Envoy's AppendMutation).
      { append: { header: { key: 'x-empty-dropped', value: '' } } },
      { append: { header: { key: 'x-empty-kept', value: '' }, keep_empty_value: true } },
      { append: { header: { key: 'x-who', value: 'ip=%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%' } } },
    ],
    response_mutations: [{ remove: 'server-timing' }],
  }));
  const filters = (snap.listeners[0].filterChains[0].filters[0].config as { httpFilters: any[] }).httpFilters;
  assert.deepEqual(filters.map((f: any) => f.name), ['envoy.filters.http.header_mutation', 'envoy.filters.http.router']);
  assert.deepEqual(filters[0].config, {
    request: [
      { op: MutationOp.AppendIfExistsOrAdd, name: 'x-add', value: [' a, b '], keepEmpty: false },
      { op: MutationOp.AddIfAbsent, name: 'x-absent', value: ['1'], keepEmpty: false },
      { op: MutationOp.OverwriteIfExistsOrAdd, name: 'x-over', value: ['2'], keepEmpty: false },
      { op: MutationOp.OverwriteIfExists, name: 'x-only', value: ['3'], keepEmpty: false },
      { op: MutationOp.Remove, name: 'x-gone', value: [], keepEmpty: false },
      { op: MutationOp.AppendIfExistsOrAdd, name: 'x-empty-kept', value: [], keepEmpty: true },
      {
        op: MutationOp.AppendIfExistsOrAdd, name: 'x-who', keepEmpty: false,
        value: ['ip=', { cmd: 'DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT', arg: null, max: 0 }],
      },
    ],
    response: [{ op: MutationOp.Remove, name: 'server-timing', value: [], keepEmpty: false }],
  });
});

test('fields Legate does not implement are refused by name', () => {
  const errors = errorsOf(() => validateBootstrap(withMutations({
    request_mutations: [
      { append: { header: { key: 'x-a', value: 'v' }, append: true } },
      { append: { header: { key: 'x-b', raw_value: Buffer.from('v').toString('base64') } } },
    ],
  }, { most_specific_header_mutations_wins: true })));
  assert.deepEqual(errors, [
    '2 field(s) set that Legate does not act on yet; remove them, or set allowUnsupportedFields '
      + '(they are then ignored with a warning):',
    `${HM}.mutations.request_mutations[1].append.header.raw_value: field is not supported by Legate (value "dg==")`,
    `${HM}.most_specific_header_mutations_wins: field is not supported by Legate (value true)`,
  ]);
});

test('what the filter cannot do is refused at compile time, naming the field', () => {
  const p = `${HM}.mutations.request_mutations[0]`;
  assert.deepEqual(errorsOf(() => compile(withMutations({
    request_mutations: [{ append: { header: { key: 'x-who', value: '100%' } } }],
  }))), [`${p}.append.header.value: Incorrect configuration: 100%. Couldn't find valid command at position 3`]);
  const [unknown] = errorsOf(() => compile(withMutations({
    request_mutations: [{ append: { header: { key: 'x-who', value: '%NO_SUCH_THING%' } } }],
  })));
  assert.match(unknown!, new RegExp(`^${p.replace(/[[\].]/g, '\\$&')}\\.append\\.header\\.value: Not supported field in StreamInfo: NO_SUCH_THING`));
  for (const name of [':path', 'Host', 'content-length', 'transfer-encoding']) {
    const [e] = errorsOf(() => compile(withMutations({ request_mutations: [{ remove: name }] })));
    assert.match(e!, new RegExp(`^${p.replace(/[[\].]/g, '\\$&')}\\.remove: header "${name}" cannot be mutated`));
  }
  assert.deepEqual(errorsOf(() => compile(withMutations({
    response_mutations: [{ append: { header: { key: 'bad name', value: 'v' } } }],
  }))), [`${HM}.mutations.response_mutations[0].append.header.key: "bad name" is not a valid HTTP header name`]);
});

test('header_mutation is not terminal: it cannot end the HTTP filter chain', () => {
  const cfg = withMutations({});
  hcmOf(cfg).http_filters.pop();
  assert.deepEqual(errorsOf(() => validateBootstrap(cfg)), [
    `${HCM}.http_filters[0]: Error: non-terminal filter named hm of type envoy.filters.http.header_mutation `
      + 'is the last filter in a http filter chain.',
  ]);
});
