#!/usr/bin/env bash
# Kafka + Cassandra: where the machine's CPU goes (docs/perf/README.md).
# A fresh server on the broker of scripts/kafka and the node of
# scripts/cassandra (a new topic and keyspace), SEED leaves, every projection
# caught up; then for /healthz, GET by id and POST, each twice:
#   1. measured: wrk -t2 -c64 for 10 s, and over seconds 2-5 of it the CPU of
#      the server, the broker, the node and wrk (bench/cpu_split.py);
#   2. profiled: wrk again while `perf record` samples the server for 3 s,
#      written as docs/perf/kc-get.svg and kc-post.svg (OUT=dir elsewhere).
#      Its rate is not reported (perf slows the server).
# Beside them, in the same run: raw CQL reads of the same rows before and
# after GET (leaves' client, 64 in flight) and the raw closed-loop produce
# rate. Outside CI; loopback only. The broker and the node are started if
# they are not running and left running (scripts/kafka stop, scripts/cassandra
# stop); the server and its data are removed at the end.
set -euo pipefail
export LEAVES_ANONYMOUS=all
cd "$(dirname "$0")/.."
seed="${SEED:-10000}"
out="${OUT:-docs/perf}"
command -v perf >/dev/null || { echo "bench/kc_profile.sh: perf is missing (apt-get install linux-perf)" >&2; exit 1; }
scripts/kafka start
scripts/cassandra start
broker=$(cat "${KAFKA_DATA_DIR:-build/kafka-data}/kafka.pid" 2>/dev/null || true)
node=$(cat "${CASSANDRA_DATA_DIR:-build/cassandra-data}/cassandra.pid" 2>/dev/null || true)
[ -n "$broker" ] && [ -n "$node" ] || { echo "bench/kc_profile.sh: no pid file of the broker or the node" >&2; exit 1; }
work=$(mktemp -d)
stamp=$(date +%s)
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
build/leaves serve --listen "127.0.0.1:$port" --data-dir "$work/data" --log-level warn \
  --kafka 127.0.0.1:9092 --kafka-topic "leaves-prof-$stamp" --kafka-ingest-topic "" \
  --cassandra 127.0.0.1:9042 --cassandra-keyspace "prof_$stamp" --cassandra-consistency one 2>"$work/server.log" &
server=$!
trap 'kill -TERM $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 300); do curl -fsS "$base/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
/usr/bin/python3 bench/seed.py "$base" "$seed" "$work/ids.txt" >/dev/null
/usr/bin/python3 bench/settle.py "$base" 300 >/dev/null
raw_read() { build/leaves_bench_cql 127.0.0.1:9042 read "prof_$stamp.leaves" $((seed * 5)) 64 "$work/ids.txt"; }
for w in healthz get post; do
  case $w in
    post) args=(-s bench/post.lua "$base") ;;
    get) export LEAVES_BENCH_IDS="$work/ids.txt"; args=(-s bench/get.lua "$base") ;;
    healthz) args=("$base/healthz") ;;
  esac
  if [ $w = get ]; then echo "raw CQL read before GET: $(raw_read)"; fi
  wrk -t2 -c64 -d10s "${args[@]}" >"$work/wrk-$w.txt" &
  load=$!
  sleep 2
  /usr/bin/python3 bench/cpu_split.py 3 leaves=$server broker=$broker node=$node wrk=$load >"$work/cpu-$w.txt"
  wait $load
  rps=$(awk '/Requests\/sec/ {print $2}' "$work/wrk-$w.txt")
  echo "$w: $rps requests/s"
  sed 's/^/    /' "$work/cpu-$w.txt"
  if [ $w = get ]; then echo "raw CQL read after GET: $(raw_read)"; fi
  /usr/bin/python3 bench/settle.py "$base" 300 >/dev/null
  if [ $w != healthz ]; then
    wrk -t2 -c64 -d7s "${args[@]}" >/dev/null &
    load=$!
    sleep 2
    if ! perf record -F 300 --call-graph dwarf,32768 -p "$server" -o "$work/perf-$w.data" -- sleep 3 2>"$work/perf.err"; then
      echo "bench/kc_profile.sh: perf record failed: $(tail -3 "$work/perf.err")" >&2
      exit 1
    fi
    wait $load
    perf script -i "$work/perf-$w.data" 2>/dev/null |
      scripts/flamegraph --title "leaves on Kafka + Cassandra, $w ($rps requests/s unprofiled), wrk -t2 -c64" >"$out/kc-$w.svg"
    /usr/bin/python3 bench/settle.py "$base" 300 >/dev/null
  fi
done
echo "raw produce of the same broker: $(build/leaves_bench_produce 127.0.0.1:9092 "leaves-prof-$stamp-raw" 100000 64 2>/dev/null | tr '\n' ' ')"
