#!/usr/bin/env bash
# Where a projection event's cost goes in Cassandra: `leaves replay` of the
# same seeded log into one keyspace with parts of the projection switched off
# (levels of bench/cassandra_decompose.patch), each beside the raw
# single-row INSERT rate of the same node measured right after it, with the
# node's and leaves' CPU seconds. Needs a node on 127.0.0.1:9042
# (scripts/cassandra start) and a patched binary:
#
#   git apply bench/cassandra_decompose.patch
#   cmake --build build --target leaves && cp build/leaves /tmp/leaves-decompose
#   git checkout src/leaves/store/cassandra/cassandra_store.cpp
#   bench/cassandra_decompose.sh /tmp/leaves-decompose [EVENTS] [ROUNDS]
#
# LEVELS="0 3" runs only those levels (default "0 1 2 3"). KAFKA=1 seeds a
# topic of the local broker (scripts/kafka start) instead of the embedded log
# and replays from it: the Kafka -> Cassandra projection. Issue 15's two
# figures are level 0's rows/s against the raw INSERT rate (>= 1.5x: batching
# pays) and level 0's events/s against level 3's, a consumer writing only the
# reference row as the workshop's Kafka Connect sink did (>= 50%).
#
# Level 1 is not safe in production (a creation applied twice doubles its
# lists); the levels measure a bound, not an option.
set -euo pipefail
# Benchmarks measure the server's paths without tokens: anonymous callers may
# read and write (docs/auth.md, --anonymous).
export LEAVES_ANONYMOUS=all
cd "$(dirname "$0")/.."
bin=${1:?usage: bench/cassandra_decompose.sh PATCHED_LEAVES [EVENTS] [ROUNDS]}
events=${2:-20000}
rounds=${3:-2}
levels=${LEVELS:-"0 1 2 3"}
log_args=()
if [ "${KAFKA:-0}" = 1 ]; then
  log_args=(--kafka 127.0.0.1:9092 --kafka-topic "leaves-decompose-$(date +%s)" --kafka-ingest-topic "")
fi
node=$(pgrep -f CassandraDaemon | head -1) || { echo "no Cassandra node running (scripts/cassandra start)" >&2; exit 1; }
hz=$(getconf CLK_TCK)
work=$(mktemp -d /tmp/leaves-decompose.XXXXXX)
trap 'pkill -TERM -f "listen 127.0.0.1:18099" 2>/dev/null || true; rm -rf "$work"' EXIT

node_ticks() { awk '{print $14 + $15}' "/proc/$node/stat"; }
# Waits (up to 2 min) until the node's flushes and compactions settle.
idle() {
  for _ in $(seq 60); do
    local a b
    a=$(node_ticks); sleep 2; b=$(node_ticks)
    [ $((b - a)) -lt $((hz * 3 / 10)) ] && return
  done
}

if [ ${#log_args[@]} -gt 0 ]; then
  echo "seeding $events leaves (Kafka topic ${log_args[3]})..."
else
  echo "seeding $events leaves (embedded log)..."
fi
"$bin" serve --data-dir "$work/data" --listen 127.0.0.1:18099 --log-level warn "${log_args[@]}" >"$work/serve.log" 2>&1 &
for _ in $(seq 50); do curl -fsS -o /dev/null http://127.0.0.1:18099/readyz 2>/dev/null && break; sleep 0.1; done
/usr/bin/python3 bench/seed.py http://127.0.0.1:18099 "$events" "$work/ids.txt"
kill -TERM %1; wait %1 || true

names=("full projection" "no creation read" "reference row + leaf_meta only" "reference row only")
echo
echo "| level | replay events/s | rows written/s | raw INSERT rows/s right after | events/s : raw | rows/s : raw | node CPU µs/event | leaves CPU µs/event |"
echo "|---|---|---|---|---|---|---|---|"
for r in $(seq "$rounds"); do
  for level in $levels; do
    idle
    n0=$(node_ticks)
    /usr/bin/time -f "%U %S" -o "$work/time" env LEAVES_DECOMPOSE=$level "$bin" replay --data-dir "$work/data" \
      --cassandra 127.0.0.1:9042 --cassandra-keyspace leaves_decompose --log-level warn "${log_args[@]}" \
      >"$work/replay.out" 2>&1
    n1=$(node_ticks)
    secs=$(awk '/^replayed/ {print $(NF - 1)}' "$work/replay.out")
    rows=$(awk '/^Cassandra rows written/ {print $4}' "$work/replay.out")
    idle
    raw=$(build/leaves_bench_cql 127.0.0.1:9042 write leaves_decompose_raw.leaves 50000 64 | awk '{print $(NF - 3)}')
    awk -v n="$events" -v s="$secs" -v rows="${rows:-0}" -v raw="$raw" -v nt=$((n1 - n0)) -v hz="$hz" -v lv="$level" \
      -v name="${names[$level]}" -v t="$(cat "$work/time")" 'BEGIN {
        split(t, c, " "); rate = n / s; rrate = rows / s;
        printf "| %d: %s | %.0f | %.0f | %s | %.0f%% | %.2fx | %.0f | %.0f |\n", lv, name, rate, rrate, raw,
          100 * rate / raw, rrate / raw, 1e6 * nt / hz / n, 1e6 * (c[1] + c[2]) / n }'
  done
done
