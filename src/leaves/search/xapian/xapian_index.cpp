#include "leaves/search/xapian/xapian_index.h"
#include "leaves/search/xapian/docid_space.h"
#include "leaves/search/xapian/document.h"

#include <xapian.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <cstdio>
#include <map>
#include <mutex>
#include <random>
#include <limits>
#include <list>
#include <string_view>
#include <unordered_map>

#include "leaves/base/disk.h"
#include "leaves/base/hash.h"
#include "leaves/base/log.h"
#include "leaves/html/text.h"

namespace asio = boost::asio;
namespace json = boost::json;

namespace leaves::search {
namespace {

// Terms (prefixes follow Xapian's conventions where one exists):
//   (none)  free text: title, content text, url words, tags' words
//   S       title words          XU  url words
//   K<tag>  a tag, exact         A<name>  user name, lower-cased
//   XI<id>  user id              H<host>  domain host, lower-cased
//   L<lang> language             XS XA XP  starred, archived, public
//   Q<id>   the leaf (unique)
// Values: created, updated (sortable numbers), title key, and the facets: the
// leaf's tags, user name and host as interned numbers (facet_names), in one
// slot so that counting them reads one value per matching document.
enum slot : Xapian::valueno { v_created = 0, v_updated = 1, v_title = 2, v_facets = 3 };
// Time buckets: a leaf carries one term a level, "XT" + the level's letter +
// floor(created seconds / 2^shift), the levels 16x apart, from about 68
// minutes (2^12 s) to about 35,000 years (2^40 s). The newest (or oldest)
// leaves of any count are then a union of at most 15 buckets a level whose
// sizes are term frequencies: the window a search samples (choose_window).
constexpr int kBucketShifts[] = {12, 16, 20, 24, 28, 32, 36, 40};
constexpr int kBucketLevels = static_cast<int>(std::size(kBucketShifts));
constexpr size_t kTitleKeyBytes = 64;
constexpr Xapian::termcount kTitleWeight = 3;
// Totals and facets are exact up to this many matches, estimated beyond.
constexpr Xapian::doccount kExactUpTo = 500000;
constexpr double kQueryTimeLimitSeconds = 2.0;
constexpr size_t kMaxCachedKeyBytes = 8192;  // longer queries are run, not cached
// A window by id (docid_space::newest_ids) looks at most this many runs of ids.
constexpr size_t kMaxRunsLooked = 2048;

const char* kMetaSchema = "leaves:schema";
const char* kMetaGroup = "leaves:group";
const char* kMetaPosition = "leaves:position";
const std::string kMetaTombstone = "leaves:deleted:";
const std::string kMetaFacet = "leaves:facet:";  // + kind letter + ':' + number -> the value

int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }
int64_t seconds_of(int64_t ms) { return floor_div(ms, 1000); }
std::string bucket_term(int level, int64_t bucket) {
  std::string t = "XT";
  t += static_cast<char>('a' + level);
  return t += std::to_string(bucket);
}
int64_t bucket_of(int64_t seconds, int level) { return seconds >> kBucketShifts[level]; }  // floor, also below 0

error index_error(const std::string& what, const Xapian::Error& e) {
  return make_error(errc::unavailable, "search index: " + what + ": " + e.get_description(), "index_unavailable");
}

std::string lower(const std::string& s) { return Xapian::Unicode::tolower(s); }

// A boolean term of `prefix` and a field's value that fits Xapian's limit on
// a term (245 bytes): a longer value keeps its first bytes (cut on a UTF-8
// character's start), a 0xFF byte and the md5 of the whole, so equal values
// still make equal terms and different ones different terms. Without it, one leaf with a
// 300-byte user name would stop the index's projection at that event.
constexpr size_t kMaxTermBytes = 245;
std::string term(std::string_view prefix, std::string_view value) {
  std::string out(prefix);
  if (prefix.size() + value.size() <= kMaxTermBytes) return out.append(value);
  size_t keep = kMaxTermBytes - prefix.size() - 33;  // a 0xFF byte and 32 hex digits follow
  while (keep > 0 && (static_cast<unsigned char>(value[keep]) & 0xC0) == 0x80) --keep;
  out.append(value.substr(0, keep));
  out += '\xFF';  // never in UTF-8: a cut term equals no value's whole term
  return out.append(md5_hex(value));
}

// "https://Host:8080" -> "host:8080"; the user may type either form.
std::string host_of(std::string_view domain) {
  if (auto p = domain.find("://"); p != std::string_view::npos) domain.remove_prefix(p + 3);
  while (!domain.empty() && domain.back() == '/') domain.remove_suffix(1);
  return lower(std::string(domain));
}

}  // namespace

// Every distinct tag, user name and host the index has seen, numbered from 0
// per kind in order of first use. A number is written to the database's
// metadata in the commit of the first document that holds it, and is never
// reused or removed, so a reader of any committed revision finds the name of
// every number its documents carry. The projector's thread interns; search
// threads read names.
class facet_names {
 public:
  enum kind : size_t { tag = 0, user = 1, host = 2 };
  static constexpr size_t kKinds = 3;

  // The number of `value`; a new one is written to `db` (when given) with the
  // next commit.
  uint32_t intern(kind k, const std::string& value, Xapian::WritableDatabase* db) {
    std::lock_guard lk(mu_);
    auto& t = t_[k];
    if (auto it = t.ids.find(value); it != t.ids.end()) return it->second;
    const auto id = static_cast<uint32_t>(t.names.size());
    t.names.push_back(value);
    t.ids.emplace(value, id);
    if (db) db->set_metadata(key(k, id), value);
    return id;
  }
  size_t size(kind k) const {
    std::lock_guard lk(mu_);
    return t_[k].names.size();
  }
  // The names of `ids` (numbers this process interned or loaded).
  std::vector<std::string> names(kind k, const std::vector<uint32_t>& ids) const {
    std::lock_guard lk(mu_);
    std::vector<std::string> out;
    out.reserve(ids.size());
    for (auto id : ids) out.push_back(id < t_[k].names.size() ? t_[k].names[id] : std::string());
    return out;
  }
  // What the database's last commit holds.
  void load(const Xapian::Database& db) {
    std::lock_guard lk(mu_);
    for (size_t k = 0; k < kKinds; ++k) {
      auto& t = t_[k];
      t = {};
      const std::string prefix = key(static_cast<kind>(k), 0).substr(0, kMetaFacet.size() + 2);
      for (auto it = db.metadata_keys_begin(prefix); it != db.metadata_keys_end(prefix); ++it) {
        const std::string name = *it;
        const auto id = std::strtoul(name.c_str() + prefix.size(), nullptr, 10);
        if (id >= t.names.size()) t.names.resize(id + 1);
        t.names[id] = db.get_metadata(name);
      }
      for (uint32_t id = 0; id < t.names.size(); ++id) t.ids.emplace(t.names[id], id);
      t.committed = t.names.size();
    }
  }
  // After a commit: what was interned is in the database.
  void committed() {
    std::lock_guard lk(mu_);
    for (auto& t : t_) t.committed = t.names.size();
  }
  // After a failed commit: numbers given since the last commit are forgotten
  // (no committed document holds them; applying the events again re-interns).
  void roll_back() {
    std::lock_guard lk(mu_);
    for (auto& t : t_) {
      for (size_t id = t.committed; id < t.names.size(); ++id) t.ids.erase(t.names[id]);
      t.names.resize(t.committed);
    }
  }
  void reset() {
    std::lock_guard lk(mu_);
    for (auto& t : t_) t = {};
  }

 private:
  static std::string key(kind k, uint32_t id) {
    static const char letters[kKinds] = {'t', 'u', 'h'};
    return kMetaFacet + letters[k] + ':' + std::to_string(id);
  }
  struct table {
    std::unordered_map<std::string, uint32_t> ids;
    std::vector<std::string> names;
    size_t committed = 0;
  };
  mutable std::mutex mu_;
  table t_[kKinds];
};

