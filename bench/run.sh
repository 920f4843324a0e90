#!/usr/bin/env bash
# Measures leaves on this machine in one run and prints a markdown table:
# the server's own /healthz rate (the HTTP limit), durable POST /v1/leaves,
# GET by id, list by tag, and ack-to-SSE latency at a steady 5k events/s.
#   bench/run.sh [--kafka] [--cassandra]
#     --kafka:     the event log on a local broker started by scripts/kafka
#     --cassandra: the read models on a local node started by scripts/cassandra, plus
#                  the raw CQL write/read rates of that node (leaves' client and python3-cassandra)
# Knobs: DURATION (s, default 10), CONNS (default 64), SEED (default 20000),
#        SERVE_ARGS (more `leaves serve` flags, e.g. "--state-mirror false"),
#        PIN=1 (the server on CPU 0, wrk and the SSE tool on CPU 1, with
#        taskset; a broker's or node's JVM stays unpinned).
set -euo pipefail
# Benchmarks measure the server's paths without tokens: anonymous callers may
# read and write (docs/auth.md, --anonymous).
export LEAVES_ANONYMOUS=all
cd "$(dirname "$0")/.."
root=$(pwd)
duration="${DURATION:-10}"
conns="${CONNS:-64}"
seed="${SEED:-20000}"
mode=embedded
extra=()
kafka=0
cassandra=0
for a in "$@"; do
  case "$a" in
    --kafka) kafka=1 ;;
    --cassandra) cassandra=1 ;;
    *) echo "usage: bench/run.sh [--kafka] [--cassandra]" >&2; exit 2 ;;
  esac
done
stamp=$(date +%s)
if [ $kafka = 1 ]; then
  mode=kafka
  scripts/kafka start
  topic="leaves-bench-$stamp"
  extra+=(--kafka 127.0.0.1:9092 --kafka-topic "$topic" --kafka-ingest-topic "")
fi
if [ $cassandra = 1 ]; then
  mode="$mode + cassandra"
  scripts/cassandra start
  keyspace="bench_$stamp"
  extra+=(--cassandra 127.0.0.1:9042 --cassandra-keyspace "$keyspace" --cassandra-consistency one)
fi
if [ -n "${SERVE_ARGS:-}" ]; then
  read -r -a more <<<"$SERVE_ARGS"
  extra+=("${more[@]}")
  mode="$mode ($SERVE_ARGS)"
fi
pin_server=()
pin_load=()
if [ "${PIN:-0}" = 1 ]; then
  pin_server=(taskset -c 0)
  pin_load=(taskset -c 1)
  mode="$mode, pinned: server on CPU 0, load on CPU 1"
fi
cmake --build build --target leaves leaves_bench_sse leaves_bench_produce leaves_bench_cql >/dev/null
work=$(mktemp -d)
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
"${pin_server[@]}" build/leaves serve --listen "127.0.0.1:$port" --data-dir "$work/data" --log-level warn "${extra[@]}" \
  2>"$work/server.log" &
server=$!
trap 'kill -TERM $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do curl -fsS "$base/readyz" >/dev/null 2>&1 && break; sleep 0.1; done

/usr/bin/python3 bench/seed.py "$base" "$seed" "$work/ids.txt" >&2
# Each phase starts once every projection (the search index too) has applied
# the writes before it, so that none shares the CPU with their backlog.
settle() { /usr/bin/python3 bench/settle.py "$base" 300 >&2 || true; }
settle

wrk_run() {  # name, wrk args...
  local name=$1; shift
  local out
  out="$work/$(echo "$name" | tr -c 'a-zA-Z0-9' _).txt"
  "${pin_load[@]}" wrk -t2 -c"$conns" -d"${duration}s" --latency "$@" >"$out"
  local rps p50 p99
  rps=$(awk '/Requests\/sec/ {print $2}' "$out")
  p50=$(awk '$1=="50%" {print $2}' "$out")
  p99=$(awk '$1=="99%" {print $2}' "$out")
  local non2xx
  non2xx=$(awk '/Non-2xx/ {print $5}' "$out")
  printf '| %s | %s | %s | %s | %s |\n' "$name" "${rps%.*}" "$p50" "$p99" "${non2xx:-0}"
}

