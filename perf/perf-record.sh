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
NODE=node_modules/.bin/node
OUT=${PERF_OUT:-tmp/perf/record-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT/www"
OUT=$(cd "$OUT" && pwd)
UP_PORT=18390; PROXY_PORT=18391; ADMIN_PORT=18392
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$OUT/nginx.pid" ] && kill "$(cat "$OUT/nginx.pid")" 2>/dev/null || true
  rm -f isolate-*.log
}
trap cleanup EXIT
head -c 100 /dev/zero | tr '\0' x > "$OUT/www/index.html"
cat > "$OUT/nginx.conf" <<CONF
worker_processes 1; pid $OUT/nginx.pid; error_log $OUT/error.log; daemon on;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000;
  server { listen 127.0.0.1:${UP_PORT}; location / { root $OUT/www; } } }
CONF
chmod 755 "$OUT"
taskset -c 1 nginx -c "$OUT/nginx.conf"
"$NODE" -e "import('./bench/targets/legate.ts').then((m) => process.stdout.write(m.legateConfig(${PROXY_PORT}, ${UP_PORT})))" > "$OUT/legate.yaml"
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