namespace {

void put_varint(std::string& out, uint32_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

bool get_varint(const char*& p, const char* end, uint32_t& v) {
  v = 0;
  for (int shift = 0; p < end && shift < 35; shift += 7) {
    const auto b = static_cast<unsigned char>(*p++);
    v |= static_cast<uint32_t>(b & 0x7F) << shift;
    if (!(b & 0x80)) return true;
  }
  return false;
}

// A leaf's facet values by their numbers (facet_names): its tags, and its
// user's and host's number plus one (0: none).
struct facet_ids {
  std::vector<uint32_t> tags;
  uint32_t user = 0, host = 0;
};

facet_ids intern_facets(const domain::leaf& l, facet_names& names, Xapian::WritableDatabase* db) {
  facet_ids out;
  if (l.tags) {
    for (const auto& t : *l.tags) out.tags.push_back(names.intern(facet_names::tag, t, db));
  }
  out.user = l.user_name.empty() ? 0 : names.intern(facet_names::user, l.user_name, db) + 1;
  const std::string host = host_of(l.domain_name);
  out.host = host.empty() ? 0 : names.intern(facet_names::host, host, db) + 1;
  return out;
}

// The facet slot: the number of tags, each tag's number, then the user's and
// the host's number plus one (0: none).
std::string facet_value_of(const facet_ids& ids) {
  std::string out;
  put_varint(out, static_cast<uint32_t>(ids.tags.size()));
  for (auto id : ids.tags) put_varint(out, id);
  put_varint(out, ids.user);
  put_varint(out, ids.host);
  return out;
}

// Facet terms: a search of everything its caller may see (no words, no
// filter) takes its facet counts from these terms' frequencies instead of
// reading the facet slot of every leaf. Per value (kind letter t, u or h,
// then the number): "XF" on every leaf (what an admin sees), "XFP" on public
// leaves, "XFI<user id>:" on the other leaves of their owner; what a user may
// see is the sum of "XFP" and its own "XFI".
std::string facet_terms_prefix(const domain::leaf& l) {
  if (l.is_public) return "XFP";
  if (l.user_id) return "XFI" + std::to_string(*l.user_id) + ':';
  return {};  // a private leaf without an owner: only the "XF" terms
}

void add_facet_terms(Xapian::Document& doc, const domain::leaf& l, const facet_ids& ids) {
  const std::string scoped = facet_terms_prefix(l);
  auto add = [&](char kind, uint32_t id) {
    const std::string v = kind + std::to_string(id);
    doc.add_boolean_term("XF" + v);
    if (!scoped.empty()) doc.add_boolean_term(scoped + v);
  };
  for (auto id : ids.tags) add('t', id);
  if (ids.user) add('u', ids.user - 1);
  if (ids.host) add('h', ids.host - 1);
}

std::string body_text(const domain::leaf& l) {
  if (l.content_text && !l.content_text->empty()) return *l.content_text;
  if (l.content && !l.content->empty()) return html::visible_text(*l.content);
  return {};
}

// The start of a text, cut at a character boundary and escaped for HTML.
std::string plain_snippet(std::string_view text, size_t max) {
  size_t n = std::min(max, text.size());
  while (n > 0 && n < text.size() && (static_cast<unsigned char>(text[n]) & 0xC0) == 0x80) --n;
  std::string out;
  for (char c : text.substr(0, n)) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      case '\n': case '\r': case '\t': out.push_back(' '); break;
      default: out.push_back(c);
    }
  }
  if (n < text.size()) out += "…";
  return out;
}

Xapian::Stem stemmer_for(const std::optional<std::string>& language) {
  if (language && language->size() >= 2) {
    try {
      return Xapian::Stem(lower(language->substr(0, 2)));
    } catch (const Xapian::Error&) {
      // No stemmer for this language: English, the corpus's usual language.
    }
  }
  return Xapian::Stem("english");
}

// Whether a word (UTF-8) has a letter of any script in it: "python3" and
// "1080p" do, "2024", "３.１２" and "½" do not.
bool has_letter(std::string_view word) {
  for (Xapian::Utf8Iterator it(word.data(), word.size()); it != Xapian::Utf8Iterator(); ++it) {
    switch (Xapian::Unicode::get_category(*it)) {
      case Xapian::Unicode::UPPERCASE_LETTER:
      case Xapian::Unicode::LOWERCASE_LETTER:
      case Xapian::Unicode::TITLECASE_LETTER:
      case Xapian::Unicode::MODIFIER_LETTER:
      case Xapian::Unicode::OTHER_LETTER:
        return true;
      default:
        break;
    }
  }
  return false;
}

// "Did you mean" learns from titles: each word of the title (its "S" terms,
// unstemmed) that has a letter in it, as often as it occurs. Words without a
// letter (numbers, dates) are neither learnt nor corrected (search below): a
// suggestion turned one number into another, and each new number cost a
// spelling-table entry and its fragments.
void learn_spelling(const Xapian::Document& doc, Xapian::WritableDatabase& db) {
  for (auto t = doc.termlist_begin(); t != doc.termlist_end(); ++t) {
    const std::string& term = *t;
    if (term.size() < 2 || term[0] != 'S') continue;
    if (has_letter(std::string_view(term).substr(1))) db.add_spelling(term.substr(1), t.get_wdf() / kTitleWeight);
  }
}

// `names` null: no facet value (a document only matched, never counted).
Xapian::Document make_document(const domain::leaf& l, Xapian::TermGenerator& tg, facet_names* names,
                               Xapian::WritableDatabase* db, bool spelling = true) {
  Xapian::Document doc;
  doc.set_data(json::serialize(domain::leaf_to_json(l)));
  tg.set_document(doc);
  tg.set_stemmer(stemmer_for(l.language));
  tg.set_flags(0);
  tg.index_text(l.title, kTitleWeight, "S");
  tg.index_text(l.title, kTitleWeight);
  if (spelling && db) learn_spelling(doc, *db);
  tg.increase_termpos(100);  // no phrase across fields
  tg.index_text(body_text(l));
  tg.increase_termpos(100);
  tg.index_text(l.url, 1, "XU");
  tg.index_text(l.url);
  tg.increase_termpos(100);
  if (l.tags) {
    for (const auto& t : *l.tags) {
      doc.add_boolean_term(term("K", t));
      tg.index_text(t);
      tg.increase_termpos(10);
    }
  }
  if (!l.user_name.empty()) doc.add_boolean_term(term("A", lower(l.user_name)));
  if (l.user_id) doc.add_boolean_term("XI" + std::to_string(*l.user_id));
  const std::string host = host_of(l.domain_name);
  if (!host.empty()) doc.add_boolean_term(term("H", host));
  if (l.language && !l.language->empty()) doc.add_boolean_term(term("L", lower(*l.language)));
  if (l.is_starred) doc.add_boolean_term("XS");
  if (l.is_archived) doc.add_boolean_term("XA");
  if (l.is_public) doc.add_boolean_term("XP");
  doc.add_boolean_term("Q" + l.id);
  doc.add_value(v_created, Xapian::sortable_serialise(static_cast<double>(l.created_at)));
  for (int level = 0; level < kBucketLevels; ++level)
    doc.add_boolean_term(bucket_term(level, bucket_of(seconds_of(l.created_at), level)));
  doc.add_value(v_updated, Xapian::sortable_serialise(static_cast<double>(l.updated_at)));
  doc.add_value(v_title, lower(l.title).substr(0, kTitleKeyBytes));
  if (names) {
    const auto ids = intern_facets(l, *names, db);
    doc.add_value(v_facets, facet_value_of(ids));
    add_facet_terms(doc, l, ids);
  }
  return doc;
}

// The `limit` most frequent values of counts by number, by count descending then value ascending.
std::vector<facet_value> top_facets(const std::vector<uint32_t>& c, const facet_names& facet_names_of, facet_names::kind k,
                                   size_t limit) {
  std::vector<uint32_t> ids;
  for (uint32_t id = 0; id < c.size(); ++id) {
    if (c[id] > 0) ids.push_back(id);
  }
  // Only the values that can make the cut need their names: those counted
  // at least as often as the limit-th most frequent.
  if (ids.size() > limit && limit > 0) {
    std::vector<uint32_t> by_count(ids.size());
    for (size_t i = 0; i < ids.size(); ++i) by_count[i] = c[ids[i]];
    std::nth_element(by_count.begin(), by_count.begin() + static_cast<std::ptrdiff_t>(limit - 1), by_count.end(),
                     std::greater<>());
    const uint32_t cut = by_count[limit - 1];
    std::erase_if(ids, [&](uint32_t id) { return c[id] < cut; });
  }
  const auto names = facet_names_of.names(k, ids);
  std::vector<facet_value> out;
  out.reserve(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) out.push_back({names[i], c[ids[i]]});
  const size_t n = std::min(limit, out.size());
  std::partial_sort(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(n), out.end(),
                    [](const facet_value& a, const facet_value& b) {
                      return a.count != b.count ? a.count > b.count : a.value < b.value;
                    });
  out.resize(n);
  return out;
}

// Adds the frequencies of the facet terms `prefix` + number (add_facet_terms)
// to the counts by number.
void count_facet_terms(const Xapian::Database& db, const std::string& prefix, std::vector<uint32_t>& c) {
  for (auto it = db.allterms_begin(prefix); it != db.allterms_end(prefix); ++it) {
    const std::string t = *it;
    const auto id = std::strtoul(t.c_str() + prefix.size(), nullptr, 10);
    if (id >= c.size()) c.resize(id + 1, 0);
    c[id] += it.get_termfreq();
  }
}

