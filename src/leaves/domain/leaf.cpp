#include "leaves/domain/leaf.h"

#include <array>
#include <charconv>
#include <cstring>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>

#include "leaves/base/hash.h"
#include "leaves/base/time.h"

namespace json = boost::json;

namespace leaves::domain {
namespace {

constexpr std::array<std::string_view, kFieldCount> kNames = {
    "url", "title", "content", "content_text", "tags", "slugs", "all", "links",
    "domain_name", "is_archived", "is_starred", "is_public", "created_at", "updated_at",
    "user_id", "user_name", "user_email", "mimetype", "language", "reading_time",
    "preview_picture", "http_status", "published_at", "published_by"};

error bad(field f, std::string what) {
  return make_error(errc::invalid_argument, std::string(field_name(f)) + ": " + what,
                    "invalid_field");
}

// C0, DEL, and the C1 controls U+0080-U+009F (UTF-8 C2 80 - C2 9F, e.g.
// U+0085 NEXT LINE).
bool has_control_chars(std::string_view s) {
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) return true;
    if (c == 0xC2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) >= 0x80 &&
        static_cast<unsigned char>(s[i + 1]) <= 0x9F) {
      return true;
    }
  }
  return false;
}

result<std::string> get_string(field f, const json::value& v, size_t max) {
  if (!v.is_string()) return bad(f, "expected a string");
  const auto& s = v.get_string();
  if (s.size() > max) return bad(f, "longer than " + std::to_string(max) + " bytes");
  return std::string(s);
}

result<std::optional<std::string>> get_opt_string(field f, const json::value& v, size_t max) {
  if (v.is_null()) return std::optional<std::string>{};
  auto s = get_string(f, v, max);
  if (!s) return s.err();
  return std::optional<std::string>(std::move(*s));
}

result<string_list> get_list(field f, const json::value& v, size_t max_items, size_t max_bytes) {
  if (!v.is_array()) return bad(f, "expected an array of strings");
  const auto& a = v.get_array();
  if (a.size() > max_items) return bad(f, "more than " + std::to_string(max_items) + " items");
  string_list out;
  out.reserve(a.size());
  for (const auto& item : a) {
    if (!item.is_string()) return bad(f, "expected an array of strings");
    if (item.get_string().size() > max_bytes) return bad(f, "item too long");
    out.emplace_back(item.get_string());
  }
  return out;
}

result<bool> get_flag(field f, const json::value& v) {
  if (v.is_bool()) return v.get_bool();
  if (v.is_int64() && (v.get_int64() == 0 || v.get_int64() == 1)) return v.get_int64() == 1;
  if (v.is_uint64() && v.get_uint64() <= 1) return v.get_uint64() == 1;
  return bad(f, "expected a boolean (or 0/1)");
}

result<int64_t> get_int(field f, const json::value& v, int64_t lo, int64_t hi) {
  int64_t x;
  if (v.is_int64()) {
    x = v.get_int64();
  } else if (v.is_uint64() && v.get_uint64() <= uint64_t(INT64_MAX)) {
    x = static_cast<int64_t>(v.get_uint64());
  } else if (v.is_string() && !v.get_string().empty() && v.get_string().size() < 19) {
    x = 0;
    for (char c : v.get_string()) {
      if (c < '0' || c > '9') return bad(f, "expected an integer");
      x = x * 10 + (c - '0');
    }
  } else {
    return bad(f, "expected an integer");
  }
  if (x < lo || x > hi) return bad(f, "out of range");
  return x;
}

result<int64_t> get_time(field f, const json::value& v) {
  if (v.is_string()) {
    auto t = parse_iso8601(v.get_string());
    if (!t) return bad(f, "expected an ISO 8601 time such as 2019-08-02T21:45:12Z");
    return *t;
  }
  return get_int(f, v, 0, int64_t(253402300799999));  // up to year 9999
}

json::value list_json(const string_list& l) {
  json::array a;
  a.reserve(l.size());
  for (const auto& s : l) a.emplace_back(s);
  return a;
}
json::value opt_list_json(const std::optional<string_list>& l) {
  return l ? list_json(*l) : json::value(nullptr);
}
json::value opt_str_json(const std::optional<std::string>& s) {
  return s ? json::value(*s) : json::value(nullptr);
}

}  // namespace

