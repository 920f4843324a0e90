#include "leaves/fetch/language.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <unordered_map>

namespace leaves::fetch {
namespace {

constexpr size_t kMaxBytes = 64 * 1024;

// The commonest short words of languages written in Latin or Cyrillic
// letters, lower case. Order matters only as the bit of each language.
struct word_list {
  const char* code;
  const char* words;  // separated by spaces
  bool cyrillic = false;
};
constexpr word_list kLists[] = {
    {"en", "the and of to is in that it was for with as on are this be by have from not but which they you at his "
           "her he she we were has had their an or will would there been what can more about if when who"},
    {"de", "der die das und ist nicht ein eine zu den von mit sich des auf für im dem auch es an als wird werden bei "
           "einer um noch wie einem aus nach sind war hat dass oder aber wir ich sie er über kann nur"},
    {"fr", "le la les de des et est un une du en que qui dans pour pas sur au avec il ce sont par plus ne se aux ou "
           "mais nous vous été cette leur comme elle être à était ont"},
    {"es", "el la los las de del y que en un una es por con para no se lo al como más pero sus su le ya o fue este ha "
           "porque esta entre cuando muy sin sobre también hay está son"},
    {"it", "il lo la gli le di del della che e è un una per non con sono si da in al alla dei delle ma come anche più "
           "nel nella questo ha essere era ci ho hanno molto"},
    {"pt", "o a os as de do da dos das e que em um uma é não para com por se no na mais mas ao foi como ele ela são "
           "seu sua ou quando muito também já está isso nos há pelo pela ser"},
    {"nl", "de het een en van is dat niet in op te zijn voor met die er ook aan als maar om bij nog door wordt worden "
           "hij ze we ik je wat naar dan heeft uit kan deze was geen werd over"},
    {"sv", "och att det som en är på för med av den till inte har de jag om ett var men så från vi kan man när hade "
           "eller sig hon han detta också efter skulle bara vid nu mycket blev vara"},
    {"da", "og at det som en er på for med af den til ikke har de jeg om et var men så fra vi kan man når havde eller "
           "sig hun han dette også efter skulle kun ved nu meget blev være hvor der"},
    {"no", "og at det som en er på for med av den til ikke har de jeg om et var men så fra vi kan man når hadde eller "
           "seg hun han dette også etter skulle bare ved nå mye ble være hvor der ikkje"},
    {"fi", "ja on ei että se oli hän ovat mutta kun myös tai joka ole niin kuin sen jos nyt vain ne mitä tämä olla voi "
           "jo sitä olisi minä hänen"},
    {"pl", "i w z na się nie do to że jest o jak ale po co tak za od przez jego czy są jako tylko już dla być był może "
           "tego jej ich oraz który która które"},
    {"cs", "a v se na je že to s z do o jako ale by jsou jeho pro k od jak po tak který která které být byl bylo také "
           "už jen této tento však nebo při"},
    {"tr", "ve bir bu da de için ile çok olarak daha gibi ne ama o en kadar sonra her olan var değil mi ki ya şey ben "
           "sen onun bunu göre ise"},
    {"ro", "și în de la cu a că pe nu din o un este mai care pentru se sunt au ca sau fost dar lui iar această acest "
           "prin să"},
    {"hu", "a az és hogy nem is egy meg van de csak már el ki még mint volt ez azt ha vagy kell lesz minden pedig után "
           "között nagyon"},
    {"id", "yang dan di itu dengan untuk tidak ini dari dalam akan pada juga saya ke karena ada mereka bisa atau oleh "
           "sudah kami kita adalah lebih seperti"},
    {"ru", "и в не на что я с он как это по но из у за то от так же для его она был все они к бы было только еще уже "
           "или если когда который также быть чтобы", true},
    {"uk", "і в не на що я з він як це по але із у за то від так ж для його вона був все вони до б було тільки ще вже "
           "або якщо коли який також бути щоб та й", true},
    {"bg", "и в не на че аз с той как това по но от за то така да се е са като един една бе беше още вече или ако "
           "когато който също те ще във със", true},
};
constexpr size_t kLanguages = std::size(kLists);
static_assert(kLanguages <= 32);

using word_map = std::unordered_map<std::string, uint32_t>;  // word -> the languages that use it, as bits

const word_map& words() {
  static const word_map m = [] {
    word_map w;
    for (size_t i = 0; i < kLanguages; ++i) {
      std::string_view s = kLists[i].words;
      while (!s.empty()) {
        const size_t sp = s.find(' ');
        const std::string_view word = s.substr(0, sp);
        if (!word.empty()) w[std::string(word)] |= uint32_t{1} << i;
        if (sp == std::string_view::npos) break;
        s.remove_prefix(sp + 1);
      }
    }
    return w;
  }();
  return m;
}

// The next code point of `s` from `i` (advanced), or -1 for a byte that
// starts no valid sequence (skipped).
int32_t next_code_point(std::string_view s, size_t& i) {
  const auto b = static_cast<unsigned char>(s[i]);
  size_t len = 0;
  int32_t cp = 0;
  if (b < 0x80) {
    ++i;
    return b;
  } else if ((b & 0xE0) == 0xC0) {
    len = 2;
    cp = b & 0x1F;
  } else if ((b & 0xF0) == 0xE0) {
    len = 3;
    cp = b & 0x0F;
  } else if ((b & 0xF8) == 0xF0) {
    len = 4;
    cp = b & 0x07;
  } else {
    ++i;
    return -1;
  }
  if (i + len > s.size()) {
    i = s.size();
    return -1;
  }
  for (size_t k = 1; k < len; ++k) {
    const auto c = static_cast<unsigned char>(s[i + k]);
    if ((c & 0xC0) != 0x80) {
      ++i;
      return -1;
    }
    cp = (cp << 6) | (c & 0x3F);
  }
  i += len;
  return cp;
}

void append_utf8(std::string& out, int32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// Lower case for the letters the word lists use.
int32_t lower(int32_t cp) {
  if (cp >= 'A' && cp <= 'Z') return cp + 32;
  if (cp >= 0xC0 && cp <= 0xDE && cp != 0xD7) return cp + 32;                 // Latin-1
  // Latin Extended-A: upper case is even in U+0100-0137 and U+014A-0177,
  // odd in U+0139-0148 and U+0179-017E; Ÿ is the odd one out.
  if (((cp >= 0x100 && cp <= 0x137) || (cp >= 0x14A && cp <= 0x177)) && cp != 0x130 && cp % 2 == 0) return cp + 1;
  if (((cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17E)) && cp % 2 == 1) return cp + 1;
  if (cp == 0x178) return 0xFF;
  if (cp >= 0x410 && cp <= 0x42F) return cp + 32;                              // Cyrillic А-Я
  if (cp >= 0x400 && cp <= 0x40F) return cp + 80;                              // Ѐ-Џ
  if (cp >= 0x490 && cp <= 0x4BF && cp % 2 == 0) return cp + 1;                // Ґ and the like
  return cp;
}

enum script : uint8_t { latin, cyrillic, greek, arabic, hebrew, hangul, kana, han, thai, devanagari, other, count_ };

script script_of(int32_t cp) {
  if ((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= 0xC0 && cp <= 0x24F && cp != 0xD7 && cp != 0xF7)) {
    return latin;
  }
  if (cp >= 0x400 && cp <= 0x52F) return cyrillic;
  if (cp >= 0x370 && cp <= 0x3FF) return greek;
  if ((cp >= 0x600 && cp <= 0x6FF) || (cp >= 0x750 && cp <= 0x77F)) return arabic;
  if (cp >= 0x590 && cp <= 0x5FF) return hebrew;
  if ((cp >= 0xAC00 && cp <= 0xD7AF) || (cp >= 0x1100 && cp <= 0x11FF) || (cp >= 0x3130 && cp <= 0x318F)) return hangul;
  if (cp >= 0x3040 && cp <= 0x30FF) return kana;
  if ((cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF)) return han;
  if (cp >= 0xE00 && cp <= 0xE7F) return thai;
  if (cp >= 0x900 && cp <= 0x97F) return devanagari;
  return other;
}

bool persian_letter(int32_t cp) { return cp == 0x67E || cp == 0x686 || cp == 0x698 || cp == 0x6AF || cp == 0x6CC; }

}  // namespace

std::string detect_language(std::string_view text) {
  text = text.substr(0, kMaxBytes);
  std::array<size_t, script::count_> letters{};
  size_t persian = 0;
  std::array<double, kLanguages> score{};
  size_t known_words = 0;
  const word_map& dict = words();
  std::string word;
  auto end_word = [&] {
    if (word.empty()) return;
    if (word.size() <= 24) {
      if (const auto it = dict.find(word); it != dict.end()) {
        const double share = 1.0 / std::popcount(it->second);
        for (size_t l = 0; l < kLanguages; ++l) {
          if (it->second & (uint32_t{1} << l)) score[l] += share;
        }
        ++known_words;
      }
    }
    word.clear();
  };
  for (size_t i = 0; i < text.size();) {
    const int32_t cp = next_code_point(text, i);
    if (cp < 0) {
      end_word();
      continue;
    }
    const script s = script_of(cp);
    if (s == other) {
      end_word();
      continue;
    }
    ++letters[s];
    if (s == arabic && persian_letter(cp)) ++persian;
    if (s == latin || s == cyrillic) {
      if (word.size() < 32) append_utf8(word, lower(cp));
    } else {
      end_word();
    }
  }
  end_word();

  size_t total = 0;
  for (size_t n : letters) total += n;
  if (total < 20) return "";
  // Japanese mixes kana with Han; Chinese has no kana.
  const size_t cjk = letters[kana] + letters[han];
  const auto top = static_cast<script>(std::max_element(letters.begin(), letters.end()) - letters.begin());
  if (cjk > total / 2 || top == kana || top == han) {
    return letters[kana] * 20 >= cjk ? "ja" : "zh";
  }
  switch (top) {
    case hangul: return "ko";
    case greek: return "el";
    case hebrew: return "he";
    case thai: return "th";
    case devanagari: return "hi";
    case arabic: return persian * 50 >= letters[arabic] ? "fa" : "ar";
    case latin:
    case cyrillic: break;
    default: return "";
  }
  // Only the languages of the dominant alphabet compete.
  size_t best = kLanguages, second = kLanguages;
  for (size_t l = 0; l < kLanguages; ++l) {
    if (kLists[l].cyrillic != (top == cyrillic)) continue;
    if (best == kLanguages || score[l] > score[best]) {
      second = best;
      best = l;
    } else if (second == kLanguages || score[l] > score[second]) {
      second = l;
    }
  }
  if (best == kLanguages || known_words < 5 || score[best] < 3) return "";
  const double runner_up = second == kLanguages ? 0 : score[second];
  if (score[best] - runner_up < std::max(1.5, 0.1 * score[best])) return "";
  return kLists[best].code;
}

}  // namespace leaves::fetch
