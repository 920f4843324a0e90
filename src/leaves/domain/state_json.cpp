#include "leaves/domain/state_json.h"

#include <boost/json.hpp>

namespace leaves::domain {

namespace json = boost::json;

namespace {

// Reads fields of one object; the first missing or mistyped one is kept as
// the error (optional fields may be absent or null).
class reader {
 public:
  reader(const json::object& o, const char* what) : o_(o), what_(what) {}
  std::string str(const char* k, bool required = true) {
    const auto* v = o_.if_contains(k);
    if (v && v->is_string()) return std::string(v->get_string());
    if (required || (v && !v->is_null())) miss(k);
    return {};
  }
  std::optional<std::string> opt_str(const char* k) {
    const auto* v = o_.if_contains(k);
    if (!v || v->is_null()) return std::nullopt;
    if (!v->is_string()) {
      miss(k);
      return std::nullopt;
    }
    return std::string(v->get_string());
  }
  int64_t num(const char* k) {
    const auto* v = o_.if_contains(k);
    if (v && v->is_int64()) return v->get_int64();
    if (v && v->is_uint64() && v->get_uint64() <= uint64_t(INT64_MAX)) return static_cast<int64_t>(v->get_uint64());
    miss(k);
    return 0;
  }
  std::optional<int64_t> opt_num(const char* k) {
    const auto* v = o_.if_contains(k);
    if (!v || v->is_null()) return std::nullopt;
    return num(k);
  }
  bool flag(const char* k) {
    const auto* v = o_.if_contains(k);
    if (v && v->is_bool()) return v->get_bool();
    if (v) miss(k);
    return false;  // absent: false
  }
  const json::array* arr(const char* k) {
    const auto* v = o_.if_contains(k);
    if (v && v->is_array()) return &v->get_array();
    if (v) miss(k);
    return nullptr;
  }
  const json::object* obj(const char* k) {
    const auto* v = o_.if_contains(k);
    if (v && v->is_object()) return &v->get_object();
    if (v) miss(k);
    return nullptr;
  }
  void fail(std::string why) {
    if (!err_) err_ = std::string(what_) + " state: " + why;
  }
  status done() const {
    if (err_) return make_error(errc::invalid_argument, *err_);
    return ok_status();
  }

