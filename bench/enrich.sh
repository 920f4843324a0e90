#!/usr/bin/env bash
# Enrichment's rate (docs/fetch.md, BENCHMARKS.md "Enrichment"): N leaves
# saved by URL alone, spread over HOSTS loopback addresses of one page server
# (bench/pages.py: the fixture article, 5 KB), until every one is answered;
# pages/s and the server's CPU per page (the whole pipeline: the save, the
# fetch, the extraction, the answer's projection and indexing), beside the
# fetch client's own rate against the same page server (leaves_bench_fetch:
# fetch only, then fetch + extraction, one thread). Loopback only; stops
# what it starts. Outside CI.
#   N=1000 HOSTS=4 CONCURRENCY=4 bench/enrich.sh
set -euo pipefail
export LEAVES_ANONYMOUS=all
cd "$(dirname "$0")/.."
N=${N:-1000}
HOSTS=${HOSTS:-4}
CONCURRENCY=${CONCURRENCY:-4}
PORT=${PORT:-18310}
PAGES_PORT=${PAGES_PORT:-18311}
WORK=${WORK:-/tmp/leaves-enrich-bench}
BASE="http://127.0.0.1:$PORT"
rm -rf "$WORK"
mkdir -p "$WORK"
addrs=()
for i in $(seq 1 "$HOSTS"); do addrs+=("127.0.0.$i"); done
/usr/bin/python3 bench/pages.py "$PAGES_PORT" "${addrs[@]}" &
PAGES=$!
trap 'kill ${SERVER:-0} $PAGES 2>/dev/null || true' EXIT
sleep 0.5

echo "== the fetch client's own rate (the limit), one thread, against the same page server"
build/leaves_bench_fetch "http://127.0.0.1:$PAGES_PORT/limit" "$((N / 2))"

echo "== enrichment: $N leaves over $HOSTS hosts, --enrich-concurrency $CONCURRENCY, no wait between a host's pages"
build/leaves serve --listen "127.0.0.1:$PORT" --data-dir "$WORK/data" --enrich true --fetch-allow-private \
  --enrich-host-interval-ms 0 --enrich-concurrency "$CONCURRENCY" >"$WORK/serve.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 300); do curl -fsS "$BASE/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
cpu() { awk '{print $14 + $15}' "/proc/$SERVER/stat"; }
enriched() { curl -fsS "$BASE/metrics" | awk '/^leaves_enrich_total\{outcome="enriched"\}/{print $2}'; }
CPU0=$(cpu)
T0=$(date +%s.%N)
/usr/bin/python3 - "$BASE" "$N" "$PAGES_PORT" "${addrs[@]}" <<'PY'
import json, sys, urllib.request
base, n, port, addrs = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
items = [{"url": "http://%s:%s/page/%d" % (addrs[i % len(addrs)], port, i)} for i in range(n)]
for at in range(0, n, 1000):
    req = urllib.request.Request(base + "/v1/bulk/leaves", data=json.dumps({"items": items[at:at + 1000]}).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    urllib.request.urlopen(req, timeout=120).read()
PY
while :; do
  done_n=$(enriched)
  [ "${done_n%.*}" -ge "$N" ] && break
  sleep 0.1
done
T1=$(date +%s.%N)
CPU1=$(cpu)
TICKS=$(getconf CLK_TCK)
awk -v n="$N" -v t0="$T0" -v t1="$T1" -v c0="$CPU0" -v c1="$CPU1" -v hz="$TICKS" 'BEGIN {
  s = t1 - t0; printf "enriched %d pages in %.2f s: %.1f pages/s; server CPU %.2f ms a page (the whole pipeline)\n", n, s, n / s, (c1 - c0) / hz * 1000 / n }'
curl -fsS "$BASE/metrics" | grep '^leaves_enrich' || true
echo "server RSS: $(awk '/VmRSS/{print $2, $3}' /proc/$SERVER/status)"
