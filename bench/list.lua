-- wrk: GET /v1/leaves?tag=tagN&limit=30 over 20 tags.
function init(args) n = 0 end
function request()
  n = n + 1
  return wrk.format("GET", "/v1/leaves?tag=tag" .. (n % 20) .. "&limit=30")
end