std::string_view field_name(field f) { return kNames[static_cast<size_t>(f)]; }

std::optional<field> field_from_name(std::string_view name) {
  for (size_t i = 0; i < kFieldCount; ++i) {
    if (kNames[i] == name) return static_cast<field>(i);
  }
  return std::nullopt;
}

bool leaf_patch::empty() const {
  for (bool b : mask) {
    if (b) return false;
  }
  return true;
}

std::string leaf_id_for_url(std::string_view url) { return md5_hex(url); }

status validate_url(std::string_view url, size_t max_bytes) {
  if (url.empty()) return bad(field::url, "must not be empty");
  if (url.size() > max_bytes) {
    return bad(field::url, "longer than " + std::to_string(max_bytes) + " bytes");
  }
  // A URI with an optional #fragment (a link to a section is a common link).
  auto u = boost::urls::parse_uri(url);
  if (!u) return bad(field::url, "not a valid absolute URL");
  if (u->scheme_id() != boost::urls::scheme::http && u->scheme_id() != boost::urls::scheme::https) {
    return bad(field::url, "scheme must be http or https");
  }
  if (!u->has_authority() || u->encoded_host().empty()) return bad(field::url, "missing host");
  // After the authority comes "/", "?", "#" or nothing (Boost.URL takes "e.org:8o/p" as port 8, path "o/p").
  if (!u->encoded_path().empty() && u->encoded_path().front() != '/') {
    return bad(field::url, "port must be a number between 1 and 65535");
  }
  if (u->has_port()) {
    const auto port = u->port();
    bool digits = !port.empty() && port.size() <= 5;
    for (char c : port) digits = digits && c >= '0' && c <= '9';
    if (!digits || std::stoul(std::string(port)) < 1 || std::stoul(std::string(port)) > 65535) {
      return bad(field::url, "port must be a number between 1 and 65535");
    }
  }
  return ok_status();
}

result<std::string> domain_of(std::string_view url) {
  auto u = boost::urls::parse_uri(url);
  if (!u || !u->has_authority()) return bad(field::url, "not a valid absolute URL");
  std::string out(u->scheme());
  out += "://";
  out += u->encoded_host();
  if (u->has_port()) {
    out += ':';
    out += u->port();
  }
  return out;
}

result<std::string> normalize_tag(std::string_view raw, const limits& lim) {
  size_t b = 0, e = raw.size();
  while (b < e && (raw[b] == ' ' || raw[b] == '\t')) ++b;
  while (e > b && (raw[e - 1] == ' ' || raw[e - 1] == '\t')) --e;
  std::string t(raw.substr(b, e - b));
  if (t.empty()) return bad(field::tags, "a tag must not be empty");
  if (t.size() > lim.max_tag_bytes) {
    return bad(field::tags, "a tag is longer than " + std::to_string(lim.max_tag_bytes) + " bytes");
  }
  for (char& c : t) {
    if (c == ' ' || c == '\t') c = '.';
  }
  if (has_control_chars(t)) return bad(field::tags, "a tag must not contain control characters");
  return t;
}

result<string_list> normalize_tags(const json::value& v, const limits& lim) {
  if (!v.is_array()) return bad(field::tags, "expected an array of strings");
  const auto& a = v.get_array();
  if (a.size() > lim.max_tags) {
    return bad(field::tags, "more than " + std::to_string(lim.max_tags) + " tags");
  }
  string_list out;
  for (const auto& item : a) {
    if (!item.is_string()) return bad(field::tags, "expected an array of strings");
    auto t = normalize_tag(item.get_string(), lim);
    if (!t) return t.err();
    if (std::find(out.begin(), out.end(), *t) == out.end()) out.push_back(std::move(*t));
  }
  return out;
}

