#!/usr/bin/env bash
# GC trace of Legate under wrk load: every collection of every isolate (main thread and workers),
# summed per isolate and kind, plus GC pause per 10k requests.
#
#   perf/gc-trace.sh [--concurrency N] [--duration S] [--connections C] [--new-conn] [--script FILE]
#
# Writes to tmp/perf/gc-<timestamp>/legate.log (git-ignored) unless PERF_OUT is set.
# Re-summarize a log later with: node_modules/.bin/node perf/gc-summary.ts <log> [--requests N]
set -euo pipefail
cd "$(dirname "$0")/.."
out="${PERF_OUT:-tmp/perf/gc-$(date +%Y%m%d-%H%M%S)}"
exec node_modules/.bin/node perf/harness.ts --out "$out" --report gc --node-flag=--trace-gc "$@"
