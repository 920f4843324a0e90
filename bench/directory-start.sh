#!/usr/bin/env bash
# The user directory's start with and without its model (issue 12): a data
# dir with N leaves (default 100,000), restarted ROUNDS times each way; prints
# the directory's own start line ("... log records read, in X ms").
#   bench/directory-start.sh [N] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-100000}"
rounds="${2:-3}"
bin=build/leaves
work="$(mktemp -d /tmp/leaves-dirstart.XXXXXX)"
listen=127.0.0.1:18181
trap 'pkill -f "data-dir $work/data" || true; rm -rf "$work"' EXIT
scripts/corpus --count "$n" -o "$work/corpus.jsonl" >/dev/null
start() {
  "$bin" serve --data-dir "$work/data" --listen "$listen" --search false --anonymous all >"$work/serve.log" 2>&1 &
  for _ in $(seq 1 600); do
    curl -sf "http://$listen/healthz" >/dev/null && return 0
    sleep 0.1
  done
  echo "the server did not start: $(tail -3 "$work/serve.log")" >&2
  exit 1
}
stop() {
  pkill -f "data-dir $work/data" || true
  while pgrep -f "data-dir $work/data" >/dev/null; do sleep 0.1; done
}
start
"$bin" import "$work/corpus.jsonl" --server "http://$listen" | tail -1
stop
for r in $(seq 1 "$rounds"); do
  start; echo "with the model:    $(grep -o 'directory: .*' "$work/serve.log")"; stop
  rm -rf "$work/data/directory"
  start; echo "without the model: $(grep -o 'directory: .*' "$work/serve.log")"; stop
done