result<leaf_patch> parse_patch(const json::object& o, const limits& lim, bool ignore_unknown) {
  leaf_patch p;
  leaf& l = p.values;
  for (const auto& kv : o) {
    std::string_view key = kv.key();
    if (key == "id" || key == "version") continue;
    auto fo = field_from_name(key == "_links" ? std::string_view("links") : key);
    if (!fo) {
      if (ignore_unknown) continue;
      return make_error(errc::invalid_argument, "unknown field: " + std::string(key),
                        "unknown_field");
    }
    const field f = *fo;
    const json::value& v = kv.value();
    switch (f) {
      case field::url: {
        auto s = get_string(f, v, lim.max_url_bytes);
        if (!s) return s.err();
        if (auto st = validate_url(*s, lim.max_url_bytes); !st) return st.err();
        l.url = std::move(*s);
        break;
      }
      case field::title:
      case field::domain_name:
      case field::user_name:
      case field::user_email: {
        auto s = v.is_null() ? result<std::string>(std::string()) : get_string(f, v, lim.max_string_bytes);
        if (!s) return s.err();
        if (f == field::title) l.title = std::move(*s);
        if (f == field::domain_name) l.domain_name = std::move(*s);
        if (f == field::user_name) l.user_name = std::move(*s);
        if (f == field::user_email) l.user_email = std::move(*s);
        break;
      }
      case field::content:
      case field::content_text: {
        auto s = get_opt_string(f, v, lim.max_content_bytes);
        if (!s) return s.err();
        (f == field::content ? l.content : l.content_text) = std::move(*s);
        break;
      }
      case field::mimetype:
      case field::language:
      case field::preview_picture: {
        auto s = get_opt_string(f, v, f == field::preview_picture ? lim.max_url_bytes : 256);
        if (!s) return s.err();
        if (f == field::mimetype) l.mimetype = std::move(*s);
        if (f == field::language) l.language = std::move(*s);
        if (f == field::preview_picture) l.preview_picture = std::move(*s);
        break;
      }
      case field::http_status: {
        if (v.is_null()) {
          l.http_status.reset();
        } else if (v.is_string()) {
          auto s = get_string(f, v, 16);
          if (!s) return s.err();
          l.http_status = std::move(*s);
        } else {
          auto n = get_int(f, v, 0, 999);
          if (!n) return n.err();
          l.http_status = std::to_string(*n);
        }
        break;
      }
      case field::tags:
      case field::slugs: {
        std::optional<string_list> list;
        if (!v.is_null()) {
          auto t = normalize_tags(v, lim);
          if (!t) return t.err();
          list = std::move(*t);
        } else if (lim.null_tags_are_empty) {
          list = string_list{};
        }
        (f == field::tags ? l.tags : l.slugs) = std::move(list);
        break;
      }
      case field::all:
      case field::links: {
        // Solr's catch-all "all" copies every field, content included.
        auto t = v.is_null() ? result<string_list>(string_list{})
                             : get_list(f, v, lim.max_list_items,
                                        f == field::all ? lim.max_content_bytes : lim.max_url_bytes);
        if (!t) return t.err();
        (f == field::all ? l.all : l.links) = std::move(*t);
        break;
      }
      case field::published_at:
      case field::published_by: {
        std::optional<string_list> list;
        if (!v.is_null()) {
          auto t = get_list(f, v, lim.max_list_items, lim.max_string_bytes);
          if (!t) return t.err();
          list = std::move(*t);
        }
        (f == field::published_at ? l.published_at : l.published_by) = std::move(list);
        break;
      }
      case field::is_archived:
      case field::is_starred:
      case field::is_public: {
        auto b = get_flag(f, v);
        if (!b) return b.err();
        if (f == field::is_archived) l.is_archived = *b;
        if (f == field::is_starred) l.is_starred = *b;
        if (f == field::is_public) l.is_public = *b;
        break;
      }
      case field::created_at:
      case field::updated_at: {
        auto t = get_time(f, v);
        if (!t) return t.err();
        (f == field::created_at ? l.created_at : l.updated_at) = *t;
        break;
      }
      case field::user_id: {
        if (v.is_null()) {
          l.user_id.reset();
        } else {
          auto n = get_int(f, v, 0, int64_t(1) << 53);
          if (!n) return n.err();
          l.user_id = *n;
        }
        break;
      }
      case field::reading_time: {
        auto n = get_int(f, v, 0, 1'000'000);
        if (!n) return n.err();
        l.reading_time = static_cast<int32_t>(*n);
        break;
      }
      case field::count_: break;
    }
    p.set(f);
  }
  return p;
}

