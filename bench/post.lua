-- wrk: POST /v1/leaves with a unique URL per request (spread over 20 tags).
local threads = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end
function init(args)
  math.randomseed(os.time() * 1000 + tid)
  prefix = "https://bench.example/wrk/" .. tid .. "-" .. math.random(1, 1000000000) .. "/"
  n = 0
end
function request()
  n = n + 1
  local body = '{"url":"' .. prefix .. n .. '","title":"bench ' .. n .. '","tags":["tag' .. (n % 20) .. '"]}'
  return wrk.format("POST", "/v1/leaves", {["Content-Type"] = "application/json"}, body)
end
