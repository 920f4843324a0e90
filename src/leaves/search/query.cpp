#include "leaves/search/query.h"

#include "leaves/base/time.h"

#include <cctype>

namespace leaves::search {
namespace {

error bad_at(size_t pos, const std::string& what) {
  return make_error(errc::invalid_argument, "at position " + std::to_string(pos + 1) + ": " + what, "invalid_query");
}

bool valid_utf8(std::string_view s, size_t& bad) {
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (n == 0 || i + n > s.size()) {
      bad = i;
      return false;
    }
    for (size_t k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) {
        bad = i;
        return false;
      }
    }
    i += n;
  }
  return true;
}

std::optional<int64_t> parse_date(std::string_view s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return std::nullopt;
  auto num = [&](size_t at, size_t len) -> int64_t {
    int64_t v = 0;
    for (size_t i = at; i < at + len; ++i) {
      if (!std::isdigit(static_cast<unsigned char>(s[i]))) return -1;
      v = v * 10 + (s[i] - '0');
    }
    return v;
  };
  const int64_t y = num(0, 4), m = num(5, 2), d = num(8, 2);
  if (y < 1970 || m < 1 || m > 12 || d < 1 || static_cast<unsigned>(d) > days_in_month(y, static_cast<unsigned>(m))) {
    return std::nullopt;
  }
  return days_from_civil(y, static_cast<unsigned>(m), static_cast<unsigned>(d)) * 86400000;
}

class parser {
 public:
  parser(std::string_view q, match_mode m, const query_limits& lim) : q_(q), mode_(m), lim_(lim) {}

  result<std::optional<node>> run() {
    auto items = sequence(0);
    if (!items) return items.err();
    if (pos_ < q_.size()) return bad_at(pos_, "unbalanced ')'");
    if (items->empty()) return std::optional<node>{};
    return std::optional<node>(combine(std::move(*items), true));
  }

 private:
  std::string_view q_;
  match_mode mode_;
  query_limits lim_;
  size_t pos_ = 0;
  size_t terms_ = 0;

  void skip_space() {
    while (pos_ < q_.size() && (q_[pos_] == ' ' || q_[pos_] == '\t' || q_[pos_] == '\n' || q_[pos_] == '\r')) ++pos_;
  }
  bool at_end() const { return pos_ >= q_.size(); }
  static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
  static bool word_char(char c) { return !is_space(c) && c != '(' && c != ')' && c != '"'; }

  status count() {
    if (++terms_ > lim_.max_terms) return bad_at(pos_, "more than " + std::to_string(lim_.max_terms) + " terms");
    return ok_status();
  }

  // The clauses up to ')' or the end.
  result<std::vector<node>> sequence(size_t depth) {
    std::vector<node> out;
    for (;;) {
      skip_space();
      if (at_end() || q_[pos_] == ')') return out;
      auto c = or_expr(depth);
      if (!c) return c.err();
      out.push_back(std::move(*c));
    }
  }

  bool peek_or() {
    skip_space();
    return q_.substr(pos_, 2) == "OR" && (pos_ + 2 == q_.size() || is_space(q_[pos_ + 2]) || q_[pos_ + 2] == '(' ||
                                          q_[pos_ + 2] == '"' || q_[pos_ + 2] == '-' || q_[pos_ + 2] == '#');
  }

  result<node> or_expr(size_t depth) {
    if (peek_or()) return bad_at(pos_, "OR needs something on its left");
    auto first = unary(depth);
    if (!first) return first.err();
    std::vector<node> alts;
    alts.push_back(std::move(*first));
    while (peek_or()) {
      const size_t at = pos_;
      pos_ += 2;
      skip_space();
      if (at_end() || q_[pos_] == ')' || peek_or()) return bad_at(at, "OR needs something on its right");
      auto next = unary(depth);
      if (!next) return next.err();
      alts.push_back(std::move(*next));
    }
    if (alts.size() == 1) return std::move(alts[0]);
    node n;
    n.k = node::kind::any_of;
    n.children = std::move(alts);
    return n;
  }

