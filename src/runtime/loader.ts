// The main thread's runtime loader (Envoy's Runtime::LoaderImpl): it owns the layers of the
// bootstrap's `layered_runtime` (config.ts), builds a snapshot from them at start and whenever
// one changes, and hands the merged values to every worker (`publish`), which swaps in a new
// Snapshot (snapshot.ts). Worker code never imports this file.
//
// Loading (createNewSnapshot): layers in config order, a later one's key replacing an earlier
// one's. A static layer is what the config says. A disk layer walks symlink_root/subdirectory:
// every regular file is a key, its path below the layer's directory with `/` turned into `.`,
// its text (lines starting with `#` dropped, the last line's trailing whitespace trimmed) the
// value; a directory that does not exist gives no layer (not an error); one that fails to read
// (depth over 16, /dev, /proc or /sys, an unreadable file) is left out and counted in
// `runtime.load_error`. The admin layer holds what POST /runtime_modify set.
//
// Disk changes: as Envoy documents, the operator swaps the symlink atomically
// (`ln -s v2 new && mv -Tf new current`); Legate watches the directory holding the symlink and
// loads again when an entry of the symlink's name changes there (fs.watch: inotify on Linux, so
// at once). Edits inside the current tree are not watched (Envoy's neither): swap the link.
import fs from 'node:fs';
import { LegateError } from '../common/errors.ts';
import type { StatSink } from '../common/stat-sink.ts';
import type { StatsLayout } from '../stats/layout.ts';
import { createEntryFromYaml } from './entry.ts';
import { RuntimeSnapshot } from './snapshot.ts';
import { runtimeStats, type RuntimeStats } from './stats.ts';
import type { LayerConfig, RuntimeConfig } from './config.ts';
import type { Loader, RuntimeEntry, RuntimeValues } from './types.ts';

/** Envoy's DiskLayer::walkDirectory limit. */
const MAX_WALK_DEPTH = 16;

/** One loaded layer, as GET /runtime lists it. */
export interface RuntimeLayer {
  readonly name: string;
  readonly values: RuntimeValues;
}

export interface RuntimeHost {
  stats: StatSink;
  layout: StatsLayout;
  /** The merged values changed: send them to every worker. */
  publish(values: RuntimeValues): void;
  warn(message: string, detail: Record<string, unknown>): void;
}

export class RuntimeLoader implements Loader {
  readonly #config: RuntimeConfig;
  readonly #host: RuntimeHost;
  readonly #s: RuntimeStats;
  /** The admin layer's values (null: the config has no admin layer). */
  readonly #admin: Map<string, RuntimeEntry> | null;
  #layers: RuntimeLayer[];
  #values: RuntimeValues;
  #snapshot: RuntimeSnapshot;
  #watchers: fs.FSWatcher[];
  #reloadPending: boolean;

  constructor(config: RuntimeConfig, host: RuntimeHost) {
    this.#config = config;
    this.#host = host;
    this.#s = runtimeStats(host.layout);
    this.#admin = config.layers.some((l) => l.kind === 'admin') ? new Map() : null;
    this.#layers = [];
    this.#values = new Map();
    this.#snapshot = new RuntimeSnapshot(this.#values);
    this.#watchers = [];
    this.#reloadPending = false;
    // (Envoy loads once when the loader is made; the workers get these values when they start.)
    this.#load(false);
  }

  get config(): RuntimeConfig {
    return this.#config;
  }

  /** The current snapshot, for main-thread readers. */
  snapshot(): RuntimeSnapshot {
    return this.#snapshot;
  }

  /** The merged values: what a worker starting now gets. */
  values(): RuntimeValues {
    return this.#values;
  }

  /** The loaded layers in order (a disk layer whose directory is missing or failed is absent). */
  layers(): readonly RuntimeLayer[] {
    return this.#layers;
  }

