#include "leaves/base/utf8.h"

namespace leaves {

std::string utf8_repaired(std::string_view s, size_t max) {
  std::string out;
  out.reserve(s.size() < max ? s.size() : max);
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    bool ok = n > 0 && i + n <= s.size() && !(n == 2 && c < 0xC2) && !(n == 4 && c > 0xF4);
    for (size_t k = 1; ok && k < n; ++k) ok = (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
    if (ok && n == 3 && c == 0xED && static_cast<unsigned char>(s[i + 1]) >= 0xA0) ok = false;  // a surrogate
    if (ok && n == 3 && c == 0xE0 && static_cast<unsigned char>(s[i + 1]) < 0xA0) ok = false;   // overlong
    if (ok && n == 4 && c == 0xF0 && static_cast<unsigned char>(s[i + 1]) < 0x90) ok = false;   // overlong
    if (ok && n == 4 && c == 0xF4 && static_cast<unsigned char>(s[i + 1]) >= 0x90) ok = false;  // past U+10FFFF
    const std::string_view piece = ok ? s.substr(i, n) : std::string_view("\xEF\xBF\xBD");
    if (out.size() + piece.size() > max) break;
    out += piece;
    i += ok ? n : 1;
  }
  return out;
}

}  // namespace leaves
