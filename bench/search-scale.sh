#!/usr/bin/env bash
# How a search's rate grows with the corpus (BENCHMARKS.md, "Search at 10k
# and 1M leaves"): for each data dir given (an embedded server's, already
# imported and indexed; bench/scale.sh or `leaves import` + `leaves reindex`
# make them), a server on it with --search-cache 0 (every search computed),
# then wrk -t2 -c16 for DURATION s each on /healthz (the limit), a one-word
# search with facets, the same newest first, and the home page (everything,
# newest first, facets), with and without exact=true. Extra server flags
# from SERVER_ARGS (e.g. "--search-exact-up-to 1000"). Loopback only.
#   DURATION=5 bench/search-scale.sh /tmp/s1m/t10k /tmp/s1m/t1m
set -euo pipefail
export LEAVES_ANONYMOUS=all
cd "$(dirname "$0")/.."
DURATION=${DURATION:-5}
PORT=${PORT:-18430}
BASE="http://127.0.0.1:$PORT"
SERVER=0
trap 'kill -TERM $SERVER 2>/dev/null || true' EXIT
rate() { wrk -t2 -c16 -d"${DURATION}s" "$@" | awk '/Requests\/sec/ {printf "%.0f", $2}'; }
total() { curl -fsS "$1" | /usr/bin/python3 -c 'import json,sys; b=json.load(sys.stdin); s=b.get("sample"); print(b["total"], s["matches"] if s else "all")'; }
echo "| data dir | leaves | /healthz | one word + facets | one word, newest first | home page | one word, exact=true | home page, exact=true |"
echo "|---|---|---|---|---|---|---|---|"
for dir in "$@"; do
  # shellcheck disable=SC2086
  build/leaves serve --listen "127.0.0.1:$PORT" --data-dir "$dir" --log-level warn --search-cache 0 ${SERVER_ARGS:-} \
    >"$dir.search-scale.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 1 600); do curl -fsS "$BASE/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
  word="$BASE/v1/search?q=python&facets=tags,users,domains&limit=20"
  newest="$word&sort=created"
  home="$BASE/v1/search?facets=tags,users&facet_limit=40&limit=30"
  read -r n _ < <(total "$home&exact=true")
  cells=("$(rate "$BASE/healthz")")
  for u in "$word" "$newest" "$home" "$word&exact=true" "$home&exact=true"; do
    read -r t s < <(total "$u")
    cells+=("$(rate "$u") (total $t, sample $s)")
  done
  echo "| $dir | $n | $(IFS='|'; echo "${cells[*]}" | sed 's/|/ | /g') |"
  kill -TERM $SERVER; wait $SERVER || true
done