  /** Watch every disk layer's symlink (see the design note). */
  start(): void {
    const roots = new Set<string>();
    for (const l of this.#config.layers) if (l.kind === 'disk') roots.add(l.symlinkRoot);
    for (const root of roots) {
      const slash = root.lastIndexOf('/');
      const dir = slash === 0 ? '/' : root.slice(0, slash);
      const base = root.slice(slash + 1);
      const w = fs.watch(dir, { persistent: false }, (_event, filename) => {
        if (filename === null || filename === base) this.#scheduleLoad();
      });
      w.on('error', (err) => this.#host.warn('runtime: watching a disk layer failed', { symlink_root: root, err }));
      this.#watchers.push(w);
    }
  }

  stop(): void {
    for (const w of this.#watchers) w.close();
    this.#watchers = [];
  }

  /** POST /runtime_modify (Envoy's mergeValues): each key's value becomes the admin layer's (an
   *  empty value removes it) and a new snapshot goes out. Throws LEGATE_ERR_RUNTIME, changing
   *  nothing, when there is no admin layer or a value is not YAML. */
  mergeValues(values: Iterable<readonly [string, string]>): void {
    const admin = this.#admin;
    if (admin === null) throw new LegateError('LEGATE_ERR_RUNTIME', 'No admin layer specified');
    const parsed: [string, RuntimeEntry | null][] = [];
    for (const [k, v] of values) {
      try {
        parsed.push([k, v === '' ? null : createEntryFromYaml(v)]);
      } catch (err) {
        throw new LegateError('LEGATE_ERR_RUNTIME', `Unable to parse YAML for runtime key '${k}': ${(err as Error).message}`);
      }
    }
    for (const [k, e] of parsed) {
      admin.delete(k);
      if (e !== null) admin.set(k, e);
    }
    this.#host.stats.v[this.#s.admin_overrides_active] = admin.size === 0 ? 0 : 1;
    this.#load(true);
  }

  #scheduleLoad(): void {
    // (A swap raises several events: one load for them.)
    if (this.#reloadPending) return;
    this.#reloadPending = true;
    setImmediate(() => {
      this.#reloadPending = false;
      this.#load(true);
    });
  }

  /** createNewSnapshot + loadNewSnapshot. */
  #load(publish: boolean): void {
    const layers: RuntimeLayer[] = [];
    let diskLayers = 0;
    let errorLayers = 0;
    for (const l of this.#config.layers) {
      if (l.kind === 'static') {
        layers.push({ name: l.name, values: l.values });
      } else if (l.kind === 'admin') {
        // (A copy: a later change must not reach a snapshot already handed out.)
        layers.push({ name: l.name, values: new Map(this.#admin!) });
      } else if (isDirectory(l.path)) {
        try {
          layers.push({ name: l.name, values: readDiskLayer(l) });
          diskLayers++;
        } catch (err) {
          errorLayers++;
          this.#host.warn('runtime: a disk layer failed to load; it is left out', { layer: l.name, path: l.path, err: (err as Error).message });
        }
      }
    }
    const merged = new Map<string, RuntimeEntry>();
    for (const layer of layers) {
      for (const [k, e] of layer.values) {
        merged.delete(k);
        merged.set(k, e);
      }
    }
    const v = this.#host.stats.v;
    const s = this.#s;
    v[s.num_layers] = layers.length;
    v[errorLayers === 0 ? s.load_success : s.load_error] += 1;
    // (Envoy's names from its old fixed layering, where a second disk layer was the override
    // directory: more than one disk layer loaded counts as "exists".)
    v[diskLayers > 1 ? s.override_dir_exists : s.override_dir_not_exists] += 1;
    v[s.num_keys] = merged.size;
    this.#layers = layers;
    this.#values = merged;
    this.#snapshot = new RuntimeSnapshot(merged);
    if (publish) this.#host.publish(merged);
  }
}

function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function readDiskLayer(l: Extract<LayerConfig, { kind: 'disk' }>): Map<string, RuntimeEntry> {
  const values = new Map<string, RuntimeEntry>();
  walkDirectory(l.path, '', 1, values);
  return values;
}

/** Filesystem::illegalPath: nothing under /dev, /proc or /sys (after following links). */
function illegalPath(p: string): boolean {
  let real: string;
  try {
    real = fs.realpathSync(p);
  } catch {
    return false;
  }
  return real.startsWith('/dev') || real.startsWith('/sys') || real.startsWith('/proc');
}

function walkDirectory(dir: string, prefix: string, depth: number, values: Map<string, RuntimeEntry>): void {
  if (depth > MAX_WALK_DEPTH) throw new Error(`Walk recursion depth exceeded ${MAX_WALK_DEPTH}`);
  if (illegalPath(dir)) throw new Error(`Invalid path: ${dir}`);
  for (const name of fs.readdirSync(dir)) {
    const full = `${dir}/${name}`;
    const key = prefix === '' ? name : `${prefix}.${name}`;
    // (stat follows links; a broken one throws, as Envoy fails reading it.)
    const st = fs.statSync(full);
    if (st.isDirectory()) {
      walkDirectory(full, key, depth + 1, values);
    } else if (st.isFile()) {
      const entry = createEntryFromYaml(diskValue(fs.readFileSync(full, 'utf8')));
      values.delete(key);
      values.set(key, entry);
    }
  }
}

/** A file's value as Envoy's DiskLayer reads it: its non-empty lines, those starting with `#`
 *  dropped, joined with newlines, the last one right-trimmed. (Envoy finds "the last line" by
 *  comparing text, so an earlier line equal to it is trimmed and not followed by a newline too.) */
export function diskValue(text: string): string {
  const lines = text.split('\n').filter((l) => l.length > 0);
  const last = lines[lines.length - 1];
  let value = '';
  for (const line of lines) {
    if (line.charCodeAt(0) === 35 /* '#' */) continue;
    value += line === last ? line.replace(/[ \t\f\v\n\r]+$/, '') : `${line}\n`;
  }
  return value;
}
