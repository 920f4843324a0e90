#!/usr/bin/env bash
# A/B of two server binaries on the read and write paths, alternated A B A B
# on one machine so that both see the same noise (BENCHMARKS.md: "A/B every
# change"). Each round starts the binary on a fresh embedded data dir, seeds
# SEED leaves (bench/seed.py), then runs wrk on /healthz (the limit), POST,
# GET by id and the tag listing, and stops it.
#   bench/ab.sh OLD_BINARY NEW_BINARY        (DURATION=8 SEED=20000 ROUNDS=2)
# Extra server options for both: SERVE_ARGS="--io-threads 2".
# Outside CI: it takes a few minutes. Loopback only; stops what it starts.
set -euo pipefail
# Benchmarks measure the server's paths without tokens: anonymous callers may
# read and write (docs/auth.md, --anonymous).
export LEAVES_ANONYMOUS=all
cd "$(dirname "$0")/.."
[ $# -eq 2 ] || { echo "usage: bench/ab.sh OLD_BINARY NEW_BINARY" >&2; exit 2; }
duration="${DURATION:-8}"
seed="${SEED:-20000}"
rounds="${ROUNDS:-2}"
conns="${CONNS:-64}"
read -r -a more <<<"${SERVE_ARGS:-}"
work=$(mktemp -d)
server=0
trap 'kill -TERM $server 2>/dev/null || true; rm -rf "$work"' EXIT

rate() {  # wrk args... -> requests/s
  wrk -t2 -c"$conns" -d"${duration}s" "$@" | awk '/Requests\/sec/ {printf "%d", $2}'
}

round() {  # label binary
  local label=$1 bin=$2
  rm -rf "$work/data"
  local port
  port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  local base="http://127.0.0.1:$port"
  "$bin" serve --listen "127.0.0.1:$port" --data-dir "$work/data" --log-level warn "${more[@]}" 2>"$work/server.log" &
  server=$!
  for _ in $(seq 1 100); do curl -fsS "$base/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
  /usr/bin/python3 bench/seed.py "$base" "$seed" "$work/ids.txt" >/dev/null 2>&1
  /usr/bin/python3 bench/settle.py "$base" 300 >/dev/null || true
  local h p g l
  h=$(rate "$base/healthz")
  p=$(rate -s bench/post.lua "$base")
  # The index applies the POSTs' leaves for a while after them: the reads are
  # measured once every projection has caught up (the time it took is printed).
  settled=$(/usr/bin/python3 bench/settle.py "$base" 300 || true)
  g=$(LEAVES_BENCH_IDS="$work/ids.txt" rate -s bench/get.lua "$base")
  l=$(rate -s bench/list.lua "$base")
  kill -TERM $server
  wait $server || true
  server=0
  awk -v n="$label" -v h="$h" -v p="$p" -v g="$g" -v l="$l" -v s="$settled" 'BEGIN {
    printf "| %s | %d | %d (%.0f%%) | %d (%.0f%%) | %d (%.0f%%) | %s |\n", n, h, p, 100*p/h, g, 100*g/h, l, 100*l/h, s }'
}

echo "wrk -t2 -c$conns -d${duration}s, $seed seeded leaves, rounds alternated (A: $1, B: $2)"
echo
echo "| binary | /healthz | POST (of healthz) | GET by id | GET ?tag= (30 a page) | after the POSTs |"
echo "|---|---|---|---|---|---|"
for _ in $(seq 1 "$rounds"); do
  round A "$1"
  round B "$2"
done
