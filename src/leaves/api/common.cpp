#include "leaves/api/handlers.h"

#include <charconv>

namespace leaves::api {

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

response json_response(int status, std::string body) {
  response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

response string_response(int status, std::string_view text) {
  return json_response(status, json::serialize(json::string(text)));
}

result<json::value> context::parse_json(const request& req) {
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

result<json::object> context::parse_object(const request& req) {
  auto v = parse_json(req);
  if (!v) return v.err();
  if (!v->is_object()) return bad_json("body must be a JSON object");
  return std::move(v->get_object());
}

result<domain::string_list> context::parse_tags_body(const request& req) {
  auto b = parse_object(req);
  if (!b) return b.err();
  const auto* t = b->if_contains("tags");
  if (!t) return make_error(errc::invalid_argument, "tags: required", "invalid_field");
  return domain::normalize_tags(*t, o.limits);
}

result<std::optional<int64_t>> context::if_match(const request& req) {
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
asio::awaitable<std::optional<response>> context::wait_min_position(const request& req, const params& p) {
  co_return co_await wait_min_position_of(req, p, d.progress, "the read models");
}

asio::awaitable<std::optional<response>> context::wait_min_position_of(const request& req, const params& p,
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

int64_t context::lag_total(const projector::progress& prog) const {
  int64_t total = 0;
  for (int64_t l : projector::lag(prog.applied(), d.log.known_end_offsets())) total += l;
  return total;
}

void context::add_write_headers(response& r, const service::write_result& w) {
  if (w.leaf) r.headers.emplace_back("ETag", "\"" + std::to_string(w.leaf->version) + "\"");
  if (w.position) r.headers.emplace_back("Leaves-Position", projector::format_position(*w.position));
}

void context::stamp(domain::command& cmd, const request& req) const {
  cmd.actor = req.caller.actor;
  if (req.caller.user_id > 0) {
    cmd.owner = domain::command::owner_info{req.caller.user_id, req.caller.actor, req.caller.email, req.caller.limited};
  }
}

asio::awaitable<result<service::write_result>> context::execute(domain::command cmd) {
  std::string actor = cmd.actor.empty() ? std::string("anonymous") : cmd.actor;
  const std::string leaf_id = cmd.leaf_id;
  const bool limited_user = cmd.owner && cmd.owner->limited;
  auto r = co_await d.service.execute(std::move(cmd), actor);
  if (r && r->changed) owner->events_appended_.fetch_add(1, std::memory_order_relaxed);
  // Another's private leaf is "not found" to a caller who cannot see it;
  // one who reads it through a shared collection is told it is not theirs.
  if (!r && limited_user && d.users && r.err().detail == "leaf_not_found") {
    auto l = co_await d.service.state(leaf_id);  // knows a leaf acknowledged a moment ago
    if (l && *l && !(*l)->deleted && d.users->shared_with(leaf_id, (*l)->user_id, actor)) {
      co_return make_error(errc::permission_denied, "leaf " + leaf_id + " belongs to another user", "leaf_not_yours");
    }
  }
  co_return r;
}

bool context::readable(const request& req, const std::string& id, bool is_public, std::optional<int64_t> owner) const {
  if (req.caller.sees(is_public, owner)) return true;
  return d.users && req.caller.user_id > 0 && d.users->shared_with(id, owner, req.caller.actor);
}

std::optional<domain::marks_view> context::marks_view(const request::caller_info& who) const {
  if (!d.users || who.user_id <= 0) return std::nullopt;
  return domain::marks_view{who.user_id, d.users->marks_of(who.actor)};
}

void context::show_marks(const std::optional<domain::marks_view>& view, leaf& l) {
  if (!view) return;
  if (auto m = view->of(l.id, l.user_id)) {
    l.is_starred = *m & domain::mark_starred;
    l.is_archived = *m & domain::mark_archived;
  }
}

void context::show_marks(const std::optional<domain::marks_view>& view, std::string& json) {
  if (!view) return;
  auto p = domain::peek_leaf_json(json);
  if (!p) return;
  auto m = view->of(p->id, p->user_id);
  if (!m) return;
  const bool starred = *m & domain::mark_starred, archived = *m & domain::mark_archived;
  if (starred != p->is_starred || archived != p->is_archived) domain::set_leaf_json_flags(json, starred, archived);
}

asio::awaitable<result<context::collection_slice>> context::collection_leaves(const domain::collection& col,
                                                                             const request& req,
                                                                             const auth::principal& who, size_t from,
                                                                             size_t want, size_t max_scan) {
  collection_slice out;
  const auto marks = marks_view(req.caller);
  size_t i = from;
  for (; i < col.leaves.size() && out.items.size() < want && i - from < max_scan; ++i) {
    auto l = co_await d.store.async_get(col.leaves[i]);
    if (!l) co_return l.err();
    if (!*l || (*l)->deleted) continue;
    if (!d.users->shows(col.id, who, col.leaves[i], (*l)->user_id, req.caller.sees((*l)->is_public, (*l)->user_id))) {
      continue;
    }
    show_marks(marks, **l);
    out.items.emplace_back(i, std::move(**l));
  }
  if (i < col.leaves.size()) out.next = i;
  co_return out;
}

}  // namespace leaves::api
