#!/usr/bin/env bash
# What one durable POST costs the machine, embedded, against what the goal of
# 30k/s allows on this machine's cores: the server's CPU time per request
# (user + system, /proc, from the first request until every projection has
# applied the writes: the search index and the read models included), with
# the search index on and off, beside /healthz and beside the CPU the index's
# own document building and the Xapian library spend on the same documents
# (no server: one writer, a commit every 10,000, as `leaves reindex` groups
# them).
#   bench/post-cost.sh
# Knobs: DURATION (s of wrk per phase, default 8), ROUNDS (default 2; the
#        configurations alternate within a round), RAW_DOCS (default 100000).
set -euo pipefail
export LEAVES_ANONYMOUS=all
cd "$(dirname "$0")/.."
duration="${DURATION:-8}"
rounds="${ROUNDS:-2}"
raw_docs="${RAW_DOCS:-100000}"
cores=$(nproc)
tick=$(getconf CLK_TCK)
cmake --build build --target leaves leaves_bench_search >/dev/null
work=$(mktemp -d)
server=""
stop() { if [ -n "$server" ]; then kill -TERM "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; server=""; fi; }
trap 'stop; rm -rf "$work"' EXIT
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# name, server flags...: one fresh server; prints a row for /healthz and POST.
measure() {
  local name=$1; shift
  rm -rf "$work/data"
  build/leaves serve --listen "127.0.0.1:$port" --data-dir "$work/data" --log-level warn "$@" 2>>"$work/server.log" &
  server=$!
  local ready=0
  for _ in $(seq 1 100); do curl -fsS "$base/readyz" >/dev/null 2>&1 && { ready=1; break; }; sleep 0.1; done
  [ $ready = 1 ] || { echo "the server did not become ready (see $work/server.log)" >&2; exit 1; }
  local phase c0 c1 n rps us bad
  for phase in healthz post; do
    c0=$(cpu_ticks "$server")
    if [ $phase = healthz ]; then
      wrk -t2 -c64 -d"${duration}s" "$base/healthz" >"$work/wrk.txt"
    else
      wrk -t2 -c64 -d"${duration}s" -s bench/post.lua "$base" >"$work/wrk.txt"
      /usr/bin/python3 bench/settle.py "$base" 300 >/dev/null
    fi
    c1=$(cpu_ticks "$server")
    n=$(awk '/requests in/ {print $1}' "$work/wrk.txt")
    bad=$(awk '/Non-2xx/ {print $5}' "$work/wrk.txt")
    # A refused request costs less than a served one: the figure would flatter.
    [ -z "$bad" ] || { echo "$name $phase: $bad responses were not 2xx" >&2; exit 1; }
    rps=$(awk '/Requests\/sec/ {printf "%.0f", $2}' "$work/wrk.txt")
    us=$(awk -v d=$((c1 - c0)) -v t="$tick" -v n="$n" 'BEGIN {printf "%.0f", d * 1e6 / t / n}')
    printf '| %s | %s | %s | %s | %s |\n' "$name" "$phase" "$rps" "$us" \
      "$(awk -v c="$cores" -v u="$us" 'BEGIN {printf "%.0f", c * 1e6 / u}')"
    sleep 1
  done
  stop
}

echo "$cores cores, wrk -t2 -c64 -d${duration}s on the same cores; CPU per request = the server's user+system time"
echo "from the phase's start until every projection caught up, divided by the requests wrk completed"
echo
echo "| server | path | requests/s | server CPU us a request | requests/s all $cores cores would allow at that cost |"
echo "|---|---|---|---|---|"
for _ in $(seq 1 "$rounds"); do
  measure "search on (default)"
  measure "--search false" --search false
done

# The same documents as the POSTs (bench/post.lua's shape), straight into Xapian.
/usr/bin/python3 - "$work/docs.jsonl" "$raw_docs" <<'EOF'
import json, sys, time
t0 = int(time.time())
with open(sys.argv[1], "w") as f:
    for n in range(int(sys.argv[2])):
        ts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0 + n // 8000))
        f.write(json.dumps({"url": "https://bench.example/wrk/0-1/%d" % n, "title": "bench %d" % n,
                            "tags": ["tag%d" % (n % 20)], "created_at": ts, "updated_at": ts}) + "\n")
EOF
echo
for _ in $(seq 1 "$rounds"); do
  rm -rf "$work/raw"
  build/leaves_bench_search build "$work/docs.jsonl" "$work/raw" |
    awk '{print $0 ": one writer, on one core"}'
done
