-- wrk: GET /v1/leaves?tag=T&limit=30, T over 20 tags (tag0..tag19, the tags
-- of bench/seed.py), or over the comma-separated LEAVES_BENCH_TAGS.
function init(args)
  n = 0
  tags = {}
  local given = os.getenv("LEAVES_BENCH_TAGS")
  if given and given ~= "" then
    for t in string.gmatch(given, "[^,]+") do tags[#tags + 1] = t end
  else
    for i = 0, 19 do tags[#tags + 1] = "tag" .. i end
  end
end
function request()
  n = n + 1
  return wrk.format("GET", "/v1/leaves?tag=" .. tags[(n % #tags) + 1] .. "&limit=30")
end
