#!/usr/bin/env bash
# Before/after on the pinned setup (perf/pinned-cpu.sh): CPU per proxied request of a git
# revision against the working tree, measured alternately so that drift on the box hits both.
# The box is noisy (+-0.3 us a run); a change under ~0.2 us needs more rounds to show.
#
#   perf/ab.sh HEAD~1                 # 3 alternating rounds
#   ROUNDS=6 perf/ab.sh main
#
# Prints each round's median of pinned-cpu.sh's three measurements, then the median per side.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -eq 1 ] || { echo "usage: perf/ab.sh <git revision>" >&2; exit 2; }
. perf/lib.sh
NODE=node_modules/.bin/node
BASE=$(mktemp -d)
CONF=$(mktemp --suffix=.yaml)
cleanup() { git worktree remove --force "$BASE" > /dev/null 2>&1 || rm -rf "$BASE"; rm -f "$CONF"; }
trap cleanup EXIT
git worktree add --detach "$BASE" "$1" > /dev/null 2>&1
ln -s "$PWD/node_modules" "$BASE/node_modules"
write_legate_config "$NODE" "$CONF" 18391 18390
run() { # $1: checkout root -> the median cpu_us/req of one pinned-cpu.sh run
  PROXY_CMD="$NODE $1/bin/legate.js -c $CONF --concurrency 1 --log-level error --admin-address 127.0.0.1:18392" \
    perf/pinned-cpu.sh 2>&1 | sed -n 's/.*cpu_us\/req=\([0-9.]*\).*/\1/p' | sort -n | sed -n 2p
}
a=(); b=()
for i in $(seq "${ROUNDS:-3}"); do
  a+=("$(run "$BASE")"); b+=("$(run "$PWD")")
  echo "round $i: $1 ${a[-1]} us   working tree ${b[-1]} us"
done
median() { printf '%s\n' "$@" | sort -n | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
echo "median: $1 $(median "${a[@]}") us/request, working tree $(median "${b[@]}") us/request"
