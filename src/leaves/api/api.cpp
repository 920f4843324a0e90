#include "leaves/api/api.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/json.hpp>
#include <charconv>
#include <map>

#include "leaves/api/errors.h"
#include "leaves/api/params.h"
#include "leaves/api/search.h"
#include "leaves/api/router.h"
#include "leaves/api/stream.h"
#include "leaves/base/time.h"

namespace asio = boost::asio;
namespace json = boost::json;

namespace leaves::api {

using http::request;
using http::response;
using domain::leaf;

namespace {

error bad_json(std::string msg) { return make_error(errc::invalid_argument, std::move(msg), "invalid_json"); }

bool is_json_content_type(std::string_view ct) {
  while (!ct.empty() && ct.front() == ' ') ct.remove_prefix(1);
  std::string lower(ct.substr(0, 16));
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower == "application/json" && (ct.size() == 16 || ct[16] == ';' || ct[16] == ' ');
}

std::string leaf_body(const leaf& l) {
  auto o = domain::leaf_to_json(l);
  o.erase("deleted");
  return json::serialize(o);
}

json::object reference_json(const leaf& l) {
  using domain::field;
  json::object o;
  o["id"] = l.id;
  for (field f : {field::url, field::title, field::content, field::content_text, field::tags, field::slugs,
                  field::all, field::links, field::domain_name}) {
    o[domain::field_name(f)] = domain::field_to_json(l, f);
  }
  o["is_archived"] = l.is_archived ? 1 : 0;
  o["is_starred"] = l.is_starred ? 1 : 0;
  o["is_public"] = l.is_public;
  for (field f : {field::created_at, field::updated_at, field::user_id, field::user_name, field::user_email,
                  field::mimetype, field::language, field::reading_time, field::preview_picture,
                  field::http_status}) {
    o[domain::field_name(f)] = domain::field_to_json(l, f);
  }
  return o;
}

response json_response(int status, std::string body) {
  response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

// The reference API answers some cases with a bare JSON string.
response string_response(int status, std::string_view text) {
  return json_response(status, json::serialize(json::string(text)));
}

constexpr size_t kReferencePage = 8;  // leaves per piece: the memory a slow client can hold

// The pieces of GET /api/leaves: "[", the leaves page by page, "]".
class reference_list_stream final : public http::stream_source {
 public:
  reference_list_stream(store::leaf_queries& st, size_t limit, store::list_page first)
      : store_(st), left_(limit), page_(std::move(first)) {}

  asio::awaitable<std::vector<http::stream_event>> next(std::chrono::milliseconds, std::string& end) override {
    std::vector<http::stream_event> out(1);
    std::string& piece = out[0].data;
    if (!opened_) {
      piece = "[";
      opened_ = true;
    }
    for (const auto& l : page_.items) {
      if (left_ == 0) break;
      if (sent_++) piece += ',';
      piece += json::serialize(reference_json(l));
      --left_;
    }
    if (left_ == 0 || page_.next_page_token.empty()) {
      piece += ']';
      end = "done";
      co_return out;
    }
    auto next_page = co_await store_.async_reference_page(std::move(page_.next_page_token), std::min(kReferencePage, left_));
    if (!next_page) {
      end = "failed";  // the body ends without its last chunk: visibly truncated
      co_return out;
    }
    page_ = std::move(*next_page);
    co_return out;
  }
  void closed() override {}

 private:
  store::leaf_queries& store_;
  size_t left_;
  store::list_page page_;
  bool opened_ = false;
  size_t sent_ = 0;
};

}  // namespace

struct api::impl : std::enable_shared_from_this<api::impl> {
  api_deps d;
  api_options o;
  api* owner;

  impl(api_deps deps, api_options opts, api* a) : d(deps), o(std::move(opts)), owner(a) {}

  result<json::value> parse_json(const request& req) {
    if (!req.body.empty() && !is_json_content_type(req.header("content-type"))) {
      return make_error(errc::invalid_argument, "request bodies must be application/json",
                        "unsupported_media_type");
    }
    json::parse_options po;
    po.max_depth = o.json_max_depth;
    boost::system::error_code ec;
    auto v = json::parse(req.body, ec, {}, po);
    if (ec) {
      if (ec == json::error::too_deep) {
        return bad_json("JSON nested deeper than " + std::to_string(o.json_max_depth) + " levels");
      }
      return bad_json("body is not valid JSON: " + ec.message());
    }
    return v;
  }

