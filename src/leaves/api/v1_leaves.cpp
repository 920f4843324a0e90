#include "leaves/api/handlers.h"
#include "leaves/html/sanitize.h"

namespace leaves::api {

asio::awaitable<response> v1_leaves::v1_write(domain::command cmd, int created_status) {
  auto w = co_await c.execute(std::move(cmd));
  if (!w) co_return error_to_response(w.err());
  response r = json_response(w->created ? created_status : 200, leaf_body(*w->leaf));
  c.add_write_headers(r, *w);
  co_return r;
}

asio::awaitable<response> v1_leaves::v1_create(const request& req) {
  auto body = c.parse_object(req);
  if (!body) co_return error_to_response(body.err());
  auto cmd = domain::save_command(*body, o.limits, /*ignore_unknown=*/false, /*keep_id=*/false);
  if (!cmd) co_return error_to_response(cmd.err());
  co_return co_await v1_write(std::move(*cmd), 201);
}

asio::awaitable<response> v1_leaves::v1_patch(const request& req, std::string id) {
  auto body = c.parse_object(req);
  if (!body) co_return error_to_response(body.err());
  auto patch = domain::parse_patch(*body, o.limits);
  if (!patch) co_return error_to_response(patch.err());
  auto expected = c.if_match(req);
  if (!expected) co_return error_to_response(expected.err());
  domain::command cmd;
  cmd.kind = domain::command_kind::update;
  cmd.leaf_id = std::move(id);
  cmd.patch = std::move(*patch);
  cmd.expected_version = *expected;
  co_return co_await v1_write(std::move(cmd), 200);
}

asio::awaitable<response> v1_leaves::v1_delete(const request& req, std::string id) {
  auto expected = c.if_match(req);
  if (!expected) co_return error_to_response(expected.err());
  domain::command cmd;
  cmd.kind = domain::command_kind::remove;
  cmd.leaf_id = id;
  cmd.expected_version = *expected;
  auto w = co_await c.execute(std::move(cmd));
  if (!w) co_return error_to_response(w.err());
  json::object out{{"id", id}, {"deleted", true}, {"version", w->leaf ? w->leaf->version : 0}};
  response r = json_response(200, json::serialize(out));
  c.add_write_headers(r, *w);
  co_return r;
}

asio::awaitable<response> v1_leaves::v1_tags(const request& req, std::string id, domain::command_kind kind) {
  auto tags = c.parse_tags_body(req);
  if (!tags) co_return error_to_response(tags.err());
  auto expected = c.if_match(req);
  if (!expected) co_return error_to_response(expected.err());
  domain::command cmd;
  cmd.kind = kind;
  cmd.leaf_id = std::move(id);
  cmd.tags = std::move(*tags);
  cmd.expected_version = *expected;
  co_return co_await v1_write(std::move(cmd), 200);
}

asio::awaitable<response> v1_leaves::v1_get(const request& req, const params& p, const std::string& id) {
  if (auto w = co_await c.wait_min_position(req, p)) co_return std::move(*w);
  // The stored JSON is the answer's body as it is (a live leaf's has no "deleted").
  auto l = co_await d.store.async_get_json(id);
  if (!l) co_return error_to_response(l.err());
  if (!*l || (*l)->deleted) {
    co_return error_to_response(make_error(errc::not_found, "leaf " + id + " does not exist", "leaf_not_found"));
  }
  response r = json_response(200, std::move((*l)->json));
  r.headers.emplace_back("ETag", "\"" + std::to_string((*l)->version) + "\"");
  co_return r;
}

asio::awaitable<response> v1_leaves::v1_content(const request& req, const params& p, const std::string& id) {
  for (const auto& [k, v] : p) {
    if (k != "min_position") co_return error_to_response(bad_query("unknown query parameter: " + k));
  }
  if (auto w = co_await c.wait_min_position(req, p)) co_return std::move(*w);
  auto l = co_await d.store.async_get_json(id);
  if (!l) co_return error_to_response(l.err());
  if (!*l || (*l)->deleted) {
    co_return error_to_response(make_error(errc::not_found, "leaf " + id + " does not exist", "leaf_not_found"));
  }
  std::string safe;
  if (auto doc = json::parse((*l)->json); doc.is_object()) {
    if (const auto* content = doc.as_object().if_contains("content"); content && content->is_string()) {
      safe = html::sanitize(std::string_view(content->as_string()));
    }
  }
  response r = json_response(200, json::serialize(json::object{
                                      {"id", id}, {"version", (*l)->version}, {"html", std::move(safe)}}));
  r.headers.emplace_back("ETag", "\"" + std::to_string((*l)->version) + "\"");
  co_return r;
}

result<store::list_query> v1_leaves::list_query(const params& p) {
  store::list_query q;
  for (const auto& [k, v] : p) {
    static constexpr std::string_view known[] = {"tag", "user", "starred", "archived", "public", "since",
                                                 "until", "sort", "order", "limit", "page_token", "min_position"};
    if (std::find(std::begin(known), std::end(known), k) == std::end(known)) {
      return bad_query("unknown query parameter: " + k);
    }
  }
  if (const auto* t = param(p, "tag")) {
    auto n = domain::normalize_tag(*t, o.limits);
    if (!n) return bad_query("tag: " + n.err().message);
    q.tag = *n;
  }
  auto user = int_param(p, "user", 0, int64_t(1) << 53);
  auto limit = int_param(p, "limit", 1, 100);
  auto starred = bool_param(p, "starred");
  auto archived = bool_param(p, "archived");
  auto pub = bool_param(p, "public");
  auto since = time_param(p, "since");
  auto until = time_param(p, "until");
  for (const auto* e : {&user, &limit}) {
    if (!*e) return e->err();
  }
  for (const auto* e : {&starred, &archived, &pub}) {
    if (!*e) return e->err();
  }
  for (const auto* e : {&since, &until}) {
    if (!*e) return e->err();
  }
  q.user_id = *user;
  q.limit = limit->value_or(30);
  q.starred = *starred;
  q.archived = *archived;
  q.is_public = *pub;
  q.since_ms = *since;
  q.until_ms = *until;
  if (const auto* s = param(p, "sort")) {
    if (*s == "created") {
      q.sort = store::sort_key::created;
    } else if (*s == "updated") {
      q.sort = store::sort_key::updated;
    } else if (*s == "title") {
      q.sort = store::sort_key::title;
    } else {
      return bad_query("sort must be created, updated or title");
    }
  }
  if (const auto* s = param(p, "order")) {
    if (*s != "asc" && *s != "desc") return bad_query("order must be asc or desc");
    q.descending = *s == "desc";
  } else {
    q.descending = q.sort != store::sort_key::title;
  }
  if (const auto* t = param(p, "page_token")) {
    if (t->empty() || t->size() > 1024) return bad_query("page_token is malformed");
    q.page_token = *t;
  }
  return q;
}

asio::awaitable<response> v1_leaves::v1_list(const request& req, const params& p) {
  auto q = list_query(p);
  if (!q) co_return error_to_response(q.err());
  if (auto w = co_await c.wait_min_position(req, p)) co_return std::move(*w);
  auto page = co_await d.store.async_list_json(*q);
  if (!page) co_return error_to_response(page.err());
  size_t bytes = 64 + page->next_page_token.size();
  for (const auto& item : page->items) bytes += item.size() + 1;
  std::string body;
  body.reserve(bytes);
  body += "{\"items\":[";
  for (size_t i = 0; i < page->items.size(); ++i) {
    if (i) body += ',';
    body += page->items[i];
  }
  body += "],\"next_page_token\":";
  body += page->next_page_token.empty() ? "null" : json::serialize(json::string(page->next_page_token));
  body += '}';
  co_return json_response(200, std::move(body));
}

asio::awaitable<response> v1_leaves::v1_tag_counts(const request& req, const params& p) {
  auto limit = int_param(p, "limit", 1, 1000);
  if (!limit) co_return error_to_response(limit.err());
  if (const auto* prefix = param(p, "prefix")) {
    co_return co_await searching.v1_tag_prefix(req, p, *prefix, static_cast<size_t>(limit->value_or(10)));
  }
  if (auto w = co_await c.wait_min_position(req, p)) co_return std::move(*w);
  auto tags = co_await d.store.async_tags(static_cast<size_t>(limit->value_or(100)));
  if (!tags) co_return error_to_response(tags.err());
  json::array items;
  for (const auto& t : *tags) items.push_back(json::object{{"tag", t.tag}, {"count", t.count}});
  co_return json_response(200, json::serialize(json::object{{"items", std::move(items)}}));
}

}  // namespace leaves::api
