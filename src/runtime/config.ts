// The bootstrap's `layered_runtime`, compiled once per config on the main thread (start,
// --mode validate, reload), with Envoy's checks (LoaderImpl::initLayers, ProtoLayer) reported at
// their field paths. The loader, the PGV rules and supported.ts have already refused what the
// protos do not allow (a layer without a name or a layer specifier) and what Legate does not act
// on (`rtds_layer`, refused by name as an unsupported field).
//
// Envoy's defaults (server/configuration_impl.cc InitialImpl): no `layered_runtime` is the null
// runtime, with no layer at all (every read gives its default; /runtime_modify answers 503 "No
// admin layer specified"); a `layered_runtime` without layers gets one admin layer (named "").
import fs from 'node:fs';
import { ConfigError } from '../config/load.ts';
import { createEntry, type JsonValue } from './entry.ts';
import type { RuntimeEntry } from './types.ts';

export type LayerConfig =
  /** Its values, parsed here: a static layer never changes. */
  | { kind: 'static'; name: string; values: ReadonlyMap<string, RuntimeEntry> }
  /** `path`: symlink_root/subdirectory[/service cluster], read on each load; `symlinkRoot` is
   *  watched. */
  | { kind: 'disk'; name: string; symlinkRoot: string; path: string }
  | { kind: 'admin'; name: string };

export interface RuntimeConfig {
  layers: LayerConfig[];
  /** The configured message and the disk paths (with the service cluster), to tell whether a
   *  reload changes them. */
  key: string;
}

type Obj = Record<string, any>;

export function compileRuntime(bootstrap: Obj): RuntimeConfig {
  const lr: Obj | undefined = bootstrap.layered_runtime;
  const key = JSON.stringify(lr ?? null);
  if (lr === undefined) return { layers: [], key };
  const given = Array.isArray(lr.layers) ? (lr.layers as Obj[]) : [];
  if (given.length === 0) return { layers: [{ kind: 'admin', name: '' }], key };
  const errors: string[] = [];
  const names = new Set<string>();
  const layers: LayerConfig[] = [];
  let admin = false;
  given.forEach((l, i) => {
    const at = `layered_runtime.layers[${i}]`;
    const name = String(l.name ?? '');
    if (names.has(name)) errors.push(`${at}.name: Duplicate layer name: ${name}`);
    names.add(name);
    if (l.static_layer !== undefined) {
      const values = new Map<string, RuntimeEntry>();
      for (const [k, v] of Object.entries(l.static_layer as Obj)) walkProtoValue(v, k, values, `${at}.static_layer`, errors);
      layers.push({ kind: 'static', name, values });
    } else if (l.disk_layer !== undefined) {
      const d = l.disk_layer as Obj;
      const root = String(d.symlink_root ?? '');
      // Envoy watches the directory the symlink is in (inotify): a path without one, or a
      // directory that does not exist, fails its start with these words.
      const slash = root.lastIndexOf('/');
      const dir = slash === 0 ? '/' : root.slice(0, slash);
      if (slash < 0) {
        errors.push(`${at}.disk_layer.symlink_root: invalid file path ${root}`);
      } else if (!isDirectory(dir)) {
        errors.push(`${at}.disk_layer.symlink_root: unable to add filesystem watch for file ${root}: `
          + `no such directory ${dir}`);
      }
      let p = `${root}/${String(d.subdirectory ?? '')}`;
      if (d.append_service_cluster === true) p += `/${String(bootstrap.node?.cluster ?? '')}`;
      layers.push({ kind: 'disk', name, symlinkRoot: root, path: p });
    } else if (l.admin_layer !== undefined) {
      if (admin) errors.push(`${at}.admin_layer: Too many admin layers specified in LayeredRuntime, at most one may be specified`);
      admin = true;
      layers.push({ kind: 'admin', name });
    }
    // (Else an rtds_layer that --allow-unsupported-fields let through: the layer is ignored.)
  });
  if (errors.length > 0) throw new ConfigError(errors);
  return { layers, key: JSON.stringify([lr, layers.map((l) => (l.kind === 'disk' ? l.path : ''))]) };
}

function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** ProtoLayer::walkProtoValue: nested keys joined with "."; a struct that is empty or has a
 *  `numerator` or `denominator` field is a value (a FractionalPercent); a list or null is an
 *  error. The first of two equal keys stays (Envoy's emplace). */
function walkProtoValue(v: JsonValue, prefix: string, values: Map<string, RuntimeEntry>, at: string, errors: string[]): void {
  if (v === null || Array.isArray(v)) {
    errors.push(`${at}.${prefix}: Invalid runtime entry value for ${prefix}`);
    return;
  }
  if (typeof v === 'object') {
    const keys = Object.keys(v);
    if (keys.length > 0 && !('numerator' in v) && !('denominator' in v)) {
      for (const k of keys) walkProtoValue(v[k], `${prefix}.${k}`, values, at, errors);
      return;
    }
  }
  if (!values.has(prefix)) values.set(prefix, createEntry(v));
}
