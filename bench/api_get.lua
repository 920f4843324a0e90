-- wrk: GET /api/leaves/{id} over the ids in bench-ids.txt (written by run.sh).
function init(args)
  ids = {}
  for line in io.lines(os.getenv("LEAVES_BENCH_IDS") or "bench-ids.txt") do ids[#ids + 1] = line end
  n = math.random(1, #ids)
end
function request()
  n = n % #ids + 1
  return wrk.format("GET", "/api/leaves/" .. ids[n])
end
