// ES modules a config needs in every worker, imported before the worker builds from it (Snapshot.
// modules: user filters, legate.filters.http.script). An import is asynchronous, and a filter
// factory is built synchronously when a snapshot is applied, so the worker entry awaits
// loadModules() first and the factory takes the namespace from here. One map per thread; a module
// stays loaded for the thread's life (ES modules cannot be unloaded), so a changed module gets a
// new URL (its content hash in the query) and the old one is simply no longer asked for.
import process from 'node:process';

const loaded = new Map<string, { ns: unknown; error: unknown }>();

/** Import every URL not imported yet (a failure is kept, not thrown: the filter that needs the
 *  module fails its streams instead of the worker failing). */
export async function loadModules(urls: readonly string[] | undefined): Promise<void> {
  if (urls === undefined) return;
  await Promise.all(urls.filter((u) => !loaded.has(u)).map(async (u) => {
    try {
      loaded.set(u, { ns: await import(u), error: null });
    } catch (error) {
      process.stderr.write(`legate: cannot load ${u}: ${(error as Error)?.stack ?? String(error)}\n`);
      loaded.set(u, { ns: null, error });
    }
  }));
}

/** Whether every URL has been through loadModules (a config update can then apply at once). */
export function modulesLoaded(urls: readonly string[] | undefined): boolean {
  return urls === undefined || urls.every((u) => loaded.has(u));
}

/** A module's namespace once loaded; undefined if it was never loaded; null if it failed. */
export function preloadedModule(url: string): Record<string, unknown> | null | undefined {
  const e = loaded.get(url);
  return e === undefined ? undefined : e.ns as Record<string, unknown> | null;
}