// Counts the tags, users and hosts of every document the match considers,
// by their numbers, from the one facet slot. (Xapian's ValueCountMatchSpy
// counts a slot's whole value as one; a leaf with three tags counts three
// times here.)
class facet_spy : public Xapian::MatchSpy {
 public:
  facet_spy(const facet_names& names, bool tags, bool users, bool hosts) : names_(names) {
    want_[facet_names::tag] = tags;
    want_[facet_names::user] = users;
    want_[facet_names::host] = hosts;
    for (size_t k = 0; k < facet_names::kKinds; ++k) {
      if (want_[k]) counts_[k].assign(names.size(static_cast<facet_names::kind>(k)), 0);
    }
  }
  void operator()(const Xapian::Document& doc, double) override {
    const std::string v = doc.get_value(v_facets);
    const char* p = v.data();
    const char* end = p + v.size();
    uint32_t n = 0, id = 0;
    if (!get_varint(p, end, n)) return;
    for (uint32_t i = 0; i < n; ++i) {
      if (!get_varint(p, end, id)) return;
      if (want_[facet_names::tag]) bump(facet_names::tag, id);
    }
    if (get_varint(p, end, id) && id > 0 && want_[facet_names::user]) bump(facet_names::user, id - 1);
    if (get_varint(p, end, id) && id > 0 && want_[facet_names::host]) bump(facet_names::host, id - 1);
  }
  std::vector<facet_value> top(facet_names::kind k, size_t limit) const { return top_facets(counts_[k], names_, k, limit); }

 private:
  void bump(facet_names::kind k, uint32_t id) {
    auto& c = counts_[k];
    if (id >= c.size()) c.resize(id + 1, 0);  // interned after the spy was made
    ++c[id];
  }
  const facet_names& names_;
  bool want_[facet_names::kKinds] = {};
  std::vector<uint32_t> counts_[facet_names::kKinds];
};