  result<node> unary(size_t depth) {
    skip_space();
    if (q_[pos_] == '-') {
      const size_t at = pos_++;
      if (at_end() || is_space(q_[pos_]) || q_[pos_] == ')') return bad_at(at, "'-' must be followed by what to exclude");
      auto inner = atom(depth);
      if (!inner) return inner.err();
      node n;
      n.k = node::kind::none_of;
      n.children.push_back(std::move(*inner));
      return n;
    }
    return atom(depth);
  }

  result<std::string> quoted() {
    const size_t open = pos_++;
    const auto close = q_.find('"', pos_);
    if (close == std::string_view::npos) return bad_at(open, "unterminated quote");
    std::string text(q_.substr(pos_, close - pos_));
    pos_ = close + 1;
    bool blank = true;
    for (char c : text) blank = blank && is_space(c);
    if (blank) return bad_at(open, "empty phrase");
    for (size_t i = 0; i < text.size(); ++i) {
      if (i == 0 || (is_space(text[i - 1]) && !is_space(text[i]))) {
        if (auto st = count(); !st) return st.err();
      }
    }
    return text;
  }

  result<node> atom(size_t depth) {
    skip_space();
    const size_t start = pos_;
    const char c = q_[pos_];
    if (c == '(') {
      if (depth + 1 > lim_.max_depth) return bad_at(pos_, "parentheses nested deeper than " + std::to_string(lim_.max_depth));
      ++pos_;
      auto inner = sequence(depth + 1);
      if (!inner) return inner.err();
      if (at_end()) return bad_at(start, "unbalanced '('");
      ++pos_;  // ')'
      if (inner->empty()) return bad_at(start, "empty parentheses");
      return combine(std::move(*inner), false);
    }
    if (c == ')') return bad_at(pos_, "unbalanced ')'");
    if (c == '"') {
      auto text = quoted();
      if (!text) return text.err();
      node n;
      n.k = node::kind::phrase;
      n.text = std::move(*text);
      return n;
    }
    while (pos_ < q_.size() && word_char(q_[pos_]) && q_[pos_] != ':') ++pos_;
    std::string word(q_.substr(start, pos_ - start));
    if (pos_ < q_.size() && q_[pos_] == ':') return field_clause(start, word);
    if (!word.empty() && word[0] == '#') {
      if (word.size() == 1) return bad_at(start, "'#' must be followed by a tag");
      if (auto st = count(); !st) return st.err();
      node n;
      n.f = field::tag;
      n.text = word.substr(1);
      return n;
    }
    if (auto st = count(); !st) return st.err();
    node n;
    n.text = std::move(word);
    return n;
  }

