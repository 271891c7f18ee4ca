// legate.filters.http.script (legate.filters.http.script.v1.Script, proto/ in the repository): an
// HTTP filter written in TypeScript or JavaScript, loaded from config (Envoy needs C++, Lua or Wasm
// for this). `module` is an ES module whose default export is `(config, ctx) => (callbacks) =>
// filter` (legate/filter, docs/filters.md). compile() (main) resolves the path against the config
// file's directory, hashes the file into the URL (so a reload after an edit loads the new code;
// the modules it imports are not re-read), has a throwaway thread import it and call the factory
// with `config` once (check.ts: a failure is a config error at `module` or `config`), and asks
// every worker to import it before it builds (common/preload.ts). The worker side calls the factory
// once per config and adds a ScriptFilter (filter.ts) per stream the user's function wants.
import { createHash } from 'node:crypto';
import { Buffer } from 'node:buffer';
import fs from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { pathToFileURL } from 'node:url';
import type * as api from '../../../../api/filter.js';
import { ExtensionCategory, type HttpFilterModule } from '../../../types.ts';
import { preloadedModule } from '../../../../common/preload.ts';
import { CheckResult, checkModule } from './check.ts';
import { ScriptShared } from './filter.ts';

type Obj = Record<string, any>;

const TYPE = 'legate.filters.http.script.v1.Script';
const EXTENSIONS = new Set(['.ts', '.mts', '.js', '.mjs']);

export interface ScriptSnap {
  /** The filter's config name (FilterContext.name, logs). */
  name: string;
  /** file: URL with ?v=<content hash>. */
  url: string;
  config: Record<string, unknown>;
  /** http.<stat_prefix>.script.<name>.error */
  errorSlot: number;
}

/** A config name as one stat name segment run: what is not a letter, digit, `_`, `-` or `.` becomes
 *  `_` (`:` too, as Envoy's stat name sanitizing does). */
export function statName(name: string): string {
  const s = name.replace(/[^A-Za-z0-9_.-]/g, '_').replace(/^\.+|\.+$/g, '');
  return s === '' ? '_' : s;
}

const script: HttpFilterModule<ScriptSnap> = {
  name: 'legate.filters.http.script',
  category: ExtensionCategory.HttpFilter,
  types: [TYPE],
  fields: { [TYPE]: ['module', 'config'] },
  protos: ['legate/filters/http/script/v1/script.proto'],
  compile(tc: Obj, ctx) {
    const name = ctx.configName !== undefined && ctx.configName !== '' ? ctx.configName : 'legate.filters.http.script';
    const rel = String(tc.module ?? '');
    const file = path.resolve(ctx.configDir ?? process.cwd(), rel);
    if (!EXTENSIONS.has(path.extname(file).toLowerCase())) {
      ctx.fail(`${ctx.path}.module`, `"${rel}": expected an ES module file (.ts, .mts, .js or .mjs)`);
    }
    let text = Buffer.alloc(0);
    try {
      text = fs.readFileSync(file);
    } catch (e) {
      ctx.fail(`${ctx.path}.module`, `cannot read "${rel}" (${file}): ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    const hash = createHash('sha256').update(text).digest('hex').slice(0, 16);
    const url = `${pathToFileURL(file).href}?v=${hash}`;
    const config: Record<string, unknown> = tc.config ?? {};
    const { result, message } = checkModule(url, config, name);
    switch (result) {
      case CheckResult.Ok:
        break;
      case CheckResult.FactoryThrew:
        ctx.fail(`${ctx.path}.config`, `the filter factory of "${rel}" refused it: ${message}`);
        break;
      case CheckResult.LoadFailed:
        ctx.fail(`${ctx.path}.module`, `cannot load "${rel}": ${message}`);
        break;
      default:
        ctx.fail(`${ctx.path}.module`, `"${rel}": ${message}`);
    }
    ctx.preloadModule?.(url);
    return { name, url, config, errorSlot: ctx.layout.counter(`${ctx.scope}script.${statName(name)}.error`) };
  },
  createFilterFactory(snap, ctx) {
    const ns = preloadedModule(snap.url);
    let perStream: api.StreamFilterFactory | null = null;
    let setupError: unknown = null;
    if (ns === undefined || ns === null) {
      setupError = new Error(`module ${snap.url} is not loaded${ns === null ? ' (its import failed)' : ''}`);
    } else {
      try {
        const factory = ns.default as api.FilterFactory;
        const f = factory(structuredClone(snap.config), { name: snap.name, workerId: ctx.workerId });
        if (typeof f !== 'function') throw new TypeError('the factory did not return a function');
        perStream = f;
      } catch (e) {
        setupError = e;
      }
    }
    const shared = new ScriptShared(snap.name, perStream, setupError, ctx.stats, snap.errorSlot);
    if (setupError !== null) shared.error(setupError, 'its factory');
    return (cb) => shared.create(cb);
  },
};
export default script;
