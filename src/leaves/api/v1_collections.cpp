// /v1/teams and /v1/collections (docs/collections.md). Permissions: a team
// is seen by its members and admins and changed by its own admins (and the
// deployment's); a collection by what auth::directory::access says. What a
// caller may not see answers 404, what it sees but may not change 403.
#include "leaves/api/handlers.h"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "leaves/api/search.h"
#include "leaves/auth/token.h"
#include "leaves/base/hash.h"

namespace leaves::api {

namespace {

using domain::collection_command;
using domain::collection_command_kind;
using domain::team_command;
using domain::team_command_kind;

constexpr size_t kDefaultPage = 50;
constexpr size_t kMaxPage = 500;

error not_found(const std::string& what, const std::string& id, const char* code) {
  return make_error(errc::not_found, what + " " + id.substr(0, 64) + " does not exist", code);
}
error forbidden(std::string why) { return make_error(errc::permission_denied, std::move(why), "permission_denied"); }
error needs_user() {
  return make_error(errc::unauthenticated, "teams and collections belong to users: send a token", "unauthenticated");
}

std::string new_group_id() { return auth::random_hex(8); }

template <class Write>
response write_response(int status, json::object body, const Write& w) {
  response r = json_response(status, json::serialize(body));
  if (w.position) r.headers.emplace_back("Leaves-Position", projector::format_position(*w.position));
  return r;
}

// A delete's answer: no body, the event's position.
template <class Write>
response deleted_response(const Write& w) {
  response r;
  r.status = 204;
  r.content_type.clear();
  if (w.position) r.headers.emplace_back("Leaves-Position", projector::format_position(*w.position));
  return r;
}

// Offset paging over an in-memory list: the token is the next offset.
// Parameters other than limit, page_token and `also` are refused.
result<std::pair<size_t, size_t>> page_of(const params& p, std::initializer_list<std::string_view> also) {
  for (const auto& [k, v] : p) {
    if (k != "limit" && k != "page_token" && std::find(also.begin(), also.end(), k) == also.end()) {
      return bad_query("unknown query parameter: " + k);
    }
  }
  auto limit = int_param(p, "limit", 1, kMaxPage);
  if (!limit) return limit.err();
  size_t from = 0;
  if (const auto* t = param(p, "page_token"); t && !t->empty()) {
    try {
      size_t used = 0;
      const unsigned long long v = std::stoull(*t, &used);
      if (used != t->size()) throw std::invalid_argument("junk");
      from = static_cast<size_t>(v);
    } catch (const std::exception&) {
      return make_error(errc::invalid_argument, "page_token: not a token of this list", "invalid_query");
    }
  }
  return std::pair<size_t, size_t>{from, limit->value_or(kDefaultPage)};
}

result<std::optional<std::string>> optional_string(const json::object& o, const char* k) {
  const auto* v = o.if_contains(k);
  if (!v) return std::optional<std::string>{};
  if (!v->is_string()) return make_error(errc::invalid_argument, std::string(k) + ": must be a string", "invalid_field");
  return std::optional<std::string>(std::string(v->get_string()));
}

status only_fields(const json::object& o, std::initializer_list<std::string_view> allowed) {
  for (const auto& [k, _] : o) {
    if (std::find(allowed.begin(), allowed.end(), k) == allowed.end()) {
      return make_error(errc::invalid_argument, "unknown field: " + std::string(k).substr(0, 64), "invalid_field");
    }
  }
  return ok_status();
}

json::object leaf_ref(const domain::collection& c) { return {{"id", c.id}, {"name", c.name}}; }

}  // namespace

error groups_surface::unavailable() const {
  return make_error(errc::unavailable, "this server keeps no users, teams or collections", "users_disabled");
}

// ---- teams ----

result<domain::team> groups_surface::visible_team(const auth::principal& who, const std::string& id) const {
  auto t = d.users->find_team(id);
  const bool admin = who.can(domain::scope_admin);
  if (!t || (!admin && !t->members.contains(who.name))) return not_found("team", id, "team_not_found");
  return *t;
}

result<domain::team> groups_surface::managed_team(const auth::principal& who, const std::string& id) const {
  auto t = visible_team(who, id);
  if (!t) return t;
  if (who.can(domain::scope_admin)) return t;
  const auto m = t->members.find(who.name);
  if (m == t->members.end() || m->second != domain::team_role::admin) {
    return forbidden(who.name + " is not an admin of team " + id);
  }
  return t;
}

asio::awaitable<response> groups_surface::teams(const auth::principal& who) {
  if (!d.users) co_return error_to_response(unavailable());
  json::array items;
  for (const auto& t : d.users->teams_of(who.name, who.can(domain::scope_admin))) items.push_back(domain::team_to_json(t));
  co_return json_response(200, json::serialize(json::object{{"items", std::move(items)}}));
}

asio::awaitable<response> groups_surface::create_team(const request& req, const auth::principal& who) {
  if (!d.users) co_return error_to_response(unavailable());
  if (who.anonymous) co_return error_to_response(needs_user());
  auto body = c.parse_object(req);
  if (!body) co_return error_to_response(body.err());
  if (auto st = only_fields(*body, {"name"}); !st) co_return error_to_response(st.err());
  auto name = optional_string(*body, "name");
  if (!name) co_return error_to_response(name.err());
  team_command cmd;
  cmd.kind = team_command_kind::create;
  cmd.id = new_group_id();
  cmd.name = name->value_or("");
  cmd.user = who.name;
  auto w = co_await d.user_service->execute(std::move(cmd), who.name);
  if (!w) co_return error_to_response(w.err());
  co_return write_response(201, domain::team_to_json(w->state), *w);
}

asio::awaitable<response> groups_surface::get_team(const auth::principal& who, const std::string& id) {
  if (!d.users) co_return error_to_response(unavailable());
  auto t = visible_team(who, id);
  if (!t) co_return error_to_response(t.err());
  co_return json_response(200, json::serialize(domain::team_to_json(*t)));
}

asio::awaitable<response> groups_surface::change_team(const request* req, const auth::principal& who,
                                                      const std::string& id) {
  if (!d.users) co_return error_to_response(unavailable());
  if (who.anonymous) co_return error_to_response(needs_user());
  auto t = managed_team(who, id);
  if (!t) co_return error_to_response(t.err());
  team_command cmd;
  cmd.id = id;
  if (!req) {
    cmd.kind = team_command_kind::remove;
  } else {
    auto body = c.parse_object(*req);
    if (!body) co_return error_to_response(body.err());
    if (auto st = only_fields(*body, {"name"}); !st) co_return error_to_response(st.err());
    auto name = optional_string(*body, "name");
    if (!name) co_return error_to_response(name.err());
    cmd.kind = team_command_kind::rename;
    cmd.name = name->value_or(t->name);
  }
  auto w = co_await d.user_service->execute(std::move(cmd), who.name);
  if (!w) co_return error_to_response(w.err());
  if (!req) {
    co_return deleted_response(*w);
  }
  co_return write_response(200, domain::team_to_json(w->state), *w);
}

asio::awaitable<response> groups_surface::set_member(const request* req, const auth::principal& who,
                                                     const std::string& id, const std::string& user) {
  if (!d.users) co_return error_to_response(unavailable());
  if (who.anonymous) co_return error_to_response(needs_user());
  // A member may leave a team by itself; everything else is its admins'.
  const bool leaving = !req && user == who.name;
  auto t = leaving ? visible_team(who, id) : managed_team(who, id);
  if (!t) co_return error_to_response(t.err());
  team_command cmd;
  cmd.id = id;
  cmd.user = user;
  if (!req) {
    cmd.kind = team_command_kind::remove_member;
  } else {
    auto body = c.parse_object(*req);
    if (!body) co_return error_to_response(body.err());
    if (auto st = only_fields(*body, {"role"}); !st) co_return error_to_response(st.err());
    const auto* r = body->if_contains("role");
    auto role = r && r->is_string() ? domain::team_role_from_string(r->get_string()) : std::optional<domain::team_role>(
                                                                                         domain::team_role::member);
    if (!role || (r && !r->is_string())) {
      co_return error_to_response(make_error(errc::invalid_argument, "role: member, editor or admin", "invalid_field"));
    }
    auto u = d.users->find(user);
    if (!u || u->disabled) {
      co_return error_to_response(make_error(errc::not_found, "user " + user.substr(0, 64) + " does not exist",
                                             "user_not_found"));
    }
    cmd.kind = team_command_kind::set_member;
    cmd.r = *role;
  }
  auto w = co_await d.user_service->execute(std::move(cmd), who.name);
  if (!w) co_return error_to_response(w.err());
  co_return write_response(200, domain::team_to_json(w->state), *w);
}

// ---- collections ----

result<std::pair<domain::collection, auth::collection_access>> groups_surface::reach(
    const auth::principal& who, const std::string& id, auth::collection_access need) const {
  auto col = d.users->find_collection(id);
  const auto a = col ? d.users->access(*col, who) : auth::collection_access::none;
  if (a == auth::collection_access::none) return not_found("collection", id, "collection_not_found");
  if (a < need) {
    return forbidden(std::string(who.name) + " may not " +
                     (need == auth::collection_access::edit ? "change" : "share, publish or delete") +
                     " collection " + id);
  }
  return std::pair{std::move(*col), a};
}

json::object groups_surface::collection_body(const domain::collection& col, const auth::principal& who,
                                             auth::collection_access a) const {
  auto o = domain::collection_to_json(col);
  json::array crumbs;
  for (const auto& up : d.users->breadcrumb(col, who)) crumbs.push_back(leaf_ref(up));
  o["breadcrumb"] = std::move(crumbs);
  o["access"] = a == auth::collection_access::manage ? "manage" : a == auth::collection_access::edit ? "edit" : "view";
  return o;
}

asio::awaitable<response> groups_surface::collections(const params& p, const auth::principal& who) {
  if (!d.users) co_return error_to_response(unavailable());
  auto page = page_of(p, {"parent"});
  if (!page) co_return error_to_response(page.err());
  const std::string* parent = param(p, "parent");  // an id, or "none" for the top level
  json::array items;
  size_t seen = 0;
  bool more = false;
  for (const auto& col : d.users->visible_collections(who)) {
    if (parent && (*parent == "none" ? col.parent.has_value() : col.parent != *parent)) continue;
    if (seen++ < page->first) continue;
    if (items.size() == page->second) {
      more = true;
      break;
    }
    items.push_back(collection_body(col, who, d.users->access(col, who)));
  }
  json::object out{{"items", std::move(items)}};
  out["next_page_token"] = more ? json::value(std::to_string(page->first + page->second)) : json::value(nullptr);
  co_return json_response(200, json::serialize(out));
}

asio::awaitable<response> groups_surface::create_collection(const request& req, const auth::principal& who) {
  if (!d.users) co_return error_to_response(unavailable());
  if (who.anonymous) co_return error_to_response(needs_user());
  auto body = c.parse_object(req);
  if (!body) co_return error_to_response(body.err());
  collection_command cmd;
  cmd.kind = collection_command_kind::create;
  cmd.id = new_group_id();
  cmd.owner = who.name;
  if (auto st = fill(*body, cmd, who); !st) co_return error_to_response(st.err());
  if (!cmd.name) cmd.name = "";
  auto w = co_await d.user_service->execute(std::move(cmd), who);
  if (!w) co_return error_to_response(w.err());
  co_return write_response(201, collection_body(w->state, who, auth::collection_access::manage), *w);
}

// The fields of a create or a PATCH; a parent must be one `who` may edit.
status groups_surface::fill(const json::object& body, collection_command& cmd, const auth::principal& who) const {
  if (auto st = only_fields(body, {"name", "description", "parent", "is_public", "query"}); !st) return st;
  auto query = optional_string(body, "query");
  if (!query) return query.err();
  if (*query) {
    // A smart collection's search, checked now as a search would read it.
    if (auto parsed = search::parse_query(**query, search::match_mode::all); !parsed) {
      return make_error(errc::invalid_argument, "query: " + parsed.err().message, "invalid_field");
    }
    cmd.query = *query;
  }
  auto name = optional_string(body, "name");
  if (!name) return name.err();
  cmd.name = *name;
  auto description = optional_string(body, "description");
  if (!description) return description.err();
  cmd.description = *description;
  if (const auto* pub = body.if_contains("is_public")) {
    if (!pub->is_bool()) return make_error(errc::invalid_argument, "is_public: must be true or false", "invalid_field");
    cmd.is_public = pub->get_bool();
  }
  if (const auto* parent = body.if_contains("parent")) {
    if (parent->is_null()) {
      cmd.parent = std::optional<std::string>{};
    } else if (!parent->is_string()) {
      return make_error(errc::invalid_argument, "parent: a collection id or null", "invalid_field");
    } else {
      const std::string id(parent->get_string());
      auto p = d.users->find_collection(id);
      const auto a = p ? d.users->access(*p, who) : auth::collection_access::none;
      if (a == auth::collection_access::none) {
        return make_error(errc::invalid_argument, "parent: collection " + id.substr(0, 64) + " does not exist",
                          "invalid_parent");
      }
      if (a < auth::collection_access::edit) return forbidden("parent: " + who.name + " may not change collection " + id);
      cmd.parent = std::optional<std::string>(id);
    }
  }
  return ok_status();
}

asio::awaitable<response> groups_surface::get_collection(const auth::principal& who, const std::string& id) {
  if (!d.users) co_return error_to_response(unavailable());
  auto got = reach(who, id, auth::collection_access::view);
  if (!got) co_return error_to_response(got.err());
  co_return json_response(200, json::serialize(collection_body(got->first, who, got->second)));
}

asio::awaitable<response> groups_surface::change_collection(const request* req, const auth::principal& who,
                                                            const std::string& id) {
  if (!d.users) co_return error_to_response(unavailable());
  if (who.anonymous) co_return error_to_response(needs_user());
  collection_command cmd;
  cmd.id = id;
  auto need = auth::collection_access::manage;
  if (req) {
    auto body = c.parse_object(*req);
    if (!body) co_return error_to_response(body.err());
    cmd.kind = collection_command_kind::update;
    if (auto st = fill(*body, cmd, who); !st) co_return error_to_response(st.err());
    // Publishing is the owner's; the rest is every editor's.
    if (!cmd.is_public) need = auth::collection_access::edit;
  } else {
    cmd.kind = collection_command_kind::remove;
  }
  auto got = reach(who, id, need);
  if (!got) co_return error_to_response(got.err());
  auto w = co_await d.user_service->execute(std::move(cmd), who);
  if (!w) co_return error_to_response(w.err());
  if (!req) {
    co_return deleted_response(*w);
  }
  co_return write_response(200, collection_body(w->state, who, got->second), *w);
}

asio::awaitable<response> groups_surface::collection_leaves(const request& req, const params& p,
                                                            const auth::principal& who, const std::string& id) {
  if (!d.users) co_return error_to_response(unavailable());
  auto page = page_of(p, {"min_position"});
  if (!page) co_return error_to_response(page.err());
  // Leaves-Min-Position: the collection (the directory) and its leaves (the read models).
  if (auto w = co_await c.wait_min_position_of(req, p, d.users->progress(), "the directory")) co_return std::move(*w);
  if (auto w = co_await c.wait_min_position(req, p)) co_return std::move(*w);
  auto got = reach(who, id, auth::collection_access::view);
  if (!got) co_return error_to_response(got.err());
  const auto& col = got->first;
  if (col.query) co_return co_await smart_leaves(req, p, col, page->first, page->second);
  // Through the collection a caller sees what it may see anyway, and the
  // non-public leaves the collection vouches for when it reaches the caller
  // through its owner or a team (public alone opens no private leaf).
  // Hidden and deleted leaves are skipped, but a page reads at most 4 times
  // its size (then its token goes on from there).
  auto slice = co_await c.collection_leaves(col, req, who, page->first, page->second, 4 * page->second + 16);
  if (!slice) co_return error_to_response(slice.err());
  json::array items, positions;
  for (const auto& [pos, l] : slice->items) {
    items.push_back(domain::leaf_to_json(l));
    positions.push_back(static_cast<int64_t>(pos));
  }
  json::object out{{"items", std::move(items)},
                   {"positions", std::move(positions)},
                   {"total", static_cast<int64_t>(col.leaves.size())}};
  out["next_page_token"] = slice->next ? json::value(std::to_string(*slice->next)) : json::value(nullptr);
  co_return json_response(200, json::serialize(out));
}

// A smart collection's leaves: its search's matches that the caller may
// see (as GET /v1/search shows them), newest first.
asio::awaitable<response> groups_surface::smart_leaves(const request& req, const params& p,
                                                       const domain::collection& col, size_t from, size_t limit) {
  if (!d.search || !d.search_projector) {
    co_return error_to_response(make_error(errc::unavailable, "search is not enabled on this server", "search_disabled"));
  }
  params sp{{"q", *col.query}, {"sort", "created"}};
  auto r = parse_search(sp, c.o.limits, c.o.search);
  if (!r) co_return error_to_response(r.err());
  r->offset = from;
  r->limit = std::min(limit, c.o.search.max_limit);
  if (r->offset + r->limit > c.o.search.max_offset + c.o.search.max_limit) {
    co_return error_to_response(bad_query("results beyond the first " + std::to_string(c.o.search.max_offset) +
                                          " are not paged"));
  }
  if (auto w = co_await c.wait_min_position_of(req, p, d.search_projector->positions(), "the search index")) {
    co_return std::move(*w);
  }
  search::search_result res;
  if (req.caller.narrow(*r)) {
    r->marks = c.marks_view(req.caller);
    auto got = co_await d.search->async_search(*r);
    if (!got) co_return error_to_response(got.err());
    res = std::move(*got);
  }
  json::array items;
  for (auto& h : res.items) {
    context::show_marks(r->marks, h.leaf);
    items.push_back(domain::leaf_to_json(h.leaf));
  }
  json::object out{{"items", std::move(items)}, {"total", static_cast<int64_t>(res.total)}};
  out["next_page_token"] = res.more ? json::value(std::to_string(from + r->limit)) : json::value(nullptr);
  co_return json_response(200, json::serialize(out));
}

asio::awaitable<response> groups_surface::change_leaf(const request* req, const auth::principal& who,
                                                      const std::string& id, const std::string* leaf, bool add) {
  if (!d.users) co_return error_to_response(unavailable());
  if (who.anonymous) co_return error_to_response(needs_user());
  auto got = reach(who, id, auth::collection_access::edit);
  if (!got) co_return error_to_response(got.err());
  collection_command cmd;
  cmd.id = id;
  cmd.kind = add ? collection_command_kind::add_leaf
                 : req ? collection_command_kind::move_leaf : collection_command_kind::remove_leaf;
  if (leaf) cmd.leaf = *leaf;
  if (req) {
    auto body = c.parse_object(*req);
    if (!body) co_return error_to_response(body.err());
    if (auto st = only_fields(*body, add ? std::initializer_list<std::string_view>{"id", "position"}
                                         : std::initializer_list<std::string_view>{"position"});
        !st) {
      co_return error_to_response(st.err());
    }
    if (add) {
      const auto* lid = body->if_contains("id");
      if (!lid || !lid->is_string() || lid->get_string().empty() || lid->get_string().size() > 128) {
        co_return error_to_response(make_error(errc::invalid_argument, "id: the leaf's id", "invalid_field"));
      }
      cmd.leaf = std::string(lid->get_string());
    }
    if (const auto* pos = body->if_contains("position")) {
      if (!pos->is_int64() || pos->get_int64() < 0) {
        co_return error_to_response(
            make_error(errc::invalid_argument, "position: a number from 0 (the first)", "invalid_field"));
      }
      cmd.position = static_cast<size_t>(pos->get_int64());
    } else if (!add) {
      co_return error_to_response(make_error(errc::invalid_argument, "position: required", "invalid_field"));
    }
  }
  if (add) {
    // Only a leaf the caller may see goes in (else: as if it did not exist).
    // Asked of the write side, which knows a leaf saved a moment ago.
    auto l = co_await d.service.state(cmd.leaf);
    if (l && !*l) {
      // Saved a moment ago through another path (Kafka, another server):
      // once the read models have what the leaf's partition holds now.
      const int32_t part = kafka_partition(cmd.leaf, d.log.partitions());
      auto end = co_await d.log.async_end_offset(part);
      if (end && *end > 0) {
        std::vector<log::position> want(1, log::position{part, *end - 1});  // (no braced temporary in co_await: GCC 12)
        const auto deadline =
            std::chrono::steady_clock::now() + std::min<std::chrono::milliseconds>(c.o.read_wait, std::chrono::seconds(1));
        if (co_await d.progress.wait_for(std::move(want), c.o.read_wait)) l = co_await d.service.state(cmd.leaf);
        // The state mirror beside Cassandra is fed by a consumer of its own
        // that may still be a moment behind the read models: asked again
        // until the write side has the leaf, for at most a second.
        asio::steady_timer pause(co_await asio::this_coro::executor);
        while (l && !*l && std::chrono::steady_clock::now() < deadline) {
          pause.expires_after(std::chrono::milliseconds(20));
          co_await pause.async_wait(asio::use_awaitable);
          l = co_await d.service.state(cmd.leaf);
        }
      }
    }
    if (!l) co_return error_to_response(l.err());
    if (!*l || (*l)->deleted || !c.readable(*req, cmd.leaf, (*l)->is_public, (*l)->user_id)) {
      co_return error_to_response(not_found("leaf", cmd.leaf, "leaf_not_found"));
    }
  }
  auto w = co_await d.user_service->execute(std::move(cmd), who);
  if (!w) co_return error_to_response(w.err());
  co_return write_response(add ? 201 : 200, collection_body(w->state, who, got->second), *w);
}

asio::awaitable<response> groups_surface::share(const request* req, const auth::principal& who, const std::string& id,
                                                const std::string& team) {
  if (!d.users) co_return error_to_response(unavailable());
  if (who.anonymous) co_return error_to_response(needs_user());
  auto got = reach(who, id, auth::collection_access::manage);
  if (!got) co_return error_to_response(got.err());
  collection_command cmd;
  cmd.id = id;
  cmd.team = team;
  if (req) {
    auto body = c.parse_object(*req);
    if (!body) co_return error_to_response(body.err());
    if (auto st = only_fields(*body, {"role"}); !st) co_return error_to_response(st.err());
    const auto* r = body->if_contains("role");
    auto role = !r ? std::optional<domain::share_role>(domain::share_role::viewer)
                   : r->is_string() ? domain::share_role_from_string(r->get_string()) : std::nullopt;
    if (!role) co_return error_to_response(make_error(errc::invalid_argument, "role: viewer or editor", "invalid_field"));
    if (!d.users->find_team(team)) co_return error_to_response(not_found("team", team, "team_not_found"));
    cmd.kind = collection_command_kind::share;
    cmd.r = *role;
  } else {
    cmd.kind = collection_command_kind::unshare;
  }
  auto w = co_await d.user_service->execute(std::move(cmd), who);
  if (!w) co_return error_to_response(w.err());
  co_return write_response(200, collection_body(w->state, who, got->second), *w);
}

}  // namespace leaves::api
