#!/usr/bin/env bash
# Ingest benchmarks (issue 14). Needs scripts/registry started.
#  1. Embedded, one server (bench/ingest.py): POST /v1/bulk/leaves beside the
#     REST-Proxy produce of JSON and of Avro records (batches of 100), and the
#     time until the ingester saved them all.
#  2. With KAFKA=127.0.0.1:9092 (scripts/kafka start): for JSON and for Avro
#     (the Confluent client's AvroSerializer, scripts/pyenv), N records are
#     produced to a fresh topic first; then a server starts with it as its
#     ingest topic, and the time until it saved all N is its ingest rate,
#     beside the raw consume rate of the same topic (kcat, beginning to end).
#   bench/ingest.sh            Knobs: N (records a workload, default 20000), KAFKA
set -euo pipefail
cd "$(dirname "$0")/.."
n="${N:-20000}"
cmake --build build --target leaves >/dev/null
scripts/registry status >/dev/null 2>&1 || { echo "start the registry first: scripts/registry start" >&2; exit 1; }
registry=$(scripts/registry url)
work=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill -TERM $pid 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
token="bench-admin-token-$(date +%s%N)"
serve() {  # extra serve args...; sets port and pid
  port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  LEAVES_ADMIN_TOKEN="$token" build/leaves serve --listen "127.0.0.1:$port" --data-dir "$work/data-$port" \
    --log-level warn --rate-limit 0 --schema-registry "$registry" "$@" 2>>"$work/server.log" &
  pid=$!
  for _ in $(seq 1 300); do curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
}
stop() { kill -TERM "$pid"; wait "$pid" || true; pid=""; }

echo "commit $(git rev-parse --short HEAD), $(nproc) cores, $n records a workload"
echo
echo "### Embedded: produce over HTTP, and the ingester behind it"
echo
serve
KAFKA= /usr/bin/python3 bench/ingest.py "http://127.0.0.1:$port" "$token" leaves-ingest "$n"
stop
[ -z "${KAFKA:-}" ] && exit 0

python=$(scripts/pyenv)
/usr/bin/python3 - "$n" "$work" <<'PY'
import json, sys
n, work = int(sys.argv[1]), sys.argv[2]
recs = [{"url": "https://bench.example/k/%d" % i, "title": "k %d" % i, "tags": ["tag%d" % (i % 20)],
         "content_text": "x" * 400} for i in range(n)]
json.dump(recs, open(work + "/records.json", "w"))
json.dump({"type": "record", "name": "Leaves", "namespace": "org.anant.demo.leaves", "fields": [
    {"name": "url", "type": "string"}, {"name": "title", "type": "string"},
    {"name": "tags", "type": ["null", {"type": "array", "items": "string"}]},
    {"name": "content_text", "type": ["string", "null"]}]}, open(work + "/schema.avsc", "w"))
PY
echo
echo "### Kafka: a topic of $n records read by a server starting on it"
echo
echo "| format | produce (client) records/s | leaves ingest records/s | raw consume of the topic (kcat) records/s | ingest / raw |"
echo "|---|---|---|---|---|"
for fmt in json avro; do
  name="leaves-bench-$fmt-$(date +%s)"
  build/leaves topics create --kafka "$KAFKA" --kafka-topic "$name-ingest" --partitions 8 >/dev/null
  p0=$(date +%s.%N)
  if [ "$fmt" = json ]; then
    "$python" tests/system/avro_client.py produce-json "$KAFKA" "$name-ingest" "$work/records.json" >/dev/null
  else
    "$python" tests/system/avro_client.py produce "$registry" "$KAFKA" "$name-ingest" "$work/schema.avsc" \
      "$work/records.json" >/dev/null
  fi
  p1=$(date +%s.%N)
  r0=$(date +%s.%N)
  got=$(kcat -b "$KAFKA" -C -t "$name-ingest" -o beginning -e -q -f '%o\n' | wc -l)
  r1=$(date +%s.%N)
  serve --kafka "$KAFKA" --kafka-topic "$name" --kafka-group "$name" --kafka-ingest-topic "$name-ingest" \
    --kafka-dlq-topic "$name-dlq" --kafka-ingest-group "$name-ingest" --enrich-group "$name-enrich"
  i0=$(date +%s.%N)
  /usr/bin/python3 - "http://127.0.0.1:$port" "$token" "$n" <<'PY'
import json, sys, time, urllib.request
base, token, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
deadline = time.monotonic() + 900
while True:
    req = urllib.request.Request(base + "/v1/ops/ingest", headers={"Authorization": "Bearer " + token})
    v = json.load(urllib.request.urlopen(req, timeout=30))["ingest"]
    if v["saved"] + v["dead_lettered"] >= n:
        assert v["dead_lettered"] == 0, v
        break
    assert time.monotonic() < deadline, v
    time.sleep(0.02)
PY
  i1=$(date +%s.%N)
  stop
  awk -v f="$fmt" -v n="$n" -v got="$got" -v p0="$p0" -v p1="$p1" -v r0="$r0" -v r1="$r1" -v i0="$i0" -v i1="$i1" \
    'BEGIN {ing = n / (i1 - i0); raw = got / (r1 - r0);
            printf "| %s | %.0f | %.0f | %.0f | %.0f%% |\n", f, n / (p1 - p0), ing, raw, 100 * ing / raw}'
done