  // NAME:VALUE, with pos_ at the ':'.
  result<node> field_clause(size_t start, const std::string& name_raw) {
    std::string name;
    for (char ch : name_raw) name.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(ch))));
    ++pos_;  // ':'
    const size_t vstart = pos_;
    static const std::pair<const char*, field> fields[] = {{"tag", field::tag},     {"user", field::user},
                                                           {"domain", field::domain}, {"title", field::title},
                                                           {"url", field::url},     {"lang", field::lang}};
    std::optional<field> f;
    for (const auto& [n, fv] : fields)
      if (name == n) f = fv;
    const bool known = f || name == "is" || name == "after" || name == "before";
    if (!known) {
      // Not a field: a word with a colon in it ("c++:", "10:30").
      while (pos_ < q_.size() && word_char(q_[pos_])) ++pos_;
      if (auto st = count(); !st) return st.err();
      node n;
      n.text = std::string(q_.substr(start, pos_ - start));
      return n;
    }
    if (pos_ < q_.size() && q_[pos_] == '"') {
      if (!f) return bad_at(vstart, name + ": takes a word, not a phrase");
      auto text = quoted();
      if (!text) return text.err();
      node n;
      n.f = *f;
      n.text = std::move(*text);
      n.k = (*f == field::title || *f == field::url) ? node::kind::phrase : node::kind::term;
      return n;
    }
    while (pos_ < q_.size() && word_char(q_[pos_])) ++pos_;
    const std::string value(q_.substr(vstart, pos_ - vstart));
    if (value.empty()) return bad_at(start, name + ": needs a value");
    if (auto st = count(); !st) return st.err();
    node n;
    if (f) {
      n.f = *f;
      n.text = value;
      return n;
    }
    if (name == "is") {
      n.k = node::kind::flag;
      if (value == "starred") n.fl = flag::starred;
      else if (value == "archived") n.fl = flag::archived;
      else if (value == "public") n.fl = flag::is_public;
      else return bad_at(vstart, "is: takes starred, archived or public, not '" + value + "'");
      return n;
    }
    auto day = parse_date(value);
    if (!day) return bad_at(vstart, name + ": takes a date YYYY-MM-DD (from 1970), not '" + value + "'");
    n.k = node::kind::range;
    (name == "after" ? n.lo_ms : n.hi_ms) = *day;
    return n;
  }

  // One node of a list of clauses: AND of them; at the top level with
  // match=any, the bare words and phrases are OR'd together first.
  node combine(std::vector<node> items, bool top) {
    if (top && mode_ == match_mode::any) {
      std::vector<node> words, rest;
      for (auto& n : items) {
        const bool bare = (n.k == node::kind::term || n.k == node::kind::phrase) && n.f == field::text;
        (bare ? words : rest).push_back(std::move(n));
      }
      if (words.size() > 1) {
        node any;
        any.k = node::kind::any_of;
        any.children = std::move(words);
        rest.insert(rest.begin(), std::move(any));
      } else if (words.size() == 1) {
        rest.insert(rest.begin(), std::move(words[0]));
      }
      items = std::move(rest);
    }
    if (items.size() == 1) return std::move(items[0]);
    node all;
    all.k = node::kind::all_of;
    all.children = std::move(items);
    return all;
  }
};

const char* field_name(field f) {
  switch (f) {
    case field::text: return "term";
    case field::title: return "title";
    case field::url: return "url";
    case field::tag: return "tag";
    case field::user: return "user";
    case field::domain: return "domain";
    case field::lang: return "lang";
  }
  return "?";
}

}  // namespace

result<std::optional<node>> parse_query(std::string_view q, match_mode m, const query_limits& lim) {
  if (q.size() > lim.max_bytes)
    return bad_at(lim.max_bytes, "the query is longer than " + std::to_string(lim.max_bytes) + " bytes");
  size_t bad = 0;
  if (!valid_utf8(q, bad)) return bad_at(bad, "not valid UTF-8");
  for (size_t i = 0; i < q.size(); ++i) {
    const auto c = static_cast<unsigned char>(q[i]);
    if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7F) return bad_at(i, "a control character");
  }
  return parser(q, m, lim).run();
}

std::string to_string(const node& n) {
  auto list = [&](const char* op) {
    std::string s = std::string(op) + "(";
    for (size_t i = 0; i < n.children.size(); ++i) s += (i ? ", " : "") + to_string(n.children[i]);
    return s + ")";
  };
  switch (n.k) {
    case node::kind::term: return std::string(field_name(n.f)) + ":" + n.text;
    case node::kind::phrase:
      return std::string(n.f == field::text ? "phrase" : std::string(field_name(n.f)) + "-phrase") + ":\"" + n.text + "\"";
    case node::kind::flag:
      return n.fl == flag::starred ? "is:starred" : n.fl == flag::archived ? "is:archived" : "is:public";
    case node::kind::range:
      return "range:[" + (n.lo_ms ? std::to_string(*n.lo_ms) : "") + "," + (n.hi_ms ? std::to_string(*n.hi_ms) : "") +
             ")";
    case node::kind::all_of: return list("AND");
    case node::kind::any_of: return list("OR");
    case node::kind::none_of: return list("NOT");
  }
  return "?";
}

}  // namespace leaves::search
