#!/usr/bin/env bash
# CPU per request of every party on the box, unpinned, as in the bench: the proxy, the nginx
# upstream and wrk. On a 2-core box they share the cores, so what the proxy does to the others
# counts too: a proxy that wakes the upstream once per request instead of once per burst makes
# the upstream (and wrk) spend more per request, and the bench's rps drops with it.
#
#   perf/party-cpu.sh                        # Legate --concurrency 2
#   C=1 perf/party-cpu.sh                    # Legate --concurrency 1
#   PROXY=nginx perf/party-cpu.sh            # nginx, 2 workers, the bench's proxy config
#   SYSCALLS=1 perf/party-cpu.sh             # + the upstream's epoll_waits and context switches
#                                            #   per request (Linux perf syscall tracepoints)
#
# Needs Linux, wrk, nginx, taskset, bc; perf for SYSCALLS. Prints one line per party.
set -euo pipefail
cd "$(dirname "$0")/.."
. perf/lib.sh
NODE=node_modules/.bin/node
DIR=$(mktemp -d)
UP_PORT=18390; PROXY_PORT=18391; ADMIN_PORT=18392
PROXY=${PROXY:-legate}
PID=
cleanup() {
  [ -n "$PID" ] && kill "$PID" 2>/dev/null || true
  [ -f "$DIR/px/nginx.pid" ] && kill "$(cat "$DIR/px/nginx.pid")" 2>/dev/null || true
  [ -f "$DIR/nginx.pid" ] && kill "$(cat "$DIR/nginx.pid")" 2>/dev/null || true
  rm -rf "$DIR"
}
trap cleanup EXIT

start_nginx_upstream "$DIR" "$UP_PORT"
for _ in $(seq 50); do [ -s "$DIR/nginx.pid" ] && break; sleep 0.1; done
UP_MASTER=$(cat "$DIR/nginx.pid")
UP_WORKERS=$(pgrep -P "$UP_MASTER" | tr '\n' ' ')
# Unpinned, as in the bench.
for p in $UP_MASTER $UP_WORKERS; do taskset -pc 0-1 "$p" > /dev/null; done

if [ "$PROXY" = nginx ]; then
  mkdir -p "$DIR/px"
  cat > "$DIR/px/nginx.conf" <<CONF
worker_processes 2; pid $DIR/px/nginx.pid; error_log $DIR/px/error.log; daemon on;
events { worker_connections 8192; }
http { access_log off; keepalive_requests 1000000; keepalive_timeout 600s;
  upstream u { server 127.0.0.1:${UP_PORT}; keepalive 128; keepalive_requests 1000000; keepalive_timeout 600s; }
  server { listen 127.0.0.1:${PROXY_PORT} reuseport;
    location / { proxy_pass http://u; proxy_http_version 1.1; proxy_set_header Connection ""; } } }
CONF
  nginx -c "$DIR/px/nginx.conf"
  for _ in $(seq 50); do [ -s "$DIR/px/nginx.pid" ] && break; sleep 0.1; done
  PX="$(cat "$DIR/px/nginx.pid") $(pgrep -P "$(cat "$DIR/px/nginx.pid")" | tr '\n' ' ')"
else
  write_legate_config "$NODE" "$DIR/legate.yaml" "$PROXY_PORT" "$UP_PORT"
  "$NODE" bin/legate.js -c "$DIR/legate.yaml" --concurrency "${C:-2}" --log-level error \
    --admin-address 127.0.0.1:${ADMIN_PORT} > "$DIR/legate.log" 2>&1 & PID=$!
  PX=$PID
fi
for _ in $(seq 50); do curl -sf -o /dev/null "http://127.0.0.1:${PROXY_PORT}/" && break; sleep 0.1; done
wrk -t1 -c50 -d2s "http://127.0.0.1:${PROXY_PORT}/" > /dev/null

# CPU ticks (utime + stime) of every thread of the given processes.
ticks() { local s=0 t; for p in "$@"; do for t in /proc/"$p"/task/*; do s=$((s + $(awk '{print $14 + $15}' "$t/stat"))); done; done; echo "$s"; }
up0=$(ticks $UP_MASTER $UP_WORKERS); px0=$(ticks $PX)
if [ -n "${SYSCALLS:-}" ]; then
  perf stat -x, -e syscalls:sys_enter_epoll_wait,context-switches -p "$(echo $UP_WORKERS | tr ' ' ',')" \
    -o "$DIR/up.stat" -- sleep 5 & PS=$!
fi
/usr/bin/time -f "%U %S" -o "$DIR/wrk.time" wrk -t1 -c50 -d5s "http://127.0.0.1:${PROXY_PORT}/" > "$DIR/wrk.out"
up1=$(ticks $UP_MASTER $UP_WORKERS); px1=$(ticks $PX)
n=$(awk '/requests in/{print $1}' "$DIR/wrk.out")
read -r wu ws < "$DIR/wrk.time"
hz=$(getconf CLK_TCK)
us() { echo "scale=2; $1 * 1000000 / $hz / $n" | bc; }
echo "$PROXY${C:+ c$C}: $((n / 5)) rps"
echo "  proxy     $(us $((px1 - px0))) us/request"
echo "  upstream  $(us $((up1 - up0))) us/request"
echo "  wrk       $(echo "scale=2; ($wu + $ws) * 1000000 / $n" | bc) us/request"
if [ -n "${SYSCALLS:-}" ]; then
  wait "$PS"
  awk -F, -v n="$n" '/^[0-9]/{printf "  upstream  %.3f %s per request\n", $1 / n, $3}' "$DIR/up.stat"
fi
