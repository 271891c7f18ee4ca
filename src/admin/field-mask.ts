// /config_dump?mask=: a google.protobuf.FieldMask applied to a message in proto3 JSON, as Envoy
// applies it (config_dump_handler.cc) with protobuf's FieldMaskUtil:
//  - FromString: the mask is comma-separated paths, empty ones skipped;
//  - GetFieldDescriptors: a path is valid when each step names a field (by its proto name) and
//    every step but the last a singular message field (no indexing through lists or maps);
//  - TrimMessage: only the fields the paths name stay (a path's last field whole, the fields
//    before it trimmed in turn); every other field is cleared;
//  - with ?resource=, a path that starts with the resource's one Any field (StaticCluster.cluster)
//    goes on inside the message the Any holds (trimResourceMessage), and the Any is kept.
// The JSON's `@type` keys are not fields: they stay.
import { findMessageType, fullNameOf, isType, type PbField, type PbType } from '../config/protos.ts';
import { typeNameOfUrl } from '../config/extensions.ts';

type Obj = Record<string, unknown>;
/** A FieldMaskTree node: field name -> its subtree, or null when the whole field is kept. */
type Tree = Map<string, Tree | null>;

function isPlainObject(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** FieldMaskUtil::FromString. */
export function parseFieldMask(mask: string): string[] {
  return mask.split(',').filter((p) => p !== '');
}

/** The FieldMask's DebugString, as Envoy quotes it in its error. */
export function fieldMaskDebugString(paths: readonly string[]): string {
  return paths.map((p) => `paths: ${JSON.stringify(p)}\n`).join('');
}

export function fieldOf(t: PbType, name: string): PbField | undefined {
  const f = t.fieldsArray.find((x) => x.name === name);
  f?.resolve();
  return f;
}

function singularMessage(f: PbField): PbType | null {
  return !f.repeated && !f.map && isType(f.resolvedType) ? f.resolvedType : null;
}

/** FieldMaskUtil::GetFieldDescriptors(t, path) succeeds. */
function isValidPath(t: PbType, path: string): boolean {
  let at: PbType | null = t;
  for (const step of path.split('.')) {
    if (at === null) return false;
    const f = fieldOf(at, step);
    if (f === undefined) return false;
    at = singularMessage(f);
  }
  return true;
}

function buildTree(paths: readonly string[]): Tree {
  const root: Tree = new Map();
  for (const p of paths) {
    const steps = p.split('.');
    let node = root;
    for (let i = 0; i < steps.length; i++) {
      const s = steps[i];
      const child = node.get(s);
      if (child === null) break; // a shorter path keeps all of it already
      if (i === steps.length - 1) {
        node.set(s, null);
        break;
      }
      if (child === undefined) node.set(s, new Map());
      node = node.get(s)!;
    }
  }
  return root;
}

function trim(msg: Obj, tree: Tree): void {
  for (const k of Object.keys(msg)) {
    if (k === '@type') continue;
    if (!tree.has(k)) {
      delete msg[k];
      continue;
    }
    const sub = tree.get(k);
    // (A well-known type in its JSON form, such as a Duration string, stays as it is.)
    if (sub !== null && sub !== undefined && isPlainObject(msg[k])) trim(msg[k] as Obj, sub);
  }
}

/** Envoy's checkFieldMaskAndTrimMessage: false (and `msg` untouched) when a path is invalid for
 *  `t`, else `msg` trimmed in place. */
export function trimMessage(t: PbType, msg: Obj, paths: readonly string[]): boolean {
  if (!paths.every((p) => isValidPath(t, p))) return false;
  trim(msg, buildTree(paths));
  return true;
}

/** Envoy's trimResourceMessage: `msg` is one element of the ?resource= list (of type `t`). */
export function trimResource(t: PbType, msg: Obj, paths: readonly string[]): boolean {
  const outer: string[] = [];
  const inner: string[] = [];
  let anyField: string | null = null;
  for (const p of paths) {
    const steps = p.split('.');
    const f = fieldOf(t, steps[0]);
    const mt = f === undefined ? null : singularMessage(f);
    if (mt !== null && fullNameOf(mt) === 'google.protobuf.Any') {
      anyField ??= steps[0];
      // (Envoy supports one Any field per resource, which each config dump resource has.)
      if (anyField !== steps[0]) return false;
      outer.push(steps[0]);
      inner.push(steps.slice(1).join('.'));
    } else {
      outer.push(p);
    }
  }
  if (anyField !== null && isPlainObject(msg[anyField])) {
    const any = msg[anyField] as Obj;
    const typeUrl = any['@type'];
    const innerType = typeof typeUrl === 'string' ? findMessageType(typeNameOfUrl(typeUrl)) : null;
    if (innerType === null || !trimMessage(innerType, any, inner)) return false;
  }
  return trimMessage(t, msg, outer);
}
