#include "leaves/base/log.h"

#include <atomic>
#include <cstdio>
#include <mutex>
#include <string>

#include "leaves/base/time.h"

namespace leaves {
namespace {
std::atomic<int> g_level{static_cast<int>(log_level::info)};
std::mutex g_mu;
const char* name(log_level l) {
  switch (l) {
    case log_level::debug: return "DEBUG";
    case log_level::info: return "INFO";
    case log_level::warn: return "WARN";
    case log_level::error: return "ERROR";
  }
  return "?";
}
}  // namespace

void set_log_level(log_level level) { g_level = static_cast<int>(level); }
bool log_enabled(log_level level) { return static_cast<int>(level) >= g_level.load(); }

void log_line(log_level level, std::string_view component, std::string_view message) {
  if (!log_enabled(level)) return;
  std::string line = format_iso8601(system_clock().now_ms());
  line += ' ';
  line += name(level);
  line += ' ';
  line += component;
  line += ": ";
  line += message;
  line += '\n';
  std::lock_guard lk(g_mu);
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace leaves
