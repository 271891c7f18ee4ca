// Load time matters (the loader runs at every start): measure a cold start in a fresh process and
// print it. Not asserted: CI machines vary too much.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '../..');

test('cold-start load time (printed, not asserted)', (t) => {
  const load = pathToFileURL(path.join(root, 'src/config/load.ts')).href;
  const protos = pathToFileURL(path.join(root, 'src/config/protos.ts')).href;
  const fixtures = pathToFileURL(path.join(root, 'test/config/fixtures.ts')).href;
  const script = `
    const t0 = performance.now();
    const { loadBootstrapText } = await import(${JSON.stringify(load)});
    const { protoLoadMs } = await import(${JSON.stringify(protos)});
    const { FULL_YAML } = await import(${JSON.stringify(fixtures)});
    const t1 = performance.now();
    loadBootstrapText(FULL_YAML, 'yaml');
    const t2 = performance.now();
    loadBootstrapText(FULL_YAML, 'yaml');
    const t3 = performance.now();
    console.log(JSON.stringify({ imports: t1 - t0, first: t2 - t1, protos: protoLoadMs(), warm: t3 - t2 }));
  `;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  const m = JSON.parse(out.trim().split('\n').pop()!) as Record<string, number>;
  for (const k of ['imports', 'first', 'protos', 'warm']) assert.equal(typeof m[k], 'number');
  const line = `config load time: module imports ${m.imports!.toFixed(0)} ms; first load ${m.first!.toFixed(0)} ms `
    + `(of which parsing Envoy's protos ${m.protos!.toFixed(0)} ms); a second load ${m.warm!.toFixed(1)} ms`;
  t.diagnostic(line);
  console.log(`# ${line}`);
});
