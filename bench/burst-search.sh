#!/usr/bin/env bash
# Search right after a burst of writes (BENCHMARKS.md, "A burst of writes
# split by id"): an embedded server on an existing data dir (for instance the
# 1M one bench/scale.sh leaves in /tmp/leaves-scale/data) takes DURATION s of
# POSTs (bench/post.lua, wrk -t2 -c64), waits until every projection caught
# up, then measures /healthz, a one-word search with facets and the home
# page (wrk -t2 -c64, DURATION s each), every search computed
# (--search-cache 0). Each run adds its burst to the data dir.
# Outside CI. Loopback only.
#   DATA=/tmp/leaves-scale/data DURATION=5 PORT=18400 bench/burst-search.sh
set -euo pipefail
export LEAVES_ANONYMOUS=all
cd "$(dirname "$0")/.."
DATA=${DATA:-/tmp/leaves-scale/data}
DURATION=${DURATION:-5}
PORT=${PORT:-18400}
BASE="http://127.0.0.1:$PORT"
[ -d "$DATA" ] || { echo "burst-search.sh: no data dir $DATA (run bench/scale.sh first)" >&2; exit 2; }
cmake --build build --target leaves >/dev/null
build/leaves serve --listen "127.0.0.1:$PORT" --data-dir "$DATA" --log-level warn --search-cache 0 \
  >>"$DATA/../burst-search.log" 2>&1 &
SERVER=$!
trap 'kill -TERM $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 1200); do curl -fsS "$BASE/readyz" >/dev/null 2>&1 && break; sleep 0.5; done
/usr/bin/python3 bench/settle.py "$BASE" 3600 >&2
rate() {  # wrk args...: requests/s, and the non-2xx answers when there were any
  sleep 1  # what the previous wrk left queued would refuse this run's first searches
  wrk -t2 -c64 -d"${DURATION}s" "$@" | awk '/Requests\/sec/ {r = $2} /Non-2xx/ {n = $5} END {printf "%.0f", r; if (n) printf ", of which %s were not 2xx", n}'
}
echo "POST burst: $(rate -s bench/post.lua "$BASE")/s"
/usr/bin/python3 bench/settle.py "$BASE" 600 >&2
echo "| /healthz | one word + facets | home page |"
echo "|---|---|---|"
echo "| $(rate "$BASE/healthz") | $(rate "$BASE/v1/search?q=python&facets=tags,users,domains&limit=20") | $(rate "$BASE/v1/search?facets=tags,users&facet_limit=40&limit=30") |"
curl -fsS "$BASE/v1/search?q=python&limit=1" | /usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin)
print("python:", {k: d.get(k) for k in ("total", "total_exact", "sample")})'
