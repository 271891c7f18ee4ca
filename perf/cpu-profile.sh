#!/usr/bin/env bash
# CPU profile of Legate under wrk load: one .cpuprofile per thread (main + each worker).
#
#   perf/cpu-profile.sh [--concurrency N] [--duration S] [--connections C] [--new-conn] [--script FILE]
#
# Writes to tmp/perf/cpu-<timestamp>/ (git-ignored) unless PERF_OUT is set, prints a self-time summary of
# every profile and where the files are. PERF_INTERVAL_US sets the sampling interval (V8 default 1000 us).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${PERF_OUT:-tmp/perf/cpu-$(date +%Y%m%d-%H%M%S)}"
flags=(--node-flag=--cpu-prof "--node-flag=--cpu-prof-dir=$(pwd)/$out")
if [[ -n "${PERF_INTERVAL_US:-}" ]]; then flags+=("--node-flag=--cpu-prof-interval=$PERF_INTERVAL_US"); fi
exec node_modules/.bin/node perf/harness.ts --out "$out" --report cpu "${flags[@]}" "$@"
