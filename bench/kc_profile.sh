#!/usr/bin/env bash
# Kafka + Cassandra: where the machine's CPU goes (docs/perf/README.md).
# A fresh server on the brokers of scripts/kafka and scripts/cassandra (a new
# topic and keyspace), SEED leaves, every projection caught up; then for
# /healthz, GET by id and POST: wrk -t2 -c64 for 10 s, the CPU of leaves,
# the broker, the node and wrk over 3 s of it (bench/cpu_split.py), and
# `perf record` of the server for 3 s, written as docs/perf/kc-get.svg and
# kc-post.svg (OUT=dir to write elsewhere). Beside them, in the same run: raw
# CQL reads of the same rows before and after GET (leaves' client), and the
# raw closed-loop produce rate. Outside CI; loopback only; stops what it starts.
set -euo pipefail
export LEAVES_ANONYMOUS=all
cd "$(dirname "$0")/.."
seed="${SEED:-10000}"
out="${OUT:-docs/perf}"
command -v perf >/dev/null || { echo "bench/kc_profile.sh: perf is missing (apt-get install linux-perf)" >&2; exit 1; }
scripts/kafka start
scripts/cassandra start
work=$(mktemp -d)
stamp=$(date +%s)
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
build/leaves serve --listen "127.0.0.1:$port" --data-dir "$work/data" --log-level warn \
  --kafka 127.0.0.1:9092 --kafka-topic "leaves-prof-$stamp" --kafka-ingest-topic "" \
  --cassandra 127.0.0.1:9042 --cassandra-keyspace "prof_$stamp" --cassandra-consistency one 2>"$work/server.log" &
server=$!
trap 'kill -TERM $server 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 300); do curl -fsS "$base/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
/usr/bin/python3 bench/seed.py "$base" "$seed" "$work/ids.txt" >/dev/null
/usr/bin/python3 bench/settle.py "$base" 300 >/dev/null
raw_read() { build/leaves_bench_cql 127.0.0.1:9042 read "prof_$stamp.leaves" $((seed * 5)) 64 "$work/ids.txt"; }
broker=$(pgrep -f kafka.Kafka | head -1)
node=$(pgrep -f CassandraDaemon | head -1)
for w in healthz get post; do
  case $w in
    post) args=(-s bench/post.lua "$base") ;;
    get) export LEAVES_BENCH_IDS="$work/ids.txt"; args=(-s bench/get.lua "$base") ;;
    healthz) args=("$base/healthz") ;;
  esac
  [ $w = get ] && echo "raw CQL read before GET: $(raw_read)"
  wrk -t2 -c64 -d10s "${args[@]}" >"$work/wrk-$w.txt" &
  load=$!
  sleep 2
  /usr/bin/python3 bench/cpu_split.py 3 leaves=$server broker=$broker node=$node wrk="$(pgrep -x wrk | head -1)" >"$work/cpu-$w.txt"
  [ $w = healthz ] || perf record -F 300 --call-graph dwarf,32768 -p "$server" -o "$work/perf-$w.data" -- sleep 3 2>/dev/null
  wait $load
  rps=$(awk '/Requests\/sec/ {print $2}' "$work/wrk-$w.txt")
  echo "$w: $rps requests/s"
  sed 's/^/    /' "$work/cpu-$w.txt"
  if [ $w != healthz ]; then
    perf script -i "$work/perf-$w.data" 2>/dev/null |
      scripts/flamegraph --title "leaves on Kafka + Cassandra, $w: $rps requests/s, wrk -t2 -c64" >"$out/kc-$w.svg"
  fi
  [ $w = get ] && echo "raw CQL read after GET: $(raw_read)"
  /usr/bin/python3 bench/settle.py "$base" 300 >/dev/null
done
echo "raw produce of the same broker: $(build/leaves_bench_produce 127.0.0.1:9092 "leaves-prof-$stamp-raw" 100000 64 2>/dev/null | tr '\n' ' ')"