json::value field_to_json(const leaf& l, field f) {
  switch (f) {
    case field::url: return json::value(l.url);
    case field::title: return json::value(l.title);
    case field::content: return opt_str_json(l.content);
    case field::content_text: return opt_str_json(l.content_text);
    case field::tags: return opt_list_json(l.tags);
    case field::slugs: return opt_list_json(l.slugs);
    case field::all: return list_json(l.all);
    case field::links: return list_json(l.links);
    case field::domain_name: return json::value(l.domain_name);
    case field::is_archived: return json::value(l.is_archived);
    case field::is_starred: return json::value(l.is_starred);
    case field::is_public: return json::value(l.is_public);
    case field::created_at: return json::value(format_iso8601(l.created_at));
    case field::updated_at: return json::value(format_iso8601(l.updated_at));
    case field::user_id: return l.user_id ? json::value(*l.user_id) : json::value(nullptr);
    case field::user_name: return json::value(l.user_name);
    case field::user_email: return json::value(l.user_email);
    case field::mimetype: return opt_str_json(l.mimetype);
    case field::language: return opt_str_json(l.language);
    case field::reading_time: return json::value(l.reading_time);
    case field::preview_picture: return opt_str_json(l.preview_picture);
    case field::http_status: return opt_str_json(l.http_status);
    case field::published_at: return opt_list_json(l.published_at);
    case field::published_by: return opt_list_json(l.published_by);
    case field::count_: break;
  }
  return nullptr;
}

json::object leaf_to_json(const leaf& l) {
  json::object o;
  o.reserve(kFieldCount + 3);
  o["id"] = l.id;
  for (size_t i = 0; i < kFieldCount; ++i) {
    auto f = static_cast<field>(i);
    o[field_name(f)] = field_to_json(l, f);
  }
  o["version"] = l.version;
  if (l.deleted) o["deleted"] = true;
  return o;
}

namespace {
// Where the value of top-level key `key` (given with its quotes and colon)
// starts, looking back from `before`, or npos. From the end: the flags and
// the owner come after the content (leaf_to_json's order), a key occurs
// once, and only a few quotes lie between them and the end.
size_t value_at(std::string_view json, std::string_view key, size_t before = std::string_view::npos) {
  size_t end = std::min(before, json.size());
  while (end > 0) {
    const void* q = memrchr(json.data(), '"', end);
    if (!q) break;
    const size_t at = static_cast<const char*>(q) - json.data();
    if (json.substr(at, key.size()) == key) return at + key.size();
    end = at;
  }
  return std::string_view::npos;
}
bool set_bool_at(std::string& json, std::string_view key, bool to) {
  const size_t v = value_at(json, key);
  if (v == std::string_view::npos) return false;
  const std::string_view sv(json);
  if (sv.substr(v, 4) == "true") {
    if (!to) json.replace(v, 4, "false");
    return true;
  }
  if (sv.substr(v, 5) == "false") {
    if (to) json.replace(v, 5, "true");
    return true;
  }
  return false;
}
}  // namespace

std::optional<std::string_view> leaf_json_id(std::string_view json) {
  constexpr std::string_view kId = "{\"id\":\"";
  if (!json.starts_with(kId)) return std::nullopt;
  const size_t end = json.find('"', kId.size());
  if (end == std::string_view::npos) return std::nullopt;
  return json.substr(kId.size(), end - kId.size());
}

