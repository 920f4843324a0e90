// The language of a text that does not declare it (docs/fetch.md): an ISO
// 639-1 code, or "" when the text does not say clearly enough.
//
// First the script: Hangul is Korean, kana Japanese, Han without kana
// Chinese, and Greek, Hebrew, Thai and Devanagari name their languages;
// Arabic script is Persian when Persian's own letters are common, else
// Arabic. Latin and Cyrillic texts are told apart by their commonest short
// words (the, der, le, и, що, ...): each word found in several languages'
// lists counts for each of them by a share, and the best language must lead
// the next by a margin. Thread-safe; reads at most the first 64 KiB.
#pragma once

#include <string>
#include <string_view>

namespace leaves::fetch {

std::string detect_language(std::string_view text);

}  // namespace leaves::fetch
