// Structured logging: one line per record, "ts level component: message k=v".
// Thread-safe. Never pass secrets (passwords, tokens, SASL settings) to it.
#pragma once

#include <string_view>

namespace leaves {

enum class log_level { debug, info, warn, error };

void set_log_level(log_level level);
bool log_enabled(log_level level);
void log_line(log_level level, std::string_view component, std::string_view message);

inline void log_debug(std::string_view c, std::string_view m) { log_line(log_level::debug, c, m); }
inline void log_info(std::string_view c, std::string_view m) { log_line(log_level::info, c, m); }
inline void log_warn(std::string_view c, std::string_view m) { log_line(log_level::warn, c, m); }
inline void log_error(std::string_view c, std::string_view m) { log_line(log_level::error, c, m); }

}  // namespace leaves
