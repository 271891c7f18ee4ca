// The main thread's runtime: layered_runtime compiled with Envoy's checks, layers merged in
// order, the disk walk (keys from paths, comments, the depth limit, /dev refused), admin
// overrides, what each load publishes and counts (runtime.*), after Envoy's DiskLoaderImplTest
// and DiskLayerTest.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { compileRuntime } from '../../src/runtime/config.ts';
import { RuntimeLoader, diskValue } from '../../src/runtime/loader.ts';
import type { RuntimeValues } from '../../src/runtime/types.ts';
import { StatsLayout } from '../../src/stats/layout.ts';
import { StatsStore } from '../../src/stats/store.ts';
import { configErrors } from '../config/fixtures.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'legate-runtime-unit-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function write(files: Record<string, string>): void {
  for (const [f, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    fs.writeFileSync(path.join(dir, f), text);
  }
}

function loader(layeredRuntime: unknown, node?: unknown): { l: RuntimeLoader; stat(n: string): number; published: RuntimeValues[]; warnings: string[] } {
  const layout = new StatsLayout();
  const store = new StatsStore(layout);
  after(() => store.close());
  const published: RuntimeValues[] = [];
  const warnings: string[] = [];
  const bootstrap: Record<string, unknown> = layeredRuntime === undefined ? {} : { layered_runtime: layeredRuntime };
  if (node !== undefined) bootstrap.node = node;
  const l = new RuntimeLoader(compileRuntime(bootstrap), {
    stats: store.main, layout, publish: (v) => published.push(v), warn: (m) => warnings.push(m),
  });
  return { l, stat: (n) => store.value(layout.find(`runtime.${n}`)), published, warnings };
}

test('diskValue: comment lines dropped, the last line right-trimmed (DiskLoaderImplTest files with comments)', () => {
  assert.equal(diskValue('123\n'), '123');
  assert.equal(diskValue('# comment\n123 \t\n'), '123');
  assert.equal(diskValue('/home#about-us'), '/home#about-us');
  assert.equal(diskValue('# only a comment'), '');
  assert.equal(diskValue('hello\nworld'), 'hello\nworld');
  assert.equal(diskValue('a\n\n\nb\n'), 'a\nb');
  assert.equal(diskValue('a\n# trailing comment'), 'a\n');
});

test('layers merge in order; GET /runtime sees each layer; the disk walk joins path segments with "."', () => {
  write({
    'v1/envoy/file1': 'hello',
    'v1/envoy/file3': '2',
    'v1/envoy/subdir/file3': 'hello\nworld',
    'v1/envoy/a/b/c/deep': '# comment\n123\n',
    'v1/envoy_override/file1': 'hello override',
  });
  fs.symlinkSync(path.join(dir, 'v1'), path.join(dir, 'current'));
  const { l, stat, published } = loader({
    layers: [
      { name: 'base', static_layer: { file1: 'static', only_static: 1 } },
      { name: 'root', disk_layer: { symlink_root: `${dir}/current`, subdirectory: 'envoy' } },
      { name: 'override', disk_layer: { symlink_root: `${dir}/current`, subdirectory: 'envoy_override' } },
      { name: 'admin', admin_layer: {} },
    ],
  });
  const s = l.snapshot();
  assert.equal(s.get('file1'), 'hello override');
  assert.equal(s.get('subdir.file3'), 'hello\nworld');
  assert.equal(s.getInteger('file3', 1), 2);
  assert.equal(s.getInteger('a.b.c.deep', 1), 123);
  assert.equal(s.getInteger('only_static', 0), 1);
  assert.deepEqual(l.layers().map((x) => x.name), ['base', 'root', 'override', 'admin']);
  assert.equal(l.layers()[1].values.get('file1')?.raw, 'hello');
  assert.equal(stat('num_layers'), 4);
  assert.equal(stat('num_keys'), 5);
  assert.equal(stat('load_success'), 1);
  assert.equal(stat('load_error'), 0);
  // Two disk layers loaded: Envoy's "override directory exists".
  assert.equal(stat('override_dir_exists'), 1);
  assert.equal(stat('override_dir_not_exists'), 0);
  assert.equal(published.length, 0);

  // Admin overrides (Envoy's testNewOverrides / MergeValues).
  l.mergeValues([['file3', '42'], ['foo', 'bar']]);
  assert.equal(l.snapshot().getInteger('file3', 1), 42);
  assert.equal(l.snapshot().get('foo'), 'bar');
  assert.equal(stat('admin_overrides_active'), 1);
  assert.equal(stat('load_success'), 2);
  assert.equal(published.length, 1);
  assert.equal(published[0].get('file3')?.uint, 42);
  // The snapshot handed out before keeps its values.
  assert.equal(s.getInteger('file3', 1), 2);
  l.mergeValues([['file3', ''], ['foo', '']]);
  assert.equal(l.snapshot().getInteger('file3', 1), 2);
  assert.equal(l.snapshot().get('foo'), null);
  assert.equal(stat('admin_overrides_active'), 0);
  // A value that is not YAML changes nothing.
  assert.throws(() => l.mergeValues([['ok', '1'], ['bad', '{']]), { code: 'LEGATE_ERR_RUNTIME', message: /Unable to parse YAML for runtime key 'bad'/ });
  assert.equal(l.snapshot().get('ok'), null);
  fs.rmSync(path.join(dir, 'current'));
});

test('a missing directory is no layer, not an error; a failing one is left out and counted (DiskLoaderImplTest.BadDirectory, DiskLayerFailure)', () => {
  const missing = loader({ layers: [{ name: 'd', disk_layer: { symlink_root: `${dir}/nothing`, subdirectory: 'envoy' } }, { name: 'a', admin_layer: {} }] });
  assert.equal(missing.stat('num_layers'), 1);
  assert.equal(missing.stat('load_success'), 1);
  assert.equal(missing.stat('load_error'), 0);
  assert.equal(missing.stat('override_dir_not_exists'), 1);
  // A symlink loop: "Walk recursion depth exceeded 16".
  fs.mkdirSync(path.join(dir, 'loop/envoy'), { recursive: true });
  fs.symlinkSync(path.join(dir, 'loop/envoy'), path.join(dir, 'loop/envoy/again'));
  const loop = loader({ layers: [{ name: 'd', disk_layer: { symlink_root: `${dir}/loop`, subdirectory: 'envoy' } }] });
  assert.equal(loop.stat('load_error'), 1);
  assert.equal(loop.stat('load_success'), 0);
  assert.equal(loop.stat('num_layers'), 0);
  assert.match(loop.warnings[0], /a disk layer failed to load/);
  // /dev is refused (Envoy's illegalPath).
  const dev = loader({ layers: [{ name: 'd', disk_layer: { symlink_root: '/dev', subdirectory: '' } }] });
  assert.equal(dev.stat('load_error'), 1);
});

test('no layered_runtime: no layer, /runtime_modify refused; an empty one: an admin layer named ""', () => {
  const none = loader(undefined);
  assert.deepEqual(none.l.layers(), []);
  assert.throws(() => none.l.mergeValues([['a', '1']]), { code: 'LEGATE_ERR_RUNTIME', message: 'No admin layer specified' });
  assert.equal(none.stat('load_success'), 1);
  const empty = loader({});
  assert.deepEqual(empty.l.layers().map((x) => x.name), ['']);
  empty.l.mergeValues([['a', '1']]);
  assert.equal(empty.l.snapshot().getInteger('a', 0), 1);
});

test('append_service_cluster appends node.cluster; a static layer keeps the first of two equal keys', () => {
  write({ 'svc/envoy/edge/k': 'v' });
  const { l } = loader({ layers: [
    { name: 'd', disk_layer: { symlink_root: `${dir}/svc`, subdirectory: 'envoy', append_service_cluster: true } },
    { name: 's', static_layer: { 'a.b': 1, a: { b: 2 } } },
  ] }, { cluster: 'edge' });
  assert.equal(l.snapshot().get('k'), 'v');
  assert.equal(l.snapshot().getInteger('a.b', 0), 1);
});

test('layered_runtime checks, at their field paths', () => {
  assert.deepEqual(configErrors(() => compileRuntime({ layered_runtime: { layers: [
    { name: 'a', admin_layer: {} },
    { name: 'a', static_layer: { x: null, y: { z: [1] }, ok: { numerator: 1 } } },
    { name: 'b', admin_layer: {} },
    { name: 'c', disk_layer: { symlink_root: `${dir}/no/such/current` } },
    { name: 'd', disk_layer: { symlink_root: 'relative' } },
  ] } })), [
    'layered_runtime.layers[1].name: Duplicate layer name: a',
    'layered_runtime.layers[1].static_layer.x: Invalid runtime entry value for x',
    'layered_runtime.layers[1].static_layer.y.z: Invalid runtime entry value for y.z',
    'layered_runtime.layers[2].admin_layer: Too many admin layers specified in LayeredRuntime, at most one may be specified',
    `layered_runtime.layers[3].disk_layer.symlink_root: unable to add filesystem watch for file ${dir}/no/such/current: no such directory ${dir}/no/such`,
    'layered_runtime.layers[4].disk_layer.symlink_root: invalid file path relative',
  ]);
});
