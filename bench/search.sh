#!/usr/bin/env bash
# Search benchmarks (BENCHMARKS.md, "Search"): N corpus leaves (default
# 100,000; scripts/corpus, suffixed copies past the package count), then
#  1. leaves reindex (events/s) beside the same documents added straight to
#     Xapian by bench/search_bench.cpp (the limit);
#  2. each query type with facets through HTTP (wrk: p50, p99, rate) beside
#     /healthz and beside the same query run straight on the index;
#  3. the index's size on disk and the server's RSS.
# Outside CI: it takes a few minutes. Loopback only; stops what it starts.
#   N=100000 PORT=18300 WORK=/tmp/leaves-search-bench DURATION=10 bench/search.sh
set -euo pipefail
# Benchmarks measure the server's paths without tokens: anonymous callers may
# read and write (docs/auth.md, --anonymous).
export LEAVES_ANONYMOUS=all
cd "$(dirname "$0")/.."
N=${N:-100000}
PORT=${PORT:-18300}
WORK=${WORK:-/tmp/leaves-search-bench}
DURATION=${DURATION:-10}
BASE="http://127.0.0.1:$PORT"
rm -rf "$WORK"
mkdir -p "$WORK"

start() {
  build/leaves serve --listen "127.0.0.1:$PORT" --data-dir "$WORK/data" "$@" >"$WORK/serve.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 1 600); do
    if curl -fsS "$BASE/readyz" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  echo "search.sh: the server did not become ready" >&2
  exit 1
}
stop() { kill -TERM "$SERVER"; wait "$SERVER" || true; }
trap 'kill -TERM ${SERVER:-0} 2>/dev/null || true' EXIT

echo "== corpus: $N leaves"
scripts/corpus --count "$N" -o "$WORK/corpus.jsonl"
start --search false
(build/leaves import "$WORK/corpus.jsonl" --server "$BASE" 2>/dev/null || true) | head -3
stop

echo "== index rate"
build/leaves reindex --data-dir "$WORK/data" 2>/dev/null
build/leaves_bench_search build "$WORK/corpus.jsonl" "$WORK/raw-xapian"
echo "index size: $(du -sm "$WORK/data/search" | cut -f1) MiB ($(du -sb "$WORK/data/search" | cut -f1) bytes, $((
  $(du -sb "$WORK/data/search" | cut -f1) / N)) bytes per leaf); raw: $(du -sm "$WORK/raw-xapian" | cut -f1) MiB"

# wrk repeats one request, which the result cache (docs/search.md) answers
# after the first: the queries run with --search-cache 0, which is what a
# search costs when the index has committed since it last ran (or it is new).
echo "== query latency through HTTP (wrk -t1 -c4 -d${DURATION}s, facets tags,users,domains; --search-cache 0)"
start --search-cache 0
F="facets=tags,users,domains&limit=20"
run() {
  local name="$1" url="$2"
  local out
  out=$(wrk -t1 -c4 -d"${DURATION}s" --latency "$url")
  printf "http   %-22s p50 %8s  p99 %8s  %10s req/s\n" "$name" \
    "$(echo "$out" | awk '$1=="50%"{print $2}')" "$(echo "$out" | awk '$1=="99%"{print $2}')" \
    "$(echo "$out" | awk '/Requests\/sec/{print $2}')"
}
run "/healthz" "$BASE/healthz"
run "one word" "$BASE/v1/search?q=python&$F"
run "two words (all)" "$BASE/v1/search?q=python+library&$F"
run "two words (any)" "$BASE/v1/search?q=python+library&match=any&$F"
run "phrase" "$BASE/v1/search?q=%22command+line%22&$F"
run "tag filter + word" "$BASE/v1/search?q=module&tag=python&$F"
run "empty query + filter" "$BASE/v1/search?tag=libs&$F"
# The requests the Leaves Reader's search page makes (src/leaves/ui/app.js,
# apiSearchQuery): 30 per page, facets tags and users, 40 of each.
U="limit=30&facets=tags,users&facet_limit=40"
run "UI: home (newest)" "$BASE/v1/search?sort=created&order=desc&$U"
# What an anonymous visitor's home page asks (public leaves only: the API adds public=true).
run "UI: home, public only" "$BASE/v1/search?sort=created&order=desc&public=true&$U"
run "UI: one word" "$BASE/v1/search?q=python&sort=relevance&$U"
run "UI: word + tag click" "$BASE/v1/search?q=python&tag=python&sort=relevance&$U"
run "UI: tag, A-Z" "$BASE/v1/search?tag=libs&sort=title&order=asc&$U"
echo "server RSS: $(awk '/VmRSS/{print $2, $3}' /proc/$SERVER/status)"
stop

echo "== the Leaves Reader's requests repeated, with the result cache (the default)"
start
run "/healthz" "$BASE/healthz"
run "UI: home (newest)" "$BASE/v1/search?sort=created&order=desc&$U"
run "UI: one word" "$BASE/v1/search?q=python&sort=relevance&$U"
echo "searches answered from the result cache: $(curl -fsS "$BASE/metrics" | awk '/^leaves_searches_cached_total/{print $2}')"
stop

echo "== the same queries straight on the index (one thread, 300 each)"
build/leaves_bench_search query "$WORK/data/search" 300