 private:
  void miss(const char* k) { fail(std::string("field '") + k + "' is missing or of the wrong type"); }
  const json::object& o_;
  const char* what_;
  std::optional<std::string> err_;
};

json::value opt(const std::optional<std::string>& s) { return s ? json::value(*s) : json::value(nullptr); }

}  // namespace

json::object user_state_to_json(const user& u) {
  json::array tokens;
  for (const auto& t : u.tokens) {
    tokens.push_back(json::object{{"id", t.id},
                                  {"name", t.name},
                                  {"hash", t.hash},
                                  {"scopes", t.scopes},
                                  {"created_ms", t.created_ms},
                                  {"expires_ms", t.expires_ms ? json::value(*t.expires_ms) : json::value(nullptr)},
                                  {"revoked", t.revoked},
                                  {"revoked_ms", t.revoked_ms}});
  }
  json::array hooks;
  for (const auto& w : u.webhooks) {
    hooks.push_back(json::object{{"id", w.id},
                                 {"url", w.url},
                                 {"secret", w.secret},
                                 {"tag", opt(w.tag)},
                                 {"collection", opt(w.collection)},
                                 {"all_leaves", w.all_leaves},
                                 {"created_ms", w.created_ms},
                                 {"enabled", w.enabled},
                                 {"disabled_reason", w.disabled_reason}});
  }
  return json::object{{"name", u.name},
                      {"user_id", u.user_id},
                      {"email", u.email},
                      {"role", to_string(u.r)},
                      {"disabled", u.disabled},
                      {"created_ms", u.created_ms},
                      {"updated_ms", u.updated_ms},
                      {"version", u.version},
                      {"last_event_id", u.last_event_id},
                      {"tokens", std::move(tokens)},
                      {"password_hash", u.password_hash},
                      {"webhooks", std::move(hooks)}};
}

result<user> user_state_from_json(const json::object& o) {
  reader r(o, "user");
  user u;
  u.name = r.str("name");
  u.user_id = r.num("user_id");
  u.email = r.str("email", false);
  auto role = role_from_string(r.str("role"));
  if (!role) r.fail("unknown role");
  u.r = role.value_or(role::reader);
  u.disabled = r.flag("disabled");
  u.created_ms = r.num("created_ms");
  u.updated_ms = r.num("updated_ms");
  u.version = r.num("version");
  u.last_event_id = r.str("last_event_id", false);
  u.password_hash = r.str("password_hash", false);
  if (const auto* a = r.arr("tokens")) {
    for (const auto& v : *a) {
      if (!v.is_object()) {
        r.fail("a token is not an object");
        break;
      }
      reader t(v.get_object(), "token");
      token_info ti;
      ti.id = t.str("id");
      ti.name = t.str("name", false);
      ti.hash = t.str("hash");
      ti.scopes = static_cast<unsigned>(t.num("scopes"));
      ti.created_ms = t.num("created_ms");
      ti.expires_ms = t.opt_num("expires_ms");
      ti.revoked = t.flag("revoked");
      ti.revoked_ms = t.opt_num("revoked_ms").value_or(0);
      if (auto st = t.done(); !st) return st.err();
      u.tokens.push_back(std::move(ti));
    }
  }
  if (const auto* a = r.arr("webhooks")) {
    for (const auto& v : *a) {
      if (!v.is_object()) {
        r.fail("a webhook is not an object");
        break;
      }
      reader h(v.get_object(), "webhook");
      webhook_info w;
      w.id = h.str("id");
      w.url = h.str("url");
      w.secret = h.str("secret");
      w.tag = h.opt_str("tag");
      w.collection = h.opt_str("collection");
      w.all_leaves = h.flag("all_leaves");
      w.created_ms = h.num("created_ms");
      w.enabled = h.flag("enabled");
      w.disabled_reason = h.str("disabled_reason", false);
      if (auto st = h.done(); !st) return st.err();
      u.webhooks.push_back(std::move(w));
    }
  }
  if (auto st = r.done(); !st) return st.err();
  return u;
}

json::object team_state_to_json(const team& t) {
  json::object members;
  for (const auto& [name, role] : t.members) members[name] = to_string(role);
  return json::object{{"id", t.id},
                      {"name", t.name},
                      {"members", std::move(members)},
                      {"created_ms", t.created_ms},
                      {"updated_ms", t.updated_ms},
                      {"version", t.version},
                      {"last_event_id", t.last_event_id},
                      {"deleted", t.deleted}};
}

result<team> team_state_from_json(const json::object& o) {
  reader r(o, "team");
  team t;
  t.id = r.str("id");
  t.name = r.str("name");
  if (const auto* m = r.obj("members")) {
    for (const auto& kv : *m) {
      auto role = kv.value().is_string() ? team_role_from_string(kv.value().get_string()) : std::nullopt;
      if (!role) {
        r.fail("a member's role is not member, editor or admin");
        break;
      }
      t.members.emplace(std::string(kv.key()), *role);
    }
  }
  t.created_ms = r.num("created_ms");
  t.updated_ms = r.num("updated_ms");
  t.version = r.num("version");
  t.last_event_id = r.str("last_event_id", false);
  t.deleted = r.flag("deleted");
  if (auto st = r.done(); !st) return st.err();
  return t;
}

json::object collection_state_to_json(const collection& c) {
  json::array leaves;
  leaves.reserve(c.leaves.size());
  for (const auto& l : c.leaves) leaves.push_back(json::string(l));
  json::object added_by;
  for (const auto& [leaf, by] : c.added_by) added_by[leaf] = by;
  json::object shares;
  for (const auto& [team_id, role] : c.shares) shares[team_id] = to_string(role);
  return json::object{{"id", c.id},
                      {"name", c.name},
                      {"description", c.description},
                      {"owner", c.owner},
                      {"parent", opt(c.parent)},
                      {"leaves", std::move(leaves)},
                      {"added_by", std::move(added_by)},
                      {"query", opt(c.query)},
                      {"shares", std::move(shares)},
                      {"is_public", c.is_public},
                      {"created_ms", c.created_ms},
                      {"updated_ms", c.updated_ms},
                      {"version", c.version},
                      {"last_event_id", c.last_event_id},
                      {"deleted", c.deleted}};
}

result<collection> collection_state_from_json(const json::object& o) {
  reader r(o, "collection");
  collection c;
  c.id = r.str("id");
  c.name = r.str("name");
  c.description = r.str("description", false);
  c.owner = r.str("owner");
  c.parent = r.opt_str("parent");
  if (const auto* a = r.arr("leaves")) {
    c.leaves.reserve(a->size());
    for (const auto& v : *a) {
      if (!v.is_string()) {
        r.fail("a leaf id is not a string");
        break;
      }
      c.leaves.emplace_back(v.get_string());
    }
  }
  if (const auto* m = r.obj("added_by")) {
    for (const auto& kv : *m) {
      if (!kv.value().is_string()) {
        r.fail("added_by holds a value that is not a user name");
        break;
      }
      c.added_by.emplace(std::string(kv.key()), std::string(kv.value().get_string()));
    }
  }
  c.query = r.opt_str("query");
  if (const auto* m = r.obj("shares")) {
    for (const auto& kv : *m) {
      auto role = kv.value().is_string() ? share_role_from_string(kv.value().get_string()) : std::nullopt;
      if (!role) {
        r.fail("a share's role is not viewer or editor");
        break;
      }
      c.shares.emplace(std::string(kv.key()), *role);
    }
  }
  c.is_public = r.flag("is_public");
  c.created_ms = r.num("created_ms");
  c.updated_ms = r.num("updated_ms");
  c.version = r.num("version");
  c.last_event_id = r.str("last_event_id", false);
  c.deleted = r.flag("deleted");
  if (auto st = r.done(); !st) return st.err();
  return c;
}

}  // namespace leaves::domain
