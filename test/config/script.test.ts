// legate.filters.http.script in the config: Legate's own message (proto/legate/...) validated like
// Envoy's (unknown fields refused by path), the module resolved against the config file's directory
// and checked (loads, default export is a function, the factory accepts the config), each failure
// named by its field path; `legate --mode validate` on the shipped examples.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadBootstrapFile, validateBootstrap } from '../../src/config/load.ts';
import { buildSnapshot } from '../../src/config/snapshot.ts';
import { StatsLayout } from '../../src/stats/layout.ts';
import { HCM, ROUTER_TYPE, configErrors, hcmOf, minimal } from './fixtures.ts';
import { runLegate } from '../helpers/legate.ts';
import * as apiValues from '../../src/api/filter.js';
import { FilterDataStatus, FilterHeadersStatus, FilterTrailersStatus } from '../../src/http/filter.ts';

const TYPE = 'type.googleapis.com/legate.filters.http.script.v1.Script';
const SF = `${HCM}.http_filters[0].typed_config`;
const ROOT = path.resolve(import.meta.dirname, '../..');

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'legate-script-config-'));
fs.mkdirSync(path.join(dir, 'filters'));
const files: Record<string, string> = {
  'filters/ok.ts': 'export default (config: { v?: number }) => () => ({ decodeHeaders() {} });\n',
  'filters/ok.js': 'export default () => () => null;\n',
  'filters/nodefault.ts': 'export const filter = 1;\n',
  'filters/notfn.ts': 'export default { decodeHeaders() {} };\n',
  'filters/picky.ts': 'export default (c: { v?: number }) => { if (c.v !== 1) throw new RangeError("v must be 1"); return () => null; };\n',
  'filters/returns.ts': 'export default () => 42;\n',
  'filters/syntax.ts': 'export default () => () => ({ decodeHeaders( {\n',
  'filters/throws.ts': 'throw new Error("top-level failure");\n',
  'filters/imports.ts': 'import "./does-not-exist.ts";\nexport default () => () => null;\n',
  'filters/notes.txt': 'x',
};
for (const [f, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, f), text);

function withScript(typedConfig: Record<string, unknown>, name = 'my filter:1'): any {
  const cfg = minimal();
  hcmOf(cfg).stat_prefix = 'ingress';
  hcmOf(cfg).http_filters = [
    { name, typed_config: { '@type': TYPE, ...typedConfig } },
    { name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER_TYPE } },
  ];
  return cfg;
}

function compile(cfg: unknown, layout = new StatsLayout()): any {
  const { bootstrap } = validateBootstrap(cfg);
  return buildSnapshot(bootstrap, layout, { bufferLimit: 1 << 20, version: 1, configDir: dir });
}

test('a module relative to the config directory compiles: URL with its content hash, preloaded, the error stat under http.<prefix>.script.<name>.', () => {
  const layout = new StatsLayout();
  const snap = compile(withScript({ module: './filters/ok.ts', config: { v: 1, nested: { a: [1, 'x'] } } }), layout);
  const f = snap.listeners[0].filterChains[0].filters[0].config.httpFilters[0];
  assert.equal(f.name, 'legate.filters.http.script');
  assert.equal(f.config.name, 'my filter:1');
  assert.match(f.config.url, new RegExp(`^file://${path.join(dir, 'filters/ok.ts').replaceAll('/', '\\/')}\\?v=[0-9a-f]{16}$`));
  assert.deepEqual(f.config.config, { v: 1, nested: { a: [1, 'x'] } });
  assert.deepEqual(snap.modules, [f.config.url]);
  assert.equal(layout.counter('http.ingress.script.my_filter_1.error'), f.config.errorSlot);
  // An absolute path, a .js module, no config: {}.
  const snap2 = compile(withScript({ module: path.join(dir, 'filters/ok.js') }));
  assert.deepEqual(snap2.listeners[0].filterChains[0].filters[0].config.httpFilters[0].config.config, {});
  // No script filter: no modules list.
  assert.equal(compile(minimal()).modules, undefined);
});

test('an edited module gets a new URL (a reload loads the new code)', () => {
  const p = path.join(dir, 'filters/edit.ts');
  fs.writeFileSync(p, 'export default () => () => null;\n');
  const a = compile(withScript({ module: './filters/edit.ts' })).modules[0];
  fs.writeFileSync(p, 'export default () => () => null; // edited\n');
  const b = compile(withScript({ module: './filters/edit.ts' })).modules[0];
  assert.notEqual(a, b);
});

