#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/url/parse.hpp>

#include "leaves/api/handlers.h"
#include "leaves/webhooks/address.h"
#include "leaves/webhooks/dispatcher.h"

#include "leaves/auth/token.h"
#include "leaves/base/log.h"
#include "leaves/base/time.h"

namespace leaves::api {

namespace {

error users_disabled() {
  return make_error(errc::unavailable, "this server keeps no users", "users_disabled");
}

error user_not_found(const std::string& name) {
  return make_error(errc::not_found, "user " + name.substr(0, 64) + " does not exist", "user_not_found");
}

json::object user_with_tokens(const domain::user& u) {
  auto o = domain::user_to_json(u);
  json::array tokens;
  for (const auto& t : u.tokens) tokens.push_back(domain::token_to_json(t));
  o["tokens"] = std::move(tokens);
  return o;
}

result<std::string> string_field(const json::object& o, const char* k, size_t max) {
  const auto* v = o.if_contains(k);
  if (!v || v->is_null()) return std::string();
  if (!v->is_string()) return make_error(errc::invalid_argument, std::string(k) + ": must be a string", "invalid_field");
  if (v->get_string().size() > max) {
    return make_error(errc::invalid_argument, std::string(k) + ": at most " + std::to_string(max) + " bytes",
                      "invalid_field");
  }
  return std::string(v->get_string());
}

result<std::optional<domain::role>> role_field(const json::object& o) {
  const auto* v = o.if_contains("role");
  if (!v || v->is_null()) return std::optional<domain::role>{};
  auto r = v->is_string() ? domain::role_from_string(v->get_string()) : std::nullopt;
  if (!r) return make_error(errc::invalid_argument, "role: reader, curator or admin", "invalid_field");
  return std::optional<domain::role>(*r);
}

// The answer to a write: the user (or what `render` makes of it) with the
// event's position, so a later read elsewhere can wait for it.
response write_response(int status, const json::object& body, const auth::user_write& w) {
  response r = json_response(status, json::serialize(body));
  if (w.position) r.headers.emplace_back("Leaves-Position", projector::format_position(*w.position));
  return r;
}

}  // namespace

asio::awaitable<response> users_surface::me(const auth::principal& who) {
  json::object o;
  o["anonymous"] = who.anonymous;
  json::array scopes;
  for (auto& s : domain::scope_names(who.scopes)) scopes.emplace_back(s);
  o["scopes"] = std::move(scopes);
  // Which leaves the caller sees: every one, the public ones, or the public
  // ones and its own.
  const bool limited = who.anonymous ? c.o.anonymous == anonymous_access::read : !who.can(domain::scope_admin);
  o["public_only"] = who.anonymous && limited;
  o["sees"] = !who.can(domain::scope_read) ? "none" : !limited ? "all" : who.anonymous ? "public" : "public_and_own";
  if (!who.anonymous && d.users) {
    // A feed-only token (it sits in feed readers' URLs) does not show whose it is.
    const bool feed_only = (who.scopes & ~domain::scope_feed) == 0;
    if (auto u = d.users->find(who.name); u && !feed_only) o["user"] = domain::user_to_json(*u);
    o["token_id"] = who.token_id;
    if (who.via_cookie) o["csrf"] = who.csrf;
  }
  co_return json_response(200, json::serialize(o));
}

asio::awaitable<response> users_surface::list() {
  if (!d.users) co_return error_to_response(users_disabled());
  json::array items;
  for (const auto& u : d.users->list()) items.push_back(domain::user_to_json(u));
  co_return json_response(200, json::serialize(json::object{{"items", std::move(items)}}));
}

result<domain::user> users_surface::visible_user(const auth::principal& who, const std::string& name) {
  if (!d.users) return users_disabled();
  // Another user's record is none of a non-admin's business: 404, as if absent.
  if (who.name != name && !who.can(domain::scope_admin)) return user_not_found(name);
  auto u = d.users->find(name);
  if (!u) return user_not_found(name);
  return std::move(*u);
}

asio::awaitable<response> users_surface::write(domain::user_command cmd, const auth::principal& who, int status) {
  if (!d.user_service) co_return error_to_response(users_disabled());
  auto w = co_await d.user_service->execute(std::move(cmd), who.name);
  if (!w) co_return error_to_response(w.err());
  co_return write_response(status, domain::user_to_json(w->state), *w);
}

asio::awaitable<response> users_surface::create(const request& req, const auth::principal& who) {
  auto body = c.parse_object(req);
  if (!body) co_return error_to_response(body.err());
  for (const auto& [k, v] : *body) {
    if (k != "name" && k != "email" && k != "role") {
      co_return error_to_response(
          make_error(errc::invalid_argument, "unknown field: " + std::string(k).substr(0, 64), "invalid_field"));
    }
  }
  auto name = string_field(*body, "name", 64);
  auto email = string_field(*body, "email", domain::kMaxEmailBytes);
  auto role = role_field(*body);
  if (!name) co_return error_to_response(name.err());
  if (!email) co_return error_to_response(email.err());
  if (!role) co_return error_to_response(role.err());
  domain::user_command cmd;
  cmd.kind = domain::user_command_kind::create;
  cmd.name = *name;
  cmd.email = *email;
  cmd.r = role->value_or(domain::role::reader);
  co_return co_await write(std::move(cmd), who, 201);
}

asio::awaitable<response> users_surface::get(const auth::principal& who, const std::string& name) {
  auto u = visible_user(who, name);
  if (!u) co_return error_to_response(u.err());
  co_return json_response(200, json::serialize(user_with_tokens(*u)));
}

asio::awaitable<response> users_surface::patch(const request& req, const auth::principal& who,
                                               const std::string& name) {
  if (!d.users) co_return error_to_response(users_disabled());
  auto body = c.parse_object(req);
  if (!body) co_return error_to_response(body.err());
  domain::user_command cmd;
  cmd.kind = domain::user_command_kind::update;
  cmd.name = name;
  for (const auto& [k, v] : *body) {
    if (k == "email") {
      auto e = string_field(*body, "email", domain::kMaxEmailBytes);
      if (!e) co_return error_to_response(e.err());
      cmd.email = *e;
    } else if (k == "role") {
      auto r = role_field(*body);
      if (!r) co_return error_to_response(r.err());
      cmd.r = *r;
    } else if (k == "disabled") {
      if (!v.is_bool()) {
        co_return error_to_response(make_error(errc::invalid_argument, "disabled: must be a boolean", "invalid_field"));
      }
      cmd.disabled = v.get_bool();
    } else {
      co_return error_to_response(
          make_error(errc::invalid_argument, "unknown field: " + std::string(k).substr(0, 64), "invalid_field"));
    }
  }
  // The last enabled admin stays one: user_service checks it (atomically).
  co_return co_await write(std::move(cmd), who, 200);
}

asio::awaitable<response> users_surface::tokens(const auth::principal& who, const std::string& name) {
  auto u = visible_user(who, name);
  if (!u) co_return error_to_response(u.err());
  json::array items;
  for (const auto& t : u->tokens) items.push_back(domain::token_to_json(t));
  co_return json_response(200, json::serialize(json::object{{"items", std::move(items)}}));
}

asio::awaitable<response> users_surface::create_token(const request& req, const auth::principal& who,
                                                      const std::string& name) {
  auto u = visible_user(who, name);
  if (!u) co_return error_to_response(u.err());
  auto body = c.parse_object(req);
  if (!body) co_return error_to_response(body.err());
  auto bad = [](std::string m) {
    return error_to_response(make_error(errc::invalid_argument, std::move(m), "invalid_field"));
  };
  unsigned scopes = domain::role_scopes(u->r) & (who.can(domain::scope_admin) ? domain::kAllScopes : who.scopes);
  std::string token_name = "token";
  std::optional<int64_t> expires;
  const int64_t now = system_clock().now_ms();
  for (const auto& [k, v] : *body) {
    if (k == "name") {
      auto n = string_field(*body, "name", domain::kMaxTokenNameBytes);
      if (!n) co_return error_to_response(n.err());
      if (*n == kSessionTokenName) {
        co_return error_to_response(make_error(
            errc::invalid_argument, "name: '" + *n + "' is kept for the UI's sessions", "invalid_field"));
      }
      token_name = *n;
    } else if (k == "scopes") {
      std::string csv;
      if (v.is_string()) {
        csv = std::string(v.get_string().subview().substr(0, 100));
      } else if (v.is_array()) {
        for (const auto& s : v.get_array()) {
          if (!s.is_string()) co_return bad("scopes: an array of read, write, admin, feed");
          csv += (csv.empty() ? "" : ",") + std::string(s.get_string().subview().substr(0, 20));
        }
      } else {
        co_return bad("scopes: an array of read, write, admin, feed");
      }
      auto s = domain::parse_scopes(csv);
      if (!s) co_return error_to_response(s.err());
      scopes = *s;
    } else if (k == "expires_at") {
      if (!v.is_string()) co_return bad("expires_at: an ISO 8601 time");
      auto t = parse_iso8601(v.get_string());
      if (!t) co_return bad("expires_at: an ISO 8601 time such as 2027-01-31T00:00:00Z");
      expires = *t;
    } else if (k == "expires_in_days") {
      if (!v.is_int64() || v.get_int64() < 1 || v.get_int64() > 3650) co_return bad("expires_in_days: 1 to 3650");
      expires = now + v.get_int64() * 86400000;
    } else {
      co_return bad("unknown field: " + std::string(k).substr(0, 64));
    }
  }
  // A token never carries more than its user's role, nor more than the token
  // that asks for it (a read-only token cannot mint a writing one).
  if ((scopes & ~domain::role_scopes(u->r)) != 0) {
    co_return error_to_response(make_error(errc::invalid_argument,
                                           "a " + std::string(domain::to_string(u->r)) + "'s token can have the " +
                                               "scopes " + [&] {
                                                 std::string s;
                                                 for (auto& n : domain::scope_names(domain::role_scopes(u->r)))
                                                   s += (s.empty() ? "" : ", ") + n;
                                                 return s;
                                               }() + " only",
                                           "invalid_scopes"));
  }
  if (!who.can(domain::scope_admin) && (scopes & ~who.scopes) != 0) {
    co_return error_to_response(make_error(errc::permission_denied,
                                           "a token cannot create a token with scopes it does not have itself",
                                           "permission_denied"));
  }
  if (scopes == 0) co_return bad("scopes: at least one");
  auto t = auth::generate_token();
  domain::user_command cmd;
  cmd.kind = domain::user_command_kind::create_token;
  cmd.name = name;
  cmd.token.id = t.id;
  cmd.token.name = token_name;
  cmd.token.hash = t.hash;
  cmd.token.scopes = scopes;
  cmd.token.expires_ms = expires;
  if (!d.user_service) co_return error_to_response(users_disabled());
  auto w = co_await d.user_service->execute(std::move(cmd), who.name);
  if (!w) co_return error_to_response(w.err());
  const auto* made = w->state.token(t.id);
  if (!made) co_return error_to_response(make_error(errc::internal, "the new token is missing"));
  auto out = domain::token_to_json(*made);
  out["user"] = name;
  out["token"] = t.secret;  // the only time it is shown
  response r = write_response(201, out, *w);
  r.headers.emplace_back("Cache-Control", "no-store");
  co_return r;
}

asio::awaitable<response> users_surface::revoke_token(const auth::principal& who, const std::string& name,
                                                      const std::string& token_id) {
  auto u = visible_user(who, name);
  if (!u) co_return error_to_response(u.err());
  domain::user_command cmd;
  cmd.kind = domain::user_command_kind::revoke_token;
  cmd.name = name;
  cmd.token_id = token_id;
  if (!d.user_service) co_return error_to_response(users_disabled());
  auto w = co_await d.user_service->execute(std::move(cmd), who.name);
  if (!w) co_return error_to_response(w.err());
  const auto* t = w->state.token(token_id);
  if (!t) co_return error_to_response(make_error(errc::internal, "the revoked token is missing"));
  co_return write_response(200, domain::token_to_json(*t), *w);
}

}  // namespace leaves::api

