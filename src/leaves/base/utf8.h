// UTF-8 from bytes of unknown quality (a binary Kafka record, a web page).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace leaves {

// At most `max` bytes of `s` as valid UTF-8: whole characters only, and each
// byte that starts no valid sequence (an overlong form, a surrogate, a stray
// continuation byte, a cut sequence) as U+FFFD.
std::string utf8_repaired(std::string_view s, size_t max = std::string::npos);

}  // namespace leaves
