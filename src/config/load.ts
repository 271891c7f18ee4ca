// Loads an Envoy v3 bootstrap (YAML or JSON), validates it against Envoy's own protos (protos.ts,
// proto-json.ts, pgv.ts), refuses what Legate does not implement (extensions.ts, supported.ts), runs
// Envoy's cross-field checks (checks.ts) and returns the normalized tree described in types.ts.
// Every problem is collected; one ConfigError lists them all. docs/config.md describes the rules.
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { LegateError } from '../common/errors.ts';
import { crossCheck } from './checks.ts';
import { convert } from './proto-json.ts';
import type { Bootstrap } from './types.ts';

export interface LoadOptions {
  /** Start even when fields Legate does not act on are set: they become warnings, not errors. */
  allowUnsupportedFields?: boolean;
}

export interface LoadedBootstrap {
  bootstrap: Bootstrap;
  warnings: string[];
}

const BOOTSTRAP_TYPE = 'envoy.config.bootstrap.v3.Bootstrap';

/** LEGATE_ERR_CONFIG: the config is invalid; `errors` holds one line per problem. */
export class ConfigError extends LegateError {
  declare readonly code: 'LEGATE_ERR_CONFIG';
  readonly errors: string[];
  constructor(errors: string[]) {
    super('LEGATE_ERR_CONFIG', errors.join('\n'));
    this.name = 'ConfigError';
    this.errors = errors;
  }
}

/** The header of the unsupported-field report, followed by one line per field. */
export function unsupportedHeader(n: number): string {
  return `${n} field(s) set that Legate does not act on yet; remove them, or set allowUnsupportedFields `
    + '(they are then ignored with a warning):';
}

export function validateBootstrap(obj: unknown, opts: LoadOptions = {}): LoadedBootstrap {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
    const what = obj === null || obj === undefined ? 'an empty document'
      : Array.isArray(obj) ? 'a list' : `a ${typeof obj} (${JSON.stringify(obj)})`;
    throw new ConfigError([`<root>: the bootstrap must be an object (a mapping), got ${what}`]);
  }
  const r = convert(BOOTSTRAP_TYPE, obj);
  const errors = r.errors;
  const warnings = r.warnings;
  if (r.value !== undefined) crossCheck(r.value, errors, r.broken);
  if (r.unsupported.length > 0) {
    if (opts.allowUnsupportedFields === true) {
      for (const line of r.unsupported) warnings.push(`${line}; ignored`);
    } else {
      errors.push(unsupportedHeader(r.unsupported.length), ...r.unsupported);
    }
  }
  if (errors.length > 0) throw new ConfigError(errors);
  return { bootstrap: r.value as Bootstrap, warnings };
}

function parseYaml(text: string): unknown {
  // `merge` accepts `<<:` merge keys as yaml-cpp (Envoy's parser) does.
  const docs = YAML.parseAllDocuments(text, { merge: true, prettyErrors: true });
  const list = Array.isArray(docs) ? docs : [docs];
  const errors: string[] = [];
  for (const doc of list) {
    for (const e of doc.errors) {
      const at = e.linePos?.[0];
      const where = at === undefined ? '' : ` at line ${at.line}, column ${at.col}`;
      // prettyErrors appends a source excerpt after the first line; keep the first line only.
      const msg = e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
      errors.push(`yaml: ${msg}${where}`);
    }
  }
  if (errors.length > 0) throw new ConfigError(errors);
  if (list.length > 1) throw new ConfigError([`yaml: expected one document, got ${list.length}`]);
  return list.length === 0 ? null : list[0]!.toJS({ maxAliasCount: 10_000 });
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ConfigError([`json: ${(e as Error).message}`]);
  }
}

export function loadBootstrapText(text: string, format: 'yaml' | 'json', opts?: LoadOptions): LoadedBootstrap {
  return validateBootstrap(format === 'json' ? parseJson(text) : parseYaml(text), opts);
}

export function loadBootstrapFile(file: string, opts?: LoadOptions): LoadedBootstrap {
  const ext = path.extname(file).toLowerCase();
  let format: 'yaml' | 'json';
  if (ext === '.yaml' || ext === '.yml') format = 'yaml';
  else if (ext === '.json') format = 'json';
  else throw new ConfigError([`${file}: unknown config file extension "${ext}" (expected .yaml, .yml or .json)`]);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError([`${file}: cannot read: ${(e as Error).message}`]);
  }
  return loadBootstrapText(text, format, opts);
}