namespace leaves::api {

namespace {
constexpr int64_t kSessionMs = 14LL * 24 * 3600 * 1000;

std::string cookie_header(const request& req, std::string_view value, int64_t max_age_s) {
  std::string c = std::string(kSessionCookie) + "=" + std::string(value) +
                  "; Path=/; HttpOnly; SameSite=Strict; Max-Age=" + std::to_string(max_age_s);
  // Behind a TLS-terminating proxy the cookie must never travel in clear.
  if (req.header("x-forwarded-proto") == "https") c += "; Secure";
  return c;
}
}  // namespace

std::optional<std::chrono::seconds> users_surface::locked_out_locked(const std::string& key, size_t max,
                                                                    std::chrono::steady_clock::time_point now) {
  auto it = failures_.find(key);
  if (it == failures_.end()) return std::nullopt;
  auto& q = it->second;
  while (!q.empty() && now - q.front() >= kFailureWindow) q.pop_front();
  if (q.empty()) {
    failures_.erase(it);
    return std::nullopt;
  }
  if (q.size() < max) return std::nullopt;
  return std::chrono::duration_cast<std::chrono::seconds>(kFailureWindow - (now - q.front())) + std::chrono::seconds(1);
}

void users_surface::failed_locked(const std::string& key, size_t max, std::chrono::steady_clock::time_point now) {
  if (failures_.size() >= kMaxTracked && !failures_.contains(key)) {
    for (auto it = failures_.begin(); it != failures_.end();) {
      it = it->second.empty() || now - it->second.back() >= kFailureWindow ? failures_.erase(it) : std::next(it);
    }
    if (failures_.size() >= kMaxTracked) failures_.clear();  // a flood of names: forget, stay bounded
  }
  auto& q = failures_[key];
  q.push_back(now);
  while (q.size() > max) q.pop_front();
}

std::optional<std::chrono::seconds> users_surface::locked_out(const std::string& name) {
  std::lock_guard lk(failures_mu_);
  return locked_out_locked(name, kMaxFailures, std::chrono::steady_clock::now());
}

std::optional<users_surface::lockout> users_surface::begin_attempt(const std::string& name, const std::string& peer,
                                                                   std::chrono::steady_clock::time_point& stamp) {
  std::lock_guard lk(failures_mu_);
  stamp = std::chrono::steady_clock::now();
  // User names are [a-z0-9._-]: "@" keys never meet them.
  const std::string addr_key = "@" + peer;
  if (!peer.empty() && max_failures_per_address_ > 0) {
    if (auto wait = locked_out_locked(addr_key, max_failures_per_address_, stamp)) return lockout{*wait, true};
  }
  if (auto wait = locked_out_locked(name, kMaxFailures, stamp)) return lockout{*wait, false};
  failed_locked(name, kMaxFailures, stamp);
  if (!peer.empty() && max_failures_per_address_ > 0) failed_locked(addr_key, max_failures_per_address_, stamp);
  return std::nullopt;
}

void users_surface::forgive(const std::string& name, const std::string& peer,
                            std::chrono::steady_clock::time_point stamp) {
  std::lock_guard lk(failures_mu_);
  for (const std::string& key : {name, "@" + peer}) {
    auto it = failures_.find(key);
    if (it == failures_.end()) continue;
    auto& q = it->second;
    if (auto at = std::find(q.begin(), q.end(), stamp); at != q.end()) q.erase(at);
    if (q.empty()) failures_.erase(it);
  }
}

asio::awaitable<response> users_surface::sign_in(const request& req) {
  if (!d.users || !d.user_service) co_return error_to_response(users_disabled());
  auto body = c.parse_object(req);
  if (!body) co_return error_to_response(body.err());
  auto name = string_field(*body, "name", 64);
  auto password = string_field(*body, "password", auth::kMaxPasswordBytes);
  if (!name) co_return error_to_response(name.err());
  if (!password) co_return error_to_response(password.err());
  // The attempt counts as a failure from the start, and is forgiven once the
  // password proves right: parallel attempts cannot all pass the check
  // before the first of them fails.
  std::chrono::steady_clock::time_point stamp;
  if (auto wait = begin_attempt(*name, req.peer, stamp)) {
    const std::string who_failed = wait->by_address ? "from this address" : "for " + name->substr(0, 64);
    response r = http::error_response(429, "too_many_attempts",
                                      "too many failed sign-ins " + who_failed + "; try again in " +
                                          std::to_string(wait->wait.count()) + " s");
    r.headers.emplace_back("Retry-After", std::to_string(wait->wait.count()));
    co_return r;
  }
  auto u = d.users->find(*name);
  // An unknown user costs the same time as a wrong password: a hash of a
  // dummy encoding, so the answer's timing does not tell which users exist.
  static const std::string kDummy = auth::hash_password("not a real password").value();
  const std::string encoded = u && !u->password_hash.empty() ? u->password_hash : kDummy;
  auto ok = co_await passwords_.verify(encoded, *password);
  if (!ok) {
    forgive(*name, req.peer, stamp);  // busy: not an attempt
    co_return error_to_response(ok.err());
  }
  if (!*ok || !u || u->password_hash.empty() || u->disabled) {
    response r = http::error_response(401, "invalid_credentials", "wrong user name or password");
    r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"leaves\"");
    co_return r;
  }
  forgive(*name, req.peer, stamp);
  auto t = auth::generate_token();
  domain::user_command cmd;
  cmd.kind = domain::user_command_kind::create_token;
  cmd.name = u->name;
  cmd.token = {t.id, std::string(kSessionTokenName), t.hash, domain::role_scopes(u->r), 0,
               system_clock().now_ms() + kSessionMs};
  auto w = co_await d.user_service->execute(std::move(cmd), u->name);
  if (!w) co_return error_to_response(w.err());
  json::object out{{"user", domain::user_to_json(w->state)}, {"csrf", csrf_for(t.secret)},
                   {"token_id", t.id}, {"expires_at", format_iso8601(system_clock().now_ms() + kSessionMs)}};
  response r = write_response(201, out, *w);
  r.headers.emplace_back("Set-Cookie", cookie_header(req, t.secret, kSessionMs / 1000));
  r.headers.emplace_back("Cache-Control", "no-store");
  co_return r;
}

