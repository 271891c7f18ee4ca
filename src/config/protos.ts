// Loads Envoy's own v3 protos (shipped by @grpc/grpc-js-xds under deps/) with protobufjs, so the
// config is validated against the real schema, PGV annotations included, not a hand-written copy.
//
// Design note: parsing .proto text is the whole cost of a cold start (about 100 ms for the ~80 files
// the bootstrap imports), so only the bootstrap and the protos of the extensions Legate implements are
// parsed up front. Any other type (an unsupported extension nested in an unsupported field, a
// TypedStruct...) is found on demand: a full name maps to its package directory by the API's layout
// convention (envoy.extensions.foo.v3.Bar -> envoy/extensions/foo/v3/*.proto), which is loaded then.
// The root is built once per process and shared.
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import protobuf from 'protobufjs';
import { extensionModules } from '../extensions/index.ts';

export type PbType = protobuf.Type;
export type PbField = protobuf.Field;
export type PbEnum = protobuf.Enum;
export type PbOneOf = protobuf.OneOf;

/** Entry points parsed at startup: the bootstrap and the protos of every implemented extension
 *  (each module lists its own). */
export const PRELOADED_PROTOS: readonly string[] = [
  ...new Set(['envoy/config/bootstrap/v3/bootstrap.proto', ...extensionModules().flatMap((m) => m.protos)]),
];

const require = createRequire(import.meta.url);

function includeDirs(): string[] {
  const xds = path.dirname(require.resolve('@grpc/grpc-js-xds/package.json'));
  const pbjs = path.dirname(require.resolve('protobufjs/package.json'));
  const deps = path.join(xds, 'deps');
  // protobufjs bundles google/protobuf/descriptor.proto, which the annotation protos import.
  // contrib-protos: Envoy contrib extensions' messages the package does not ship, declared here.
  // proto/ (the repository's): Legate's own extension messages (legate.filters.http.script.v1).
  return [
    path.join(deps, 'envoy-api'), path.join(import.meta.dirname, 'contrib-protos'),
    path.join(import.meta.dirname, '../../proto'), path.join(deps, 'xds'),
    path.join(deps, 'googleapis'), path.join(deps, 'protoc-gen-validate'), pbjs,
  ];
}

interface ProtoState {
  root: protobuf.Root;
  dirs: string[];
  /** Package directories already loaded on demand (or found missing), relative to an include dir. */
  triedDirs: Set<string>;
  loadMs: number;
}

let state: ProtoState | null = null;

// protobufjs asks again for every import of every file; the answers never change.
const resolved = new Map<string, string>();

function resolveImport(dirs: string[], target: string): string {
  if (path.isAbsolute(target)) return target;
  let p = resolved.get(target);
  if (p !== undefined) return p;
  p = target; // protobufjs reports a missing file by this name
  for (const d of dirs) {
    const candidate = `${d}/${target}`;
    if (fs.existsSync(candidate)) {
      p = candidate;
      break;
    }
  }
  resolved.set(target, p);
  return p;
}

function init(): ProtoState {
  const t0 = performance.now();
  const dirs = includeDirs();
  const root = new protobuf.Root();
  root.resolvePath = (_origin: string, target: string) => resolveImport(dirs, target);
  root.loadSync(PRELOADED_PROTOS.map((f) => resolveImport(dirs, f)), { keepCase: true });
  // No resolveAll(): proto-json.ts resolves the fields of the types a config actually uses.
  return { root, dirs, triedDirs: new Set(), loadMs: performance.now() - t0 };
}

function protoState(): ProtoState {
  if (state === null) state = init();
  return state;
}

/** Milliseconds spent parsing the preloaded protos (0 before the first use). */
export function protoLoadMs(): number {
  return state?.loadMs ?? 0;
}

/** Parses the preloaded protos now (otherwise done on the first validation). */
export function loadProtos(): void {
  protoState();
}

function lookupIn(root: protobuf.Root, fullName: string): protobuf.ReflectionObject | null {
  try {
    return root.lookup(fullName.startsWith('.') ? fullName : '.' + fullName);
  } catch {
    return null;
  }
}

/** Loads every .proto of the package directory a full type name lives in, if there is one. */
function loadPackageOf(st: ProtoState, fullName: string): boolean {
  const parts = fullName.split('.');
  // The longest prefix that is a directory is the package (nested messages add segments).
  for (let n = parts.length - 1; n >= 1; n--) {
    const rel = parts.slice(0, n).join('/');
    if (st.triedDirs.has(rel)) return false;
    for (const d of st.dirs) {
      const dir = path.join(d, rel);
      let files: string[];
      try {
        files = fs.readdirSync(dir).filter((f) => f.endsWith('.proto'));
      } catch {
        continue;
      }
      if (files.length === 0) continue;
      st.triedDirs.add(rel);
      try {
        st.root.loadSync(files.map((f) => path.join(dir, f)), { keepCase: true });
      } catch {
        return false; // an unparsable or incomplete package: treat its types as unknown
      }
      return true;
    }
  }
  return false;
}

/** A message type by full name (`envoy.config.cluster.v3.Cluster`), loading its package on demand. */
export function findMessageType(fullName: string): PbType | null {
  const st = protoState();
  let obj = lookupIn(st.root, fullName);
  if (obj === null && loadPackageOf(st, fullName)) obj = lookupIn(st.root, fullName);
  return obj instanceof protobuf.Type ? obj : null;
}

/** A message type that must be in the preloaded set (the bootstrap, the supported extensions). */
export function messageType(fullName: string): PbType {
  const t = findMessageType(fullName);
  if (t === null) throw new Error(`proto message ${fullName} not found`);
  return t;
}

export function isEnum(t: unknown): t is PbEnum {
  return t instanceof protobuf.Enum;
}

export function isType(t: unknown): t is PbType {
  return t instanceof protobuf.Type;
}

/** The key type of a map field (`string`, `uint32`...); protobufjs models maps as fields. */
export function mapKeyType(f: PbField): string {
  return (f as unknown as { keyType: string }).keyType;
}

/** Full name without the leading dot protobufjs puts on it. */
export function fullNameOf(t: protobuf.ReflectionObject): string {
  return t.fullName.startsWith('.') ? t.fullName.slice(1) : t.fullName;
}
