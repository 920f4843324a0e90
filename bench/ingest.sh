#!/usr/bin/env bash
# Ingest benchmarks (issue 14): one server with the registry, bench/ingest.py
# against it. Needs scripts/registry started; with KAFKA=127.0.0.1:9092 the
# server's log and ingest topic are on that broker (scripts/kafka start) and
# the raw consume rate of the topic is measured too.
#   bench/ingest.sh            Knobs: N (records per workload, default 20000), KAFKA
set -euo pipefail
cd "$(dirname "$0")/.."
n="${N:-20000}"
cmake --build build --target leaves >/dev/null
scripts/registry status >/dev/null 2>&1 || { echo "start the registry first: scripts/registry start" >&2; exit 1; }
work=$(mktemp -d)
token="bench-admin-token-$(date +%s%N)"
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
args=(--listen "127.0.0.1:$port" --data-dir "$work/data" --log-level warn --schema-registry "$(scripts/registry url)"
      --rate-limit 0)
topic=leaves-ingest
if [ -n "${KAFKA:-}" ]; then
  name="leaves-bench-$(date +%s)"
  topic="$name-ingest"
  args+=(--kafka "$KAFKA" --kafka-topic "$name" --kafka-group "$name" --kafka-ingest-topic "$topic"
         --kafka-dlq-topic "$name-dlq" --kafka-ingest-group "$name-ingest" --enrich-group "$name-enrich")
fi
LEAVES_ADMIN_TOKEN="$token" build/leaves serve "${args[@]}" 2>>"$work/server.log" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 300); do curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
echo "mode: ${KAFKA:+Kafka }${KAFKA:-embedded}, $(nproc) cores, $n records a workload, commit $(git rev-parse --short HEAD)"
KAFKA="${KAFKA:-}" /usr/bin/python3 bench/ingest.py "http://127.0.0.1:$port" "$token" "$topic" "$n"
