#include "leaves/domain/user.h"

#include <boost/json.hpp>
#include <cctype>
#include <boost/url/parse.hpp>

#include "leaves/base/hash.h"
#include "leaves/domain/collection.h"
#include "leaves/domain/events.h"
#include "leaves/base/time.h"

namespace leaves::domain {

namespace json = boost::json;

namespace {

error invalid(std::string msg, std::string detail = "invalid_field") {
  return make_error(errc::invalid_argument, std::move(msg), std::move(detail));
}

bool valid_token_id(std::string_view id) {
  if (id.size() != 12) return false;
  for (char c : id) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

bool valid_hash(std::string_view h) {
  if (h.size() != 64) return false;
  for (char c : h) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// Printable text without control characters, at most `max` bytes.
bool plain_text(std::string_view s, size_t max) {
  if (s.size() > max) return false;
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) return false;
  }
  return true;
}

bool plausible_email(std::string_view e) {
  if (e.empty()) return true;
  const auto at = e.find('@');
  return plain_text(e, kMaxEmailBytes) && at != std::string_view::npos && at > 0 && at + 1 < e.size() &&
         e.find(' ') == std::string_view::npos;
}

json::array to_array(const std::vector<std::string>& v) {
  json::array a;
  for (const auto& s : v) a.emplace_back(s);
  return a;
}

}  // namespace

const char* to_string(role r) {
  switch (r) {
    case role::reader: return "reader";
    case role::curator: return "curator";
    case role::admin: return "admin";
  }
  return "reader";
}

std::optional<role> role_from_string(std::string_view s) {
  if (s == "reader") return role::reader;
  if (s == "curator") return role::curator;
  if (s == "admin") return role::admin;
  return std::nullopt;
}

unsigned role_scopes(role r) {
  switch (r) {
    case role::reader: return scope_read | scope_feed;
    case role::curator: return scope_read | scope_write | scope_feed;
    case role::admin: return kAllScopes;
  }
  return 0;
}

result<unsigned> parse_scopes(std::string_view csv) {
  unsigned out = 0;
  while (!csv.empty()) {
    const auto comma = csv.find(',');
    auto part = csv.substr(0, comma);
    csv = comma == std::string_view::npos ? std::string_view{} : csv.substr(comma + 1);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    while (!part.empty() && part.back() == ' ') part.remove_suffix(1);
    if (part == "read") {
      out |= scope_read;
    } else if (part == "write") {
      out |= scope_write;
    } else if (part == "admin") {
      out |= scope_admin;
    } else if (part == "feed") {
      out |= scope_feed;
    } else {
      return invalid("scopes: unknown scope '" + std::string(part.substr(0, 40)) + "' (read, write, admin, feed)",
                     "invalid_scopes");
    }
  }
  if (out == 0) return invalid("scopes: at least one of read, write, admin, feed", "invalid_scopes");
  return out;
}

std::vector<std::string> scope_names(unsigned scopes) {
  std::vector<std::string> out;
  if (scopes & scope_read) out.emplace_back("read");
  if (scopes & scope_write) out.emplace_back("write");
  if (scopes & scope_admin) out.emplace_back("admin");
  if (scopes & scope_feed) out.emplace_back("feed");
  return out;
}

const token_info* user::token(std::string_view id) const {
  for (const auto& t : tokens) {
    if (t.id == id) return &t;
  }
  return nullptr;
}

const webhook_info* user::webhook(std::string_view id) const {
  for (const auto& w : webhooks) {
    if (w.id == id) return &w;
  }
  return nullptr;
}

bool valid_webhook_url(std::string_view url) {
  if (url.size() > kMaxWebhookUrlBytes) return false;
  auto u = boost::urls::parse_absolute_uri(url);
  if (!u) return false;
  const auto scheme = u->scheme_id();
  if (scheme != boost::urls::scheme::http && scheme != boost::urls::scheme::https) return false;
  if (u->encoded_host().empty() || u->has_userinfo()) return false;
  // A name of letters, digits, dots and hyphens, or an IP literal: nothing
  // percent-encoded (it would be decoded before the lookup).
  if (u->host_type() == boost::urls::host_type::name) {
    for (char c : u->encoded_host()) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-') return false;
    }
  }
  for (unsigned char c : url) {
    if (c <= 0x20 || c == 0x7f) return false;
  }
  return true;
}

bool valid_user_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-'))) return false;
  }
  return true;
}

int64_t user_id_for(std::string_view name) {
  const std::string h = md5_hex(name);
  const int64_t v = static_cast<int64_t>(std::stoul(h.substr(0, 8), nullptr, 16) & 0x7fffffffu);
  return v == 0 ? 1 : v;
}

