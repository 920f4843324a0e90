#include "leaves/api/params.h"

#include <algorithm>
#include <charconv>

#include "leaves/api/router.h"
#include "leaves/base/time.h"

namespace leaves::api {

error bad_query(std::string msg) { return make_error(errc::invalid_argument, std::move(msg), "invalid_query"); }

result<params> parse_query(std::string_view q) {
  params out;
  if (q.size() > 8192) return bad_query("query string too long");
  while (!q.empty()) {
    const auto amp = q.find('&');
    const auto item = q.substr(0, amp);
    q = amp == std::string_view::npos ? std::string_view() : q.substr(amp + 1);
    if (item.empty()) continue;
    const auto eq = item.find('=');
    std::string k, v;
    if (!percent_decode(item.substr(0, eq), k, true) ||
        !percent_decode(eq == std::string_view::npos ? std::string_view() : item.substr(eq + 1), v, true)) {
      return bad_query("malformed percent-encoding in query");
    }
    if (out.size() == 64) return bad_query("too many query parameters");
    out.emplace_back(std::move(k), std::move(v));
  }
  return out;
}

const std::string* param(const params& p, std::string_view name) {
  for (const auto& [k, v] : p) {
    if (k == name) return &v;
  }
  return nullptr;
}

result<std::optional<bool>> bool_param(const params& p, std::string_view name) {
  const auto* v = param(p, name);
  if (!v) return std::optional<bool>{};
  if (*v == "true" || *v == "1") return std::optional<bool>(true);
  if (*v == "false" || *v == "0") return std::optional<bool>(false);
  return bad_query(std::string(name) + " must be true, false, 1 or 0");
}

result<std::optional<int64_t>> int_param(const params& p, std::string_view name, int64_t lo, int64_t hi) {
  const auto* v = param(p, name);
  if (!v) return std::optional<int64_t>{};
  int64_t x = 0;
  auto r = std::from_chars(v->data(), v->data() + v->size(), x);
  if (r.ec != std::errc() || r.ptr != v->data() + v->size() || x < lo || x > hi) {
    return bad_query(std::string(name) + " must be an integer from " + std::to_string(lo) + " to " +
                     std::to_string(hi));
  }
  return std::optional<int64_t>(x);
}

result<std::optional<int64_t>> time_param(const params& p, std::string_view name) {
  const auto* v = param(p, name);
  if (!v) return std::optional<int64_t>{};
  if (auto t = parse_iso8601(*v)) return std::optional<int64_t>(*t);
  return bad_query(std::string(name) + " must be an ISO 8601 time, e.g. 2024-01-31T00:00:00Z");
}

std::vector<std::string> params_named(const params& p, std::string_view name) {
  std::vector<std::string> out;
  for (const auto& [k, v] : p) {
    if (k == name) out.push_back(v);
  }
  return out;
}

status only_known(const params& p, const std::vector<std::string_view>& known) {
  for (const auto& [k, v] : p) {
    if (std::find(known.begin(), known.end(), k) == known.end()) return bad_query("unknown query parameter: " + k);
  }
  return ok_status();
}

}  // namespace leaves::api
