// Wall-clock time as milliseconds since the Unix epoch, and its ISO 8601 text
// form (UTC, "2019-08-02T21:45:12.000Z"). The clock is injectable so tests can
// pin time; the domain never reads a clock itself (commands carry their time).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace leaves {

class clock {
 public:
  virtual ~clock() = default;
  virtual int64_t now_ms() const = 0;
};

// The system's real-time clock. Thread-safe.
const clock& system_clock();

// Days since 1970-01-01 of a proleptic Gregorian date; 0 days in a month
// that does not exist.
int64_t days_from_civil(int64_t y, unsigned m, unsigned d);
unsigned days_in_month(int64_t y, unsigned m);

std::string format_iso8601(int64_t ms);
// Accepts "YYYY-MM-DDTHH:MM:SS[.fff][Z|+HH:MM]" and "YYYY-MM-DD"; nullopt when malformed.
std::optional<int64_t> parse_iso8601(std::string_view s);

}  // namespace leaves