  result<json::object> parse_object(const request& req) {
    auto v = parse_json(req);
    if (!v) return v.err();
    if (!v->is_object()) return bad_json("body must be a JSON object");
    return std::move(v->get_object());
  }

  result<domain::string_list> parse_tags_body(const request& req) {
    auto b = parse_object(req);
    if (!b) return b.err();
    const auto* t = b->if_contains("tags");
    if (!t) return make_error(errc::invalid_argument, "tags: required", "invalid_field");
    return domain::normalize_tags(*t, o.limits);
  }

  result<std::optional<int64_t>> if_match(const request& req) {
    auto v = req.header("if-match");
    if (v.empty() || v == "*") return std::optional<int64_t>{};
    if (v.starts_with("W/")) v.remove_prefix(2);
    if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
    int64_t x = 0;
    auto r = std::from_chars(v.data(), v.data() + v.size(), x);
    if (r.ec != std::errc() || r.ptr != v.data() + v.size()) {
      return make_error(errc::invalid_argument, "If-Match must be a leaf version such as \"3\"",
                        "invalid_header");
    }
    return std::optional<int64_t>(x);
  }

  // Read-your-writes: waits until the model the request reads (the read
  // models, or the search index) applied the requested positions.
  asio::awaitable<std::optional<response>> wait_min_position(const request& req, const params& p) {
    co_return co_await wait_min_position_of(req, p, d.progress, "the read models");
  }

  asio::awaitable<std::optional<response>> wait_min_position_of(const request& req, const params& p,
                                                                projector::progress& prog, std::string what) {
    std::string_view text = req.header("leaves-min-position");
    if (const auto* q = param(p, "min_position")) text = *q;
    if (text.empty()) co_return std::nullopt;
    auto pos = projector::parse_positions(text, d.log.partitions());
    if (!pos) co_return error_to_response(pos.err());
    if (prog.reached(*pos)) co_return std::nullopt;
    if (!co_await prog.wait_for(std::move(*pos), o.read_wait)) {
      co_return error_to_response(make_error(
          errc::deadline_exceeded,
          what + " did not reach position " + std::string(text) + " within " + std::to_string(o.read_wait.count()) +
              " ms",
          "deadline_exceeded"));
    }
    co_return std::nullopt;
  }

  // ---- search ----

  // 503 while there is no index, or while it is (re)built from the log.
  std::optional<response> search_unavailable() {
    if (!d.search || !d.search_projector) {
      return error_to_response(make_error(errc::unavailable, "search is not enabled on this server", "search_disabled"));
    }
    if (!d.search_projector->caught_up()) {
      return error_to_response(make_error(errc::unavailable,
                                          "the search index is being built from the log (" +
                                              std::to_string(lag_total(d.search_projector->positions())) +
                                              " events to go; see /readyz)",
                                          "index_building"));
    }
    return std::nullopt;
  }

  asio::awaitable<response> v1_search(const request& req, const params& p) {
    auto r = parse_search(p, o.limits, o.search);
    if (!r) co_return error_to_response(r.err());
    if (auto u = search_unavailable()) co_return std::move(*u);
    if (auto w = co_await wait_min_position_of(req, p, d.search_projector->positions(), "the search index"))
      co_return std::move(*w);
    auto res = co_await d.search->async_search(*r);
    if (!res) co_return error_to_response(res.err());
    co_return json_response(200, render_search(*res, *r, next_page_token(p, *r)));
  }

  asio::awaitable<response> v1_tag_prefix(const request& req, const params& p, const std::string& prefix,
                                          size_t limit) {
    if (prefix.size() > o.limits.max_tag_bytes) co_return error_to_response(bad_query("prefix is longer than a tag"));
    if (auto u = search_unavailable()) co_return std::move(*u);
    if (auto w = co_await wait_min_position_of(req, p, d.search_projector->positions(), "the search index"))
      co_return std::move(*w);
    auto tags = co_await d.search->async_tag_prefix(prefix, limit);
    if (!tags) co_return error_to_response(tags.err());
    co_return json_response(200, render_tag_suggestions(*tags));
  }