test('config errors are named by field path', () => {
  const cases: [Record<string, unknown>, string, RegExp][] = [
    [{ module: './filters/missing.ts' }, `${SF}.module`, /cannot read "\.\/filters\/missing\.ts" .*ENOENT/],
    [{ module: './filters/nodefault.ts' }, `${SF}.module`, /its default export is undefined, not a function/],
    [{ module: './filters/notfn.ts' }, `${SF}.module`, /its default export is an object, not a function/],
    [{ module: './filters/returns.ts' }, `${SF}.module`, /returned a number, not the per-stream function/],
    [{ module: './filters/picky.ts', config: { v: 2 } }, `${SF}.config`, /refused it: RangeError: v must be 1/],
    [{ module: './filters/syntax.ts' }, `${SF}.module`, /cannot load "\.\/filters\/syntax\.ts": SyntaxError/],
    [{ module: './filters/throws.ts' }, `${SF}.module`, /cannot load .*top-level failure/],
    [{ module: './filters/imports.ts' }, `${SF}.module`, /cannot load .*does-not-exist/],
    [{ module: './filters/notes.txt' }, `${SF}.module`, /expected an ES module file/],
  ];
  for (const [tc, at, why] of cases) {
    const errors = configErrors(() => compile(withScript(tc)));
    assert.equal(errors.length, 1, errors.join('\n'));
    assert.ok(errors[0].startsWith(`${at}: `), errors[0]);
    assert.match(errors[0], why);
  }
  // The factory accepts the config it checks.
  compile(withScript({ module: './filters/picky.ts', config: { v: 1 } }));
});

test('the message is validated like Envoy\'s: unknown fields refused by path, module required, config a Struct', () => {
  assert.deepEqual(configErrors(() => validateBootstrap(withScript({ module: './filters/ok.ts', modul: 'x' }))),
    [`${SF}.modul: unknown field`]);
  const noModule = configErrors(() => validateBootstrap(withScript({ config: {} })));
  assert.equal(noModule.length, 1);
  assert.ok(noModule[0].startsWith(`${SF}.module: `), noModule[0]);
  const badConfig = configErrors(() => validateBootstrap(withScript({ module: './filters/ok.ts', config: 'x' })));
  assert.ok(badConfig[0].startsWith(`${SF}.config: `), badConfig[0]);
});

test('legate/filter: the run-time status values are the filter manager\'s', () => {
  assert.deepEqual({ ...apiValues.FilterHeadersStatus }, { ...FilterHeadersStatus });
  assert.deepEqual({ ...apiValues.FilterDataStatus }, { ...FilterDataStatus });
  assert.deepEqual({ ...apiValues.FilterTrailersStatus }, { ...FilterTrailersStatus });
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  assert.deepEqual(pkg.exports['./filter'], { types: './src/api/filter.d.ts', default: './src/api/filter.js' });
});

test('legate --mode validate accepts the shipped filter examples and names a missing module by path', async () => {
  // (In process: what --mode validate runs, without a process per file.)
  for (const f of ['filter-add-header.yaml', 'filter-api-key.yaml', 'filter-json-rewrite.yaml']) {
    const file = path.join(ROOT, 'examples', f);
    const snap = buildSnapshot(loadBootstrapFile(file).bootstrap, new StatsLayout(),
      { bufferLimit: 1 << 20, version: 1, configDir: path.dirname(file) });
    assert.equal(snap.modules?.length, 1, f);
  }
  const ok = await runLegate(['-c', path.join(ROOT, 'examples/filter-json-rewrite.yaml'), '--mode', 'validate']);
  assert.equal(ok.code, 0, ok.stderr);
  const bad = path.join(dir, 'bad.yaml');
  fs.writeFileSync(bad, fs.readFileSync(path.join(ROOT, 'examples/filter-add-header.yaml'), 'utf8')
    .replace('./filters/add-header.ts', './filters/nodefault.ts'));
  const r = await runLegate(['-c', bad, '--mode', 'validate']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /static_resources\.listeners\[0\]\.filter_chains\[0\]\.filters\[0\]\.typed_config\.http_filters\[0\]\.typed_config\.module: "\.\/filters\/nodefault\.ts": its default export is undefined/);
});