std::string user_key(std::string_view name) { return "user:" + std::string(name); }

bool is_user_key(std::string_view key) { return key.starts_with("user:"); }

const char* to_string(user_event_type t) {
  switch (t) {
    case user_event_type::created: return "user.created";
    case user_event_type::updated: return "user.updated";
    case user_event_type::token_created: return "user.token_created";
    case user_event_type::token_revoked: return "user.token_revoked";
    case user_event_type::password_set: return "user.password_set";
    case user_event_type::webhook_created: return "user.webhook_created";
    case user_event_type::webhook_updated: return "user.webhook_updated";
    case user_event_type::webhook_deleted: return "user.webhook_deleted";
    case user_event_type::leaf_marked: return "user.leaf_marked";
  }
  return "user.created";
}

namespace {
std::optional<user_event_type> user_event_type_from_string(std::string_view s) {
  for (auto t : {user_event_type::created, user_event_type::updated, user_event_type::token_created,
                 user_event_type::token_revoked, user_event_type::password_set, user_event_type::webhook_created,
                 user_event_type::webhook_updated, user_event_type::webhook_deleted, user_event_type::leaf_marked}) {
    if (s == to_string(t)) return t;
  }
  return std::nullopt;
}
}  // namespace

result<std::vector<user_event>> decide_user(const std::optional<user>& state, const user_command& cmd,
                                            int64_t now_ms, const std::string& actor) {
  if (!valid_user_name(cmd.name)) {
    return invalid("name: 1-64 of a-z, 0-9, '.', '_', '-', starting with a letter or digit", "invalid_user_name");
  }
  if (cmd.email && !plausible_email(*cmd.email)) return invalid("email: not an email address");
  user_event ev;
  ev.aggregate_id = user_key(cmd.name);
  ev.aggregate_version = (state ? state->version : 0) + 1;
  ev.time_ms = now_ms;
  ev.actor = actor;
  std::vector<user_event> out;
  if (cmd.kind == user_command_kind::create) {
    if (state) return make_error(errc::conflict, "user " + cmd.name + " exists already", "user_exists");
    ev.type = user_event_type::created;
    ev.data["name"] = cmd.name;
    ev.data["user_id"] = user_id_for(cmd.name);
    ev.data["email"] = cmd.email.value_or("");
    ev.data["role"] = to_string(cmd.r.value_or(role::reader));
    out.push_back(std::move(ev));
    return out;
  }
  if (!state) return make_error(errc::not_found, "user " + cmd.name + " does not exist", "user_not_found");
  switch (cmd.kind) {
    case user_command_kind::create: break;
    case user_command_kind::update: {
      json::object changes;
      if (cmd.email && *cmd.email != state->email) changes["email"] = *cmd.email;
      if (cmd.r && *cmd.r != state->r) changes["role"] = to_string(*cmd.r);
      if (cmd.disabled && *cmd.disabled != state->disabled) changes["disabled"] = *cmd.disabled;
      if (changes.empty()) return out;
      ev.type = user_event_type::updated;
      ev.data["changes"] = std::move(changes);
      out.push_back(std::move(ev));
      return out;
    }
    case user_command_kind::create_token: {
      const auto& t = cmd.token;
      if (!valid_token_id(t.id) || !valid_hash(t.hash)) return invalid("token: malformed id or hash");
      if (!plain_text(t.name, kMaxTokenNameBytes)) {
        return invalid("token name: at most " + std::to_string(kMaxTokenNameBytes) + " bytes, no control characters");
      }
      if ((t.scopes & ~kAllScopes) != 0 || t.scopes == 0) return invalid("token scopes", "invalid_scopes");
      if (t.expires_ms && *t.expires_ms <= now_ms) return invalid("expires: must be in the future");
      size_t live = 0;
      for (const auto& have : state->tokens) {
        if (have.id == t.id || have.hash == t.hash) {
          return make_error(errc::conflict, "user " + cmd.name + " has this token already", "token_exists");
        }
        if (!have.revoked && (!have.expires_ms || *have.expires_ms > now_ms)) ++live;
      }
      if (live >= kMaxTokensPerUser) {
        return make_error(errc::conflict,
                          "user " + cmd.name + " has " + std::to_string(live) + " tokens; revoke one first",
                          "too_many_tokens");
      }
      ev.type = user_event_type::token_created;
      ev.data["token_id"] = t.id;
      ev.data["name"] = t.name;
      ev.data["hash"] = t.hash;
      ev.data["scopes"] = to_array(scope_names(t.scopes));
      ev.data["expires_at"] = t.expires_ms ? json::value(format_iso8601(*t.expires_ms)) : json::value(nullptr);
      out.push_back(std::move(ev));
      return out;
    }
    case user_command_kind::set_password: {
      if (!cmd.password_hash.empty() &&
          (!cmd.password_hash.starts_with("$argon2id$") || !plain_text(cmd.password_hash, 512))) {
        return invalid("password: not an Argon2id encoding");
      }
      ev.type = user_event_type::password_set;
      ev.data["hash"] = cmd.password_hash;
      out.push_back(std::move(ev));
      return out;
    }
    case user_command_kind::create_webhook: {
      const auto& w = cmd.webhook;
      if (!valid_token_id(w.id) || !valid_hash(w.secret)) return invalid("webhook: malformed id or secret");
      if (!valid_webhook_url(w.url)) {
        return invalid("url: an absolute http or https URL of at most " + std::to_string(kMaxWebhookUrlBytes) +
                           " bytes, without user info",
                       "invalid_url");
      }
      if (w.tag && !plain_text(*w.tag, 200)) return invalid("tag: at most 200 bytes, no control characters");
      if (w.collection && !valid_group_id(*w.collection)) {
        return invalid("collection: a collection id (16 lower-case hex digits)");
      }
      const size_t live = state->webhooks.size();
      for (const auto& have : state->webhooks) {
        if (have.id == w.id) return make_error(errc::conflict, "webhook " + w.id + " exists already", "webhook_exists");
      }
      if (live >= kMaxWebhooksPerUser) {
        return make_error(errc::conflict,
                          "user " + cmd.name + " has " + std::to_string(live) + " webhooks; delete one first",
                          "too_many_webhooks");
      }
      ev.type = user_event_type::webhook_created;
      ev.data["webhook_id"] = w.id;
      ev.data["url"] = w.url;
      ev.data["secret"] = w.secret;
      ev.data["tag"] = w.tag ? json::value(*w.tag) : json::value(nullptr);
      ev.data["sees"] = w.all_leaves ? "all" : "visible";
      if (w.collection) ev.data["collection"] = *w.collection;  // absent: every leaf (older events too)
      out.push_back(std::move(ev));
      return out;
    }
    case user_command_kind::update_webhook:
    case user_command_kind::delete_webhook: {
      const auto* w = state->webhook(cmd.webhook.id);
      if (!w) {
        return make_error(errc::not_found, "user " + cmd.name + " has no webhook " + cmd.webhook.id.substr(0, 40),
                          "webhook_not_found");
      }
      ev.data["webhook_id"] = w->id;
      if (cmd.kind == user_command_kind::delete_webhook) {
        ev.type = user_event_type::webhook_deleted;
      } else {
        if (w->enabled == cmd.webhook.enabled) return out;
        if (!plain_text(cmd.webhook.disabled_reason, 500)) return invalid("reason: at most 500 bytes");
        ev.type = user_event_type::webhook_updated;
        ev.data["enabled"] = cmd.webhook.enabled;
        ev.data["reason"] = cmd.webhook.disabled_reason;
      }
      out.push_back(std::move(ev));
      return out;
    }
    case user_command_kind::mark_leaf: {
      const auto& m = cmd.mark;
      if (!valid_leaf_id(m.leaf_id)) return invalid("leaf: not a leaf id");
      const bool starred = m.starred.value_or(m.before & mark_starred);
      const bool archived = m.archived.value_or(m.before & mark_archived);
      const uint8_t after = (starred ? mark_starred : 0) | (archived ? mark_archived : 0);
      if (after == m.before) return out;
      if (m.before == 0 && m.marked >= kMaxMarksPerUser) {
        return make_error(errc::conflict,
                          "user " + cmd.name + " has marked " + std::to_string(m.marked) +
                              " leaves; unstar or unarchive some first",
                          "too_many_marks");
      }
      ev.type = user_event_type::leaf_marked;
      ev.data["leaf"] = m.leaf_id;
      ev.data["starred"] = starred;
      ev.data["archived"] = archived;
      out.push_back(std::move(ev));
      return out;
    }
    case user_command_kind::revoke_token: {
      const auto* t = state->token(cmd.token_id);
      if (!t) {
        return make_error(errc::not_found, "user " + cmd.name + " has no token " + cmd.token_id.substr(0, 40),
                          "token_not_found");
      }
      if (t->revoked) return out;
      ev.type = user_event_type::token_revoked;
      ev.data["token_id"] = cmd.token_id;
      out.push_back(std::move(ev));
      return out;
    }
  }
  return out;
}

