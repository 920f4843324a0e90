#include "leaves/domain/collection.h"

#include <algorithm>
#include <boost/json.hpp>

#include "leaves/base/time.h"

namespace leaves::domain {

namespace json = boost::json;

namespace {

error invalid(std::string msg, std::string detail = "invalid_field") {
  return make_error(errc::invalid_argument, std::move(msg), std::move(detail));
}

// Printable text without control characters (tabs and newlines allowed in
// descriptions), at most `max` bytes.
bool plain_text(std::string_view s, size_t max, bool multiline = false) {
  if (s.size() > max) return false;
  for (unsigned char c : s) {
    if ((c < 0x20 && !(multiline && (c == '\n' || c == '\t'))) || c == 0x7f) return false;
  }
  return true;
}

status check_name(const std::string& name) {
  if (name.empty() || !plain_text(name, kMaxGroupNameBytes)) {
    return invalid("name: 1 to " + std::to_string(kMaxGroupNameBytes) + " bytes without control characters");
  }
  return ok_status();
}

group_event make_event(std::string type, std::string aggregate_id, int64_t version, int64_t now_ms,
                       const std::string& actor, json::object data) {
  group_event ev;
  ev.type = std::move(type);
  ev.aggregate_id = std::move(aggregate_id);
  ev.aggregate_version = version;
  ev.time_ms = now_ms;
  ev.actor = actor;
  ev.data = std::move(data);
  return ev;
}

std::string str(const json::object& o, std::string_view k) {
  const auto* v = o.if_contains(k);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

// The version rule both aggregates follow.
template <class T>
status check_version(const std::optional<T>& state, const group_event& ev) {
  const int64_t have = state ? state->version : 0;
  if (ev.aggregate_version != have + 1) {
    return make_error(errc::conflict, "event version " + std::to_string(ev.aggregate_version) + " after " +
                                          std::to_string(have));
  }
  return ok_status();
}

}  // namespace

const char* to_string(team_role r) {
  switch (r) {
    case team_role::member: return "member";
    case team_role::editor: return "editor";
    case team_role::admin: return "admin";
  }
  return "member";
}
const char* to_string(share_role r) { return r == share_role::editor ? "editor" : "viewer"; }
std::optional<team_role> team_role_from_string(std::string_view s) {
  if (s == "member") return team_role::member;
  if (s == "editor") return team_role::editor;
  if (s == "admin") return team_role::admin;
  return std::nullopt;
}
std::optional<share_role> share_role_from_string(std::string_view s) {
  if (s == "viewer") return share_role::viewer;
  if (s == "editor") return share_role::editor;
  return std::nullopt;
}

std::string team_key(std::string_view id) { return "team:" + std::string(id); }
std::string collection_key(std::string_view id) { return "collection:" + std::string(id); }
bool valid_group_id(std::string_view id) {
  return id.size() == 16 && std::all_of(id.begin(), id.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

result<std::vector<group_event>> decide_team(const std::optional<team>& state, const team_command& cmd, int64_t now_ms,
                                             const std::string& actor) {
  const std::string key = team_key(cmd.id);
  const int64_t v = (state ? state->version : 0) + 1;
  std::vector<group_event> out;
  if (cmd.kind == team_command_kind::create) {
    if (!valid_group_id(cmd.id)) return invalid("a team id is 16 lower-case hex digits");
    if (state) return make_error(errc::conflict, "team " + cmd.id + " exists", "team_exists");
    if (auto st = check_name(cmd.name); !st) return st.err();
    out.push_back(make_event("team.created", key, v, now_ms, actor, {{"name", cmd.name}, {"admin", cmd.user}}));
    return out;
  }
  if (!state || state->deleted) return make_error(errc::not_found, "team " + cmd.id + " does not exist", "team_not_found");
  const team& t = *state;
  // A team always keeps an admin: its last one is not demoted or removed.
  const auto last_admin = [&](const std::string& user) {
    const auto it = t.members.find(user);
    if (it == t.members.end() || it->second != team_role::admin) return false;
    return std::count_if(t.members.begin(), t.members.end(),
                         [](const auto& m) { return m.second == team_role::admin; }) == 1;
  };
  switch (cmd.kind) {
    case team_command_kind::create: break;
    case team_command_kind::rename:
      if (auto st = check_name(cmd.name); !st) return st.err();
      if (cmd.name != t.name) out.push_back(make_event("team.renamed", key, v, now_ms, actor, {{"name", cmd.name}}));
      break;
    case team_command_kind::set_member: {
      const auto it = t.members.find(cmd.user);
      if (it != t.members.end() && it->second == cmd.r) break;
      if (it == t.members.end() && t.members.size() >= kMaxTeamMembers) {
        return invalid("a team has at most " + std::to_string(kMaxTeamMembers) + " members", "too_many_members");
      }
      if (cmd.r != team_role::admin && last_admin(cmd.user)) {
        return make_error(errc::conflict, cmd.user + " is the team's last admin: make another admin first",
                          "last_team_admin");
      }
      out.push_back(make_event("team.member_set", key, v, now_ms, actor,
                               {{"user", cmd.user}, {"role", to_string(cmd.r)}}));
      break;
    }
    case team_command_kind::remove_member:
      if (!t.members.contains(cmd.user)) {
        return make_error(errc::not_found, cmd.user + " is not a member of team " + cmd.id, "member_not_found");
      }
      if (last_admin(cmd.user)) {
        return make_error(errc::conflict, cmd.user + " is the team's last admin: make another admin first",
                          "last_team_admin");
      }
      out.push_back(make_event("team.member_removed", key, v, now_ms, actor, {{"user", cmd.user}}));
      break;
    case team_command_kind::remove:
      out.push_back(make_event("team.deleted", key, v, now_ms, actor, {}));
      break;
  }
  return out;
}

status apply_team(std::optional<team>& state, const group_event& ev) {
  if (auto st = check_version(state, ev); !st) return st;
  const auto& d = ev.data;
  if (ev.type == "team.created") {
    if (state) return make_error(errc::conflict, "team exists");
    team t;
    t.id = ev.aggregate_id.substr(5);
    t.name = str(d, "name");
    if (auto admin = str(d, "admin"); !admin.empty()) t.members[admin] = team_role::admin;
    t.created_ms = ev.time_ms;
    state = std::move(t);
  } else if (!state) {
    return make_error(errc::not_found, "no team for " + ev.type);
  } else if (ev.type == "team.renamed") {
    state->name = str(d, "name");
  } else if (ev.type == "team.member_set") {
    const auto r = team_role_from_string(str(d, "role"));
    if (!r) return make_error(errc::invalid_argument, "team.member_set: bad role");
    state->members[str(d, "user")] = *r;
  } else if (ev.type == "team.member_removed") {
    state->members.erase(str(d, "user"));
  } else if (ev.type == "team.deleted") {
    state->deleted = true;
    state->members.clear();
  } else {
    return make_error(errc::invalid_argument, "not a team event: " + ev.type.substr(0, 40));
  }
  state->version = ev.aggregate_version;
  state->updated_ms = ev.time_ms;
  state->last_event_id = ev.event_id;
  return ok_status();
}

result<std::vector<group_event>> decide_collection(const std::optional<collection>& state,
                                                   const collection_command& cmd, int64_t now_ms,
                                                   const std::string& actor) {
  const std::string key = collection_key(cmd.id);
  const int64_t v = (state ? state->version : 0) + 1;
  std::vector<group_event> out;
  auto check_parent = [&](const std::optional<std::string>& p) -> status {
    if (p && !valid_group_id(*p)) return invalid("parent: a collection id (16 lower-case hex digits)");
    if (p && *p == cmd.id) return invalid("parent: a collection is not its own parent", "invalid_parent");
    return ok_status();
  };
  if (cmd.kind == collection_command_kind::create) {
    if (!valid_group_id(cmd.id)) return invalid("a collection id is 16 lower-case hex digits");
    if (state) return make_error(errc::conflict, "collection " + cmd.id + " exists", "collection_exists");
    if (auto st = check_name(cmd.name.value_or("")); !st) return st.err();
    if (!plain_text(cmd.description.value_or(""), kMaxDescriptionBytes, true)) {
      return invalid("description: at most " + std::to_string(kMaxDescriptionBytes) + " bytes of text");
    }
    const std::optional<std::string> parent = cmd.parent ? *cmd.parent : std::nullopt;
    if (auto st = check_parent(parent); !st) return st.err();
    if (cmd.query && (cmd.query->empty() || !plain_text(*cmd.query, kMaxQueryBytes))) {
      return invalid("query: 1 to " + std::to_string(kMaxQueryBytes) + " bytes of a search");
    }
    json::object d{{"name", *cmd.name},
                   {"description", cmd.description.value_or("")},
                   {"owner", cmd.owner},
                   {"is_public", cmd.is_public.value_or(false)}};
    d["parent"] = parent ? json::value(*parent) : json::value(nullptr);
    d["query"] = cmd.query ? json::value(*cmd.query) : json::value(nullptr);
    out.push_back(make_event("collection.created", key, v, now_ms, actor, std::move(d)));
    return out;
  }
  if (!state || state->deleted) {
    return make_error(errc::not_found, "collection " + cmd.id + " does not exist", "collection_not_found");
  }
  const collection& c = *state;
  const auto at = std::find(c.leaves.begin(), c.leaves.end(), cmd.leaf);
  const bool list_change = cmd.kind == collection_command_kind::add_leaf ||
                           cmd.kind == collection_command_kind::remove_leaf ||
                           cmd.kind == collection_command_kind::move_leaf;
  if (c.query && list_change) {
    return invalid("collection " + cmd.id + " is smart: its leaves are its search's matches", "smart_collection");
  }
  switch (cmd.kind) {
    case collection_command_kind::create: break;
    case collection_command_kind::update: {
      json::object changes;
      if (cmd.name && *cmd.name != c.name) {
        if (auto st = check_name(*cmd.name); !st) return st.err();
        changes["name"] = *cmd.name;
      }
      if (cmd.description && *cmd.description != c.description) {
        if (!plain_text(*cmd.description, kMaxDescriptionBytes, true)) {
          return invalid("description: at most " + std::to_string(kMaxDescriptionBytes) + " bytes of text");
        }
        changes["description"] = *cmd.description;
      }
      if (cmd.parent && *cmd.parent != c.parent) {
        if (auto st = check_parent(*cmd.parent); !st) return st.err();
        changes["parent"] = *cmd.parent ? json::value(**cmd.parent) : json::value(nullptr);
      }
      if (cmd.is_public && *cmd.is_public != c.is_public) changes["is_public"] = *cmd.is_public;
      if (cmd.query && !c.query) {
        return invalid("query: only a smart collection has a query (make a new one)", "not_smart");
      }
      if (cmd.query && *cmd.query != *c.query) {
        if (cmd.query->empty() || !plain_text(*cmd.query, kMaxQueryBytes)) {
          return invalid("query: 1 to " + std::to_string(kMaxQueryBytes) + " bytes of a search");
        }
        changes["query"] = *cmd.query;
      }
      if (!changes.empty()) out.push_back(make_event("collection.updated", key, v, now_ms, actor, std::move(changes)));
      break;
    }
    case collection_command_kind::add_leaf: {
      if (at != c.leaves.end()) break;  // already in it: adding again changes nothing
      if (c.leaves.size() >= kMaxCollectionLeaves) {
        return invalid("a collection holds at most " + std::to_string(kMaxCollectionLeaves) + " leaves",
                       "collection_full");
      }
      const size_t pos = std::min(cmd.position.value_or(c.leaves.size()), c.leaves.size());
      out.push_back(make_event("collection.leaf_added", key, v, now_ms, actor,
                               {{"leaf", cmd.leaf}, {"position", static_cast<int64_t>(pos)}}));
      break;
    }
    case collection_command_kind::remove_leaf:
    case collection_command_kind::move_leaf: {
      if (at == c.leaves.end()) {
        return make_error(errc::not_found, "leaf " + cmd.leaf + " is not in collection " + cmd.id, "leaf_not_in_collection");
      }
      if (cmd.kind == collection_command_kind::remove_leaf) {
        out.push_back(make_event("collection.leaf_removed", key, v, now_ms, actor, {{"leaf", cmd.leaf}}));
        break;
      }
      const size_t pos = std::min(cmd.position.value_or(0), c.leaves.size() - 1);
      if (static_cast<size_t>(at - c.leaves.begin()) == pos) break;
      out.push_back(make_event("collection.leaf_moved", key, v, now_ms, actor,
                               {{"leaf", cmd.leaf}, {"position", static_cast<int64_t>(pos)}}));
      break;
    }
    case collection_command_kind::share: {
      if (!valid_group_id(cmd.team)) return invalid("team: a team id (16 lower-case hex digits)");
      const auto it = c.shares.find(cmd.team);
      if (it != c.shares.end() && it->second == cmd.r) break;
      if (it == c.shares.end() && c.shares.size() >= kMaxCollectionShares) {
        return invalid("a collection is shared with at most " + std::to_string(kMaxCollectionShares) + " teams",
                       "too_many_shares");
      }
      out.push_back(make_event("collection.shared", key, v, now_ms, actor, {{"team", cmd.team}, {"role", to_string(cmd.r)}}));
      break;
    }
    case collection_command_kind::unshare:
      if (!c.shares.contains(cmd.team)) {
        return make_error(errc::not_found, "collection " + cmd.id + " is not shared with team " + cmd.team,
                          "share_not_found");
      }
      out.push_back(make_event("collection.unshared", key, v, now_ms, actor, {{"team", cmd.team}}));
      break;
    case collection_command_kind::remove:
      out.push_back(make_event("collection.deleted", key, v, now_ms, actor, {}));
      break;
  }
  return out;
}

status apply_collection(std::optional<collection>& state, const group_event& ev) {
  if (auto st = check_version(state, ev); !st) return st;
  const auto& d = ev.data;
  const auto position = [&](size_t size) {
    const auto* p = d.if_contains("position");
    const int64_t n = p && p->is_int64() ? p->get_int64() : static_cast<int64_t>(size);
    return static_cast<size_t>(std::clamp<int64_t>(n, 0, static_cast<int64_t>(size)));
  };
  const auto parent_of = [](const json::value* p) -> std::optional<std::string> {
    if (p && p->is_string()) return std::string(p->get_string());
    return std::nullopt;
  };
  if (ev.type == "collection.created") {
    if (state) return make_error(errc::conflict, "collection exists");
    collection c;
    c.id = ev.aggregate_id.substr(11);
    c.name = str(d, "name");
    c.description = str(d, "description");
    c.owner = str(d, "owner");
    c.parent = parent_of(d.if_contains("parent"));
    if (const auto* p = d.if_contains("is_public"); p && p->is_bool()) c.is_public = p->get_bool();
    if (const auto* q = d.if_contains("query"); q && q->is_string()) c.query = std::string(q->get_string());
    c.created_ms = ev.time_ms;
    state = std::move(c);
  } else if (!state) {
    return make_error(errc::not_found, "no collection for " + ev.type);
  } else if (ev.type == "collection.updated") {
    if (d.contains("name")) state->name = str(d, "name");
    if (d.contains("description")) state->description = str(d, "description");
    if (d.contains("parent")) state->parent = parent_of(d.if_contains("parent"));
    if (const auto* p = d.if_contains("is_public"); p && p->is_bool()) state->is_public = p->get_bool();
    if (const auto* q = d.if_contains("query"); q && q->is_string()) state->query = std::string(q->get_string());
  } else if (ev.type == "collection.leaf_added" || ev.type == "collection.leaf_moved") {
    auto& ls = state->leaves;
    const std::string leaf = str(d, "leaf");
    ls.erase(std::remove(ls.begin(), ls.end(), leaf), ls.end());
    ls.insert(ls.begin() + static_cast<std::ptrdiff_t>(position(ls.size())), leaf);
    if (ev.type == "collection.leaf_added") state->added_by[leaf] = ev.actor;
  } else if (ev.type == "collection.leaf_removed") {
    auto& ls = state->leaves;
    const std::string leaf = str(d, "leaf");
    ls.erase(std::remove(ls.begin(), ls.end(), leaf), ls.end());
    state->added_by.erase(leaf);
  } else if (ev.type == "collection.shared") {
    state->shares[str(d, "team")] = share_role_from_string(str(d, "role")).value_or(share_role::viewer);
  } else if (ev.type == "collection.unshared") {
    state->shares.erase(str(d, "team"));
  } else if (ev.type == "collection.deleted") {
    state->deleted = true;
    state->leaves.clear();
    state->added_by.clear();
    state->shares.clear();
  } else {
    return make_error(errc::invalid_argument, "not a collection event: " + ev.type.substr(0, 40));
  }
  state->version = ev.aggregate_version;
  state->updated_ms = ev.time_ms;
  state->last_event_id = ev.event_id;
  return ok_status();
}

json::object group_event_to_json(const group_event& ev) {
  return {{"event_id", ev.event_id},   {"type", ev.type},
          {"schema_version", kGroupEventSchemaVersion},
          {"aggregate_id", ev.aggregate_id},
          {"aggregate_version", ev.aggregate_version},
          {"time", format_iso8601(ev.time_ms)},
          {"actor", ev.actor},         {"data", ev.data}};
}

result<group_event> group_event_from_json(const json::object& o) {
  auto bad = [](std::string m) { return make_error(errc::invalid_argument, "group event: " + m, "invalid_event"); };
  const auto* sv = o.if_contains("schema_version");
  if (!sv || !sv->is_int64() || sv->get_int64() != kGroupEventSchemaVersion) return bad("schema_version");
  const auto* type = o.if_contains("type");
  const auto* id = o.if_contains("aggregate_id");
  const auto* ver = o.if_contains("aggregate_version");
  const auto* time = o.if_contains("time");
  if (!type || !type->is_string() || !id || !id->is_string() || !ver || !ver->is_int64() || ver->get_int64() < 1 ||
      !time || !time->is_string()) {
    return bad("missing type, aggregate_id, aggregate_version or time");
  }
  auto ms = parse_iso8601(time->get_string());
  if (!ms) return bad("bad time");
  group_event e;
  e.type = std::string(type->get_string());
  e.aggregate_id = std::string(id->get_string());
  e.aggregate_version = ver->get_int64();
  e.time_ms = *ms;
  e.event_id = str(o, "event_id");
  e.actor = str(o, "actor");
  if (const auto* dv = o.if_contains("data"); dv && dv->is_object()) e.data = dv->get_object();
  return e;
}

json::object team_to_json(const team& t) {
  json::array members;
  for (const auto& [name, r] : t.members) members.push_back(json::object{{"user", name}, {"role", to_string(r)}});
  return {{"id", t.id},
          {"name", t.name},
          {"members", std::move(members)},
          {"version", t.version},
          {"created_at", format_iso8601(t.created_ms)},
          {"updated_at", format_iso8601(t.updated_ms)}};
}

json::object collection_to_json(const collection& c) {
  json::array shares;
  for (const auto& [team, r] : c.shares) shares.push_back(json::object{{"team", team}, {"role", to_string(r)}});
  json::object o{{"id", c.id},
                 {"name", c.name},
                 {"description", c.description},
                 {"owner", c.owner},
                 {"is_public", c.is_public},
                 {"leaf_count", static_cast<int64_t>(c.leaves.size())},
                 {"shares", std::move(shares)},
                 {"version", c.version},
                 {"created_at", format_iso8601(c.created_ms)},
                 {"updated_at", format_iso8601(c.updated_ms)}};
  o["parent"] = c.parent ? json::value(*c.parent) : json::value(nullptr);
  o["query"] = c.query ? json::value(*c.query) : json::value(nullptr);
  return o;
}

}  // namespace leaves::domain
