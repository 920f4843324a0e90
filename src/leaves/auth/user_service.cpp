#include "leaves/auth/user_service.h"

#include "leaves/base/hash.h"
#include "leaves/domain/event_avro.h"

#include <boost/asio/this_coro.hpp>
#include <boost/json.hpp>

namespace leaves::auth {

namespace asio = boost::asio;
namespace json = boost::json;


asio::awaitable<result<user_write>> user_service::execute(domain::user_command cmd, std::string actor) {
  co_await mu_.lock();
  async_mutex::guard guard{mu_};

  auto state = dir_.find(cmd.name);
  // Nobody locks the deployment out: the last enabled admin stays one.
  // Checked under the lock that serialises commands here, so two requests
  // demoting the last two admins at once cannot both pass.
  if (cmd.kind == domain::user_command_kind::update && state && state->r == domain::role::admin &&
      !state->disabled && ((cmd.r && *cmd.r != domain::role::admin) || cmd.disabled.value_or(false))) {
    size_t admins = 0;
    for (const auto& other : dir_.list()) admins += other.r == domain::role::admin && !other.disabled;
    if (admins <= 1) {
      co_return make_error(errc::conflict, cmd.name + " is the last enabled admin: make another admin first",
                           "last_admin");
    }
  }
  if (cmd.kind == domain::user_command_kind::mark_leaf) {
    cmd.mark.before = dir_.mark(cmd.name, cmd.mark.leaf_id);
    cmd.mark.marked = dir_.marked(cmd.name);
  }
  auto events = domain::decide_user(state, cmd, clock_.now_ms(), actor);
  // (No temporaries in the co_await: GCC 12 destroys some twice.)
  auto find = [this, name = cmd.name] { return dir_.find(name); };
  std::string what = "user " + cmd.name;
  auto r = co_await commit(std::move(state), std::move(events), domain::apply_user, std::move(find), std::move(what),
                           "user_write_contention");
  co_return r;
}

namespace {
json::object event_json(const domain::user_event& ev) { return domain::user_event_to_json(ev); }
json::object event_json(const domain::group_event& ev) { return domain::group_event_to_json(ev); }
}  // namespace

template <class State, class Events, class Apply, class Find>
asio::awaitable<result<aggregate_write<State>>> user_service::commit(std::optional<State> state, result<Events> events,
                                                                     Apply apply, Find find, std::string what,
                                                                     const char* contention) {
  if (!events) co_return events.err();
  aggregate_write<State> w;
  if (events->empty()) {
    w.state = std::move(*state);
    co_return w;
  }
  auto next = std::move(state);
  std::vector<log::record> records;
  for (auto& ev : *events) {
    ev.event_id = new_event_id();
    if (auto st = apply(next, ev); !st) co_return st.err();
    auto value = domain::encode_event_value(event_json(ev));
    if (!value) co_return make_error(errc::internal, "encoding an event: " + value.err().message);
    records.push_back({ev.aggregate_id, std::move(*value), -1});
  }
  const std::string last_event = events->back().event_id;
  auto pos = co_await log_.append(std::move(records));
  if (!pos) co_return pos.err();
  // Answer once the directory here holds the event: the caller's next
  // request (with the new token, or against the revoked one) sees it.
  if (!co_await dir_.progress().wait_for(*pos, std::chrono::seconds(10))) {
    co_return make_error(errc::unavailable, "the directory did not apply the change within 10 s", "unconfirmed");
  }
  // The first event of a version in log order wins: ours, unless another
  // server's event of the same version came before it. (A later version
  // already applied: ours came first, or the check cannot tell; accepted.)
  auto now = find();
  bool gone_by_us = false;  // a delete of ours leaves nothing to find
  if constexpr (requires { next->deleted; }) gone_by_us = next->deleted;
  const bool lost = now ? (now->version < next->version ||
                           (now->version == next->version && now->last_event_id != last_event))
                        : !gone_by_us;
  if (lost) {
    co_return make_error(errc::unavailable, what + " was changed by another server at the same time; read it and try again",
                         contention);
  }
  w.position = pos->back();
  w.changed = true;
  w.state = std::move(*next);
  co_return w;
}

asio::awaitable<result<team_write>> user_service::execute(domain::team_command cmd, std::string actor) {
  co_await mu_.lock();
  async_mutex::guard guard{mu_};
  auto state = dir_.find_team(cmd.id);
  auto events = domain::decide_team(state, cmd, clock_.now_ms(), actor);
  auto find = [this, id = cmd.id] { return dir_.find_team(id); };
  std::string what = "team " + cmd.id;
  auto r = co_await commit(std::move(state), std::move(events), domain::apply_team, std::move(find), std::move(what),
                           "write_contention");
  co_return r;
}

asio::awaitable<result<collection_write>> user_service::execute(domain::collection_command cmd, principal who) {
  co_await mu_.lock();
  async_mutex::guard guard{mu_};
  auto state = dir_.find_collection(cmd.id);
  auto bad_parent = [](std::string why) { return make_error(errc::invalid_argument, "parent: " + why, "invalid_parent"); };
  // A parent that exists, no cycle, and no deeper than the bound with
  // everything below the collection: walk up from the new parent.
  if (cmd.parent && *cmd.parent) {
    std::optional<std::string> up = *cmd.parent;
    size_t depth = 1 + (state ? dir_.height(cmd.id) : 0);
    while (up) {
      if (*up == cmd.id) co_return bad_parent("that would make a cycle");
      auto p = dir_.find_collection(*up);
      if (!p) co_return bad_parent("collection " + *up + " does not exist");
      if (++depth > domain::kMaxCollectionDepth) {
        co_return bad_parent("collections nest at most " + std::to_string(domain::kMaxCollectionDepth) + " deep");
      }
      up = p->parent;
    }
  }
  if (cmd.kind == domain::collection_command_kind::remove && state && dir_.has_children(cmd.id, who)) {
    co_return make_error(errc::conflict, "collection " + cmd.id + " has collections inside it: move or delete them first",
                         "has_children");
  }
  auto events = domain::decide_collection(state, cmd, clock_.now_ms(), who.name);
  auto find = [this, id = cmd.id] { return dir_.find_collection(id); };
  std::string what = "collection " + cmd.id;
  auto r = co_await commit(std::move(state), std::move(events), domain::apply_collection, std::move(find),
                           std::move(what), "write_contention");
  co_return r;
}

}  // namespace leaves::auth
