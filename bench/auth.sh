#!/usr/bin/env bash
# The cost of authentication and permission checks (issue 12's benchmark):
# GET by id and a search, each without a token, with an admin's token (sees
# everything) and with a reader's token (sees public leaves and its own: the
# permission filter runs), interleaved in ROUNDS rounds against one embedded
# server, beside its /healthz rate. Rate limits are off (--rate-limit 0): the
# limiter is measured apart, with a limit too high to refuse (RATE row).
#   bench/auth.sh        Knobs: DURATION (s, default 8), CONNS (64), SEED (20000), ROUNDS (2), MARKS (1)
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${DURATION:-8}"
conns="${CONNS:-64}"
seed="${SEED:-20000}"
rounds="${ROUNDS:-2}"
admin_token="bench-admin-token-$(date +%s)-0123456789abcdef0123"
cmake --build build --target leaves >/dev/null
work=$(mktemp -d)
start_server() {  # extra serve args...
  port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  base="http://127.0.0.1:$port"
  LEAVES_ADMIN_TOKEN="$admin_token" build/leaves serve --listen "127.0.0.1:$port" --data-dir "$work/data" \
    --log-level warn --anonymous all "$@" 2>>"$work/server.log" &
  server=$!
  for _ in $(seq 1 300); do curl -fsS "$base/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
}
start_server --rate-limit 0
trap 'kill -TERM $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$work"' EXIT
# The admin's leaves: a reader's GET shows it its own starred and archived
# (docs/auth.md), looked up among its marks.
LEAVES_BENCH_PUBLIC=1 LEAVES_BENCH_TOKEN="$admin_token" /usr/bin/python3 bench/seed.py "$base" "$seed" "$work/ids.txt" >&2
/usr/bin/python3 bench/settle.py "$base" 300 >&2 || true
auth=(-H "Authorization: Bearer $admin_token")
curl -fsS "${auth[@]}" -H 'Content-Type: application/json' -d '{"name":"benchreader","role":"reader"}' \
  "$base/v1/users" >/dev/null
reader_token=$(curl -fsS "${auth[@]}" -H 'Content-Type: application/json' -d '{"name":"bench"}' \
  "$base/v1/users/benchreader/tokens" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
reader=(-H "Authorization: Bearer $reader_token")
# The reader stars every tenth seeded leaf (MARKS=0: none; a build without
# marks answers 404, which is ignored).
marks="${MARKS:-1}"
if [ "$marks" = 1 ]; then
  marked=0
  while read -r id; do
    curl -fsS -o /dev/null -X PUT "${reader[@]}" -H 'Content-Type: application/json' -d '{"is_starred":true}' \
      "$base/v1/leaves/$id/marks" 2>/dev/null && marked=$((marked + 1))
  done < <(awk 'NR % 10 == 1' "$work/ids.txt")
  echo "the reader marked $marked leaves" >&2
fi
run() {  # label, wrk args...
  local label=$1; shift
  local out
  out=$(wrk -t2 -c"$conns" -d"${duration}s" --latency "$@")
  local rps p50 p99 bad
  rps=$(awk '/Requests\/sec/ {printf "%.0f", $2}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  bad=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
  echo "| $label | $rps | $p50 | $p99 | ${bad:-0} |"
}
search="$base/v1/search?q=seeded&tag=tag3&limit=20"
echo "mode: embedded, $(nproc) cores, wrk -t2 -c$conns -d${duration}s, $seed public leaves, $rounds rounds interleaved"
echo
echo "| workload | requests/s | p50 | p99 | non-2xx |"
echo "|---|---|---|---|---|"
for r in $(seq 1 "$rounds"); do
  run "round $r: GET /healthz (HTTP limit)" "$base/healthz"
  for who in anonymous admin reader; do
    case $who in anonymous) h=() ;; admin) h=("${auth[@]}") ;; reader) h=("${reader[@]}") ;; esac
    LEAVES_BENCH_IDS="$work/ids.txt" run "round $r: GET /v1/leaves/{id}, $who" "${h[@]}" -s bench/get.lua "$base"
  done
  for who in anonymous admin reader; do
    case $who in anonymous) h=() ;; admin) h=("${auth[@]}") ;; reader) h=("${reader[@]}") ;; esac
    run "round $r: GET /v1/search?q=seeded&tag=tag3, $who" "${h[@]}" "$search"
  done
done
# The limiter's own cost: the same data served by a server without limits
# and by one with a limit no run reaches, restarted in turn, a reader's GET
# by id on each (the rate is per token, so all of it goes through one bucket).
for r in $(seq 1 "$rounds"); do
  for limit in 0 1000000000; do
    kill -TERM $server; wait $server || true
    start_server --rate-limit "$limit" --rate-burst 1000000000
    /usr/bin/python3 bench/settle.py "$base" 300 >&2 || true
    label="limiter off"
    [ "$limit" = 0 ] || label="limiter on"
    LEAVES_BENCH_IDS="$work/ids.txt" run "round $r: GET /v1/leaves/{id}, reader, $label (RATE)" "${reader[@]}" \
      -s bench/get.lua "$base"
  done
done
