#include "leaves/api/handlers.h"

#include <boost/asio/this_coro.hpp>

#include "leaves/api/stream.h"
#include "leaves/api/ui.h"
#include "leaves/auth/directory.h"
#include "leaves/base/time.h"

namespace leaves::api {

namespace {
// The IETF draft's fields (draft-ietf-httpapi-ratelimit-headers, as most
// clients read them): the bucket's size, what is left, seconds until full.
void add_rate_headers(response& r, const rate_limiter::decision& d) {
  r.headers.emplace_back("RateLimit-Limit", std::to_string(d.limit));
  r.headers.emplace_back("RateLimit-Remaining", std::to_string(d.remaining));
  r.headers.emplace_back("RateLimit-Reset", std::to_string(d.reset_seconds));
}
}  // namespace

asio::awaitable<response> api::impl::dispatch(request& req) {
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

asio::awaitable<response> api::impl::route(request& req, const match& m) {
  auto who = authenticate(req, m.r->id);
  if (!who) {
    response r = error_to_response(who.err());
    r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"leaves\", error=\"" + who.err().detail + "\"");
    co_return r;
  }
  if (auto refused = authorize(req, *m.r, *who)) co_return std::move(*refused);
  const auto limit = rate_limit(*m.r, *who);
  if (limit && !limit->allowed) {
    response r = http::error_response(429, "rate_limited",
                                      "the token " + who->token_id + " made more than its " +
                                          std::to_string(limit->limit) + " requests in a burst; retry in " +
                                          std::to_string(limit->retry_after) + " s");
    r.headers.emplace_back("Retry-After", std::to_string(limit->retry_after));
    add_rate_headers(r, *limit);
    co_return r;
  }
  auto p = parse_query(req.query);
  if (!p) co_return error_to_response(p.err());
  response r = co_await serve(req, m, *who, *p);
  if (limit) add_rate_headers(r, *limit);
  co_return r;
}

asio::awaitable<response> api::impl::serve(request& req, const match& m, const auth::principal& who,
                                           const params& p) {
  const bool has_id = std::string_view(m.r->pattern).find("{id}") != std::string_view::npos;
  if (has_id && !domain::valid_leaf_id(m.id)) {
    if (std::string_view(m.r->pattern).starts_with("/api/")) co_return ref.not_found_ref();
    co_return error_to_response(make_error(errc::not_found, "leaf " + m.id.substr(0, 200) + " does not exist",
                                           "leaf_not_found"));
  }
  using domain::command_kind;
  switch (m.r->id) {
    case route_id::v1_list: co_return co_await leaves.v1_list(req, p);
    case route_id::v1_create: co_return co_await leaves.v1_create(req);
    case route_id::v1_get: co_return co_await leaves.v1_get(req, p, m.id);
    case route_id::v1_content: co_return co_await leaves.v1_content(req, p, m.id);
    case route_id::v1_history: co_return co_await leaves.v1_history(req, p, m.id);
    case route_id::v1_patch: co_return co_await leaves.v1_patch(req, m.id);
    case route_id::v1_delete: co_return co_await leaves.v1_delete(req, m.id);
    case route_id::v1_refetch: co_return co_await leaves.v1_refetch(req, m.id);
    case route_id::v1_marks: co_return co_await leaves.v1_marks(req, m.id);
    case route_id::v1_tags_add: co_return co_await leaves.v1_tags(req, m.id, command_kind::add_tags);
    case route_id::v1_tags_replace: co_return co_await leaves.v1_tags(req, m.id, command_kind::replace_tags);
    case route_id::v1_tags_remove: co_return co_await leaves.v1_tags(req, m.id, command_kind::remove_tags);
    case route_id::v1_tag_counts: co_return co_await leaves.v1_tag_counts(req, p);
    case route_id::v1_bulk: co_return co_await batch.v1_bulk(req, shared_from_this());
    case route_id::v1_feed: co_return co_await leaves.v1_feed(req, p, who);
    case route_id::v1_export: co_return co_await leaves.v1_export(req, p);
    case route_id::v1_search: co_return co_await searching.v1_search(req, p);
    case route_id::v1_stream:
    case route_id::v1_ws: {
      if (c.d.hub.subscribers() >= c.o.max_stream_subscribers) {
        co_return error_to_response(make_error(errc::unavailable, "too many stream subscribers", "unavailable"));
      }
      access_check still_allowed;
      if (!who.anonymous && c.d.users) {
        still_allowed = [users = c.d.users, name = who.name, token = who.token_id, r = who.r] {
          return users->refused(name, token, r, system_clock().now_ms());
        };
      }
      // ?collection=: the events of the collection's leaves that reach the
      // caller through it (docs/collections.md), decided for each event.
      // A smart collection's stream is its search's live stream (?q=).
      std::function<bool(const realtime::message&)> scope;
      collection_leaf_check leaf_check;
      params sp = p;
      if (const auto* cid = param(p, "collection"); cid && c.d.users) {
        auto col = c.d.users->find_collection(*cid);
        if (!col || c.d.users->access(*col, who) == auth::collection_access::none) {
          co_return error_to_response(make_error(errc::not_found, "collection " + cid->substr(0, 64) + " does not exist",
                                                 "collection_not_found"));
        }
        if (col->query) {
          if (param(p, "q")) co_return error_to_response(bad_query("a smart collection's stream takes no q"));
          std::erase_if(sp, [](const auto& kv) { return kv.first == "collection"; });
          sp.emplace_back("q", *col->query);
        } else {
          scope = [users = c.d.users, id = *cid, who, caller = req.caller,
                   could = std::make_shared<std::atomic<bool>>(true)](const realtime::message& m) {
            if (!m.collection_id.empty()) return m.collection_id == id && users->shows_own_event(id, who, *could);
            return users->carries(id, who, m.leaf_id, m.user_id, caller.sees(m.is_public.value_or(false), m.user_id));
          };
          leaf_check.shows = [users = c.d.users, id = *cid, who, caller = req.caller](const domain::leaf& l) {
            return users->shows(id, who, l.id, l.user_id, caller.sees(l.is_public, l.user_id));
          };
          leaf_check.folded = &c.d.users->progress();
        }
      }
      // A live search (and a smart collection's stream) matches is:starred
      // and is:archived by the caller's own marks, as its search does.
      leaf_view as_seen;
      if (c.marks_view(req.caller)) {
        as_seen = [users = c.d.users, user = req.caller.actor, user_id = req.caller.user_id](domain::leaf& l) {
          context::show_marks(domain::marks_view{user_id, users->marks_of(user)}, l);
        };
      }
      auto src = open_stream(req, sp, co_await asio::this_coro::executor, c.d.log, c.d.hub, &c.d.store,
                             c.d.live_match ? &c.d.live_match : nullptr, std::move(still_allowed), std::move(scope),
                             std::move(leaf_check), std::move(as_seen));
      if (!src) co_return error_to_response(src.err());
      co_await (*src)->begin();
      response r;
      r.stream = m.r->id == route_id::v1_ws ? http::stream_kind::websocket : http::stream_kind::sse;
      r.source = std::move(*src);
      co_return r;
    }
    case route_id::ref_list: {
      if (auto w = co_await c.wait_min_position(req, p)) co_return std::move(*w);
      co_return co_await ref.ref_list(req);
    }
    case route_id::ref_create: co_return co_await ref.ref_create(req);
    case route_id::ref_get:
    case route_id::ref_tags_get: {
      if (auto w = co_await c.wait_min_position(req, p)) co_return std::move(*w);
      co_return co_await ref.ref_get(req, m.id, m.r->id == route_id::ref_tags_get);
    }
    case route_id::ref_patch: co_return co_await ref.ref_patch(req, m.id);
    case route_id::ref_delete: co_return co_await ref.ref_delete(req, m.id);
    case route_id::ref_tags_add: co_return co_await ref.ref_tags(req, m.id, command_kind::add_tags);
    case route_id::ref_tags_clear: co_return co_await ref.ref_tags(req, m.id, command_kind::clear_tags);
    case route_id::v1_me: co_return co_await users.me(who);
    case route_id::v1_users_list: co_return co_await users.list();
    case route_id::v1_users_create: co_return co_await users.create(req, who);
    case route_id::v1_user_get: co_return co_await users.get(who, *m.param("name"));
    case route_id::v1_user_patch: co_return co_await users.patch(req, who, *m.param("name"));
    case route_id::v1_tokens_list: co_return co_await users.tokens(who, *m.param("name"));
    case route_id::v1_token_create: co_return co_await users.create_token(req, who, *m.param("name"));
    case route_id::v1_token_revoke:
      co_return co_await users.revoke_token(who, *m.param("name"), *m.param("token_id"));
    case route_id::v1_webhooks_list: co_return co_await users.webhooks(who, *m.param("name"));
    case route_id::v1_webhook_create: co_return co_await users.create_webhook(req, who, *m.param("name"));
    case route_id::v1_webhook_patch:
      co_return co_await users.change_webhook(&req, who, *m.param("name"), *m.param("webhook_id"));
    case route_id::v1_webhook_delete:
      co_return co_await users.change_webhook(nullptr, who, *m.param("name"), *m.param("webhook_id"));
    case route_id::v1_webhook_deliveries:
      co_return co_await users.webhook_deliveries(who, *m.param("name"), *m.param("webhook_id"));
    case route_id::v1_audit: co_return co_await ops.audit(req, p);
    case route_id::v1_ops_ingest: co_return co_await ops.ingest();
    case route_id::proxy_produce_v2: co_return co_await proxy.produce_v2(req, *m.param("topic"));
    case route_id::proxy_produce_v3:
      co_return co_await proxy.produce_v3(req, *m.param("cluster"), *m.param("topic"));
    case route_id::v1_session_create: co_return co_await users.sign_in(req);
    case route_id::v1_session_delete: co_return co_await users.sign_out(req, who);
    case route_id::v1_password_set: co_return co_await users.set_password(req, who, *m.param("name"));
    case route_id::v1_teams_list: co_return co_await groups.teams(who);
    case route_id::v1_team_create: co_return co_await groups.create_team(req, who);
    case route_id::v1_team_get: co_return co_await groups.get_team(who, *m.param("team_id"));
    case route_id::v1_team_patch: co_return co_await groups.change_team(&req, who, *m.param("team_id"));
    case route_id::v1_team_delete: co_return co_await groups.change_team(nullptr, who, *m.param("team_id"));
    case route_id::v1_team_member_set:
      co_return co_await groups.set_member(&req, who, *m.param("team_id"), *m.param("name"));
    case route_id::v1_team_member_delete:
      co_return co_await groups.set_member(nullptr, who, *m.param("team_id"), *m.param("name"));
    case route_id::v1_collections_list: co_return co_await groups.collections(p, who);
    case route_id::v1_collection_create: co_return co_await groups.create_collection(req, who);
    case route_id::v1_collection_get: co_return co_await groups.get_collection(who, *m.param("collection_id"));
    case route_id::v1_collection_patch: co_return co_await groups.change_collection(&req, who, *m.param("collection_id"));
    case route_id::v1_collection_delete:
      co_return co_await groups.change_collection(nullptr, who, *m.param("collection_id"));
    case route_id::v1_collection_leaves:
      co_return co_await groups.collection_leaves(req, p, who, *m.param("collection_id"));
    case route_id::v1_collection_leaf_add:
      co_return co_await groups.change_leaf(&req, who, *m.param("collection_id"), nullptr, true);
    case route_id::v1_collection_leaf_move:
      co_return co_await groups.change_leaf(&req, who, *m.param("collection_id"), &m.id, false);
    case route_id::v1_collection_leaf_remove:
      co_return co_await groups.change_leaf(nullptr, who, *m.param("collection_id"), &m.id, false);
    case route_id::v1_collection_share:
      co_return co_await groups.share(&req, who, *m.param("collection_id"), *m.param("team_id"));
    case route_id::v1_collection_unshare:
      co_return co_await groups.share(nullptr, who, *m.param("collection_id"), *m.param("team_id"));
    case route_id::healthz: co_return json_response(200, "{\"status\":\"ok\"}");
    case route_id::readyz: co_return co_await ops.readyz();
    case route_id::metrics: {
      response r = json_response(200, c.d.metrics.render());
      r.content_type = "text/plain; version=0.0.4";
      co_return r;
    }
    case route_id::openapi: co_return json_response(200, std::string(openapi_document()));
    case route_id::ui_page: co_return ui_page_response(req);
    case route_id::ui_asset: co_return ui_asset_response(req, *m.param("path"));
  }
  co_return http::error_response(500, "internal", "unrouted");
}

api::api(api_deps deps, api_options opts) : impl_(std::make_shared<impl>(deps, std::move(opts), this)) {}

void api::set_ingest_view(std::function<boost::json::object()> view) { impl_->c.d.ingest_view = std::move(view); }
void api::set_ingest_log(std::string topic, log::event_log* log) {
  impl_->c.d.ingest_topic = std::move(topic);
  impl_->c.d.ingest_log = log;
}

asio::awaitable<http::response> api::handle(http::request& req) {
  // Keep impl alive across suspension points (bulk items hold it too).
  auto self = impl_;
  co_return co_await self->dispatch(req);
}

}  // namespace leaves::api