asio::awaitable<response> users_surface::sign_out(const request& req, const auth::principal& who) {
  if (!who.via_cookie) {
    co_return error_to_response(make_error(errc::invalid_argument,
                                           "DELETE /v1/session ends a cookie session; revoke an API token with "
                                           "DELETE /v1/users/{name}/tokens/{id}",
                                           "not_a_session"));
  }
  domain::user_command cmd;
  cmd.kind = domain::user_command_kind::revoke_token;
  cmd.name = who.name;
  cmd.token_id = who.token_id;
  auto w = co_await d.user_service->execute(std::move(cmd), who.name);
  if (!w) co_return error_to_response(w.err());
  response r = write_response(200, json::object{{"signed_out", true}}, *w);
  r.headers.emplace_back("Set-Cookie", cookie_header(req, "", 0));
  co_return r;
}

asio::awaitable<response> users_surface::set_password(const request& req, const auth::principal& who,
                                                      const std::string& name) {
  auto u = visible_user(who, name);
  if (!u) co_return error_to_response(u.err());
  auto body = c.parse_object(req);
  if (!body) co_return error_to_response(body.err());
  for (const auto& [k, v] : *body) {
    if (k != "password" && k != "current_password") {
      co_return error_to_response(
          make_error(errc::invalid_argument, "unknown field: " + std::string(k).substr(0, 64), "invalid_field"));
    }
  }
  // A password opens a session with every scope of the user's role: only a
  // token that has them all (or an admin's) may set one, so a read-only
  // token cannot turn itself into a writing session.
  const unsigned full = domain::role_scopes(u->r);
  if (!who.can(domain::scope_admin) && (who.scopes & full) != full) {
    co_return error_to_response(make_error(errc::permission_denied,
                                           "setting a password needs a token with every scope of the user's role",
                                           "permission_denied"));
  }
  if (auto wait = locked_out(name)) {
    co_return error_to_response(make_error(errc::resource_exhausted,
                                           "too many failed attempts for " + name + "; try again in " +
                                               std::to_string(wait->count()) + " s",
                                           "too_many_attempts"));
  }
  auto password = string_field(*body, "password", auth::kMaxPasswordBytes);
  if (!password) co_return error_to_response(password.err());
  if (password->size() < auth::kMinPasswordBytes) {
    co_return error_to_response(make_error(errc::invalid_argument,
                                           "password: at least " + std::to_string(auth::kMinPasswordBytes) +
                                               " characters",
                                           "weak_password"));
  }
  // Changing one's own password needs the current one (a stolen session
  // cannot lock its owner out); an admin sets anyone's.
  if (!who.can(domain::scope_admin) && !u->password_hash.empty()) {
    auto current = string_field(*body, "current_password", auth::kMaxPasswordBytes);
    if (!current) co_return error_to_response(current.err());
    // Counted as failed from the start, as a sign-in is: parallel guesses
    // cannot all pass the lockout check before the first one fails.
    std::chrono::steady_clock::time_point stamp;
    if (auto wait = begin_attempt(name, "", stamp)) {
      co_return error_to_response(make_error(errc::resource_exhausted,
                                             "too many failed attempts for " + name + "; try again in " +
                                                 std::to_string(wait->wait.count()) + " s",
                                             "too_many_attempts"));
    }
    auto ok = co_await passwords_.verify(u->password_hash, *current);
    if (!ok) {
      forgive(name, "", stamp);  // busy: not an attempt
      co_return error_to_response(ok.err());
    }
    if (!*ok) {
      co_return error_to_response(
          make_error(errc::permission_denied, "current_password: wrong password", "invalid_credentials"));
    }
    forgive(name, "", stamp);
  }
  auto hash = co_await passwords_.hash(*password);
  if (!hash) co_return error_to_response(hash.err());
  domain::user_command cmd;
  cmd.kind = domain::user_command_kind::set_password;
  cmd.name = name;
  cmd.password_hash = std::move(*hash);
  response r = co_await write(std::move(cmd), who, 200);
  if (r.status != 200) co_return r;
  // A new password ends the user's other sessions (one opened with the old
  // password, perhaps by whoever knew it), each revoked by its own event;
  // the session that made the change stays.
  const int64_t now = system_clock().now_ms();
  for (const auto& t : u->tokens) {
    if (t.name != kSessionTokenName || t.revoked || t.id == who.token_id) continue;
    if (t.expires_ms && *t.expires_ms <= now) continue;
    domain::user_command revoke;
    revoke.kind = domain::user_command_kind::revoke_token;
    revoke.name = name;
    revoke.token_id = t.id;
    auto w = co_await d.user_service->execute(std::move(revoke), who.name);
    if (!w) log_warn("users", "a session of " + name + " outlived its password change: " + w.err().message);
  }
  co_return r;
}

}  // namespace leaves::api

