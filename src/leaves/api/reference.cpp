#include "leaves/api/handlers.h"

namespace leaves::api {

namespace {

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

constexpr size_t kReferencePage = 8;  // leaves per piece: the memory a slow client can hold

// The pieces of GET /api/leaves: "[", the leaves page by page, "]".
class reference_list_stream final : public http::stream_source {
 public:
  reference_list_stream(store::leaf_queries& st, size_t limit, store::list_page first,
                        http::request::caller_info caller)
      : store_(st), left_(limit), page_(std::move(first)), caller_(std::move(caller)) {}

  asio::awaitable<std::vector<http::stream_event>> next(std::chrono::milliseconds, std::string& end) override {
    std::vector<http::stream_event> out(1);
    std::string& piece = out[0].data;
    if (!opened_) {
      piece = "[";
      opened_ = true;
    }
    for (const auto& l : page_.items) {
      if (left_ == 0) break;
      if (!caller_.sees(l.is_public, l.user_id)) continue;
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
  http::request::caller_info caller_;
  bool opened_ = false;
  size_t sent_ = 0;
};

}  // namespace

asio::awaitable<void> reference::wait_own_write(const service::write_result& w) {
  if (!w.position) co_return;
  std::vector<log::position> want(1, *w.position);
  co_await d.progress.wait_for(std::move(want), o.read_wait);
}

response reference::not_found_ref() { return string_response(404, "This item does not exist"); }

asio::awaitable<response> reference::ref_write(domain::command cmd, int status) {
  auto w = co_await c.execute(std::move(cmd));
  if (!w) {
    if (w.err().code == errc::not_found) co_return not_found_ref();
    co_return error_to_response(w.err());
  }
  co_await wait_own_write(*w);
  response r = json_response(status, json::serialize(reference_json(*w->leaf)));
  c.add_write_headers(r, *w);
  co_return r;
}

asio::awaitable<response> reference::ref_create(const request& req) {
  auto body = c.parse_object(req);
  if (!body) co_return error_to_response(body.err());
  auto cmd = domain::save_command(*body, o.limits, /*ignore_unknown=*/true, /*keep_id=*/false);
  if (!cmd) co_return error_to_response(cmd.err());
  c.stamp(*cmd, req);
  co_return co_await ref_write(std::move(*cmd), 201);
}

asio::awaitable<response> reference::ref_patch(const request& req, std::string id) {
  auto body = c.parse_object(req);
  if (!body) co_return error_to_response(body.err());
  auto patch = domain::parse_patch(*body, o.limits, /*ignore_unknown=*/true);
  if (!patch) co_return error_to_response(patch.err());
  domain::command cmd;
  cmd.kind = domain::command_kind::update;
  c.stamp(cmd, req);
  cmd.leaf_id = std::move(id);
  cmd.patch = std::move(*patch);
  co_return co_await ref_write(std::move(cmd), 201);
}

asio::awaitable<response> reference::ref_delete(const request& req, std::string id) {
  domain::command cmd;
  cmd.kind = domain::command_kind::remove;
  c.stamp(cmd, req);
  cmd.leaf_id = std::move(id);
  auto w = co_await c.execute(std::move(cmd));
  if (!w) {
    if (w.err().code == errc::not_found) co_return not_found_ref();
    co_return error_to_response(w.err());
  }
  co_await wait_own_write(*w);
  response r = string_response(201, "Item Deleted");
  c.add_write_headers(r, *w);
  co_return r;
}

asio::awaitable<response> reference::ref_tags(const request& req, std::string id, domain::command_kind kind) {
  domain::command cmd;
  cmd.kind = kind;
  c.stamp(cmd, req);
  cmd.leaf_id = std::move(id);
  if (kind == domain::command_kind::add_tags) {
    auto tags = c.parse_tags_body(req);
    if (!tags) co_return error_to_response(tags.err());
    cmd.tags = std::move(*tags);
  }
  co_return co_await ref_write(std::move(cmd), kind == domain::command_kind::add_tags ? 201 : 200);
}

asio::awaitable<response> reference::ref_get(const request& req, std::string id, bool tags_only) {
  auto l = co_await d.store.async_get(id);
  if (!l) co_return error_to_response(l.err());
  // Who may read a leaf decides as on /v1 (a teammate's private leaf
  // through a shared collection included).
  if (!*l || (*l)->deleted || !c.readable(req, id, (*l)->is_public, (*l)->user_id)) co_return not_found_ref();
  if (tags_only) co_return json_response(200, json::serialize(domain::field_to_json(**l, domain::field::tags)));
  co_return json_response(200, json::serialize(reference_json(**l)));
}

// GET /api/leaves: the reference's whole list (newest first; in Cassandra
// mode the leaves table in token order, see leaf_queries::
// async_reference_page), up to reference_list_limit. Streamed a page at a time (chunked), so its memory
// cost is one page of leaves per client, not the whole answer. The first
// page is read before answering, so a store failure is still a clean 503.
asio::awaitable<response> reference::ref_list(const request& req) {
  auto page = co_await d.store.async_reference_page({}, std::min<size_t>(kReferencePage, o.reference_list_limit));
  if (!page) co_return error_to_response(page.err());
  response r;
  r.stream = http::stream_kind::chunked;
  r.source = std::make_shared<reference_list_stream>(d.store, o.reference_list_limit, std::move(*page),
                                                   req.caller);
  co_return r;
}

}  // namespace leaves::api