std::optional<leaf_json_peek> peek_leaf_json(std::string_view json) {
  auto leaf_id = leaf_json_id(json);
  if (!leaf_id) return std::nullopt;
  leaf_json_peek p;
  p.id = *leaf_id;
  // Backwards in leaf_to_json's order: user_id, then is_starred, is_archived.
  const size_t u = value_at(json, "\"user_id\":");
  if (u == std::string_view::npos) return std::nullopt;
  int64_t id = 0;
  auto r = std::from_chars(json.data() + u, json.data() + json.size(), id);
  if (r.ec == std::errc()) p.user_id = id;
  const size_t s = value_at(json, "\"is_starred\":", u);
  const size_t a = s == std::string_view::npos ? s : value_at(json, "\"is_archived\":", s);
  if (a == std::string_view::npos) return std::nullopt;
  auto flag = [&](size_t v) -> std::optional<bool> {
    if (json.substr(v, 4) == "true") return true;
    if (json.substr(v, 5) == "false") return false;
    return std::nullopt;
  };
  auto starred = flag(s), archived = flag(a);
  if (!starred || !archived) return std::nullopt;
  p.is_starred = *starred;
  p.is_archived = *archived;
  return p;
}

bool set_leaf_json_flags(std::string& json, bool starred, bool archived) {
  return set_bool_at(json, "\"is_starred\":", starred) && set_bool_at(json, "\"is_archived\":", archived);
}

result<leaf> leaf_from_json(const json::object& o) {
  limits unlimited;
  unlimited.max_content_bytes = unlimited.max_string_bytes = SIZE_MAX;
  unlimited.max_list_items = unlimited.max_tags = unlimited.max_tag_bytes = SIZE_MAX;
  unlimited.max_url_bytes = SIZE_MAX;
  unlimited.null_tags_are_empty = false;
  json::object fields = o;
  fields.erase("deleted");
  // Stored and logged leaves are trusted for the URL (tombstones have none).
  const json::value url = fields.contains("url") ? fields["url"] : json::value("");
  fields.erase("url");
  auto p = parse_patch(fields, unlimited);
  if (!p) return p.err();
  leaf l = std::move(p->values);
  if (!url.is_string()) return make_error(errc::internal, "stored leaf has a non-string url");
  l.url = std::string(url.get_string());
  const auto* id = o.if_contains("id");
  const auto* ver = o.if_contains("version");
  if (!id || !id->is_string() || !ver || !ver->is_int64()) {
    return make_error(errc::internal, "stored leaf lacks id or version");
  }
  l.id = std::string(id->get_string());
  l.version = ver->get_int64();
  const auto* del = o.if_contains("deleted");
  l.deleted = del && del->is_bool() && del->get_bool();
  return l;
}

std::vector<field> apply_patch(leaf& l, const leaf_patch& p) {
  std::vector<field> changed;
  for (size_t i = 0; i < kFieldCount; ++i) {
    if (!p.mask[i]) continue;
    auto f = static_cast<field>(i);
    if (field_to_json(l, f) == field_to_json(p.values, f)) continue;
    changed.push_back(f);
    switch (f) {
      case field::url: l.url = p.values.url; break;
      case field::title: l.title = p.values.title; break;
      case field::content: l.content = p.values.content; break;
      case field::content_text: l.content_text = p.values.content_text; break;
      case field::tags: l.tags = p.values.tags; break;
      case field::slugs: l.slugs = p.values.slugs; break;
      case field::all: l.all = p.values.all; break;
      case field::links: l.links = p.values.links; break;
      case field::domain_name: l.domain_name = p.values.domain_name; break;
      case field::is_archived: l.is_archived = p.values.is_archived; break;
      case field::is_starred: l.is_starred = p.values.is_starred; break;
      case field::is_public: l.is_public = p.values.is_public; break;
      case field::created_at: l.created_at = p.values.created_at; break;
      case field::updated_at: l.updated_at = p.values.updated_at; break;
      case field::user_id: l.user_id = p.values.user_id; break;
      case field::user_name: l.user_name = p.values.user_name; break;
      case field::user_email: l.user_email = p.values.user_email; break;
      case field::mimetype: l.mimetype = p.values.mimetype; break;
      case field::language: l.language = p.values.language; break;
      case field::reading_time: l.reading_time = p.values.reading_time; break;
      case field::preview_picture: l.preview_picture = p.values.preview_picture; break;
      case field::http_status: l.http_status = p.values.http_status; break;
      case field::published_at: l.published_at = p.values.published_at; break;
      case field::published_by: l.published_by = p.values.published_by; break;
      case field::count_: break;
    }
  }
  return changed;
}

}  // namespace leaves::domain