// The words of a term as the index cut them: runs of word characters, lower-cased.
std::vector<std::string> words_of(const std::string& text) {
  std::vector<std::string> out;
  std::string cur;
  for (Xapian::Utf8Iterator it(text); it != Xapian::Utf8Iterator(); ++it) {
    const unsigned ch = *it;
    if (Xapian::Unicode::is_wordchar(ch)) {
      Xapian::Unicode::append_utf8(cur, Xapian::Unicode::tolower(ch));
    } else if (!cur.empty()) {
      out.push_back(std::move(cur));
      cur.clear();
    }
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

const char* prefix_of(field f) {
  switch (f) {
    case field::title: return "S";
    case field::url: return "XU";
    default: return "";
  }
}

// Fresh queries that match everything or nothing. Xapian's static
// Query::MatchAll is one object shared by every thread, and copying it changes
// its reference count without a lock: searches and live-search matches run on
// several threads, so they never touch it.
Xapian::Query match_all() { return Xapian::Query(std::string()); }
Xapian::Query match_nothing() { return Xapian::Query(); }

Xapian::Query no_weight(Xapian::Query q) { return Xapian::Query(Xapian::Query::OP_SCALE_WEIGHT, q, 0.0); }

Xapian::Query range_query(std::optional<int64_t> lo, std::optional<int64_t> hi) {
  using Q = Xapian::Query;
  auto ser = [](int64_t v) { return Xapian::sortable_serialise(static_cast<double>(v)); };
  if (lo && hi) {
    if (*hi <= *lo) return match_nothing();
    return Q(Q::OP_VALUE_RANGE, v_created, ser(*lo), ser(*hi - 1));
  }
  if (lo) return Q(Q::OP_VALUE_GE, v_created, ser(*lo));
  if (hi) return Q(Q::OP_VALUE_LE, v_created, ser(*hi - 1));
  return match_all();
}

// The newest (or, `newest` false, the oldest) leaves of the index, at least
// `want` of them, as a union of whole time buckets (kBucketShifts), found by
// descending from the coarsest level: a bucket that would pass `want` is split
// into its 16 children, down to the finest level, whose buckets are taken
// whole. About 16 term frequencies a level are read.
struct window {
  std::vector<std::string> terms;  // its buckets
  Xapian::doccount docs = 0;       // the leaves in them
  int64_t edge_ms = 0;  // newest: the window holds the leaves created at or after it; oldest: before it
  bool all = true;      // it is the whole index (no narrower window holds `want`)
};

// A search's created_at range starts the descent at its end (`until`, for
// newest) or its start (`since`, for oldest), so that a window of a past
// year is that year's newest leaves, not the index's.
window choose_window(const Xapian::Database& db, Xapian::doccount want, bool newest, std::optional<int64_t> since_ms,
                     std::optional<int64_t> until_ms) {
  window w;
  const std::string lo = db.get_value_lower_bound(v_created), hi = db.get_value_upper_bound(v_created);
  if (lo.empty() || hi.empty()) return w;
  int64_t lo_s = seconds_of(static_cast<int64_t>(Xapian::sortable_unserialise(lo)));
  int64_t hi_s = seconds_of(static_cast<int64_t>(Xapian::sortable_unserialise(hi)));
  if (since_ms) lo_s = std::max(lo_s, seconds_of(*since_ms));
  if (until_ms) hi_s = std::min(hi_s, seconds_of(*until_ms - 1));
  if (hi_s < lo_s) return w;
  const int64_t step = newest ? -1 : 1;
  // Takes the buckets first..last of `level` in order until `want`; true
  // when it got there. (A bucket's count may include leaves outside the
  // range, so its children may fall short: then on to its neighbour.)
  const auto take = [&](auto& self, int level, int64_t first, int64_t last) -> bool {
    const int shift = kBucketShifts[level];
    for (int64_t b = first;; b += step) {
      const int64_t start_s = b * (int64_t{1} << shift);
      const int64_t end_s = start_s + (int64_t{1} << shift);  // exclusive
      const std::string t = bucket_term(level, b);
      // (A child wholly outside the range holds nothing the search can match.)
      const Xapian::doccount n = start_s > hi_s || end_s <= lo_s ? 0 : db.get_termfreq(t);
      if (n > 0 && w.docs + n >= want && level > 0) {
        // It would pass `want`: its children, newest (or oldest) first.
        if (self(self, level - 1, newest ? b * 16 + 15 : b * 16, newest ? b * 16 : b * 16 + 15)) return true;
      } else if (n > 0) {
        w.terms.push_back(t);
        w.docs += n;
        if (w.docs >= want) {
          w.edge_ms = (newest ? start_s : end_s) * 1000;
          return true;
        }
      }
      if (b == last) return false;
    }
  };
  const int top = kBucketLevels - 1;
  if (take(take, top, bucket_of(newest ? hi_s : lo_s, top), bucket_of(newest ? lo_s : hi_s, top)))
    w.all = w.docs >= db.get_doccount();
  return w;  // (fewer than `want` leaves in all: all stays true)
}

// The documents with ids from `from` up: a filter (no weight) over the
// index's list of all documents, started at `from`.
class ids_from : public Xapian::PostingSource {
 public:
  ids_from(Xapian::docid from, Xapian::doccount docs) : from_(from), docs_(docs) {}
  Xapian::PostingSource* clone() const override { return new ids_from(from_, docs_); }
  std::string name() const override { return "leaves::ids_from"; }
  void init(const Xapian::Database& db) override {
    db_ = db;
    it_ = db_.postlist_begin("");
    end_ = db_.postlist_end("");
    started_ = false;
  }
  Xapian::doccount get_termfreq_min() const override { return 0; }
  Xapian::doccount get_termfreq_est() const override { return std::min(docs_, db_.get_doccount()); }
  Xapian::doccount get_termfreq_max() const override { return db_.get_doccount(); }
  void next(double) override {
    if (it_ == end_) return;
    if (!started_) {
      started_ = true;
      it_.skip_to(from_);
    } else {
      ++it_;
    }
  }
  void skip_to(Xapian::docid id, double) override {
    if (it_ == end_) return;
    started_ = true;
    it_.skip_to(std::max(id, from_));
  }
  bool at_end() const override { return it_ == end_; }
  Xapian::docid get_docid() const override { return *it_; }

 private:
  Xapian::docid from_;
  Xapian::doccount docs_;
  Xapian::Database db_;
  Xapian::PostingIterator it_, end_;
  bool started_ = false;
};

// Whether a query holds a created_at range (after:, before:), which a
// sample's window does not know of: such a search walks its matches.
bool has_range(const node& n) {
  if (n.k == node::kind::range) return true;
  return std::any_of(n.children.begin(), n.children.end(), [](const node& c) { return has_range(c); });
}

// About how many leaves were created in [since, until): the buckets wholly
// inside it, and at the finest level the edge buckets whole (so up to two
// 68-minute buckets too many). At most 2 x 16 look-ups a level.
Xapian::doccount docs_in_range(const Xapian::Database& db, std::optional<int64_t> since_ms,
                               std::optional<int64_t> until_ms) {
  const int64_t lo_s = since_ms ? seconds_of(*since_ms) : std::numeric_limits<int64_t>::min() / 2;
  const int64_t hi_s = until_ms ? seconds_of(*until_ms - 1) : std::numeric_limits<int64_t>::max() / 2;
  const std::string lo_v = db.get_value_lower_bound(v_created), hi_v = db.get_value_upper_bound(v_created);
  if (lo_v.empty() || hi_v.empty() || hi_s < lo_s) return 0;
  const auto count = [&](auto& self, int level, int64_t first, int64_t last) -> Xapian::doccount {
    const int shift = kBucketShifts[level];
    Xapian::doccount n = 0;
    for (int64_t b = first; b <= last; ++b) {
      const int64_t start_s = b * (int64_t{1} << shift), end_s = start_s + (int64_t{1} << shift);
      if (end_s <= lo_s || start_s > hi_s) continue;
      if ((start_s >= lo_s && end_s - 1 <= hi_s) || level == 0) n += db.get_termfreq(bucket_term(level, b));
      else if (db.get_termfreq(bucket_term(level, b)) > 0) n += self(self, level - 1, b * 16, b * 16 + 15);
    }
    return n;
  };
  const int top = kBucketLevels - 1;
  const int64_t first = seconds_of(static_cast<int64_t>(Xapian::sortable_unserialise(lo_v)));
  const int64_t last = seconds_of(static_cast<int64_t>(Xapian::sortable_unserialise(hi_v)));
  return count(count, top, bucket_of(std::max(first, lo_s), top), bucket_of(std::min(last, hi_s), top));
}

Xapian::Query user_query(const std::string& user) {
  using Q = Xapian::Query;
  Q by_name(term("A", lower(user)));
  if (!user.empty() && std::all_of(user.begin(), user.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return Q(Q::OP_OR, by_name, Q("XI" + user));
  return by_name;
}

struct translator {
  const Xapian::Stem& stem;
  std::vector<std::string>* words;  // bare words, for the spelling suggestion
  const domain::marks_view* marks = nullptr;  // starred and archived as this user sees them

  // A flag's documents, or with `marks` the flag as its user sees it: the
  // flag on leaves of that user or of nobody, and the user's own marks on
  // the others' leaves.
  Xapian::Query flag_query(const char* term, uint8_t bit) const {
    using Q = Xapian::Query;
    if (!marks) return Q(term);
    const Q others(Q::OP_AND_NOT, Q(Q::OP_WILDCARD, "XI"), Q("XI" + std::to_string(marks->user_id)));
    Q seen(Q::OP_AND_NOT, Q(term), others);
    if (!marks->marks) return seen;
    std::vector<Q> mine;
    for (const auto& [id, bits] : *marks->marks) {
      if (bits & bit) mine.emplace_back("Q" + id);
    }
    if (mine.empty()) return seen;
    return Q(Q::OP_OR, seen, Q(Q::OP_AND, others, Q(Q::OP_OR, mine.begin(), mine.end())));
  }

  Xapian::Query text_term(const std::string& raw, field f) {
    using Q = Xapian::Query;
    const auto ws = words_of(raw);
    if (ws.empty()) return match_nothing();
    const std::string pre = prefix_of(f);
    if (ws.size() > 1) return phrase(ws, pre);
    if (words && f == field::text) words->push_back(raw);
    // The word as written, or its English stem (most of the corpus).
    return Q(Q::OP_OR, Q(pre + ws[0]), Q("Z" + pre + stem(ws[0])));
  }

  static Xapian::Query phrase(const std::vector<std::string>& ws, const std::string& pre) {
    std::vector<Xapian::Query> parts;
    for (const auto& w : ws) parts.emplace_back(pre + w);
    if (parts.size() == 1) return parts[0];
    return Xapian::Query(Xapian::Query::OP_PHRASE, parts.begin(), parts.end());
  }

  Xapian::Query operator()(const node& n) {
    using Q = Xapian::Query;
    switch (n.k) {
      case node::kind::term:
        switch (n.f) {
          case field::text:
          case field::title:
          case field::url: return text_term(n.text, n.f);
          case field::tag: return no_weight(Q(term("K", n.text)));
          case field::user: return no_weight(user_query(n.text));
          case field::domain: return no_weight(Q(term("H", host_of(n.text))));
          case field::lang: return no_weight(Q(term("L", lower(n.text))));
        }
        return match_nothing();
      case node::kind::phrase: {
        const auto ws = words_of(n.text);
        if (ws.empty()) return match_nothing();
        return phrase(ws, prefix_of(n.f));
      }
      case node::kind::flag:
        if (n.fl == flag::starred) return no_weight(flag_query("XS", domain::mark_starred));
        if (n.fl == flag::archived) return no_weight(flag_query("XA", domain::mark_archived));
        return no_weight(Q("XP"));
      case node::kind::range: return no_weight(range_query(n.lo_ms, n.hi_ms));
      case node::kind::none_of: {
        if (n.children.empty()) return match_all();
        return Q(Q::OP_AND_NOT, match_all(), (*this)(n.children[0]));
      }
      case node::kind::all_of: {
        std::vector<Q> pos, neg;
        for (const auto& c : n.children) {
          if (c.k == node::kind::none_of && !c.children.empty()) {
            neg.push_back((*this)(c.children[0]));
          } else {
            pos.push_back((*this)(c));
          }
        }
        Q base = pos.empty() ? match_all() : pos.size() == 1 ? pos[0] : Q(Q::OP_AND, pos.begin(), pos.end());
        if (neg.empty()) return base;
        return Q(Q::OP_AND_NOT, base, Q(Q::OP_OR, neg.begin(), neg.end()));
      }
      case node::kind::any_of: {
        std::vector<Q> parts;
        for (const auto& c : n.children) parts.push_back((*this)(c));
        if (parts.size() == 1) return parts[0];
        return Q(Q::OP_OR, parts.begin(), parts.end());
      }
    }
    return match_nothing();
  }
};

std::string format_position(const std::vector<int64_t>& next) {
  std::string s;
  for (size_t p = 0; p < next.size(); ++p) s += (p ? "," : "") + std::to_string(next[p]);
  return s;
}

std::vector<int64_t> parse_position(const std::string& s) {
  std::vector<int64_t> out;
  size_t start = 0;
  while (start < s.size()) {
    auto comma = s.find(',', start);
    if (comma == std::string::npos) comma = s.size();
    out.push_back(std::strtoll(s.substr(start, comma - start).c_str(), nullptr, 10));
    start = comma + 1;
  }
  return out;
}

std::string new_group() {
  std::random_device rd;
  char id[40];
  std::snprintf(id, sizeof id, "leaves-search-%08x%08x", rd(), rd());
  return id;
}

}  // namespace

struct xapian_index::impl {
  xapian_options o;
  std::unique_ptr<Xapian::WritableDatabase> db;  // projector thread only
  Xapian::TermGenerator tg;
  std::string group;
  std::vector<int64_t> position;
  mutable std::mutex position_mu;
  // Projector thread: what was applied since the last commit, and whether the
  // database must be reopened (after a failed commit) before the next write.
  std::vector<leaves::projection::applied_event> uncommitted;
  bool broken = false;
  std::atomic<uint64_t> docs{0};
  docid_space ids;  // the projector takes and frees ids, searches find windows
  facet_names facets;
  // Readers: each query takes one, reopens it to the last commit, gives it back.
  std::mutex readers_mu;
  std::vector<std::unique_ptr<Xapian::Database>> readers;
  asio::thread_pool pool;
  std::atomic<size_t> queued{0};
  std::atomic<uint64_t> searches{0}, refused{0}, cached{0};
  // Repeated searches (a page reloaded, the home page of every visitor) are
  // answered from here while the index has not committed since: keyed by
  // the whole Xapian query (filters and visibility included) and every
  // option of the request, each entry valid for one revision. LRU.
  struct cached_result {
    Xapian::rev revision = 0;
    search_result result;
  };
  std::mutex cache_mu;
  std::list<std::pair<std::string, cached_result>> cache_lru;  // most recent first
  std::unordered_map<std::string, decltype(cache_lru)::iterator> cache_at;

  // The facets of searches of everything, per visibility and limit, for
  // the revision they were counted on; at most kMaxFacetMemo (then emptied).
  static constexpr size_t kMaxFacetMemo = 256;
  std::mutex facet_memo_mu;
  // One count at a time per memo key (held while counting; under facet_memo_mu
  // to find; emptied past kMaxFacetMemo keys, a count in progress keeps its own).
  std::unordered_map<std::string, std::shared_ptr<std::mutex>> facet_counting;
  std::shared_ptr<std::mutex> facet_counting_lock(const std::string& key) {
    std::lock_guard lk(facet_memo_mu);
    if (facet_counting.size() >= kMaxFacetMemo && !facet_counting.count(key)) facet_counting.clear();
    auto& m = facet_counting[key];
    if (!m) m = std::make_shared<std::mutex>();
    return m;
  }
  std::unordered_map<std::string, std::pair<Xapian::rev, std::vector<facet_value>>> facet_memo;
  std::optional<std::vector<facet_value>> facet_memo_get(const std::string& key, Xapian::rev rev) {
    std::lock_guard lk(facet_memo_mu);
    auto it = facet_memo.find(key);
    if (it == facet_memo.end() || it->second.first != rev) return std::nullopt;
    return it->second.second;
  }
  void facet_memo_put(const std::string& key, Xapian::rev rev, const std::vector<facet_value>& top) {
    std::lock_guard lk(facet_memo_mu);
    if (facet_memo.size() >= kMaxFacetMemo && !facet_memo.count(key)) facet_memo.clear();
    auto& slot = facet_memo[key];
    if (slot.first > rev && !slot.second.empty()) return;  // a newer count is there already
    slot = {rev, top};
  }

  std::optional<search_result> cache_get(const std::string& key, Xapian::rev rev) {
    std::lock_guard lk(cache_mu);
    auto it = cache_at.find(key);
    if (it == cache_at.end()) return std::nullopt;
    if (it->second->second.revision != rev) return std::nullopt;
    cache_lru.splice(cache_lru.begin(), cache_lru, it->second);
    return it->second->second.result;
  }
  void cache_put(const std::string& key, Xapian::rev rev, const search_result& r) {
    if (o.cached_results == 0) return;
    std::lock_guard lk(cache_mu);
    if (auto it = cache_at.find(key); it != cache_at.end()) {
      if (it->second->second.revision > rev) return;  // a newer answer is there already
      cache_lru.erase(it->second);
      cache_at.erase(it);
    }
    cache_lru.emplace_front(key, cached_result{rev, r});
    cache_at[key] = cache_lru.begin();
    while (cache_lru.size() > o.cached_results) {
      cache_at.erase(cache_lru.back().first);
      cache_lru.pop_back();
    }
  }

  explicit impl(const xapian_options& opts) : o(opts), pool(std::max<size_t>(1, opts.search_threads)) {}

  std::unique_ptr<Xapian::Database> take_reader() {
    {
      std::lock_guard lk(readers_mu);
      if (!readers.empty()) {
        auto r = std::move(readers.back());
        readers.pop_back();
        return r;
      }
    }
    return std::make_unique<Xapian::Database>(o.dir.string());
  }
  void give_back(std::unique_ptr<Xapian::Database> r) {
    std::lock_guard lk(readers_mu);
    readers.push_back(std::move(r));
  }

  // The state the index holds for a leaf: its document, a tombstone, or
  // nothing; *did is its document's id, 0 for none.
  std::optional<domain::leaf> load(const std::string& id, Xapian::docid* did) {
    const std::string unique = "Q" + id;
    auto it = db->postlist_begin(unique);
    *did = it != db->postlist_end(unique) ? *it : 0;
    if (*did) {
      const auto data = db->get_document(*did).get_data();
      boost::system::error_code ec;
      auto v = json::parse(data, ec);
      if (!ec && v.is_object()) {
        if (auto l = domain::leaf_from_json(v.get_object())) return std::move(*l);
      }
    }
    const auto t = db->get_metadata(kMetaTombstone + id);
    if (!t.empty()) {
      domain::leaf l;
      l.id = id;
      l.version = std::strtoll(t.c_str(), nullptr, 10);
      l.deleted = true;
      return l;
    }
    return std::nullopt;
  }

  result<search_result> run(const search_request& r);
};

xapian_index::xapian_index(std::unique_ptr<impl> i) : impl_(std::move(i)) {}

void xapian_index::stop() { impl_->pool.join(); }

xapian_index::~xapian_index() {
  impl_->pool.join();
  try {
    if (impl_->db) impl_->db->close();
  } catch (const Xapian::Error& e) {
    log_warn("search", "closing the index: " + e.get_description());
  }
}

status xapian_index::destroy(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  if (ec) return make_error(errc::internal, "cannot remove " + dir.string() + ": " + ec.message());
  return ok_status();
}

result<xapian_index::opened> xapian_index::open(const xapian_options& o) {
  opened out;
  auto i = std::make_unique<impl>(o);
  try {
    std::error_code ec;
    if (std::filesystem::exists(o.dir, ec)) {
      std::string schema;
      try {
        Xapian::Database probe(o.dir.string());
        schema = probe.get_metadata(kMetaSchema);
        if (schema.empty()) out.reason = "it has no index schema version";
      } catch (const Xapian::Error& e) {
        out.reason = "it cannot be opened (" + e.get_description() + ")";
      }
      if (out.reason.empty() && schema != std::to_string(kSchemaVersion))
        out.reason = "it has index schema version " + schema + ", this build writes " + std::to_string(kSchemaVersion);
      if (!out.reason.empty()) {
        log_warn("search", "rebuilding the search index under " + o.dir.string() + ": " + out.reason);
        if (auto st = destroy(o.dir); !st) return st.err();
      }
    }
    i->db = std::make_unique<Xapian::WritableDatabase>(o.dir.string(), Xapian::DB_CREATE_OR_OPEN);
    i->tg.set_database(*i->db);  // spelling data goes to the same database
    i->group = i->db->get_metadata(kMetaGroup);
    if (i->group.empty()) {
      out.created = true;
      i->group = new_group();
      i->db->set_metadata(kMetaSchema, std::to_string(kSchemaVersion));
      i->db->set_metadata(kMetaGroup, i->group);
      i->db->commit();
    }
    i->position = parse_position(i->db->get_metadata(kMetaPosition));
    i->facets.load(*i->db);
    i->ids.load(*i->db, v_created);
    i->docs = i->db->get_doccount();
  } catch (const Xapian::Error& e) {
    return index_error("open " + o.dir.string(), e);
  }
  out.index.reset(new xapian_index(std::move(i)));
  return out;
}

const std::string& xapian_index::group() const { return impl_->group; }

std::optional<std::vector<int64_t>> xapian_index::stored_position() const {
  std::lock_guard lk(impl_->position_mu);
  return impl_->position;
}

std::chrono::milliseconds xapian_index::flush_interval() const { return impl_->o.flush_interval; }

// A failed commit (a full disk) closes Xapian's WritableDatabase and drops
// what was applied since the last commit. The index keeps those events and,
// before the next apply or flush, reopens the database at its last commit and
// applies them again, so nothing acknowledged goes missing from the index.
status xapian_index::recover() {
  if (!impl_->broken) return ok_status();
  try {
    impl_->tg = Xapian::TermGenerator();  // it holds a reference to the old database, and so its write lock
    impl_->db.reset();
    impl_->db = std::make_unique<Xapian::WritableDatabase>(impl_->o.dir.string(), Xapian::DB_CREATE_OR_OPEN);
    impl_->tg.set_database(*impl_->db);
  } catch (const Xapian::Error& e) {
    impl_->db.reset();
    return index_error("reopen", e);
  }
  impl_->facets.roll_back();
  try {
    impl_->ids.load(*impl_->db, v_created);
  } catch (const Xapian::Error& e) {
    impl_->db.reset();
    return index_error("reopen", e);
  }
  impl_->broken = false;
  auto again = apply_events(impl_->uncommitted);
  if (!again) return again.err();
  log_info("search", "the index was reopened at its last commit and " + std::to_string(impl_->uncommitted.size()) +
                         " uncommitted events applied again");
  return ok_status();
}

result<leaves::projection::apply_stats> xapian_index::apply(const std::vector<leaves::projection::applied_event>& batch) {
  if (auto st = recover(); !st) return st.err();
  auto r = apply_events(batch);
  if (r) impl_->uncommitted.insert(impl_->uncommitted.end(), batch.begin(), batch.end());
  return r;
}

result<leaves::projection::apply_stats> xapian_index::apply_events(
    const std::vector<leaves::projection::applied_event>& batch) {
  leaves::projection::apply_stats stats;
  try {
    // Later events of a batch see earlier ones through this overlay.
    struct slot {
      std::optional<domain::leaf> state;
      bool was_tombstone = false;
      bool changed = false;
      std::optional<int64_t> created_before;  // of the leaf as the index held it
      Xapian::docid did = 0;                  // its document, 0 for none
    };
    std::map<std::string, slot> states;
    for (const auto& ae : batch) {
      const auto& id = ae.ev.aggregate_id;
      auto it = states.find(id);
      if (it == states.end()) {
        Xapian::docid did = 0;
        auto s = impl_->load(id, &did);
        const bool tomb = s && s->deleted;
        std::optional<int64_t> created;
        if (s && !tomb) created = s->created_at;
        it = states.emplace(id, slot{std::move(s), tomb, false, created, did}).first;
      }
      auto step = leaves::projection::fold_leaf(it->second.state, ae.ev);
      if (step.skip) {
        ++stats.skipped;
        continue;
      }
      it->second.state = std::move(step.next);
      it->second.changed = true;
      ++stats.applied;
    }
    // New leaves take their ids in creation order (docid_space), whatever
    // the order of their ids in `states`.
    std::vector<std::pair<const std::string*, slot*>> fresh;
    for (auto& [id, sl] : states) {
      if (!sl.changed || !sl.state) continue;
      const Xapian::docid did = sl.did;  // each leaf's document is written once a batch, below
      if (sl.state->deleted) {
        if (did) {
          impl_->db->delete_document(did);
          impl_->ids.give_back(did);
        }
        impl_->db->set_metadata(kMetaTombstone + id, std::to_string(sl.state->version));
      } else if (did) {
        // A leaf keeps its id; a new creation time goes into the bounds
        // first (Xapian may write the document out before the next commit).
        if (sl.created_before && *sl.created_before != sl.state->created_at) impl_->ids.raise(did, sl.state->created_at);
        impl_->db->replace_document(did, make_document(*sl.state, impl_->tg, &impl_->facets, impl_->db.get()));
      } else {
        fresh.emplace_back(&id, &sl);
      }
    }
    std::stable_sort(fresh.begin(), fresh.end(),
                     [](const auto& a, const auto& b) { return a.second->state->created_at < b.second->state->created_at; });
    for (auto& [id, sl] : fresh) {
      Xapian::Document doc = make_document(*sl->state, impl_->tg, &impl_->facets, impl_->db.get());
      if (const Xapian::docid did = impl_->ids.take(sl->state->created_at)) {
        impl_->db->replace_document(did, doc);
      } else {
        impl_->broken = true;  // reopened at the last commit before the next write
        return make_error(errc::unavailable, "search index: no document id is left", "index_unavailable");
      }
      if (sl->was_tombstone) impl_->db->set_metadata(kMetaTombstone + *id, "");  // re-created: an empty value removes it
    }
  } catch (const Xapian::Error& e) {
    impl_->broken = true;
    return index_error("apply", e);
  }
  return stats;
}

status xapian_index::flush(const std::vector<int64_t>& next) {
  if (!has_room(impl_->o.dir, impl_->o.min_free_bytes)) {
    return make_error(errc::unavailable, "the server's disk is full: the search index cannot commit",
                      "insufficient_storage");
  }
  if (auto st = recover(); !st) return st;
  try {
    impl_->db->set_metadata(kMetaPosition, format_position(next));
    impl_->db->commit();
    impl_->ids.committed();
    impl_->docs = impl_->db->get_doccount();
  } catch (const Xapian::Error& e) {
    impl_->broken = true;
    return index_error("commit", e);
  }
  impl_->facets.committed();
  impl_->uncommitted.clear();
  std::lock_guard lk(impl_->position_mu);
  impl_->position = next;
  return ok_status();
}

status xapian_index::clear() {
  try {
    // Every document and every tombstone; the group stays (replay_all reads from 0).
    if (impl_->db) impl_->db->close();
    impl_->tg = Xapian::TermGenerator();
    impl_->db.reset();
    impl_->uncommitted.clear();
    impl_->broken = false;
    impl_->facets.reset();
    impl_->ids.clear();
    const std::string group = impl_->group;
    if (auto st = destroy(impl_->o.dir); !st) return st;
    impl_->db = std::make_unique<Xapian::WritableDatabase>(impl_->o.dir.string(), Xapian::DB_CREATE_OR_OPEN);
    impl_->tg.set_database(*impl_->db);
    impl_->db->set_metadata(kMetaSchema, std::to_string(kSchemaVersion));
    impl_->db->set_metadata(kMetaGroup, group);
    impl_->db->commit();
    impl_->docs = 0;
    {
      std::lock_guard lk(impl_->position_mu);
      impl_->position.clear();
    }
    std::lock_guard lk(impl_->readers_mu);
    impl_->readers.clear();
  } catch (const Xapian::Error& e) {
    return index_error("clear", e);
  }
  return ok_status();
}

uint64_t xapian_index::documents() const { return impl_->docs.load(); }

result<std::map<std::string, int64_t>> xapian_index::versions() const {
  std::map<std::string, int64_t> out;
  try {
    Xapian::Database db(impl_->o.dir.string());
    for (auto it = db.postlist_begin(""); it != db.postlist_end(""); ++it) {
      boost::system::error_code ec;
      auto v = json::parse(db.get_document(*it).get_data(), ec);
      if (ec || !v.is_object()) return make_error(errc::internal, "document " + std::to_string(*it) + " is not a leaf");
      auto l = domain::leaf_from_json(v.get_object());
      if (!l) return make_error(errc::internal, "document " + std::to_string(*it) + ": " + l.err().message);
      out[l->id] = l->version;
    }
  } catch (const Xapian::Error& e) {
    return index_error("read", e);
  }
  return out;
}
uint64_t xapian_index::searches_total() const { return impl_->searches.load(); }
uint64_t xapian_index::searches_refused() const { return impl_->refused.load(); }
uint64_t xapian_index::searches_cached() const { return impl_->cached.load(); }

uint64_t xapian_index::disk_bytes() const {
  uint64_t n = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(impl_->o.dir, ec)) {
    if (e.is_regular_file(ec)) n += e.file_size(ec);
  }
  return n;
}

Xapian::Document leaf_document(const domain::leaf& l, Xapian::TermGenerator& tg, Xapian::WritableDatabase& db) {
  static facet_names names;  // one database per process: the benchmark's baseline
  return make_document(l, tg, &names, &db);
}

status xapian_index::probe(const std::filesystem::path& dir) {
  try {
    Xapian::Database db(dir.string());
    const auto schema = db.get_metadata(kMetaSchema);
    if (schema != std::to_string(kSchemaVersion)) {
      return make_error(errc::precondition_failed,
                        "index schema " + (schema.empty() ? std::string("unknown") : schema) + ", this build writes " +
                            std::to_string(kSchemaVersion) + " (the server rebuilds it at start)",
                        "index_schema");
    }
  } catch (const Xapian::Error& e) {
    return index_error("open " + dir.string(), e);
  }
  return ok_status();
}

result<bool> leaf_matches(const std::optional<node>& q, const domain::leaf& l) {
  if (!q) return true;
  try {
    Xapian::WritableDatabase db(std::string(), Xapian::DB_BACKEND_INMEMORY);
    Xapian::TermGenerator tg;  // no spelling data: the in-memory backend keeps none
    db.add_document(make_document(l, tg, nullptr, nullptr, false));
    const Xapian::Stem english("english");
    translator tr{english, nullptr};
    Xapian::Enquire e(db);
    e.set_query(tr(*q));
    return e.get_mset(0, 1).size() > 0;
  } catch (const Xapian::Error& e) {
    return index_error("match", e);
  }
}

result<search_result> xapian_index::impl::run(const search_request& r) {
  using Q = Xapian::Query;
  const Xapian::Stem english("english");
  std::vector<std::string> bare_words;
  translator tr{english, &bare_words, r.marks ? &*r.marks : nullptr};
  Q q = r.q ? tr(*r.q) : match_all();
  std::vector<Q> filters;
  for (const auto& t : r.tags) filters.emplace_back(term("K", t));
  if (r.user) filters.push_back(user_query(*r.user));
  if (r.domain) filters.emplace_back(term("H", host_of(*r.domain)));
  if (r.since_ms || r.until_ms) filters.push_back(range_query(r.since_ms, r.until_ms));
  std::vector<Q> excluded;
  // (The flag's query is built only when asked for: with marks it holds
  // one term per marked leaf.)
  auto flag_filter = [&](const std::optional<bool>& want, const char* term, uint8_t bit) {
    if (!want) return;
    Q flag = bit ? tr.flag_query(term, bit) : Q(term);
    if (*want) filters.push_back(std::move(flag));
    else excluded.push_back(std::move(flag));
  };
  flag_filter(r.starred, "XS", domain::mark_starred);
  flag_filter(r.archived, "XA", domain::mark_archived);
  flag_filter(r.is_public, "XP", 0);
  if (r.visible_to) filters.push_back(Q(Q::OP_OR, Q("XP"), Q("XI" + std::to_string(*r.visible_to))));
  if (!filters.empty()) q = Q(Q::OP_FILTER, q, Q(Q::OP_AND, filters.begin(), filters.end()));
  if (!excluded.empty()) q = Q(Q::OP_AND_NOT, q, Q(Q::OP_OR, excluded.begin(), excluded.end()));

  auto reader = take_reader();
  for (int attempt = 0;; ++attempt) {
    try {
      reader->reopen();
      const Xapian::rev revision = reader->get_revision();
      std::string key;
      if (o.cached_results > 0) {
        key = q.get_description();
        key += '|' + std::to_string(static_cast<int>(r.sort)) + (r.descending ? "d" : "a") + '|' +
               std::to_string(r.offset) + '|' + std::to_string(r.limit) + '|' + (r.facet_tags ? "t" : "") +
               (r.facet_users ? "u" : "") + (r.facet_domains ? "h" : "") + std::to_string(r.facet_limit) + '|' +
               (r.q ? "q" : "") + (r.exact ? "x" : "") + '|' + r.text;
        // A query of many terms (a user's many marks) is not worth keeping.
        if (key.size() > kMaxCachedKeyBytes) key.clear();
        if (!key.empty()) {
          if (auto hit = cache_get(key, revision)) {
            give_back(std::move(reader));
            cached.fetch_add(1, std::memory_order_relaxed);
            return std::move(*hit);
          }
        }
      }
      const bool by_relevance = r.sort == sort_by::relevance && r.q;
      // Everything the caller may see: facet counts from the facet terms'
      // frequencies (add_facet_terms), not from every leaf's facet slot.
      // (Only public leaves, as an anonymous caller sees, is such a search too.)
      const bool everything = !r.q && r.tags.empty() && !r.user && !r.domain && !r.since_ms && !r.until_ms &&
                              !r.starred && !r.archived && r.is_public != false;
      const bool want_facets = r.facet_tags || r.facet_users || r.facet_domains;
      const Xapian::doccount all = reader->get_doccount();
      search_result out;
      std::optional<facet_spy> spy;
      // Runs `query` (the whole query, or it within a window) with the
      // request's order, counting its facets when asked.
      auto run = [&](const Xapian::Query& query) {
        Xapian::Enquire enq(*reader);
        enq.set_query(query);
        enq.set_time_limit(kQueryTimeLimitSeconds);
        if (r.sort != sort_by::relevance) {
          const Xapian::valueno s =
              r.sort == sort_by::created ? v_created : r.sort == sort_by::updated ? v_updated : v_title;
          enq.set_sort_by_value_then_relevance(s, r.descending);
        } else if (!r.q) {
          enq.set_sort_by_value(v_created, true);  // nothing to rank: newest first
        } else {
          // Equal weights (a query of filters alone) by id, which follows
          // creation time (docid_space): newest first.
          enq.set_docid_order(Xapian::Enquire::DESCENDING);
        }
        spy.reset();
        if (want_facets && !everything) enq.add_matchspy(&spy.emplace(facets, r.facet_tags, r.facet_users, r.facet_domains));
        const Xapian::doccount check = std::min<Xapian::doccount>(std::max<Xapian::doccount>(all, 1), kExactUpTo);
        return enq.get_mset(static_cast<Xapian::doccount>(r.offset), static_cast<Xapian::doccount>(r.limit + 1),
                            check);
      };
      // More matches than the index walks (exact_up_to): rank, count and
      // estimate on the newest (oldest, for oldest first) leaves that hold
      // about that many of them; a window too small for the page, or that
      // held far fewer matches than estimated, is widened.
      std::optional<Xapian::MSet> sampled;
      const bool newest = !(r.sort == sort_by::created && !r.descending);
      if (!r.exact && o.exact_up_to > 0 && all > o.exact_up_to &&
          (r.sort == sort_by::relevance || r.sort == sort_by::created) && !(r.q && has_range(*r.q))) {
        Xapian::Enquire probe(*reader);
        probe.set_query(q);
        // Xapian's estimate of a phrase is far too low ("command line": 50
        // for 11,917 at a million leaves), so an eighth of the upper bound
        // (the rarer word's count) is the least taken; an estimate too high
        // only makes a first window too small, which is widened.
        // (Nor can it match more leaves than its created_at range holds.)
        const Xapian::MSet counted = probe.get_mset(0, 0);
        const double span = r.since_ms || r.until_ms ? docs_in_range(*reader, r.since_ms, r.until_ms) : all;
        const double estimate = std::min<double>(
            span, std::max(counted.get_matches_estimated(), counted.get_matches_upper_bound() / 8));
        if (estimate > o.exact_up_to) {
          // By creation time a page is exact in any window that holds it, so
          // the window grows with the offset. By relevance the window must
          // not depend on the page (or pages would rank different leaves):
          // it pages through the window's matches and ends there.
          const bool by_time = r.sort == sort_by::created || !r.q;
          const size_t at_least = o.exact_up_to / 2;
          const double need = static_cast<double>(by_time ? std::max(at_least, r.offset + r.limit + 1) : at_least);
          double want = static_cast<double>(o.exact_up_to) * span / estimate;
          // The newest leaves by id (docid_space), which splits a burst of
          // saves that a time bucket holds whole; not past 2104 (where ids
          // may fall below created seconds) nor inside a created_at range.
          const std::string hi_v = reader->get_value_upper_bound(v_created);
          bool by_ids = newest && !r.since_ms && !r.until_ms && !hi_v.empty() &&
                              seconds_of(static_cast<int64_t>(Xapian::sortable_unserialise(hi_v))) <
                                  docid_space::kLastPreferred;
          const double first_want = want;
          int empty_rounds = 0;
          for (int round = 0; round < 8 && want < all; ++round) {
            // The window: `in`, holding `docs` leaves, every leaf created
            // after `older_ms` (newest) or before `edge_ms` (oldest) among them.
            std::optional<Xapian::Query> in;
            double docs = 0, with_run = 0;
            int64_t older_ms = 0, edge_ms = 0, strays_ms = docid_space::kNone;
            if (by_ids) {
              const auto e = ids.newest_ids(static_cast<Xapian::doccount>(want) + 1, kMaxRunsLooked);
              if (e && e->docs >= all) break;
              if (e && e->older_ms != docid_space::kNotKnown) {  // (a leaf without a time: by bucket)
                in = Xapian::Query((new ids_from(e->from, e->docs))->release());
                docs = e->docs;
                with_run = e->with_run;
                older_ms = e->older_ms;
                strays_ms = e->strays_ms;
                edge_ms = older_ms + 1;
              }
            }
            if (!in) {
              const window w =
                  choose_window(*reader, static_cast<Xapian::doccount>(want) + 1, newest, r.since_ms, r.until_ms);
              if (w.all) break;
              in = Xapian::Query(Xapian::Query::OP_OR, w.terms.begin(), w.terms.end());
              docs = with_run = w.docs;
              edge_ms = w.edge_ms;
              older_ms = w.edge_ms - 1;
            }
            Xapian::MSet mw = run(Xapian::Query(Xapian::Query::OP_FILTER, q, *in));
            const double got = mw.get_matches_estimated();
            // By creation time, the page (and the leaf after it) must be
            // leaves created after every leaf outside the window.
            bool whole = got >= need;
            if (whole && by_time && newest) {
              whole = mw.size() == r.limit + 1;
              if (whole) {
                const auto v = std::prev(mw.end()).get_document().get_value(v_created);
                const auto last_ms = static_cast<int64_t>(Xapian::sortable_unserialise(v));
                whole = last_ms > older_ms;
                // Not newer than a leaf whose id is below its time (its
                // created_at changed): windows of time from here on.
                if (!whole && strays_ms != docid_space::kNone && last_ms <= strays_ms) by_ids = false;
              }
            }
            if (whole) {
              search_result::sample_info si;
              si.matches = mw.get_matches_estimated();
              si.edge_ms = edge_ms;
              si.newest = newest;
              out.window_matches = si.matches;
              // Everything, newest (oldest) first: page, total and facets
              // are exact (below), nothing to say.
              if (!everything) out.sample = si;
              // The rate of matches in the window, over the whole index (or
              // the leaves of the searched created_at range).
              // (Both counted the same way, so the buckets at the range's
              // edge that hold leaves outside it weigh on both alike.)
              double in_window = docs;
              if (r.since_ms || r.until_ms) {
                in_window = newest ? docs_in_range(*reader, std::max(edge_ms, r.since_ms.value_or(edge_ms)), r.until_ms)
                                   : docs_in_range(*reader, r.since_ms, std::min(edge_ms, r.until_ms.value_or(edge_ms)));
              }
              // (Within what Xapian knows for sure: a window of other leaves,
              // a burst, dilutes the rate; a single word's count is exact.)
              const double scaled = got * std::max(span, got) / std::max(in_window, got);
              const double lo = std::max<double>(got, counted.get_matches_lower_bound());
              const double hi = std::max<double>(lo, counted.get_matches_upper_bound());
              out.total = static_cast<uint64_t>(std::clamp(scaled, lo, hi) + 0.5);
              sampled = std::move(mw);
              break;
            }
            // Too few matches: grow by what is missing. None at all (a burst
            // of other leaves): past the window's run, by the first window
            // again, and twice that each time.
            if (got < 1) {
              want = with_run + first_want * (1 << empty_rounds++);
            } else {
              want = std::max<double>(docs, want) * std::min(16.0, std::max(2.0, 1.25 * need / got));
            }
          }
        }
      }
      Xapian::MSet m = sampled ? std::move(*sampled) : run(q);
      const bool walked_all = m.get_matches_lower_bound() == m.get_matches_upper_bound();
      if (!sampled) {
        out.total = m.get_matches_estimated();
        out.total_exact = walked_all;
      } else if (everything) {
        // Every leaf the caller may see is a match: counted from terms.
        if (r.is_public) {
          out.total = reader->get_termfreq("XP");
        } else if (!r.visible_to) {
          out.total = all;
        } else {
          // Public leaves and its own: both, less those that are both.
          const std::string own = "XI" + std::to_string(*r.visible_to);
          Xapian::Enquire both(*reader);
          both.set_query(Xapian::Query(Xapian::Query::OP_AND, Xapian::Query("XP"), Xapian::Query(own)));
          const Xapian::doccount overlap = both.get_mset(0, 0, all).get_matches_estimated();
          out.total = reader->get_termfreq("XP") + reader->get_termfreq(own) - overlap;
        }
      } else {
        out.total_exact = false;
      }
      // (A walk stops counting at kExactUpTo matches: its facets too.)
      out.facets_exact = !spy || (!sampled && walked_all);
      size_t n = 0;
      for (auto it = m.begin(); it != m.end(); ++it) {
        if (n++ == r.limit) {
          out.more = true;
          break;
        }
        const auto data = it.get_document().get_data();
        boost::system::error_code ec;
        auto v = json::parse(data, ec);
        if (ec || !v.is_object()) continue;
        auto l = domain::leaf_from_json(v.get_object());
        if (!l) continue;
        hit h;
        const std::string text = body_text(*l);
        if (r.q) {
          h.snippet = m.snippet(text.empty() ? l->title : text, 240, english,
                                Xapian::MSet::SNIPPET_BACKGROUND_MODEL | Xapian::MSet::SNIPPET_EXHAUSTIVE,
                                "<mark>", "</mark>", "…");
        } else {
          h.snippet = plain_snippet(text, 240);
        }
        h.score = by_relevance ? it.get_weight() : 0;
        l->content.reset();
        l->content_text.reset();
        h.leaf = std::move(*l);
        out.items.push_back(std::move(h));
      }
      if (out.total_exact && out.total <= r.offset + out.items.size()) out.more = false;
      auto facet = [&](bool wanted, facet_names::kind k, char letter) {
        if (!wanted) return std::vector<facet_value>{};
        if (spy) return spy->top(k, r.facet_limit);
        // The facets of everything depend only on the revision and the
        // visibility, and cost one step per distinct value (tens of
        // thousands of users or hosts at a million leaves): kept per revision.
        std::string memo_key(1, letter);
        memo_key += r.is_public ? "P" : !r.visible_to ? "A" : "I" + std::to_string(*r.visible_to);
        memo_key += ':' + std::to_string(r.facet_limit);
        if (auto hit = facet_memo_get(memo_key, revision)) return std::move(*hit);
        // One count of a key at a time: the searches that missed with it wait
        // for its answer rather than all counting (after a commit, every
        // visitor's home page at once).
        const auto key_lock = facet_counting_lock(memo_key);
        std::lock_guard counting(*key_lock);
        if (auto hit = facet_memo_get(memo_key, revision)) return std::move(*hit);
        std::vector<uint32_t> counts;
        if (r.is_public) {
          count_facet_terms(*reader, std::string("XFP") + letter, counts);
        } else if (!r.visible_to) {
          count_facet_terms(*reader, std::string("XF") + letter, counts);
        } else {
          count_facet_terms(*reader, std::string("XFP") + letter, counts);
          count_facet_terms(*reader, "XFI" + std::to_string(*r.visible_to) + ':' + letter, counts);
        }
        auto top = top_facets(counts, facets, k, r.facet_limit);
        facet_memo_put(memo_key, revision, top);
        return top;
      };
      out.tags = facet(r.facet_tags, facet_names::tag, 't');
      out.users = facet(r.facet_users, facet_names::user, 'u');
      out.domains = facet(r.facet_domains, facet_names::host, 'h');
      if (out.total == 0 && !bare_words.empty()) {
        std::string fixed = r.text;
        bool changed = false;
        for (const auto& w : bare_words) {
          if (!has_letter(w)) continue;  // a number is not corrected (into "x86" for "86", say)
          auto s = reader->get_spelling_suggestion(lower(w), 2);
          if (s.empty()) continue;
          if (auto at = fixed.find(w); at != std::string::npos) {
            fixed.replace(at, w.size(), s);
            changed = true;
          }
        }
        if (changed) out.suggestion = fixed;
      }
      give_back(std::move(reader));
      if (!key.empty()) cache_put(key, revision, out);
      return out;
    } catch (const Xapian::DatabaseModifiedError&) {
      if (attempt < 3) continue;  // a commit moved on under the reader: reopen and ask again
      return make_error(errc::unavailable, "search index: the index changed too fast; try again",
                        "index_unavailable");
    } catch (const Xapian::Error& e) {
      return index_error("search", e);
    }
  }
}

result<search_result> xapian_index::search(const search_request& r) {
  impl_->searches.fetch_add(1, std::memory_order_relaxed);
  return impl_->run(r);
}

result<std::vector<facet_value>> xapian_index::tag_prefix(const std::string& prefix, size_t limit) {
  constexpr size_t kScan = 20000;  // tags looked at per call
  auto reader = impl_->take_reader();
  try {
    reader->reopen();
    std::vector<facet_value> out;
    const std::string p = "K" + prefix;
    size_t seen = 0;
    for (auto it = reader->allterms_begin(p); it != reader->allterms_end(p) && seen < kScan; ++it, ++seen) {
      out.push_back({(*it).substr(1), static_cast<int64_t>(it.get_termfreq())});
    }
    std::sort(out.begin(), out.end(), [](const facet_value& a, const facet_value& b) {
      return a.count != b.count ? a.count > b.count : a.value < b.value;
    });
    if (out.size() > limit) out.resize(limit);
    impl_->give_back(std::move(reader));
    return out;
  } catch (const Xapian::Error& e) {
    return index_error("tags", e);
  }
}

namespace {

// co_spawn needs a default-constructible value: the result travels in an optional.
asio::awaitable<std::optional<result<search_result>>> search_on_pool(xapian_index* ix, search_request r) {
  co_return ix->search(r);
}

asio::awaitable<std::optional<result<std::vector<facet_value>>>> tags_on_pool(xapian_index* ix, std::string prefix,
                                                                              size_t limit) {
  co_return ix->tag_prefix(prefix, limit);
}

// Counts a queued search for its lifetime.
struct queued_slot {
  std::atomic<size_t>& n;
  ~queued_slot() { n.fetch_sub(1); }
};

}  // namespace

asio::awaitable<result<search_result>> xapian_index::async_search(search_request r) {
  if (impl_->queued.fetch_add(1) >= impl_->o.max_queued_searches) {
    impl_->queued.fetch_sub(1);
    impl_->refused.fetch_add(1, std::memory_order_relaxed);
    co_return make_error(errc::unavailable, "too many searches in progress; try again", "search_busy");
  }
  queued_slot slot{impl_->queued};
  auto out = co_await asio::co_spawn(impl_->pool, search_on_pool(this, std::move(r)), asio::use_awaitable);
  co_return std::move(*out);
}

asio::awaitable<result<std::vector<facet_value>>> xapian_index::async_tag_prefix(std::string prefix, size_t limit) {
  if (impl_->queued.fetch_add(1) >= impl_->o.max_queued_searches) {
    impl_->queued.fetch_sub(1);
    impl_->refused.fetch_add(1, std::memory_order_relaxed);
    co_return make_error(errc::unavailable, "too many searches in progress; try again", "search_busy");
  }
  queued_slot slot{impl_->queued};
  auto out = co_await asio::co_spawn(impl_->pool, tags_on_pool(this, std::move(prefix), limit), asio::use_awaitable);
  co_return std::move(*out);
}

}  // namespace leaves::search