status apply_user(std::optional<user>& state, const user_event& ev) {
  const int64_t have = state ? state->version : 0;
  if (ev.aggregate_version != have + 1) {
    return make_error(errc::conflict, "user event version " + std::to_string(ev.aggregate_version) +
                                          " does not follow " + std::to_string(have));
  }
  auto str = [&](const json::object& o, const char* k) -> std::string {
    const auto* v = o.if_contains(k);
    return v && v->is_string() ? std::string(v->get_string()) : std::string();
  };
  auto bad = [](const char* why) { return make_error(errc::invalid_argument, std::string("user event: ") + why); };
  switch (ev.type) {
    case user_event_type::created: {
      if (state) return bad("created twice");
      user u;
      u.name = str(ev.data, "name");
      if (!valid_user_name(u.name) || user_key(u.name) != ev.aggregate_id) return bad("name");
      const auto* id = ev.data.if_contains("user_id");
      u.user_id = id && id->is_int64() ? id->get_int64() : user_id_for(u.name);
      u.email = str(ev.data, "email");
      u.r = role_from_string(str(ev.data, "role")).value_or(role::reader);
      u.created_ms = u.updated_ms = ev.time_ms;
      state = std::move(u);
      break;
    }
    case user_event_type::updated: {
      if (!state) return bad("no such user");
      const auto* ch = ev.data.if_contains("changes");
      if (!ch || !ch->is_object()) return bad("changes");
      const auto& c = ch->get_object();
      if (c.contains("email")) state->email = str(c, "email");
      if (c.contains("role")) {
        auto r = role_from_string(str(c, "role"));
        if (!r) return bad("role");
        state->r = *r;
      }
      if (const auto* d = c.if_contains("disabled"); d && d->is_bool()) state->disabled = d->get_bool();
      break;
    }
    case user_event_type::token_created: {
      if (!state) return bad("no such user");
      token_info t;
      t.id = str(ev.data, "token_id");
      t.name = str(ev.data, "name");
      t.hash = str(ev.data, "hash");
      t.created_ms = ev.time_ms;
      t.scopes = 0;
      if (const auto* s = ev.data.if_contains("scopes"); s && s->is_array()) {
        for (const auto& v : s->get_array()) {
          if (!v.is_string()) continue;
          if (v.get_string() == "read") t.scopes |= scope_read;
          if (v.get_string() == "write") t.scopes |= scope_write;
          if (v.get_string() == "admin") t.scopes |= scope_admin;
          if (v.get_string() == "feed") t.scopes |= scope_feed;
        }
      }
      if (const auto* e = ev.data.if_contains("expires_at"); e && e->is_string()) {
        t.expires_ms = parse_iso8601(e->get_string());
        if (!t.expires_ms) return bad("expires_at");
      }
      if (!valid_token_id(t.id) || !valid_hash(t.hash)) return bad("token");
      state->tokens.push_back(std::move(t));
      break;
    }
    case user_event_type::password_set: {
      if (!state) return bad("no such user");
      state->password_hash = str(ev.data, "hash");
      break;
    }
    case user_event_type::webhook_created: {
      if (!state) return bad("no such user");
      webhook_info w;
      w.id = str(ev.data, "webhook_id");
      w.url = str(ev.data, "url");
      w.secret = str(ev.data, "secret");
      if (const auto* t = ev.data.if_contains("tag"); t && t->is_string()) w.tag = std::string(t->get_string());
      w.all_leaves = str(ev.data, "sees") == "all";
      if (const auto* c = ev.data.if_contains("collection"); c && c->is_string()) {
        w.collection = std::string(c->get_string());
      }
      w.created_ms = ev.time_ms;
      if (!valid_token_id(w.id) || !valid_hash(w.secret) || !valid_webhook_url(w.url) ||
          (w.collection && !valid_group_id(*w.collection))) {
        return bad("webhook");
      }
      state->webhooks.push_back(std::move(w));
      break;
    }
    case user_event_type::webhook_updated:
    case user_event_type::webhook_deleted: {
      if (!state) return bad("no such user");
      const std::string id = str(ev.data, "webhook_id");
      if (ev.type == user_event_type::webhook_deleted) {
        // Gone from the state; the log keeps its history.
        std::erase_if(state->webhooks, [&](const webhook_info& w) { return w.id == id; });
        break;
      }
      for (auto& w : state->webhooks) {
        if (w.id != id) continue;
        if (const auto* e = ev.data.if_contains("enabled"); e && e->is_bool()) {
          w.enabled = e->get_bool();
          w.disabled_reason = w.enabled ? std::string() : str(ev.data, "reason");
        }
      }
      break;
    }
    case user_event_type::leaf_marked: {
      // The marks themselves are the directory's (auth::directory::marks):
      // here only the user's version moves.
      if (!state) return bad("no such user");
      if (!valid_leaf_id(str(ev.data, "leaf"))) return bad("leaf");
      break;
    }
    case user_event_type::token_revoked: {
      if (!state) return bad("no such user");
      const std::string id = str(ev.data, "token_id");
      for (auto& t : state->tokens) {
        if (t.id == id) {
          t.revoked = true;
          t.revoked_ms = ev.time_ms;
        }
      }
      break;
    }
  }
  state->updated_ms = std::max(state->updated_ms, ev.time_ms);
  state->version = ev.aggregate_version;
  state->last_event_id = ev.event_id;
  return ok_status();
}