  int64_t lag_total(const projector::progress& prog) const {
    const auto end = d.log.end_offsets();
    const auto applied = prog.applied();
    int64_t total = 0;
    for (size_t i = 0; i < end.size(); ++i) total += std::max<int64_t>(0, end[i] - (i < applied.size() ? applied[i] : 0));
    return total;
  }

  void add_write_headers(response& r, const service::write_result& w) {
    if (w.leaf) r.headers.emplace_back("ETag", "\"" + std::to_string(w.leaf->version) + "\"");
    if (w.position) r.headers.emplace_back("Leaves-Position", projector::format_position(*w.position));
  }

  asio::awaitable<result<service::write_result>> execute(domain::command cmd) {
    auto r = co_await d.service.execute(std::move(cmd), "anonymous");
    if (r && r->changed) owner->events_appended_.fetch_add(1, std::memory_order_relaxed);
    co_return r;
  }

  // ---- v1 ----

  asio::awaitable<response> v1_write(domain::command cmd, int created_status) {
    auto w = co_await execute(std::move(cmd));
    if (!w) co_return error_to_response(w.err());
    response r = json_response(w->created ? created_status : 200, leaf_body(*w->leaf));
    add_write_headers(r, *w);
    co_return r;
  }

  asio::awaitable<response> v1_create(const request& req) {
    auto body = parse_object(req);
    if (!body) co_return error_to_response(body.err());
    auto cmd = domain::save_command(*body, o.limits, /*ignore_unknown=*/false, /*keep_id=*/false);
    if (!cmd) co_return error_to_response(cmd.err());
    co_return co_await v1_write(std::move(*cmd), 201);
  }

  asio::awaitable<response> v1_patch(const request& req, std::string id) {
    auto body = parse_object(req);
    if (!body) co_return error_to_response(body.err());
    auto patch = domain::parse_patch(*body, o.limits);
    if (!patch) co_return error_to_response(patch.err());
    auto expected = if_match(req);
    if (!expected) co_return error_to_response(expected.err());
    domain::command cmd;
    cmd.kind = domain::command_kind::update;
    cmd.leaf_id = std::move(id);
    cmd.patch = std::move(*patch);
    cmd.expected_version = *expected;
    co_return co_await v1_write(std::move(cmd), 200);
  }

  asio::awaitable<response> v1_delete(const request& req, std::string id) {
    auto expected = if_match(req);
    if (!expected) co_return error_to_response(expected.err());
    domain::command cmd;
    cmd.kind = domain::command_kind::remove;
    cmd.leaf_id = id;
    cmd.expected_version = *expected;
    auto w = co_await execute(std::move(cmd));
    if (!w) co_return error_to_response(w.err());
    json::object out{{"id", id}, {"deleted", true}, {"version", w->leaf ? w->leaf->version : 0}};
    response r = json_response(200, json::serialize(out));
    add_write_headers(r, *w);
    co_return r;
  }

  asio::awaitable<response> v1_tags(const request& req, std::string id, domain::command_kind kind) {
    auto tags = parse_tags_body(req);
    if (!tags) co_return error_to_response(tags.err());
    auto expected = if_match(req);
    if (!expected) co_return error_to_response(expected.err());
    domain::command cmd;
    cmd.kind = kind;
    cmd.leaf_id = std::move(id);
    cmd.tags = std::move(*tags);
    cmd.expected_version = *expected;
    co_return co_await v1_write(std::move(cmd), 200);
  }

  asio::awaitable<response> v1_get(const request& req, const params& p, const std::string& id) {
    if (auto w = co_await wait_min_position(req, p)) co_return std::move(*w);
    auto l = co_await d.store.async_get(id);
    if (!l) co_return error_to_response(l.err());
    if (!*l || (*l)->deleted) {
      co_return error_to_response(make_error(errc::not_found, "leaf " + id + " does not exist", "leaf_not_found"));
    }
    response r = json_response(200, leaf_body(**l));
    r.headers.emplace_back("ETag", "\"" + std::to_string((*l)->version) + "\"");
    co_return r;
  }