echo
if [ ${#pin_load[@]} -gt 0 ]; then
  echo "mode: $mode, $(nproc) cores, wrk -t2 -c$conns -d${duration}s"
else
  echo "mode: $mode, $(nproc) cores, wrk -t2 -c$conns -d${duration}s (wrk shares the 2 cores with the server)"
fi
echo
echo "| workload | requests/s | p50 | p99 | non-2xx |"
echo "|---|---|---|---|---|"
wrk_run "GET /healthz (HTTP limit)" "$base/healthz"
wrk_run "POST /v1/leaves (durable)" -s bench/post.lua "$base"
settle
LEAVES_BENCH_IDS="$work/ids.txt" wrk_run "GET /v1/leaves/{id}" -s bench/get.lua "$base"
LEAVES_BENCH_IDS="$work/ids.txt" LEAVES_BENCH_PREFIX=/api/leaves/ wrk_run "GET /api/leaves/{id}" -s bench/get.lua "$base"
wrk_run "GET /v1/leaves?tag= (30 per page)" -s bench/list.lua "$base"
echo
echo "ack-to-SSE at 5000 events/s for ${duration}s:"
"${pin_load[@]}" build/leaves_bench_sse 127.0.0.1 "$port" 5000 "$duration" 32 | sed 's/^/    /'
if [ $kafka = 1 ]; then
  echo
  echo "raw librdkafka produce rate, same settings (acks=all, idempotent, linger.ms=1), 600-byte records:"
  build/leaves_bench_produce 127.0.0.1:9092 "$topic-raw" 200000 "$conns" 2>/dev/null | sed 's/^/    /'
fi
if [ $cassandra = 1 ]; then
  n=$((seed * 5))
  raw_read() { build/leaves_bench_cql 127.0.0.1:9042 read "$keyspace.leaves" "$n" "$conns" "$work/ids.txt"; }
  echo
  echo "raw CQL rates of the same node, consistency ONE, 64 in flight:"
  echo "    leaves' cql client, INSERT of a leaf-shaped row (23 columns): $(build/leaves_bench_cql 127.0.0.1:9042 write "${keyspace}_raw.leaves" "$n" "$conns")"
  echo "    python3-cassandra, SELECT * FROM $keyspace.leaves WHERE id = ?: $(/usr/bin/python3 bench/cql_read.py 127.0.0.1:9042 "$keyspace.leaves" "$work/ids.txt" "$seed" "$conns")"
  # The node's background work (flushes, compaction after the writes above)
  # moves its read rate by tens of percent, so the API reads are measured
  # between two raw reads of the same rows and compared with their mean.
  echo
  echo "GET by id against the raw CQL read of the same rows (leaves' cql client), interleaved:"
  r1=$(raw_read)
  echo "    raw SELECT * FROM $keyspace.leaves WHERE id = ?: $r1"
  LEAVES_BENCH_IDS="$work/ids.txt" wrk -t2 -c"$conns" -d"${duration}s" -s bench/get.lua "$base" >"$work/g1.txt"
  LEAVES_BENCH_IDS="$work/ids.txt" LEAVES_BENCH_PREFIX=/api/leaves/ wrk -t2 -c"$conns" -d"${duration}s" -s bench/get.lua "$base" >"$work/g2.txt"
  r2=$(raw_read)
  echo "    raw SELECT * FROM $keyspace.leaves WHERE id = ?: $r2"
  mean=$(echo "$r1 $r2" | awk '{for (i = 1; i <= NF; i++) if ($i == "rows/s,") {s += $(i - 1); k++}} END {printf "%.0f", s / k}')
  for f in g1:/v1/leaves/{id} g2:/api/leaves/{id}; do
    rps=$(awk '/Requests\/sec/ {print $2}' "$work/${f%%:*}.txt")
    echo "    GET ${f#*:}: ${rps%.*} requests/s = $(awk -v a="$rps" -v b="$mean" 'BEGIN {printf "%.0f", 100 * a / b}')% of the raw reads' mean ($mean rows/s)"
  done
  curl -fsS "$base/metrics" | grep -E '^leaves_cassandra_(requests|meta_cache_hits|meta_cache_misses)_total' | sed 's/^/    /'
fi
# Projection rate: stop the server and rebuild the read models from the whole log.
kill -TERM $server; wait $server || true
echo
echo "projection rate (leaves replay: every event of this run, from the log into empty read models):"
build/leaves replay --data-dir "$work/data" --log-level warn "${extra[@]}" | sed 's/^/    /'
trap 'rm -rf "$work"' EXIT
