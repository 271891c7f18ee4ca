// Every extension module's declarations must hold against Envoy's protos: its types are real
// messages defined by the protos it preloads, and the fields it claims are real fields of real
// messages (enum restrictions naming real values). The tables derived from the list carry them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ExtensionCategory } from '../../src/extensions/types.ts';
import { extensionModules, registerAll } from '../../src/extensions/index.ts';
import { extensionModule, extensionModuleByType } from '../../src/extensions/registry.ts';
import { extensionByName, extensionByType } from '../../src/config/extensions.ts';
import { SUPPORTED } from '../../src/config/supported.ts';
import { PRELOADED_PROTOS, findMessageType, isEnum, loadProtos, type PbField } from '../../src/config/protos.ts';

test('every module names real types, defined by the protos it preloads', () => {
  loadProtos();
  registerAll();
  for (const m of extensionModules()) {
    // Cluster types and load balancers are chosen by enum values (Cluster.type, lb_policy), health
    // checkers by the HealthCheck field they fill (http_health_check ...), not by a typed_config.
    const byEnum = m.category === ExtensionCategory.Cluster || m.category === ExtensionCategory.LoadBalancer
      || m.category === ExtensionCategory.HealthChecker;
    assert.ok(byEnum ? m.types.length === 0 : m.types.length > 0, m.name);
    // (Envoy names its cluster types envoy.cluster.<type>, in the envoy.clusters category, its
    // protocol options by their message, envoy.extensions.upstreams.<protocol>.v3.<Message>, and
    // its compression libraries envoy.compression.<library>.(de)compressor, in the
    // envoy.compression.(de)compressor categories. Legate's own extensions
    // (legate.filters.http.script) take Envoy's category name with `legate.`.)
    const prefix = m.category === ExtensionCategory.Cluster ? 'envoy.cluster.'
      : m.category === ExtensionCategory.UpstreamOptions ? 'envoy.extensions.upstreams.'
        : m.category === ExtensionCategory.Compressor || m.category === ExtensionCategory.Decompressor
          ? 'envoy.compression.'
          : m.name.startsWith('legate.') ? m.category.replace(/^envoy\./, 'legate.') + '.' : m.category + '.';
    assert.ok(m.name.startsWith(prefix), `${m.name} is a ${m.category} name`);
    for (const p of m.protos) assert.ok(PRELOADED_PROTOS.includes(p), `${m.name}: ${p} preloaded`);
    for (const t of m.types) {
      const type = findMessageType(t);
      assert.ok(type, `${m.name}: ${t}`);
      const file = String((type as unknown as { filename: string }).filename);
      assert.ok(m.protos.some((p) => file.endsWith(p)), `${m.name}: ${t} is defined in ${file}, not in its protos`);
      assert.ok(m.fields[t] !== undefined, `${m.name}: fields lists its own type ${t}`);
      assert.equal(extensionModuleByType(t), m);
      assert.equal(extensionByType(t)?.name, m.name);
    }
    assert.equal(extensionModule(m.name), m);
    const info = extensionByName(m.name);
    assert.ok(info?.supported, m.name);
    assert.equal(info.terminal, m.terminal === true);
    assert.equal(info.category, m.category);
  }
});

test('every module field is a real field of a real message, and reaches the supported table', () => {
  for (const m of extensionModules()) {
    for (const [msg, fields] of Object.entries(m.fields)) {
      const t = findMessageType(msg);
      assert.ok(t, `${m.name}: message ${msg}`);
      for (const f of fields) {
        const [name, support] = typeof f === 'string' ? [f, {}] : [f[0], f[1]];
        const field: PbField | undefined = t.fields[name];
        assert.ok(field, `${m.name}: ${msg}.${name}`);
        assert.ok(SUPPORTED.get(msg)?.has(name), `${msg}.${name} in the supported table`);
        if (support.enumValues !== undefined) {
          field.resolve();
          const e: unknown = field.resolvedType;
          assert.ok(isEnum(e), `${msg}.${name} is an enum`);
          for (const v of support.enumValues) assert.ok(Object.hasOwn(e.values, v), `${msg}.${name} = ${v}`);
        }
      }
    }
  }
});

test('any module, the registry or the loader may be imported first (no initialisation cycle)', () => {
  const root = path.resolve(import.meta.dirname, '../..');
  const entries = [
    ...fs.globSync('src/extensions/**/index.ts', { cwd: root }),
    'src/extensions/registry.ts', 'src/extensions/filters/network/http-connection-manager/config.ts',
    'src/config/snapshot.ts', 'src/config/protos.ts', 'src/config/supported.ts', 'src/config/load.ts',
  ];
  const list = pathToFileURL(path.join(root, 'src/extensions/index.ts')).href;
  const load = pathToFileURL(path.join(root, 'src/config/load.ts')).href;
  for (const e of entries) {
    const script = `await import(${JSON.stringify(pathToFileURL(path.join(root, e)).href)});
      const { extensionModules, registerAll } = await import(${JSON.stringify(list)});
      await import(${JSON.stringify(load)});
      registerAll();
      console.log(extensionModules().length);`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    assert.equal(Number(out.trim()), extensionModules().length, e);
  }
});