  result<store::list_query> list_query(const params& p) {
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

  asio::awaitable<response> v1_list(const request& req, const params& p) {
    auto q = list_query(p);
    if (!q) co_return error_to_response(q.err());
    if (auto w = co_await wait_min_position(req, p)) co_return std::move(*w);
    auto page = co_await d.store.async_list(*q);
    if (!page) co_return error_to_response(page.err());
    std::string body = "{\"items\":[";
    for (size_t i = 0; i < page->items.size(); ++i) {
      if (i) body += ',';
      body += leaf_body(page->items[i]);
    }
    body += "],\"next_page_token\":";
    body += page->next_page_token.empty() ? "null" : json::serialize(json::string(page->next_page_token));
    body += '}';
    co_return json_response(200, std::move(body));
  }

  asio::awaitable<response> v1_tag_counts(const request& req, const params& p) {
    auto limit = int_param(p, "limit", 1, 1000);
    if (!limit) co_return error_to_response(limit.err());
    if (const auto* prefix = param(p, "prefix")) {
      co_return co_await v1_tag_prefix(req, p, *prefix, static_cast<size_t>(limit->value_or(10)));
    }
    if (auto w = co_await wait_min_position(req, p)) co_return std::move(*w);
    auto tags = co_await d.store.async_tags(static_cast<size_t>(limit->value_or(100)));
    if (!tags) co_return error_to_response(tags.err());
    json::array items;
    for (const auto& t : *tags) items.push_back(json::object{{"tag", t.tag}, {"count", t.count}});
    co_return json_response(200, json::serialize(json::object{{"items", std::move(items)}}));
  }

  // ---- bulk ----

  struct bulk_state {
    std::vector<json::object> results;
    size_t remaining = 0;
    std::shared_ptr<async_signal> done;
    std::map<int32_t, int64_t> last;  // highest offset written per partition
  };

  static asio::awaitable<void> bulk_item(std::shared_ptr<impl> self, std::shared_ptr<bulk_state> st, size_t i,
                                         domain::command cmd) {
    auto w = co_await self->execute(std::move(cmd));
    auto& out = st->results[i];
    if (!w) {
      out["status"] = "rejected";
      out["error"] = json::object{{"code", w.err().detail.empty() ? to_string(w.err().code) : w.err().detail},
                                  {"message", w.err().message}};
    } else {
      out["status"] = w->created ? "created" : w->changed ? "updated" : "unchanged";
      if (w->position) {
        auto& off = st->last[w->position->partition];
        off = std::max(off, w->position->offset);
      }
    }
    if (--st->remaining == 0) st->done->notify();
  }

  asio::awaitable<response> v1_bulk(const request& req) {
    auto body = parse_object(req);
    if (!body) co_return error_to_response(body.err());
    const auto* items = body->if_contains("items");
    if (!items || !items->is_array()) {
      co_return error_to_response(make_error(errc::invalid_argument, "items: required array", "invalid_field"));
    }
    const auto& arr = items->get_array();
    if (arr.size() > o.max_bulk_items) {
      co_return error_to_response(make_error(errc::invalid_argument,
                                             "items: at most " + std::to_string(o.max_bulk_items) + " per request",
                                             "invalid_field"));
    }
    auto ex = co_await asio::this_coro::executor;
    auto st = std::make_shared<bulk_state>();
    st->results.resize(arr.size());
    st->done = std::make_shared<async_signal>(ex);
    std::vector<std::pair<size_t, domain::command>> cmds;
    for (size_t i = 0; i < arr.size(); ++i) {
      auto& out = st->results[i];
      out["index"] = i;
      auto reject = [&](const error& e) {
        out["status"] = "rejected";
        out["error"] = json::object{{"code", e.detail.empty() ? to_string(e.code) : e.detail}, {"message", e.message}};
      };
      if (!arr[i].is_object()) {
        reject(make_error(errc::invalid_argument, "entry is not a JSON object", "invalid_field"));
        continue;
      }
      auto cmd = domain::save_command(arr[i].get_object(), o.limits, /*ignore_unknown=*/true, /*keep_id=*/true);
      if (!cmd) {
        reject(cmd.err());
        continue;
      }
      out["id"] = cmd->leaf_id;
      cmds.emplace_back(i, std::move(*cmd));
    }
    st->remaining = cmds.size();
    // All entries run concurrently on this strand, so their appends share fsyncs.
    for (auto& [i, cmd] : cmds) {
      asio::co_spawn(ex, bulk_item(shared_from_this(), st, i, std::move(cmd)), asio::detached);
    }
    while (st->remaining > 0) co_await st->done->wait(std::chrono::seconds(60));
    json::object summary{{"created", 0}, {"updated", 0}, {"unchanged", 0}, {"rejected", 0}};
    json::array results;
    for (auto& r : st->results) {
      summary[r["status"].as_string()].as_int64() += 1;
      results.push_back(std::move(r));
    }
    summary["results"] = std::move(results);
    response r = json_response(200, json::serialize(summary));
    if (!st->last.empty()) {
      // Every partition the batch wrote to, so one Leaves-Min-Position covers it all.
      std::string pos;
      for (const auto& [p, off] : st->last) {
        if (!pos.empty()) pos += ',';
        pos += projector::format_position({p, off});
      }
      r.headers.emplace_back("Leaves-Position", pos);
    }
    co_return r;
  }

  // ---- reference API ----

  asio::awaitable<void> wait_own_write(const service::write_result& w) {
    if (!w.position) co_return;
    std::vector<log::position> want(1, *w.position);
    co_await d.progress.wait_for(std::move(want), o.read_wait);
  }

  response not_found_ref() { return string_response(404, "This item does not exist"); }

  asio::awaitable<response> ref_write(domain::command cmd, int status) {
    auto w = co_await execute(std::move(cmd));
    if (!w) {
      if (w.err().code == errc::not_found) co_return not_found_ref();
      co_return error_to_response(w.err());
    }
    co_await wait_own_write(*w);
    response r = json_response(status, json::serialize(reference_json(*w->leaf)));
    add_write_headers(r, *w);
    co_return r;
  }

  asio::awaitable<response> ref_create(const request& req) {
    auto body = parse_object(req);
    if (!body) co_return error_to_response(body.err());
    auto cmd = domain::save_command(*body, o.limits, /*ignore_unknown=*/true, /*keep_id=*/false);
    if (!cmd) co_return error_to_response(cmd.err());
    co_return co_await ref_write(std::move(*cmd), 201);
  }

  asio::awaitable<response> ref_patch(const request& req, std::string id) {
    auto body = parse_object(req);
    if (!body) co_return error_to_response(body.err());
    auto patch = domain::parse_patch(*body, o.limits, /*ignore_unknown=*/true);
    if (!patch) co_return error_to_response(patch.err());
    domain::command cmd;
    cmd.kind = domain::command_kind::update;
    cmd.leaf_id = std::move(id);
    cmd.patch = std::move(*patch);
    co_return co_await ref_write(std::move(cmd), 201);
  }

  asio::awaitable<response> ref_delete(std::string id) {
    domain::command cmd;
    cmd.kind = domain::command_kind::remove;
    cmd.leaf_id = std::move(id);
    auto w = co_await execute(std::move(cmd));
    if (!w) {
      if (w.err().code == errc::not_found) co_return not_found_ref();
      co_return error_to_response(w.err());
    }
    co_await wait_own_write(*w);
    response r = string_response(201, "Item Deleted");
    add_write_headers(r, *w);
    co_return r;
  }

  asio::awaitable<response> ref_tags(const request& req, std::string id, domain::command_kind kind) {
    domain::command cmd;
    cmd.kind = kind;
    cmd.leaf_id = std::move(id);
    if (kind == domain::command_kind::add_tags) {
      auto tags = parse_tags_body(req);
      if (!tags) co_return error_to_response(tags.err());
      cmd.tags = std::move(*tags);
    }
    co_return co_await ref_write(std::move(cmd), kind == domain::command_kind::add_tags ? 201 : 200);
  }

  asio::awaitable<response> ref_get(std::string id, bool tags_only) {
    auto l = co_await d.store.async_get(std::move(id));
    if (!l) co_return error_to_response(l.err());
    if (!*l || (*l)->deleted) co_return not_found_ref();
    if (tags_only) co_return json_response(200, json::serialize(domain::field_to_json(**l, domain::field::tags)));
    co_return json_response(200, json::serialize(reference_json(**l)));
  }

  // GET /api/leaves: the reference's whole list (newest first; in Cassandra
  // mode the leaves table in token order, see leaf_queries::
  // async_reference_page), up to reference_list_limit. Streamed a page at a time (chunked), so its memory
  // cost is one page of leaves per client, not the whole answer. The first
  // page is read before answering, so a store failure is still a clean 503.
  asio::awaitable<response> ref_list() {
    auto page = co_await d.store.async_reference_page({}, std::min<size_t>(kReferencePage, o.reference_list_limit));
    if (!page) co_return error_to_response(page.err());
    response r;
    r.stream = http::stream_kind::chunked;
    r.source = std::make_shared<reference_list_stream>(d.store, o.reference_list_limit, std::move(*page));
    co_return r;
  }


  // ---- operations ----

  response readyz() {
    const auto end = d.log.end_offsets();
    const auto applied = d.progress.applied();
    json::object lag;
    int64_t total = 0;
    for (size_t p = 0; p < end.size(); ++p) {
      const int64_t l = std::max<int64_t>(0, end[p] - (p < applied.size() ? applied[p] : 0));
      lag[std::to_string(p)] = l;
      total += l;
    }
    const bool store_ok = d.projector.store_ok() && d.store.health().ok();
    const auto log_health = d.log.health();
    // Ready means writable: /readyz never answers 200 while a write would still
    // be refused as catching_up (the service's gate opens after the projector
    // caught up, not at the same instant) or for a full disk.
    const bool ready = d.projector.caught_up() && d.service.writable() && store_ok && log_health.ok() &&
                       !owner->stopping_.load();
    std::string state = ready                     ? "ready"
                        : owner->stopping_.load() ? "stopping"
                        : !log_health.ok()        ? log_health.err().detail
                        : !store_ok               ? (d.store.health().ok() ? d.projector.last_failure().detail
                                                                           : d.store.health().err().detail)
                                                  : "catching_up";
    if (state == "store_corrupt") state = "store_unavailable";
    json::object out{{"status", state},
                     {"projector", json::object{{"caught_up", d.projector.caught_up()},
                                                {"store_ok", store_ok},
                                                {"lag_total", total},
                                                {"lag", std::move(lag)}}}};
    // Every projection, each with its own progress. Only the read models gate
    // readiness (they gate writes); the search index answers 503
    // index_building on its own while it is behind at start.
    json::object projections;
    for (auto* pj : {&d.projector, d.search_projector}) {
      if (!pj) continue;
      const auto ap = pj->positions().applied();
      json::object plag;
      int64_t ptotal = 0;
      for (size_t i = 0; i < end.size(); ++i) {
        const int64_t l = std::max<int64_t>(0, end[i] - (i < ap.size() ? ap[i] : 0));
        plag[std::to_string(i)] = l;
        ptotal += l;
      }
      json::object po{{"group", pj->group()},
                       {"caught_up", pj->caught_up()},
                       {"ok", pj->store_ok()},
                       {"lag_total", ptotal},
                       {"lag", std::move(plag)}};
      if (!pj->store_ok()) po["error"] = pj->last_failure().detail;
      if (pj == d.search_projector && d.search) po["documents"] = d.search->documents();
      projections[pj->name()] = std::move(po);
    }
    out["projections"] = std::move(projections);
    if (!log_health.ok()) out["message"] = log_health.err().message;
    return json_response(ready ? 200 : 503, json::serialize(out));
  }

  asio::awaitable<response> dispatch(request& req) {
    auto m = find_route(req.method, req.path);
    if (!m.r) {
      if (!m.allow.empty()) {
        std::string allow;
        for (const auto& a : m.allow) allow += (allow.empty() ? "" : ", ") + a;
        response r = http::error_response(405, "method_not_allowed",
                                          req.method + " is not allowed on " + req.path + "; allowed: " + allow);
        r.headers.emplace_back("Allow", allow);
        co_return r;
      }
      co_return http::error_response(404, "not_found", "no such endpoint: " + req.path);
    }
    response r = co_await route(req, m);
    r.route = m.r->pattern;
    co_return r;
  }

  asio::awaitable<response> route(request& req, const match& m) {
    auto p = parse_query(req.query);
    if (!p) co_return error_to_response(p.err());
    const bool has_id = std::string_view(m.r->pattern).find("{id}") != std::string_view::npos;
    if (has_id && !domain::valid_leaf_id(m.id)) {
      if (std::string_view(m.r->pattern).starts_with("/api/")) co_return not_found_ref();
      co_return error_to_response(make_error(errc::not_found, "leaf " + m.id.substr(0, 200) + " does not exist",
                                             "leaf_not_found"));
    }
    using domain::command_kind;
    switch (m.r->id) {
      case route_id::v1_list: co_return co_await v1_list(req, *p);
      case route_id::v1_create: co_return co_await v1_create(req);
      case route_id::v1_get: co_return co_await v1_get(req, *p, m.id);
      case route_id::v1_patch: co_return co_await v1_patch(req, m.id);
      case route_id::v1_delete: co_return co_await v1_delete(req, m.id);
      case route_id::v1_tags_add: co_return co_await v1_tags(req, m.id, command_kind::add_tags);
      case route_id::v1_tags_replace: co_return co_await v1_tags(req, m.id, command_kind::replace_tags);
      case route_id::v1_tags_remove: co_return co_await v1_tags(req, m.id, command_kind::remove_tags);
      case route_id::v1_tag_counts: co_return co_await v1_tag_counts(req, *p);
      case route_id::v1_bulk: co_return co_await v1_bulk(req);
      case route_id::v1_search: co_return co_await v1_search(req, *p);
      case route_id::v1_stream:
      case route_id::v1_ws: {
        if (d.hub.subscribers() >= o.max_stream_subscribers) {
          co_return error_to_response(make_error(errc::unavailable, "too many stream subscribers", "unavailable"));
        }
        auto src = open_stream(req, *p, co_await asio::this_coro::executor, d.log, d.hub, &d.store,
                               d.live_match ? &d.live_match : nullptr);
        if (!src) co_return error_to_response(src.err());
        response r;
        r.stream = m.r->id == route_id::v1_ws ? http::stream_kind::websocket : http::stream_kind::sse;
        r.source = std::move(*src);
        co_return r;
      }
      case route_id::ref_list: {
        if (auto w = co_await wait_min_position(req, *p)) co_return std::move(*w);
        co_return co_await ref_list();
      }
      case route_id::ref_create: co_return co_await ref_create(req);
      case route_id::ref_get:
      case route_id::ref_tags_get: {
        if (auto w = co_await wait_min_position(req, *p)) co_return std::move(*w);
        co_return co_await ref_get(m.id, m.r->id == route_id::ref_tags_get);
      }
      case route_id::ref_patch: co_return co_await ref_patch(req, m.id);
      case route_id::ref_delete: co_return co_await ref_delete(m.id);
      case route_id::ref_tags_add: co_return co_await ref_tags(req, m.id, command_kind::add_tags);
      case route_id::ref_tags_clear: co_return co_await ref_tags(req, m.id, command_kind::clear_tags);
      case route_id::healthz: co_return json_response(200, "{\"status\":\"ok\"}");
      case route_id::readyz: co_return readyz();
      case route_id::metrics: {
        response r = json_response(200, d.metrics.render());
        r.content_type = "text/plain; version=0.0.4";
        co_return r;
      }
      case route_id::openapi: co_return json_response(200, std::string(openapi_document()));
    }
    co_return http::error_response(500, "internal", "unrouted");
  }
};

api::api(api_deps deps, api_options opts) : impl_(std::make_shared<impl>(deps, std::move(opts), this)) {}

asio::awaitable<http::response> api::handle(http::request& req) {
  // Keep impl alive across suspension points (bulk items hold it too).
  auto self = impl_;
  co_return co_await self->dispatch(req);
}

}  // namespace leaves::api
