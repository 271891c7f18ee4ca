#!/usr/bin/env bash
# CPU per proxied request, measured so that contention does not blur it: the proxy runs alone on
# core 0, wrk and the upstream on core 1 (taskset). Prints user and system microseconds per
# request from /proc/<pid>/stat, three measurements after a warm-up.
#
#   perf/pinned-cpu.sh                      # Legate --concurrency 1 in front of nginx (100 bytes)
#   HEADERS=10 perf/pinned-cpu.sh           # a canned Node upstream sending 10 extra headers
#   PROXY_CMD="node_modules/.bin/node my-proxy.ts" PROXY_PORT=18081 perf/pinned-cpu.sh
#
# Needs Linux with 2+ cores, wrk, taskset, bc; nginx unless HEADERS is set.
set -euo pipefail
cd "$(dirname "$0")/.."
. perf/lib.sh
NODE=node_modules/.bin/node
DIR=$(mktemp -d)
UP_PORT=18390
PROXY_PORT=${PROXY_PORT:-18391}
ADMIN_PORT=18392
DURATION=${DURATION:-3}
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$DIR/nginx.pid" ] && kill "$(cat "$DIR/nginx.pid")" 2>/dev/null || true
  rm -rf "$DIR"
}
trap cleanup EXIT

if [ -n "${HEADERS:-}" ]; then
  cat > "$DIR/up.mjs" <<JS
import net from 'node:net';
const extra = ['Server: nginx/1.22.1', 'Date: Wed, 25 Nov 2026 17:00:00 GMT', 'Content-Type: text/html',
  'Last-Modified: Wed, 25 Nov 2026 16:00:00 GMT', 'Connection: keep-alive', 'ETag: "6925d0e0-64"',
  'Accept-Ranges: bytes', 'X-Extra-1: aaaaaaaaaaaa', 'X-Extra-2: bbbbbbbbbbbbbb', 'X-Extra-3: cccccccccccc'];
let h = 'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n';
for (let i = 0; i < ${HEADERS}; i++) h += extra[i % extra.length] + '\r\n';
const resp = Buffer.from(h + '\r\n' + 'x'.repeat(100));
net.createServer((s) => { s.on('data', () => s.write(resp)); s.on('error', () => {}); }).listen(${UP_PORT}, '127.0.0.1');
JS
  taskset -c 1 "$NODE" "$DIR/up.mjs" & pids+=($!)
else
  start_nginx_upstream "$DIR" "$UP_PORT"
fi

if [ -z "${PROXY_CMD:-}" ]; then
  write_legate_config "$NODE" "$DIR/legate.yaml" "$PROXY_PORT" "$UP_PORT"
  PROXY_CMD="$NODE bin/legate.js -c $DIR/legate.yaml --concurrency 1 --log-level error --admin-address 127.0.0.1:${ADMIN_PORT}"
fi
taskset -c 0 $PROXY_CMD > "$DIR/proxy.log" 2>&1 & PID=$!; pids+=($PID)
for _ in $(seq 50); do curl -sf -o /dev/null "http://127.0.0.1:${PROXY_PORT}/" && break; sleep 0.1; done
taskset -c 1 wrk -t1 -c50 -d2s "http://127.0.0.1:${PROXY_PORT}/" > /dev/null
for _ in 1 2 3; do
  read -r u s < <(awk '{print $14, $15}' "/proc/$PID/stat")
  out=$(taskset -c 1 wrk -t1 -c50 -d"${DURATION}"s "http://127.0.0.1:${PROXY_PORT}/")
  read -r u2 s2 < <(awk '{print $14, $15}' "/proc/$PID/stat")
  n=$(echo "$out" | awk '/requests in/{print $1}')
  hz=$(getconf CLK_TCK)
  echo "requests=$n  cpu_us/req=$(echo "scale=2; ($u2+$s2-$u-$s)*1000000/$hz/$n" | bc)  user=$(echo "scale=2; ($u2-$u)*1000000/$hz/$n" | bc)  sys=$(echo "scale=2; ($s2-$s)*1000000/$hz/$n" | bc)"
done
