#!/usr/bin/env node
// Entry point. Plain JavaScript on purpose: it must run (and explain itself) on any Node,
// before the TypeScript sources, which need Node's built-in type stripping, are loaded.
'use strict';
const [major, minor] = process.versions.node.split('.').map(Number);
// Node 26.6.0 made TCP servers and sockets transferable to worker threads (nodejs/node#64225);
// Legate's main thread binds listeners and hands them to workers, so nothing older can run it.
if (major < 26 || (major === 26 && minor < 6)) {
  process.stderr.write(
    `legate: Node ${process.versions.node} is too old: Legate needs Node >= 26.6.0, which can ` +
    'transfer listening and accepted sockets to worker threads.\n' +
    'Run it through npm (npm start / npx legate), which uses the Node 26 runtime pinned in ' +
    'devDependencies, or put Node 26 on PATH.\n');
  process.exit(1);
}
// Node's compile cache (V8 code for every module, kept under the OS temp directory and checked
// against each file's contents): a second start skips compiling Legate's few hundred modules, in
// the main thread and, through the environment variable, in every worker thread. It roughly halves
// start-up time (docs/bench.md). NODE_DISABLE_COMPILE_CACHE=1 turns it off, as for any Node program.
if (process.env.NODE_COMPILE_CACHE === undefined && process.env.NODE_DISABLE_COMPILE_CACHE === undefined) {
  const { enableCompileCache } = await import('node:module');
  const r = enableCompileCache?.();
  if (r?.directory) process.env.NODE_COMPILE_CACHE = r.directory;
}
import('../src/cli.ts').then((m) => m.run(process.argv.slice(2))).catch((err) => {
  process.stderr.write(`legate: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
