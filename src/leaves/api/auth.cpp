// Authentication and authorisation of every request, in one place: the
// route's access class (below) against the caller's scopes.
#include "leaves/api/handlers.h"

#include "leaves/auth/token.h"
#include "leaves/base/time.h"

namespace leaves::api {

namespace {

enum class access {
  open,   // no caller needed: health, readiness, the OpenAPI document, the UI's files, /v1/me
  read,   // the read scope (anonymous callers: per --anonymous)
  write,  // the write scope
  admin,  // the admin scope
  user,   // any authenticated caller; the handler checks it is the user named or an admin
  feed,   // the feed scope (every reader has it), the token also in ?token=
  user_write,  // an authenticated caller with the write scope (what it writes belongs to a user)
};

access route_access(route_id id) {
  switch (id) {
    case route_id::healthz:
    case route_id::readyz:
    case route_id::openapi:
    case route_id::ui_page:
    case route_id::ui_asset:
    case route_id::v1_session_create:
    case route_id::v1_me: return access::open;
    case route_id::v1_list:
    case route_id::v1_get:
    case route_id::v1_content:
    case route_id::v1_history:
    case route_id::v1_tag_counts:
    case route_id::v1_search:
    case route_id::v1_export:
    case route_id::v1_stream:
    case route_id::v1_ws:
    case route_id::ref_list:
    case route_id::ref_get:
    case route_id::ref_tags_get:
    case route_id::metrics: return access::read;
    case route_id::v1_create:
    case route_id::v1_patch:
    case route_id::v1_delete:
    case route_id::v1_refetch:
    case route_id::v1_tags_add:
    case route_id::v1_tags_replace:
    case route_id::v1_tags_remove:
    case route_id::v1_bulk:
    case route_id::ref_create:
    case route_id::ref_patch:
    case route_id::ref_delete:
    case route_id::ref_tags_add:
    case route_id::ref_tags_clear: return access::write;
    case route_id::v1_audit:
    case route_id::proxy_produce_v2:  // records are saved by the ingester, as "ingest", not as the caller
    case route_id::proxy_produce_v3:
    case route_id::v1_ops_ingest:
    case route_id::v1_users_list:
    case route_id::v1_users_create:
    case route_id::v1_user_patch: return access::admin;
    case route_id::v1_user_get:
    case route_id::v1_tokens_list:
    case route_id::v1_token_create:
    case route_id::v1_token_revoke:
    case route_id::v1_session_delete:
    case route_id::v1_password_set:
    case route_id::v1_webhooks_list:
    case route_id::v1_webhook_create:
    case route_id::v1_webhook_patch:
    case route_id::v1_webhook_delete:
    case route_id::v1_webhook_deliveries:
    case route_id::v1_marks: return access::user;
    case route_id::v1_feed: return access::feed;
    case route_id::v1_teams_list:
    case route_id::v1_team_get: return access::user;
    case route_id::v1_collections_list:
    case route_id::v1_collection_get:
    case route_id::v1_collection_leaves: return access::read;
    case route_id::v1_team_create:
    case route_id::v1_team_patch:
    case route_id::v1_team_delete:
    case route_id::v1_team_member_set:
    case route_id::v1_team_member_delete:
    case route_id::v1_collection_create:
    case route_id::v1_collection_patch:
    case route_id::v1_collection_delete:
    case route_id::v1_collection_leaf_add:
    case route_id::v1_collection_leaf_move:
    case route_id::v1_collection_leaf_remove:
    case route_id::v1_collection_share:
    case route_id::v1_collection_unshare: return access::user_write;
  }
  return access::admin;  // a route nobody classified is closed, not open
}

const char* scope_name(access a) {
  switch (a) {
    case access::read: return "read";
    case access::write: return "write";
    case access::admin: return "admin";
    case access::feed: return "feed";
    case access::user_write: return "write";
    default: return "user";
  }
}

unsigned anonymous_scopes(anonymous_access a) {
  switch (a) {
    case anonymous_access::all: return domain::scope_read | domain::scope_write | domain::scope_feed;
    case anonymous_access::read: return domain::scope_read | domain::scope_feed;
    case anonymous_access::none: return 0;
  }
  return 0;
}

response unauthenticated(std::string message, const char* error_param) {
  response r = http::error_response(401, "unauthenticated", message);
  std::string challenge = "Bearer realm=\"leaves\"";
  if (error_param) challenge += std::string(", error=\"") + error_param + "\"";
  r.headers.emplace_back("WWW-Authenticate", std::move(challenge));
  return r;
}

}  // namespace

std::string_view session_cookie(const request& req) {
  std::string_view all = req.header("cookie");
  while (!all.empty()) {
    const auto semi = all.find(';');
    auto part = all.substr(0, semi);
    all = semi == std::string_view::npos ? std::string_view{} : all.substr(semi + 1);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    if (part.starts_with(kSessionCookie) && part.size() > kSessionCookie.size() &&
        part[kSessionCookie.size()] == '=') {
      return part.substr(kSessionCookie.size() + 1);
    }
  }
  return {};
}

std::string csrf_for(std::string_view session_token) {
  return auth::sha256_hex("leaves-csrf:" + std::string(session_token)).substr(0, 32);
}

result<auth::principal> api::impl::authenticate(const request& req, route_id route) const {
  std::string_view h = req.header("authorization");
  if (h.empty() && route == route_id::v1_feed && c.d.users) {
    // Feed readers cannot send headers: the feed's token comes in the URL.
    // Only here, so a token that leaks with a feed's address opens feeds,
    // and a feed-only token (scopes: feed) opens nothing else.
    auto p = parse_query(req.query);
    if (p) {
      if (const auto* t = param(*p, "token")) return c.d.users->authenticate(*t, system_clock().now_ms());
    }
  }
  if (h.empty()) {
    // The UI's session: a token in an HttpOnly cookie. One that no longer
    // works (expired, signed out elsewhere) leaves the caller anonymous, so
    // the UI shows what anonymous callers see and offers to sign in.
    if (auto cookie = session_cookie(req); !cookie.empty() && c.d.users) {
      if (auto p = c.d.users->authenticate(cookie, system_clock().now_ms())) {
        p->via_cookie = true;
        p->csrf = csrf_for(cookie);
        return p;
      }
    }
    auth::principal anon;
    anon.scopes = anonymous_scopes(c.o.anonymous);
    return anon;
  }
  // RFC 6750: "Bearer" is case-insensitive, then one or more spaces.
  if (h.size() < 7 || !(h[0] == 'B' || h[0] == 'b') || h.substr(1, 5) != "earer" || h[6] != ' ') {
    return make_error(errc::unauthenticated, "Authorization must be 'Bearer <token>'", "invalid_request");
  }
  h.remove_prefix(7);
  while (!h.empty() && h.front() == ' ') h.remove_prefix(1);
  while (!h.empty() && h.back() == ' ') h.remove_suffix(1);
  if (!c.d.users) return make_error(errc::unauthenticated, "this server has no users", "invalid_token");
  return c.d.users->authenticate(h, system_clock().now_ms());
}

std::optional<response> api::impl::authorize(request& req, const leaves::api::route& r,
                                             const auth::principal& who) const {
  req.caller.actor = who.name;
  req.caller.email = who.email;
  req.caller.user_id = who.anonymous ? 0 : who.user_id;
  req.caller.limited = who.anonymous ? c.o.anonymous == anonymous_access::read : !who.can(domain::scope_admin);
  req.caller.writes = who.can(domain::scope_write);
  const access a = route_access(r.id);
  // A browser sends the cookie with any request a page makes, also another
  // site's (SameSite=Strict stops most); a write must also show the
  // session's CSRF token, which only the UI's own script can read.
  if (who.via_cookie && req.method != "GET" && req.method != "HEAD" && r.id != route_id::v1_session_create &&
      !auth::constant_time_equal(req.header("x-csrf-token"), who.csrf)) {
    return http::error_response(403, "csrf_failed",
                                "a write with the session cookie needs its X-CSRF-Token header (from GET /v1/me)");
  }
  if (a == access::open) return std::nullopt;
  if (a == access::user) {
    if (who.anonymous) return unauthenticated("this route needs a token (Authorization: Bearer <token>)", nullptr);
    // A feed token is pasted into feed readers' URLs: it opens feeds and
    // nothing else, not even its user's own account and tokens.
    if ((who.scopes & ~domain::scope_feed) != 0) return std::nullopt;
    return http::error_response(403, "permission_denied",
                                "the token " + who.token_id + " of " + who.name + " only reads feeds");
  }
  if (a == access::user_write && who.anonymous) {
    return unauthenticated("this route needs a user's token with the write scope (Authorization: Bearer <token>)",
                           nullptr);
  }
  const unsigned need = a == access::read    ? domain::scope_read
                        : a == access::write || a == access::user_write ? domain::scope_write
                        : a == access::feed  ? domain::scope_feed
                                             : domain::scope_admin;
  if (who.can(need)) return std::nullopt;
  if (who.anonymous) {
    return unauthenticated(std::string("this route needs a token with the ") + scope_name(a) +
                               " scope (Authorization: Bearer <token>)",
                           nullptr);
  }
  return http::error_response(403, "permission_denied",
                              "the token " + who.token_id + " of " + who.name + " (" + domain::to_string(who.r) +
                                  ") does not allow " + scope_name(a));
}

std::optional<rate_limiter::decision> api::impl::rate_limit(const leaves::api::route& r,
                                                           const auth::principal& who) {
  // Per token: anonymous callers have none (a reverse proxy limits by
  // address), and the open routes (health, the UI's files) are never limited.
  if (who.anonymous || !limiter.enabled() || route_access(r.id) == access::open) return std::nullopt;
  return limiter.take(who.token_id);
}

}  // namespace leaves::api
