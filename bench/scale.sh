#!/usr/bin/env bash
# Memory and scale (BENCHMARKS.md, "Memory and scale"): for each corpus size
# (default 10,000, 100,000 and 1,000,000 leaves of scripts/corpus, suffixed
# copies past the package count), a fresh embedded server imports the corpus
# and waits until every projection caught up; then its RSS idle and on disk,
# and the rates of /healthz, POST, GET by id, list by tag and a one-word
# search with facets (wrk -t2 -c64, DURATION s each), with the peak RSS
# under that load. At the first size it also holds HOLD_CONNS keep-alive
# connections and then SUBSCRIBERS SSE subscribers receiving 1,000 events
# each (bench/hold.py), each on a freshly restarted server, for the cost of
# a connection and of a subscriber.
# Outside CI: the 1M size takes about 20 minutes. Loopback only.
#   SIZES="10000 100000 1000000" DURATION=5 WARMUP=2 PORT=18400 WORK=/tmp/leaves-scale bench/scale.sh
set -euo pipefail
# Benchmarks measure the server's paths without tokens: anonymous callers may
# read and write (docs/auth.md, --anonymous).
export LEAVES_ANONYMOUS=all
cd "$(dirname "$0")/.."
SIZES=${SIZES:-"10000 100000 1000000"}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-2}  # s of the same load before each rate, not counted
PORT=${PORT:-18400}
WORK=${WORK:-/tmp/leaves-scale}
HOLD_CONNS=${HOLD_CONNS:-1000}
SUBSCRIBERS=${SUBSCRIBERS:-500}
BASE="http://127.0.0.1:$PORT"
ulimit -n "$(ulimit -Hn)"  # the held connections and subscribers need descriptors
cmake --build build --target leaves >/dev/null
rm -rf "$WORK"
mkdir -p "$WORK"
SERVER=0
trap 'kill -TERM $SERVER 2>/dev/null || true; kill ${SAMPLER:-0} 2>/dev/null || true' EXIT

largest=$(for n in $SIZES; do echo "$n"; done | sort -n | tail -1)
echo "== corpus: $largest leaves" >&2
scripts/corpus --count "$largest" -o "$WORK/corpus.jsonl" >&2

