// envoy.config.core.v3.DataSource, read once at config time (main thread) as Envoy's
// Config::DataSource::read does: inline_string, inline_bytes (base64 in the normalized tree) or a
// file read whole. environment_variable is not supported (the field table refuses it).
import fs from 'node:fs';
import { Buffer } from 'node:buffer';

type Obj = Record<string, any>;

/** The bytes of a DataSource at `path`; `fail` reports an unreadable file (it throws). Absent:
 *  empty. */
export function readDataSource(ds: Obj | undefined, path: string, fail: (path: string, message: string) => never): Buffer {
  if (ds === undefined) return Buffer.alloc(0);
  if (typeof ds.inline_string === 'string') return Buffer.from(ds.inline_string, 'utf8');
  if (typeof ds.inline_bytes === 'string') return Buffer.from(ds.inline_bytes, 'base64');
  if (typeof ds.filename === 'string') {
    try {
      return fs.readFileSync(ds.filename);
    } catch (e) {
      fail(`${path}.filename`, `unable to read file: ${ds.filename} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
  }
  return Buffer.alloc(0);
}
