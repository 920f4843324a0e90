// Query-string parameters: parsing and typed reads with the errors every
// surface answers (400 invalid_query naming the parameter).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "leaves/base/result.h"

namespace leaves::api {

using params = std::vector<std::pair<std::string, std::string>>;

error bad_query(std::string msg);
// At most 64 parameters in at most 8 KiB, percent-decoded.
result<params> parse_query(std::string_view q);
// The first value of a parameter, or null.
const std::string* param(const params& p, std::string_view name);
// Every value of a repeatable parameter.
std::vector<std::string> params_named(const params& p, std::string_view name);
result<std::optional<bool>> bool_param(const params& p, std::string_view name);
result<std::optional<int64_t>> int_param(const params& p, std::string_view name, int64_t lo, int64_t hi);
result<std::optional<int64_t>> time_param(const params& p, std::string_view name);
// 400 naming the first parameter not in `known`.
status only_known(const params& p, const std::vector<std::string_view>& known);

}  // namespace leaves::api