json::object user_event_to_json(const user_event& ev) {
  json::object o;
  o["event_id"] = ev.event_id;
  o["type"] = to_string(ev.type);
  o["schema_version"] = kUserEventSchemaVersion;
  o["aggregate_id"] = ev.aggregate_id;
  o["aggregate_version"] = ev.aggregate_version;
  o["time"] = format_iso8601(ev.time_ms);
  o["actor"] = ev.actor;
  o["data"] = ev.data;
  return o;
}

result<user_event> user_event_from_json(const json::object& o) {
  auto bad = [](std::string m) { return make_error(errc::invalid_argument, "user event: " + m, "invalid_event"); };
  const auto* type = o.if_contains("type");
  if (!type || !type->is_string()) return bad("missing type");
  auto t = user_event_type_from_string(type->get_string());
  if (!t) return bad("unknown type " + std::string(type->get_string()).substr(0, 40));
  const auto* sv = o.if_contains("schema_version");
  if (!sv || !sv->is_int64() || sv->get_int64() != kUserEventSchemaVersion) return bad("schema_version");
  const auto* id = o.if_contains("aggregate_id");
  const auto* ver = o.if_contains("aggregate_version");
  const auto* time = o.if_contains("time");
  if (!id || !id->is_string() || !ver || !ver->is_int64() || ver->get_int64() < 1 || !time || !time->is_string()) {
    return bad("missing aggregate_id, aggregate_version or time");
  }
  auto ms = parse_iso8601(time->get_string());
  if (!ms) return bad("bad time");
  user_event e;
  e.type = *t;
  e.aggregate_id = std::string(id->get_string());
  e.aggregate_version = ver->get_int64();
  e.time_ms = *ms;
  if (const auto* v = o.if_contains("event_id"); v && v->is_string()) e.event_id = std::string(v->get_string());
  if (const auto* v = o.if_contains("actor"); v && v->is_string()) e.actor = std::string(v->get_string());
  if (const auto* d = o.if_contains("data"); d && d->is_object()) e.data = d->get_object();
  return e;
}

