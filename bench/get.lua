-- wrk: GET <prefix>{id} over the ids in bench-ids.txt (written by run.sh); the prefix is
-- LEAVES_BENCH_PREFIX, default /v1/leaves/ (run.sh also uses /api/leaves/).
function init(args)
  prefix = os.getenv("LEAVES_BENCH_PREFIX") or "/v1/leaves/"
  ids = {}
  for line in io.lines(os.getenv("LEAVES_BENCH_IDS") or "bench-ids.txt") do ids[#ids + 1] = line end
  n = math.random(1, #ids)
end
function request()
  n = n % #ids + 1
  return wrk.format("GET", prefix .. ids[n])
end
