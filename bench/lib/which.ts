import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

// nginx and haproxy live in sbin, which a non-root PATH often lacks.
const EXTRA_DIRS = ['/usr/local/sbin', '/usr/sbin', '/sbin'];

/** Absolute path of an executable on PATH (or in an sbin directory), or null. */
export function which(name: string): string | null {
  const dirs = (process.env.PATH ?? '').split(delimiter).filter((d) => d !== '').concat(EXTRA_DIRS);
  for (const dir of dirs) {
    const file = join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // keep looking
    }
  }
  return null;
}
