#!/usr/bin/env bash
# Whole-process CPU profile with Linux perf: kernel, libuv, V8, Node's C++ and Legate's JS in one
# picture (`node --cpu-prof` sees only JS and lumps syscalls into the native function that made
# them). Same pinned setup as pinned-cpu.sh: Legate alone on core 0, wrk + an nginx upstream on
# core 1. Node runs with --perf-basic-prof so JIT frames have names, and --no-compact-code-space
# so a moved function's old address is not taken over by another one (the map file keeps both,
# and perf then names samples after the wrong function). perf/perf-summary.ts reads the result.
#
#   perf/perf-record.sh                 # keep-alive, 4 s of samples
#   NEW_CONN=1 perf/perf-record.sh      # a new connection per request
#   node_modules/.bin/node perf/perf-summary.ts tmp/perf/record-<time>/perf.txt
#
# Needs Linux perf (Debian: linux-perf), root or perf_event_paranoid <= 1, wrk, nginx, taskset.
set -euo pipefail
cd "$(dirname "$0")/.."
. perf/lib.sh
NODE=node_modules/.bin/node
OUT=${PERF_OUT:-tmp/perf/record-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
UP_PORT=18390; PROXY_PORT=18391; ADMIN_PORT=18392
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$OUT/nginx.pid" ] && kill "$(cat "$OUT/nginx.pid")" 2>/dev/null || true
  rm -f isolate-*.log
}
trap cleanup EXIT
start_nginx_upstream "$OUT" "$UP_PORT"
write_legate_config "$NODE" "$OUT/legate.yaml" "$PROXY_PORT" "$UP_PORT"
taskset -c 0 "$NODE" --perf-basic-prof --no-compact-code-space bin/legate.js -c "$OUT/legate.yaml" --concurrency 1 --log-level error \
  --admin-address 127.0.0.1:${ADMIN_PORT} > "$OUT/legate.log" 2>&1 & PID=$!; pids+=($PID)
for _ in $(seq 50); do curl -sf -o /dev/null "http://127.0.0.1:${PROXY_PORT}/" && break; sleep 0.1; done
WRK=(wrk -t1 -c50)
[ -n "${NEW_CONN:-}" ] && WRK+=(-H "Connection: close")
taskset -c 1 "${WRK[@]}" -d2s "http://127.0.0.1:${PROXY_PORT}/" > /dev/null
taskset -c 1 "${WRK[@]}" -d6s "http://127.0.0.1:${PROXY_PORT}/" > "$OUT/wrk.txt" & WRK_PID=$!
sleep 1
perf record -F 4999 -g -p "$PID" -o "$OUT/perf.data" -- sleep 4 2> "$OUT/perf-record.log"
wait "$WRK_PID"
perf script -i "$OUT/perf.data" > "$OUT/perf.txt" 2>/dev/null
grep Requests/sec "$OUT/wrk.txt"
echo "samples: $OUT/perf.txt  (summary: $NODE perf/perf-summary.ts $OUT/perf.txt)"