rss_mib() { awk '/VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$SERVER/status"; }
# Samples the server's RSS every 0.2 s into $WORK/rss until killed.
sample() { while true; do awk '/VmRSS/ {print $2}' "/proc/$SERVER/status" 2>/dev/null; sleep 0.2; done >"$WORK/rss"; }
wrk_rate() {  # wrk args...; prints requests/s and the peak RSS (MiB) while it ran
  # The requests the previous wrk left queued (it closes its connections, the
  # server still answers them) would refuse this run's first searches (503).
  sleep 1
  # A warm-up of the same load, not counted: a fresh server's first seconds
  # (cold caches, the OS's and RocksDB's) moved GET by id at 1M from 24k/s to
  # 31k/s between two 5 s runs in a row.
  if [ "$WARMUP" != 0 ]; then wrk -t2 -c64 -d"${WARMUP}s" "$@" >/dev/null; sleep 1; fi
  sample & SAMPLER=$!
  local out
  out=$(wrk -t2 -c64 -d"${DURATION}s" "$@")
  kill $SAMPLER; wait $SAMPLER 2>/dev/null || true
  local rps non2xx
  rps=$(echo "$out" | awk '/Requests\/sec/ {printf "%.0f", $2}')
  non2xx=$(echo "$out" | awk '/Non-2xx/ {print $5}')
  [ -z "$non2xx" ] || echo "  ($non2xx non-2xx answers to $*)" >&2
  echo "$rps $(sort -n "$WORK/rss" | tail -1 | awk '{printf "%.0f", $1 / 1024}')"
}

start_server() {
  # --search-cache 0: every search below is computed (wrk repeats one URL,
  # which the cache would otherwise answer after the first).
  build/leaves serve --listen "127.0.0.1:$PORT" --data-dir "$WORK/data" --log-level warn --search-cache 0 \
    >>"$WORK/serve.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 1 600); do curl -fsS "$BASE/readyz" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "scale.sh: the server did not become ready:" >&2
  tail -5 "$WORK/serve.log" >&2
  exit 1
}

first=1
rows=()
for n in $SIZES; do
  echo "== $n leaves" >&2
  head -n "$n" "$WORK/corpus.jsonl" >"$WORK/c.jsonl"
  rm -rf "$WORK/data"
  start_server
  t0=$(date +%s.%N)
  build/leaves import "$WORK/c.jsonl" --server "$BASE" >"$WORK/import.log" 2>&1 || { cat "$WORK/import.log" >&2; exit 1; }
  /usr/bin/python3 bench/settle.py "$BASE" 7200 >&2
  t1=$(date +%s.%N)
  sleep 2
  idle=$(rss_mib)
  disk=$(du -sm "$WORK/data" | cut -f1)
  # Ids of up to 100,000 of the corpus's leaves (a leaf's id is the MD5 of its url), and the 20 biggest tags.
  /usr/bin/python3 -c '
import hashlib, json, sys
with open(sys.argv[1]) as f, open(sys.argv[2], "w") as out:
    for i, line in enumerate(f):
        if i == 100000: break
        out.write(hashlib.md5(json.loads(line)["url"].encode()).hexdigest() + "\n")
' "$WORK/c.jsonl" "$WORK/ids.txt"
  tags=$(curl -fsS "$BASE/v1/tags?limit=20" | /usr/bin/python3 -c '
import json, sys
body = json.load(sys.stdin)
items = body["items"] if isinstance(body, dict) else body
print(",".join(t["tag"] for t in items))')
  read -r healthz h_rss < <(wrk_rate "$BASE/healthz")
  read -r post p_rss < <(wrk_rate -s bench/post.lua "$BASE")
  /usr/bin/python3 bench/settle.py "$BASE" 600 >&2
  read -r get g_rss < <(LEAVES_BENCH_IDS="$WORK/ids.txt" wrk_rate -s bench/get.lua "$BASE")
  read -r list l_rss < <(LEAVES_BENCH_TAGS="$tags" wrk_rate -s bench/list.lua "$BASE")
  read -r search s_rss < <(wrk_rate "$BASE/v1/search?q=python&facets=tags,users,domains&limit=20")
  read -r home hp_rss < <(wrk_rate "$BASE/v1/search?facets=tags,users&facet_limit=40&limit=30")
  peak=$(printf '%s\n' "$h_rss" "$p_rss" "$g_rss" "$l_rss" "$s_rss" "$hp_rss" | sort -n | tail -1)
  pct() { awk -v a="$1" -v b="$healthz" 'BEGIN {printf "%.0f%%", 100 * a / b}'; }
  rows+=("| $n | $(awk -v a="$t0" -v b="$t1" -v n="$n" 'BEGIN {printf "%.0f s (%.0f/s)", b - a, n / (b - a)}') | $idle | $peak | $disk | $healthz | $post ($(pct "$post")) | $get ($(pct "$get")) | $list ($(pct "$list")) | $search ($(pct "$search")) | $home ($(pct "$home")) |")
  echo "${rows[-1]}" >&2
  kill -TERM $SERVER; wait $SERVER || true
  if [ $first = 1 ]; then
    # On a server restarted on the same data, so that memory its allocator
    # kept from the load above does not hide what the connections take.
    first=0
    start_server
    held_conns=$(/usr/bin/python3 bench/hold.py conns "$BASE" "$SERVER" "$HOLD_CONNS")
    kill -TERM $SERVER; wait $SERVER || true
    start_server
    held_subs=$(/usr/bin/python3 bench/hold.py subscribers "$BASE" "$SERVER" "$SUBSCRIBERS" 1000)
    kill -TERM $SERVER; wait $SERVER || true
  fi
done

echo
echo "$(nproc) cores; wrk -t2 -c64 -d${DURATION}s per rate (wrk shares the cores with the server); RSS in MiB"
echo
echo "| leaves | import, until every projection caught up | RSS idle | RSS peak under load | data dir MiB | /healthz | POST | GET by id | list by tag | search, one word + facets | home page: newest 30 + facets |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
echo
echo "at $(echo "$SIZES" | awk '{print $1}') leaves, each on a freshly started server:"
echo "  $held_conns"
echo "  $held_subs"