json::object token_to_json(const token_info& t) {
  json::object o;
  o["id"] = t.id;
  o["name"] = t.name;
  o["scopes"] = to_array(scope_names(t.scopes));
  o["created_at"] = format_iso8601(t.created_ms);
  o["expires_at"] = t.expires_ms ? json::value(format_iso8601(*t.expires_ms)) : json::value(nullptr);
  o["revoked"] = t.revoked;
  if (t.revoked) o["revoked_at"] = format_iso8601(t.revoked_ms);
  return o;
}

json::object webhook_to_json(const webhook_info& w) {
  json::object o;
  o["id"] = w.id;
  o["url"] = w.url;
  o["tag"] = w.tag ? json::value(*w.tag) : json::value(nullptr);
  o["sees"] = w.all_leaves ? "all" : "visible";
  o["collection"] = w.collection ? json::value(*w.collection) : json::value(nullptr);
  o["enabled"] = w.enabled;
  if (!w.enabled) o["disabled_reason"] = w.disabled_reason;
  o["created_at"] = format_iso8601(w.created_ms);
  return o;
}

json::object user_to_json(const user& u) {
  json::object o;
  o["name"] = u.name;
  o["user_id"] = u.user_id;
  o["email"] = u.email;
  o["role"] = to_string(u.r);
  o["disabled"] = u.disabled;
  o["created_at"] = format_iso8601(u.created_ms);
  o["updated_at"] = format_iso8601(u.updated_ms);
  o["version"] = u.version;
  o["has_password"] = !u.password_hash.empty();
  return o;
}

}  // namespace leaves::domain
