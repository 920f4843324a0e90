#!/usr/bin/env bash
# Ack-to-searchable (BENCHMARKS.md, "Search"): N corpus leaves loaded
# (default 10,000), then writes at RATE/s (default 1,000) for DURATION s with
# every 10th leaf probed by a search (leaves_bench_searchable), beside
# ack-to-SSE at the same rate in the same run (leaves_bench_sse: the event
# reaching the stream, the same log without the index). Then the index's size
# and the server's RSS. Outside CI; loopback only; stops what it starts.
#   N=100000 RATE=1000 DURATION=20 PORT=18310 bench/searchable.sh
set -euo pipefail
# Benchmarks measure the server's paths without tokens: anonymous callers may
# read and write (docs/auth.md, --anonymous).
export LEAVES_ANONYMOUS=all
cd "$(dirname "$0")/.."
N=${N:-10000}
RATE=${RATE:-1000}
DURATION=${DURATION:-20}
PORT=${PORT:-18310}
WORK=${WORK:-/tmp/leaves-searchable-bench}
BASE="http://127.0.0.1:$PORT"
rm -rf "$WORK"
mkdir -p "$WORK"
trap 'kill -TERM ${SERVER:-0} 2>/dev/null || true' EXIT

scripts/corpus --count "$N" -o "$WORK/corpus.jsonl" >/dev/null
build/leaves serve --listen "127.0.0.1:$PORT" --data-dir "$WORK/data" >"$WORK/serve.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 600); do
  if curl -fsS "$BASE/readyz" >/dev/null 2>&1; then break; fi
  sleep 0.1
done
build/leaves import "$WORK/corpus.jsonl" --server "$BASE" 2>&1 | tail -1
# Let the index take in the import before the timed part.
for _ in $(seq 1 1200); do
  total=$(curl -fsS "$BASE/v1/search?limit=1" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])')
  [ "$total" -ge "$N" ] && break
  sleep 0.1
done
echo "== ack-to-searchable, $RATE writes/s for $DURATION s, $N leaves loaded"
build/leaves_bench_searchable 127.0.0.1 "$PORT" "$RATE" "$DURATION" 8 10
echo "== ack-to-SSE at the same rate (the limit: the log and the stream without the index)"
build/leaves_bench_sse 127.0.0.1 "$PORT" "$RATE" "$DURATION" 8
echo "index size: $(du -sm "$WORK/data/search" | cut -f1) MiB; server RSS: $(awk '/VmRSS/{print int($2/1024)}' "/proc/$SERVER/status") MiB"
kill -TERM "$SERVER"
wait "$SERVER" || true
