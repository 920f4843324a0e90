#!/usr/bin/env bash
# Export and import at scale (issue 13's benchmarks), one embedded server:
#   1. seed N leaves through POST /v1/bulk/leaves (bench/seed.py): the bulk
#      endpoint's own rate;
#   2. GET /v1/export in each format to /dev/null: MB/s, leaves/s, and the
#      server's RSS sampled every 50 ms while it streams (before: idle);
#   3. `leaves import` of the Netscape bookmark export into a second, empty
#      server: leaves/s, beside that server's bulk rate for the same leaves.
#   bench/export.sh        Knobs: SEED (default 100000)
set -euo pipefail
cd "$(dirname "$0")/.."
n="${SEED:-100000}"
export LEAVES_ANONYMOUS=all
cmake --build build --target leaves >/dev/null
work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; rm -rf "$work"' EXIT
start() {  # name -> sets port_NAME, pid_NAME
  local port
  port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  build/leaves serve --listen "127.0.0.1:$port" --data-dir "$work/$1" --log-level warn 2>>"$work/$1.log" &
  pids+=($!)
  eval "port_$1=$port pid_$1=$!"
  for _ in $(seq 1 300); do curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
}
rss_mb() { awk '/^VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$1/status"; }
start a
base="http://127.0.0.1:$port_a"
t0=$(date +%s.%N)
/usr/bin/python3 bench/seed.py "$base" "$n" "$work/ids.txt" >&2
t1=$(date +%s.%N)
/usr/bin/python3 bench/settle.py "$base" 600 >&2 || true
echo "mode: embedded, $(nproc) cores, $n leaves (400-byte texts)"
echo
echo "bulk endpoint (seed.py, batches of 1000, until all applied): $(awk -v n="$n" -v a="$t0" -v b="$t1" 'BEGIN {printf "%.0f", n / (b - a)}') leaves/s"
echo "server RSS idle after seeding: $(rss_mb "$pid_a") MB"
echo
echo "| export | MB | seconds | MB/s | leaves/s | server RSS peak while streaming |"
echo "|---|---|---|---|---|---|"
for fmt in jsonl json csv html; do
  peak=0
  curl -fsS -o "$work/export.$fmt" "$base/v1/export?format=$fmt" &
  c=$!
  s0=$(date +%s.%N)
  while kill -0 $c 2>/dev/null; do
    r=$(rss_mb "$pid_a"); [ "$r" -gt "$peak" ] && peak=$r
    sleep 0.05
  done
  wait $c
  s1=$(date +%s.%N)
  bytes=$(stat -c %s "$work/export.$fmt")
  awk -v f="$fmt" -v b="$bytes" -v a="$s0" -v z="$s1" -v n="$n" -v p="$peak" \
    'BEGIN {t = z - a; printf "| %s | %.1f | %.2f | %.1f | %.0f | %d MB |\n", f, b / 1e6, t, b / 1e6 / t, n / t, p}'
done
start b
i0=$(date +%s.%N)
build/leaves import "$work/export.html" --server "http://127.0.0.1:$port_b" 2>/dev/null
i1=$(date +%s.%N)
echo
echo "leaves import of the $n-bookmark HTML export into an empty server: $(awk -v n="$n" -v a="$i0" -v b="$i1" 'BEGIN {printf "%.0f", n / (b - a)}') leaves/s (acknowledged; the bulk endpoint above waited for the read models too)"
rm -rf "$work/export.html"