// Webhooks (docs/webhooks.md): a user's own, or any for an admin.
namespace leaves::api {

namespace {

error webhooks_disabled() {
  return make_error(errc::unavailable, "this server sends no webhooks (it keeps no users)", "webhooks_disabled");
}

json::object webhook_json(const domain::webhook_info& w, const std::string& user) {
  auto o = domain::webhook_to_json(w);
  o["user"] = user;
  return o;
}

}  // namespace

asio::awaitable<response> users_surface::webhooks(const auth::principal& who, const std::string& name) {
  auto u = visible_user(who, name);
  if (!u) co_return error_to_response(u.err());
  json::array items;
  for (const auto& w : u->webhooks) {
    items.push_back(webhook_json(w, name));
  }
  co_return json_response(200, json::serialize(json::object{{"items", std::move(items)}}));
}

asio::awaitable<response> users_surface::create_webhook(const request& req, const auth::principal& who,
                                                        const std::string& name) {
  if (!d.webhooks || !d.user_service) co_return error_to_response(webhooks_disabled());
  auto u = visible_user(who, name);
  if (!u) co_return error_to_response(u.err());
  // A webhook sends what its creator may read: a token without the read
  // scope cannot make one, and one made without the admin scope sees what
  // any user sees (public leaves and the user's own), whatever the role.
  if (!who.can(domain::scope_read)) {
    co_return error_to_response(make_error(errc::permission_denied,
                                           "a webhook sends what its token may read: it needs the read scope",
                                           "permission_denied"));
  }
  auto body = c.parse_object(req);
  if (!body) co_return error_to_response(body.err());
  auto bad = [](std::string m, const char* code = "invalid_field") {
    return error_to_response(make_error(errc::invalid_argument, std::move(m), code));
  };
  for (const auto& [k, v] : *body) {
    if (k != "url" && k != "tag" && k != "collection") co_return bad("unknown field: " + std::string(k).substr(0, 64));
  }
  auto url = string_field(*body, "url", domain::kMaxWebhookUrlBytes);
  if (!url) co_return error_to_response(url.err());
  if (!domain::valid_webhook_url(*url)) {
    co_return bad("url: an absolute http or https URL with a host and no user info", "invalid_url");
  }
  auto tag = string_field(*body, "tag", 200);
  if (!tag) co_return error_to_response(tag.err());
  // A collection's webhook: the collection must be one its user may view
  // now (404 otherwise, as GET /v1/collections/{id} answers), and a list
  // (a smart collection is a saved search: its feed and stream follow it).
  auto collection = string_field(*body, "collection", 64);
  if (!collection) co_return error_to_response(collection.err());
  if (!collection->empty()) {
    if (!d.users) co_return error_to_response(users_disabled());
    const auto owner = auth::principal::of(u->name, u->user_id, u->r, who.scopes);
    auto col = domain::valid_group_id(*collection) ? d.users->find_collection(*collection) : std::nullopt;
    if (!col || col->deleted || d.users->access(*col, owner) == auth::collection_access::none) {
      co_return error_to_response(make_error(errc::not_found,
                                             "collection " + collection->substr(0, 64) + " does not exist",
                                             "collection_not_found"));
    }
    if (col->query) {
      co_return bad("collection: " + *collection + " is a smart collection; follow its saved search with a stream "
                    "(GET /v1/stream?collection=) or its feed",
                    "smart_collection");
    }
  }
  // Refused now when every address the name has is internal (a delivery
  // checks again on each address it connects to: names change).
  if (!d.webhooks->opts().allow_private) {
    auto parsed = boost::urls::parse_absolute_uri(*url);
    const std::string host = parsed->host_address();
    asio::ip::tcp::resolver resolver(co_await asio::this_coro::executor);
    boost::system::error_code ec;
    auto found = co_await resolver.async_resolve(host, "0", asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return bad("url: cannot resolve " + host.substr(0, 255) + ": " + ec.message(), "unresolvable_host");
    std::optional<std::string> why;
    bool any_public = false;
    for (const auto& e : found) {
      auto w = webhooks::internal_address(e.endpoint().address());
      if (!w) any_public = true;
      if (w && !why) why = host.substr(0, 255) + " resolves to a " + *w + " address";  // not which: no probing
    }
    if (!any_public) {
      co_return error_to_response(make_error(
          errc::invalid_argument,
          "url: " + why.value_or("no address") + "; webhooks to internal addresses need --webhook-allow-private",
          "private_address"));
    }
  }
  domain::user_command cmd;
  cmd.kind = domain::user_command_kind::create_webhook;
  cmd.name = name;
  cmd.webhook.id = auth::random_hex(6);
  cmd.webhook.secret = auth::random_hex(32);
  cmd.webhook.url = *url;
  cmd.webhook.all_leaves = who.can(domain::scope_admin) && u->r == domain::role::admin;
  if (!tag->empty()) {
    auto t = domain::normalize_tag(*tag, c.o.limits);
    if (!t) co_return error_to_response(t.err());
    cmd.webhook.tag = *t;
  }
  if (!collection->empty()) cmd.webhook.collection = *collection;
  const std::string id = cmd.webhook.id, secret = cmd.webhook.secret;
  auto w = co_await d.user_service->execute(std::move(cmd), who.name);
  if (!w) co_return error_to_response(w.err());
  const auto* made = w->state.webhook(id);
  if (!made) co_return error_to_response(make_error(errc::internal, "the new webhook is missing"));
  auto out = webhook_json(*made, name);
  out["secret"] = secret;  // the only time it is shown
  response r = write_response(201, out, *w);
  r.headers.emplace_back("Cache-Control", "no-store");
  co_return r;
}

asio::awaitable<response> users_surface::change_webhook(const request* req, const auth::principal& who,
                                                        const std::string& name, const std::string& id) {
  if (!d.user_service) co_return error_to_response(webhooks_disabled());
  auto u = visible_user(who, name);
  if (!u) co_return error_to_response(u.err());
  domain::user_command cmd;
  cmd.kind = req ? domain::user_command_kind::update_webhook : domain::user_command_kind::delete_webhook;
  cmd.name = name;
  cmd.webhook.id = id;
  if (req) {
    auto body = c.parse_object(*req);
    if (!body) co_return error_to_response(body.err());
    const auto* e = body->if_contains("enabled");
    if (body->size() != 1 || !e || !e->is_bool()) {
      co_return error_to_response(
          make_error(errc::invalid_argument, "expected {\"enabled\": true|false}", "invalid_field"));
    }
    cmd.webhook.enabled = e->get_bool();
    if (!cmd.webhook.enabled) cmd.webhook.disabled_reason = "turned off by " + who.name;
  }
  auto w = co_await d.user_service->execute(std::move(cmd), who.name);
  if (!w) co_return error_to_response(w.err());
  if (!req) co_return write_response(200, json::object{{"id", id}, {"deleted", true}}, *w);
  const auto* now = w->state.webhook(id);
  if (!now) co_return error_to_response(make_error(errc::internal, "the webhook is missing"));
  co_return write_response(200, webhook_json(*now, name), *w);
}

asio::awaitable<response> users_surface::webhook_deliveries(const auth::principal& who, const std::string& name,
                                                            const std::string& id) {
  if (!d.webhooks) co_return error_to_response(webhooks_disabled());
  auto u = visible_user(who, name);
  if (!u) co_return error_to_response(u.err());
  if (!u->webhook(id)) {
    co_return error_to_response(make_error(errc::not_found, "user " + name + " has no webhook " + id.substr(0, 40),
                                           "webhook_not_found"));
  }
  json::array items;
  for (const auto& x : d.webhooks->deliveries(id)) {
    json::object o;
    o["id"] = x.id;
    o["event_type"] = x.event_type;
    o["leaf_id"] = x.leaf_id;
    o["position"] = x.position;
    o["time"] = x.time_ms ? json::value(format_iso8601(x.time_ms)) : json::value(nullptr);
    o["attempts"] = x.attempts;
    o["status"] = x.status ? json::value(x.status) : json::value(nullptr);
    o["ok"] = x.ok;
    if (!x.error.empty()) o["error"] = x.error;
    items.push_back(std::move(o));
  }
  co_return json_response(200, json::serialize(json::object{{"items", std::move(items)}}));
}

}  // namespace leaves::api
