#include "leaves/api/search.h"

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>

#include "leaves/base/hash.h"
#include "leaves/base/time.h"

namespace json = boost::json;

namespace leaves::api {
namespace {

// The parameters a page token is bound to: everything that changes which
// leaves match or their order.
std::string token_basis(const params& p) {
  std::vector<std::pair<std::string, std::string>> kept;
  for (const auto& kv : p) {
    static constexpr std::string_view unbound[] = {"page_token", "min_position", "limit", "facets", "facet_limit"};
    if (std::find(std::begin(unbound), std::end(unbound), kv.first) == std::end(unbound)) kept.push_back(kv);
  }
  std::sort(kept.begin(), kept.end());
  std::string basis = "leaves-search-page-v1";
  for (const auto& [k, v] : kept) {
    basis += '\n';
    basis += k;
    basis += '=';
    basis += v;
  }
  return basis;
}

std::string make_token(const params& p, size_t offset) {
  const std::string off = std::to_string(offset);
  return off + "." + md5_hex(token_basis(p) + "\n" + off).substr(0, 16);
}

result<size_t> read_token(const params& p, const std::string& token, size_t max_offset) {
  auto bad = [] {
    return bad_query("page_token is not valid for this search (altered, or from a search with other parameters)");
  };
  const auto dot = token.find('.');
  if (dot == std::string::npos || dot == 0 || dot > 12) return bad();
  size_t off = 0;
  auto r = std::from_chars(token.data(), token.data() + dot, off);
  if (r.ec != std::errc() || r.ptr != token.data() + dot || off > max_offset) return bad();
  if (make_token(p, off) != token) return bad();
  return off;
}

}  // namespace

result<search::search_request> parse_search(const params& p, const domain::limits& lim, const search_limits& sl) {
  if (auto st = only_known(p, {"q", "match", "tag", "user", "domain", "starred", "archived", "public", "since",
                               "until", "sort", "order", "limit", "page_token", "facets", "facet_limit",
                               "min_position", "exact"});
      !st) {
    return st.err();
  }
  search::search_request r;
  search::match_mode mode = search::match_mode::all;
  if (const auto* m = param(p, "match")) {
    if (*m == "any") mode = search::match_mode::any;
    else if (*m != "all") return bad_query("match must be all or any");
  }
  if (const auto* q = param(p, "q")) {
    auto tree = search::parse_query(*q, mode, sl.query);
    if (!tree) return tree.err();
    r.q = std::move(*tree);
    r.text = *q;
  }
  const auto tags = params_named(p, "tag");
  if (tags.size() > lim.max_tags) return bad_query("at most " + std::to_string(lim.max_tags) + " tag parameters");
  for (const auto& t : tags) {
    auto n = domain::normalize_tag(t, lim);
    if (!n) return bad_query("tag: " + n.err().message);
    r.tags.push_back(std::move(*n));
  }
  for (const char* name : {"user", "domain"}) {
    const auto* v = param(p, name);
    if (!v) continue;
    if (v->empty() || v->size() > 256) return bad_query(std::string(name) + " must be 1 to 256 bytes");
    (std::string_view(name) == "user" ? r.user : r.domain) = *v;
  }
  auto starred = bool_param(p, "starred");
  auto archived = bool_param(p, "archived");
  auto pub = bool_param(p, "public");
  auto exact = bool_param(p, "exact");
  for (const auto* e : {&starred, &archived, &pub, &exact}) {
    if (!*e) return e->err();
  }
  r.exact = exact->value_or(false);
  r.starred = *starred;
  r.archived = *archived;
  r.is_public = *pub;
  auto since = time_param(p, "since");
  auto until = time_param(p, "until");
  for (const auto* e : {&since, &until}) {
    if (!*e) return e->err();
  }
  r.since_ms = *since;
  r.until_ms = *until;
  auto limit = int_param(p, "limit", 1, static_cast<int64_t>(sl.max_limit));
  if (!limit) return limit.err();
  r.limit = static_cast<size_t>(limit->value_or(30));
  auto facet_limit = int_param(p, "facet_limit", 1, static_cast<int64_t>(sl.max_facet_limit));
  if (!facet_limit) return facet_limit.err();
  r.facet_limit = static_cast<size_t>(facet_limit->value_or(20));
  if (const auto* f = param(p, "facets")) {
    size_t start = 0;
    while (start <= f->size()) {
      auto comma = f->find(',', start);
      if (comma == std::string::npos) comma = f->size();
      const std::string name = f->substr(start, comma - start);
      if (name == "tags") r.facet_tags = true;
      else if (name == "users") r.facet_users = true;
      else if (name == "domains") r.facet_domains = true;
      else if (!name.empty()) return bad_query("facets takes a comma-separated list of tags, users and domains");
      start = comma + 1;
    }
  }
  r.sort = r.q ? search::sort_by::relevance : search::sort_by::created;
  if (const auto* s = param(p, "sort")) {
    if (*s == "relevance") r.sort = search::sort_by::relevance;
    else if (*s == "created") r.sort = search::sort_by::created;
    else if (*s == "updated") r.sort = search::sort_by::updated;
    else if (*s == "title") r.sort = search::sort_by::title;
    else return bad_query("sort must be relevance, created, updated or title");
  }
  r.descending = r.sort != search::sort_by::title;
  if (const auto* o = param(p, "order")) {
    if (*o != "asc" && *o != "desc") return bad_query("order must be asc or desc");
    if (r.sort == search::sort_by::relevance && *o == "asc") return bad_query("order=asc needs a sort other than relevance");
    r.descending = *o == "desc";
  }
  if (const auto* t = param(p, "page_token")) {
    auto off = read_token(p, *t, sl.max_offset);
    if (!off) return off.err();
    r.offset = *off;
  }
  if (r.offset + r.limit > sl.max_offset + sl.max_limit)
    return bad_query("results beyond the first " + std::to_string(sl.max_offset) + " are not paged; narrow the search");
  return r;
}

std::string next_page_token(const params& p, const search::search_request& r) {
  return make_token(p, r.offset + r.limit);
}

std::string render_search(const search::search_result& res, const search::search_request& r,
                          const std::string& next_token) {
  using domain::field;
  json::array items;
  items.reserve(res.items.size());
  for (const auto& h : res.items) {
    const auto& l = h.leaf;
    json::object o;
    o["id"] = l.id;
    for (field f : {field::url, field::title, field::domain_name, field::tags, field::user_id, field::user_name,
                    field::created_at, field::updated_at, field::is_starred, field::is_archived, field::is_public,
                    field::preview_picture, field::language}) {
      o[domain::field_name(f)] = domain::field_to_json(l, f);
    }
    o["version"] = l.version;
    o["snippet"] = h.snippet;
    if (r.sort == search::sort_by::relevance && r.q) o["score"] = h.score;
    items.push_back(std::move(o));
  }
  auto facet = [](const std::vector<search::facet_value>& v) {
    json::array a;
    for (const auto& f : v) a.push_back(json::object{{"value", f.value}, {"count", f.count}});
    return a;
  };
  json::object facets;
  if (r.facet_tags) facets["tags"] = facet(res.tags);
  if (r.facet_users) facets["users"] = facet(res.users);
  if (r.facet_domains) facets["domains"] = facet(res.domains);
  json::object out{{"items", std::move(items)},
                   {"total", res.total},
                   {"total_exact", res.total_exact},
                   {"facets", std::move(facets)},
                   {"facets_exact", res.facets_exact}};
  if (res.sample) {
    out["sample"] = json::object{{"matches", res.sample->matches},
                                 {res.sample->newest ? "created_since" : "created_before", format_iso8601(res.sample->edge_ms)}};
  } else {
    out["sample"] = nullptr;
  }
  out["next_page_token"] = res.more ? json::value(next_token) : json::value(nullptr);
  if (!res.suggestion.empty()) out["suggestion"] = res.suggestion;
  return json::serialize(out);
}

std::string render_tag_suggestions(const std::vector<search::facet_value>& tags) {
  json::array items;
  for (const auto& t : tags) items.push_back(json::object{{"tag", t.value}, {"count", t.count}});
  return json::serialize(json::object{{"items", std::move(items)}});
}

}  // namespace leaves::api
